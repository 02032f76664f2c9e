"""The re-identification tracker: motion association plus the learned appearance model.

Where each part lives:

- :mod:`.params`: :class:`ReidTrackerParams`, grouped as motion, association, appearance,
  re-linking and stitching sub-models (flat names such as ``high_score`` still work);
- :mod:`.online`: :class:`ReidTracker`, the per-frame pass (Kalman or SkyhookML's velocity
  motion, ByteTrack's two stages with an appearance term, online re-linking of lost tracks);
- :mod:`.appearance`: UNS20's appearance scores of tracks against boxes;
- :mod:`.stitching`: offline joining of track fragments by appearance, gated by geometry;
- :mod:`.colour`: offline cuts and joins by the boxes' colours when the learned model is not trusted;
- :mod:`.offline`: the offline pass after every frame (which of the two joins, short tracks, gap filling);
- :mod:`.uns20`: UNS20's own inference (recurrent box matcher, greedy votes), as published;
- :mod:`.stream`: :func:`track_with_reid`, which decodes the video once and tracks as it goes.

SkyhookML's parameters keep their meaning (``velocity_steps`` 5, ``min_iou`` 0.1, ``reid_weight``
1 are its defaults), and ``min_iou`` is honoured (SkyhookML's tracker ignored it and always used
0.1): ``min_iou=0`` lets appearance link boxes that do not overlap the prediction. SkyhookML's
``max_age`` (10 frames) becomes a time by default (``max_age_seconds``: the same occlusion is
bridged at 7 and at 30 fps); ``max_age=10`` restores it.
After the online pass, tracks shorter than ``min_track_length`` boxes are dropped and gaps of up
to ``max_interpolation_seconds`` (or ``max_interpolation_gap`` frames) are filled by linear
interpolation (UNS20's post-processing, with its 20 frames made a time like ``max_age``).
How the defaults were chosen, and on which sets, is in BENCHMARKS.md.
"""

from selftrack.reid.tracker.online import ReidTracker
from selftrack.reid.tracker.params import (
    AppearanceParams,
    AssociationParams,
    ColourParams,
    MotionParams,
    ReidTrackerParams,
    RelinkParams,
    StitchParams,
)
from selftrack.reid.tracker.stream import track_with_reid

__all__ = [
    "AppearanceParams",
    "AssociationParams",
    "ColourParams",
    "MotionParams",
    "ReidTracker",
    "ReidTrackerParams",
    "RelinkParams",
    "StitchParams",
    "track_with_reid",
]
