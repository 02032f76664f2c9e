"""Classic motion-only trackers (bottom layer: numpy, scipy/lap; imports nothing above ``core``).

``get_tracker(name, **params)`` builds one by name: ``"iou"`` (SkyhookML's greedy IoU tracker),
``"sort"``, ``"bytetrack"``, ``"ocsort"``. ``list_trackers()`` gives each name's typed ``Params``
model (defaults, ranges, descriptions) for forms and CLI flags. All share one Kalman filter
(:mod:`~selftrack.trackers.kalman`), one set of cost and assignment functions
(:mod:`~selftrack.trackers.matching`) and one track table (:mod:`~selftrack.trackers.lifecycle`).

Example:
    >>> from selftrack.core import Detections
    >>> from selftrack.trackers import get_tracker
    >>> boxes = Detections.create([0, 1, 2], [[10, 10, 50, 90], [12, 10, 52, 90], [14, 10, 54, 90]], 0.9)
    >>> get_tracker("bytetrack").track(boxes).track_id.tolist()
    [1, 1, 1]
"""

from selftrack.trackers.base import (
    IdCounter,
    StepResult,
    Tracker,
    TrackerParams,
    get_tracker,
    list_trackers,
    tracker_class,
)
from selftrack.trackers.bytetrack import ByteTrackParams, ByteTrackTracker
from selftrack.trackers.cmc import warp_boxes
from selftrack.trackers.iou_tracker import IouTracker, IouTrackerParams
from selftrack.trackers.ocsort import OcSortParams, OcSortTracker
from selftrack.trackers.postprocess import INTERPOLATED, drop_short_tracks, interpolate_tracks
from selftrack.trackers.sort import SortParams, SortTracker

__all__ = [
    "INTERPOLATED",
    "ByteTrackParams",
    "ByteTrackTracker",
    "IdCounter",
    "IouTracker",
    "IouTrackerParams",
    "OcSortParams",
    "OcSortTracker",
    "SortParams",
    "SortTracker",
    "StepResult",
    "Tracker",
    "TrackerParams",
    "drop_short_tracks",
    "get_tracker",
    "interpolate_tracks",
    "list_trackers",
    "tracker_class",
    "warp_boxes",
]
