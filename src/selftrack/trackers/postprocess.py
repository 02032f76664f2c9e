"""Offline clean-up of finished tracks, as separate steps a pipeline can choose.

Online trackers decide frame by frame; once a whole video is tracked two cheap fixes help most
benchmarks: short tracks are mostly false positives (drop them), and gaps of a few frames inside a
track are mostly missed detections of an object that kept moving (fill them by linear
interpolation). Both take and return :class:`~selftrack.core.Detections`; boxes without a track
(``track_id == -1``) pass through unchanged.
"""

from __future__ import annotations

import numpy as np

from selftrack.core.detections import NO_TRACK, Detections
from selftrack.core.errors import ValidationError
from selftrack.trackers.cmc import camera_path, move_boxes

INTERPOLATED = "interpolated"
"""``data`` column added by :func:`interpolate_tracks`: ``True`` on the boxes it made up."""


def _check_count(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValidationError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def drop_short_tracks(tracks: Detections, min_length: int) -> Detections:
    """Remove every track that has fewer than ``min_length`` boxes.

    Args:
        tracks: tracked boxes of one video.
        min_length: least number of boxes a track keeps; 0 or 1 keeps everything.
    """
    min_length = _check_count(min_length, "min_length")
    tracked = tracks.track_id != NO_TRACK
    if min_length <= 1 or not tracked.any():
        return tracks
    ids, counts = np.unique(tracks.track_id[tracked], return_counts=True)
    short = ids[counts < min_length]
    if len(short) == 0:
        return tracks
    return tracks[~np.isin(tracks.track_id, short)]


def interpolate_tracks(tracks: Detections, max_gap: int, transforms: np.ndarray | None = None) -> Detections:
    """Fill gaps of at most ``max_gap`` frames inside each track with linearly interpolated boxes.

    A gap is a run of frames between two boxes of the same track where the track has no box. For a
    gap of ``g <= max_gap`` frames, ``g`` boxes are added whose corners and score move linearly
    between the two boxes around the gap; class and other ``data`` columns are copied from the box
    before the gap. The result has a boolean ``data["interpolated"]`` column, true on added boxes.

    With ``transforms`` (the camera motion, ``(num_frames, 2, 3)``, ``transforms[f]`` mapping frame
    ``f - 1`` coordinates to frame ``f``, as the trackers take it) the boxes move linearly in the
    scene, not in the image: both ends are taken back to frame 0's coordinates, interpolated there,
    and each new box is moved into its own frame (:func:`~selftrack.trackers.cmc.move_boxes`). In the image, a
    panning camera moves a hidden walker along the pan's curve, not along a straight line.

    Args:
        tracks: tracked boxes of one video.
        max_gap: longest gap (in missing frames) that is filled; 0 fills nothing.
        transforms: camera motion, or ``None`` for a fixed camera.
    """
    max_gap = _check_count(max_gap, "max_gap")
    n = len(tracks)
    flag = np.asarray(tracks.data.get(INTERPOLATED, np.zeros(n, dtype=bool)), dtype=bool)
    tracked = np.flatnonzero(tracks.track_id != NO_TRACK)
    order = tracked[np.lexsort((tracks.frame[tracked], tracks.track_id[tracked]))]
    frame, tid = tracks.frame[order], tracks.track_id[order]
    gap = frame[1:] - frame[:-1] - 1
    at = np.flatnonzero((tid[1:] == tid[:-1]) & (gap >= 1) & (gap <= max_gap))
    if len(at) == 0:
        return tracks.replace(data={**tracks.data, INTERPOLATED: flag})

    counts = gap[at]
    left = np.repeat(order[at], counts)
    right = np.repeat(order[at + 1], counts)
    offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts) + 1
    alpha = offset / np.repeat(counts + 1, counts)

    def lerp(values: np.ndarray) -> np.ndarray:
        a = alpha.reshape(-1, *([1] * (values.ndim - 1)))
        return values[left] + a * (values[right] - values[left])

    frames = tracks.frame[left] + offset
    if transforms is None:
        boxes = lerp(tracks.xyxy)
    else:
        to_frame = camera_path(transforms, int(tracks.frame.max()) + 1)
        scene = move_boxes(tracks.xyxy, np.linalg.inv(to_frame)[tracks.frame])
        a = alpha[:, None]
        boxes = move_boxes(scene[left] + a * (scene[right] - scene[left]), to_frame[frames])
        if tracks.canvas is not None:  # the camera turned away from a hidden object: no box where it is unseen
            w, h = tracks.canvas
            boxes = np.clip(boxes, 0.0, [w, h, w, h])
            seen = (boxes[:, 2] - boxes[:, 0] >= 1.0) & (boxes[:, 3] - boxes[:, 1] >= 1.0)
            left, right, offset, alpha, frames, boxes = (v[seen] for v in (left, right, offset, alpha, frames, boxes))
    data = {key: np.concatenate([col, col[left]]) for key, col in tracks.data.items() if key != INTERPOLATED}
    data[INTERPOLATED] = np.concatenate([flag, np.ones(len(left), dtype=bool)])
    return Detections.create(
        np.concatenate([tracks.frame, frames]),
        np.concatenate([tracks.xyxy, boxes]),
        np.concatenate([tracks.score, lerp(tracks.score.astype(np.float64)).astype(np.float32)]),
        np.concatenate([tracks.class_id, tracks.class_id[left]]),
        np.concatenate([tracks.track_id, tracks.track_id[left]]),
        canvas=tracks.canvas,
        num_frames=tracks.num_frames,
        classes=tracks.classes,
        data=data,
        source=tracks.source,
    )
