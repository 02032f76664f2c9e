"""Pseudo-labels for a fixed camera: moving-object boxes that behave like objects, kept for training a detector.

The moving-object detector (:class:`~selftrack.detectors.MotionDetector`) needs no labels, but its
boxes are only right some of the time: two cars that overlap become one blob, a car and its shadow
or a gust of wind in the trees give a blob, a car entering the frame grows a box that is half a
car. A detector trained on those boxes as they are learns the mistakes. What the motion boxes that
*are* right have in common is that they persist: one vehicle crossing the view gives a long chain
of boxes whose size changes slowly (perspective), while merges, splits and noise give short chains
or sudden jumps in size. So:

1. the motion boxes of a video are linked into tracks (SORT, which already refuses chains that
   move erratically);
2. a box is kept when its track is at least ``min_track_length`` boxes long and travels at least
   ``min_travel`` times its box size (a caption or a light that appears and stays gives a long,
   steady, motionless track); its width and height are each within ``max_size_change`` of the
   track's running median (over ``size_window`` boxes either side); it is at least ``min_side``
   pixels on each side; its foreground fill ratio (the motion score) is at least ``min_fill``;
   and it keeps ``edge_margin`` pixels from the frame edge (an object entering the view is cut
   off, and its blob is the least reliable: shadows and the object merge there);
3. every other motion box is *ignored*, not a negative: when a frame is exported for training its
   ignored boxes are painted grey (:func:`~selftrack.detectors.train_yolo.mask_ignored`), so the
   detector is neither told "an object here" nor "nothing here" where the motion detector was unsure;
4. a frame is *usable* when the background model has settled (``skip_start_frames``), it has a
   kept box, and at most ``max_rejected_fraction`` of its motion boxes were ignored (a frame that
   is mostly doubt is more grey than picture). Training frames are drawn from the usable frames at
   least ``frame_stride`` apart (neighbouring frames are near duplicates), at most
   ``max_frames`` per video, spread evenly over it.

What this cannot fix: a vehicle that never moves is background to the motion detector, so it is
unlabelled in every frame it is in, and so is one too small for the motion detector's ``min_area``;
two vehicles that travel side by side for a whole track stay one box; and something that appears
and stays (a camera caption) is painted out, never shown as a negative, so the detector may take
it for an object. The detector still learns vehicles from the moving ones and finds stopped ones
(BENCHMARKS.md, "Bootstrapping a detector", which also counts the caption's false detections).

Everything here is numpy on whole arrays (one loop over tracks for the running medians); it
needs no ultralytics and no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from pydantic import BaseModel, ConfigDict, Field

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.detectors.base import detect_video
from selftrack.detectors.motion import MotionDetector, MotionParams
from selftrack.trackers import SortTracker
from selftrack.video import ResizeSpec

REASONS = ("kept", "untracked", "short_track", "static", "unstable_size", "too_small", "low_fill", "at_edge")
"""Why each motion box was kept or ignored (the ``reason`` column of :class:`PseudoLabels`)."""


class PseudoLabelParams(BaseModel):
    """How motion boxes are filtered into pseudo-labels (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    class_name: str = Field(
        "object", min_length=1, description="Name of the one class the pseudo-labels get (e.g. vehicle)."
    )
    min_track_length: int = Field(
        10, ge=1, description="Keep boxes of tracks at least this many boxes long (objects persist, noise does not)."
    )
    min_travel: float = Field(
        0.5,
        ge=0,
        description="Keep tracks whose centre moves at least this many times their (median) box size from first to "
        "last box: something that appears and stays (a text overlay, the ghost of a car that left, a light) is not "
        "a moving object, even if its blob is steady.",
    )
    max_size_change: float = Field(
        0.25,
        gt=0,
        description="Keep a box when its width and height are within this fraction of its track's running median "
        "(a merge with another object, or a split, changes the size abruptly).",
    )
    size_window: int = Field(5, ge=1, description="Boxes either side in the running median of a track's box size.")
    min_side: float = Field(6.0, ge=0, description="Keep boxes at least this many pixels wide and high.")
    edge_margin: float = Field(
        2.0,
        ge=0,
        description="Ignore boxes within this many pixels of the frame edge (objects entering or leaving are cut off, "
        "and their blobs are the least reliable); 0 keeps them.",
    )
    min_fill: float = Field(
        0.3, ge=0, le=1, description="Keep boxes whose foreground fill ratio (the motion score) is at least this."
    )
    max_rejected_fraction: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A frame is used for training only if at most this fraction of its motion boxes were ignored.",
    )
    skip_start_frames: int = Field(
        50, ge=0, description="Frames at the start of each video not used (the background model is still learning)."
    )
    frame_stride: int = Field(5, ge=1, description="Training frames are at least this many frames apart.")
    max_frames: int = Field(300, ge=1, description="At most this many training frames per video.")
    tracker_iou: float = Field(0.3, gt=0, le=1, description="Least IoU to link a motion box to a track (SORT).")
    tracker_max_age: int = Field(2, ge=0, description="Frames a track may miss before it ends (SORT).")


@dataclass
class PseudoLabels:
    """The pseudo-labels of one video.

    Attributes:
        motion: every motion box, with ``track_id`` (-1 if it joined no track) and a ``reason`` data
            column: an index into :data:`REASONS` (0 = kept).
        labels: the kept boxes (class 0 = ``class_name``), track ids kept.
        usable: ``bool (num_frames,)``, the frames fit for training.
        frames: the chosen training frames (sorted).
        class_name: the class of every label.
    """

    motion: Detections
    labels: Detections
    usable: np.ndarray
    frames: np.ndarray
    class_name: str
    stats: dict[str, int] = field(default_factory=dict)

    def ignored(self) -> Detections:
        """Motion boxes that are not labels (to paint out of the training frames)."""
        return self.motion[self.motion.data["reason"] != 0]

    def frame_boxes(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """``(label xyxy, ignored xyxy)`` of one frame, in the canvas pixels."""
        boxes = self.motion.at_frame(frame)
        kept = boxes.data["reason"] == 0
        return boxes.xyxy[kept], boxes.xyxy[~kept]


def _running_median(values: np.ndarray, half: int) -> np.ndarray:
    """Median of ``values[i - half : i + half + 1]`` for every ``i`` (edges repeat the end values)."""
    padded = np.pad(values, half, mode="edge")
    return np.median(sliding_window_view(padded, 2 * half + 1), axis=1)


def filter_consistent(motion: Detections, params: PseudoLabelParams) -> np.ndarray:
    """Reason code (index into :data:`REASONS`) of every box of ``motion``, which must carry track ids.

    Tracks are judged on their own boxes only, so the result does not depend on the other tracks.
    """
    n = len(motion)
    reason = np.zeros(n, dtype=np.int8)
    if n == 0:
        return reason
    wh = motion.xyxy[:, 2:] - motion.xyxy[:, :2]
    stable = np.zeros(n, dtype=bool)
    long_enough = np.zeros(n, dtype=bool)
    travels = np.zeros(n, dtype=bool)
    centre = (motion.xyxy[:, :2] + motion.xyxy[:, 2:]) / 2
    tracked = np.flatnonzero(motion.track_id >= 0)
    order = tracked[np.lexsort((motion.frame[tracked], motion.track_id[tracked]))]
    ids = motion.track_id[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(order)]
    for s, e in zip(starts, ends, strict=True):
        rows = order[s:e]
        long_enough[rows] = len(rows) >= params.min_track_length
        size = float(np.median(np.max(wh[rows], axis=1)))
        travels[rows] = np.linalg.norm(centre[rows[-1]] - centre[rows[0]]) >= params.min_travel * size
        ratio = np.ones(len(rows), dtype=bool)
        for side in (0, 1):
            median = _running_median(wh[rows, side], params.size_window)
            ratio &= np.abs(wh[rows, side] - median) <= params.max_size_change * np.maximum(median, 1e-9)
        stable[rows] = ratio
    # The first failing test names the reason (most basic first), so the counts add up to the boxes.
    checks = [
        (motion.track_id < 0, "untracked"),
        (~long_enough, "short_track"),
        (~travels, "static"),
        (~stable, "unstable_size"),
        (np.min(wh, axis=1) < params.min_side, "too_small"),
        (motion.score < params.min_fill, "low_fill"),
        (_at_edge(motion, params.edge_margin), "at_edge"),
    ]
    for failed, name in reversed(checks):
        reason[failed] = REASONS.index(name)
    return reason


def _at_edge(motion: Detections, margin: float) -> np.ndarray:
    if margin <= 0 or motion.canvas is None:
        return np.zeros(len(motion), dtype=bool)
    w, h = motion.canvas
    x1, y1, x2, y2 = motion.xyxy.T
    return (x1 < margin) | (y1 < margin) | (x2 > w - margin) | (y2 > h - margin)


def usable_frames(motion: Detections, reason: np.ndarray, params: PseudoLabelParams) -> np.ndarray:
    """``bool (num_frames,)``: frames with a label, few ignored boxes and a settled background model."""
    num_frames = motion.frame_count
    total = np.bincount(motion.frame, minlength=num_frames)
    kept = np.bincount(motion.frame[reason == 0], minlength=num_frames)
    rejected = total - kept
    ok = (kept > 0) & (rejected <= params.max_rejected_fraction * total)
    ok[: params.skip_start_frames] = False
    return ok


def choose_frames(usable: np.ndarray, stride: int, max_frames: int) -> np.ndarray:
    """Usable frames at least ``stride`` apart, then at most ``max_frames`` of them evenly spread."""
    candidates = np.flatnonzero(usable)
    chosen: list[int] = []
    last = -stride
    for f in candidates.tolist():  # greedy: one pass over the usable frames, not over boxes
        if f - last >= stride:
            chosen.append(f)
            last = f
    picked = np.asarray(chosen, dtype=np.int64)
    if len(picked) > max_frames:
        picked = picked[np.unique(np.linspace(0, len(picked) - 1, max_frames).round().astype(np.int64))]
    return picked


def pseudo_labels_from_motion(motion: Detections, params: PseudoLabelParams) -> PseudoLabels:
    """Track ``motion`` (untracked motion boxes of one video), filter and choose frames.

    Split from :func:`pseudo_label_video` so the filtering can be run (and tested) on boxes from
    anywhere, without decoding a video.
    """
    if motion.num_frames is None:
        raise ValidationError(f"pseudo-labels of {motion.source or 'detections'}: num_frames is unknown")
    rows = motion.replace(data={**motion.data, "row": np.arange(len(motion))})
    tracker = SortTracker(
        max_age=params.tracker_max_age,
        min_hits=2,
        iou_threshold=params.tracker_iou,
        output_box="detection",
    )
    tracked = tracker.track(rows)
    track_id = np.full(len(motion), -1, dtype=np.int64)
    track_id[tracked.data["row"]] = tracked.track_id
    data = {k: v for k, v in motion.data.items() if k not in ("reason", "row")}
    motion = motion.replace(track_id=track_id, data=data)
    reason = filter_consistent(motion, params)
    motion = motion.replace(data={**data, "reason": reason})
    usable = usable_frames(motion, reason, params)
    frames = choose_frames(usable, params.frame_stride, params.max_frames)
    kept = motion[reason == 0]
    labels = kept.replace(
        class_id=np.zeros(len(kept), np.int32),
        classes={0: params.class_name},
        data={},
        score=np.ones(len(kept), np.float32),
    )
    counts = np.bincount(reason, minlength=len(REASONS))
    stats = {"motion_boxes": len(motion), **{name: int(c) for name, c in zip(REASONS, counts, strict=True)}}
    stats.update(
        usable_frames=int(usable.sum()),
        training_frames=len(frames),
        training_labels=int(np.isin(labels.frame, frames).sum()),
    )
    return PseudoLabels(motion, labels, usable, frames, params.class_name, stats)


def pseudo_label_video(
    path: str | Path,
    params: PseudoLabelParams | None = None,
    *,
    motion: MotionParams | None = None,
    resize: ResizeSpec | None = None,
    fps: Fraction | float | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PseudoLabels:
    """Run the moving-object detector over the video at ``path`` and turn its boxes into pseudo-labels.

    Boxes are in pixels of the decoded frames (``resize``), which is also the canvas of the result;
    frame indices count frames at ``fps`` (``None``: the video's own rate).
    """
    params = params or PseudoLabelParams()
    dets = detect_video(MotionDetector(motion), path, resize=resize, fps=fps, progress=progress)
    return pseudo_labels_from_motion(dets, params)
