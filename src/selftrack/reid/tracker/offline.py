"""The re-id tracker's offline pass, after every frame: join fragments, drop short tracks, fill gaps.

Joins are made by one source of appearance, chosen by how far the learned model is trusted:

- the **colour check** (:mod:`.colour`) when colour looks were given and the model is not trusted for
  decisions on appearance alone (its trust below ``appearance.trust_for_relinking``, or no model), as
  long as the video's colours separate objects (the check says when they do not);
- otherwise **stitching** by the learned looks (:mod:`.stitching`), when the model agrees with motion
  at least ``stitch.min_agreement``.

Then tracks under ``min_track_length`` boxes are dropped and gaps up to the interpolation limit are
filled, in the scene's coordinates when the camera moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from selftrack.core.detections import Detections
from selftrack.reid.tracker.colour import ColourResult, colour_check
from selftrack.reid.tracker.stitching import stitch
from selftrack.trackers.postprocess import drop_short_tracks, interpolate_tracks

if TYPE_CHECKING:
    from selftrack.reid.tracker.online import ReidTracker


def check_frame_rate(tracker: ReidTracker, colour: bool) -> None:
    """Raise now what :func:`finish` would raise after the whole pass: joins limited in seconds with no frame rate
    (``colour``: colour looks are given, so the colour check may join)."""
    p = tracker.params
    if colour and p.colour.enabled:
        p.stitch_limit(tracker.fps, "the colour check")
    if tracker.heads is not None:
        p.stitch_limit(tracker.fps)


def finish(
    tracker: ReidTracker, tracks: Detections, postprocess: Literal[True, "stitch"] = True
) -> tuple[Detections, ColourResult | None]:
    """``tracks`` (the online pass's output of ``tracker``) post-processed, and what the colour check did (None:
    not tried). ``"stitch"``: only join (a chunk of a long video leaves dropping and filling to the joined result)."""
    p = tracker.params
    affines = tracker.camera_path_affines()
    untrusted = tracker.heads is None or tracker.trust.trust < p.appearance.trust_for_relinking
    result = None
    if tracker.colour_memory is not None and p.colour.enabled and untrusted:
        tracks, result = colour_check(
            tracks,
            tracker.colour_memory,
            p,
            limit=p.stitch_limit(tracker.fps, "the colour check"),
            canvas=tracker.canvas,
            fps=tracker.fps,
            affines=affines,
        )
    by_colour = result is not None and not result.why_not
    learned = tracker.heads is not None and p.stitch_limit(tracker.fps) > 0  # (raises without the fps it needs)
    if not by_colour and learned and tracker.trust.agreement >= p.stitch.min_agreement:
        tracks = stitch(
            tracks,
            tracker.state.looks(),
            tracker.heads,
            p,
            limit=p.stitch_limit(tracker.fps),
            canvas=tracker.canvas,
            fps=tracker.fps,
            affines=affines,
        )
    if postprocess == "stitch":
        return tracks, result
    tracks = drop_short_tracks(tracks, p.min_track_length)
    gap = p.interpolation_gap(tracker.fps)
    if gap > 0:
        tracks = interpolate_tracks(tracks, gap, affines)
    return tracks, result
