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
   ``min_travel`` times its box size from its first box to its last (a caption or a light that
   appears and stays gives a long, steady, motionless track); its width and height are each within
   ``max_size_change`` of the track's running median (over ``size_window`` boxes either side); it
   is at least ``min_side`` pixels on each side; its foreground fill ratio (the motion score) is at
   least ``min_fill``; and it keeps ``edge_margin`` pixels from the frame edge (an object entering
   the view is cut off, and its blob is the least reliable: shadows and the object merge there);
3. every other motion box is *ignored*, not a negative: when a frame is exported for training its
   ignored boxes are painted grey (:func:`~selftrack.detectors.yolo_dataset.mask_ignored`), so the
   detector is neither told "an object here" nor "nothing here" where the motion detector was unsure;
4. except a static region that *never moved*, which is *background*: it stays in the training
   image, unlabelled, so the detector learns that it is not an object. Painting it out instead
   taught nothing about it: a YOLO model bootstrapped on ``highway_cctv.avi`` fired on the camera's
   "PEDESTRIAN ALARM" caption, which appears at frame 505 and stays. A static track (it fails the
   ``min_travel`` test) is background when its history says it appeared in place and stayed:

   - it lasted at least ``min_background_length`` boxes: something that appears and stays is
     foreground until the background model absorbs it, tens of frames (34 for the caption), while
     a distant vehicle driving straight at the camera also barely moves, but only for a few frames
     before it grows and speeds up in the picture;
   - its centre's path over its whole life (the sum of its frame-to-frame steps, jitter included)
     is shorter than ``max_background_path`` times its median box size: a stream of vehicles
     merged into one blob at the edge of the view, or a vehicle inside a merged blob, wanders;
   - no box of another SORT track overlapped its first box in the ``background_lookback`` frames
     before it started: a vehicle that stopped is where a moving track ended, and the motion
     detector cannot tell it from the background until it moves again (its boxes stay painted: an
     object may be there). Boxes of an earlier track found to be background do not count: they are
     the same region, its track split in two by a vehicle that passed over it;
   - no box of it is at the frame edge (``edge_margin``): objects enter the view there.

   The boxes of such a track that pass the per-box tests above (steady size, fill, size, edge) are
   background; the others stay painted (in the caption's first two frames a passing car merged with
   it into one thinly filled box).
   Every test errs towards painting: a negative on a real vehicle teaches the opposite of a label,
   while a painted region teaches nothing;
5. a frame is *usable* when the background model has settled (``skip_start_frames``), it has a
   kept box, and at most ``max_rejected_fraction`` of its motion boxes were ignored (a frame that
   is mostly doubt is more grey than picture; background boxes are not doubt). Training frames are
   drawn from the usable frames at least ``frame_stride`` apart (neighbouring frames are near
   duplicates), at most ``max_frames`` per video, spread evenly over it.

What this cannot fix: a vehicle that never moves is background to the motion detector, so it is
unlabelled in every frame it is in, and so is one too small for the motion detector's ``min_area``;
two vehicles that travel side by side for a whole track stay one box; a static region that shows
only in frames that are not used for training (or only in frames where it is painted) teaches
nothing; an overlay that flickers on and off in short bursts gives short tracks, painted out
like other doubt; and a vehicle that merges with a background region into a box that still passes
the per-box tests is a negative in that frame. The detector still learns vehicles from the moving ones and finds stopped ones
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

REASONS = (
    "kept",
    "untracked",
    "short_track",
    "static",
    "unstable_size",
    "too_small",
    "low_fill",
    "at_edge",
    "background",
)
"""Why each motion box was kept, ignored (painted out) or used as background (the ``reason`` column of
:class:`PseudoLabels`): ``kept`` is a label, ``background`` a negative, every other reason is ignored."""
KEPT, BACKGROUND = REASONS.index("kept"), REASONS.index("background")


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
        "a moving object, even if its blob is steady. Tracks that fail this are static: painted out, or background "
        "(see min_background_length).",
    )
    min_background_length: int = Field(
        20,
        ge=1,
        description="A static track is background (left in the training image as a negative, not painted out) only "
        "if it lasts at least this many boxes: a region that appears and stays lasts until the background model "
        "absorbs it, while a distant vehicle looks still for a few frames only.",
    )
    max_background_path: float = Field(
        1.0,
        ge=0,
        description="... and if its centre's whole path (sum of frame-to-frame steps) is shorter than this many times "
        "its median box size (it never moved); 0 turns background off (every static box is painted out).",
    )
    background_lookback: int = Field(
        10,
        ge=0,
        description="... and if no box of another track overlapped its first box in this many frames before it "
        "started (a vehicle that stopped where a moving track ended stays painted out: it may still be there).",
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
        """Motion boxes that are neither labels nor background (to paint out of the training frames)."""
        return self.motion[~np.isin(self.motion.data["reason"], (KEPT, BACKGROUND))]

    def background(self) -> Detections:
        """Motion boxes of static regions that never moved: left in the training frames as negatives."""
        return self.motion[self.motion.data["reason"] == BACKGROUND]

    def frame_boxes(self, frame: int) -> tuple[np.ndarray, np.ndarray]:
        """``(label xyxy, ignored xyxy)`` of one frame, in the canvas pixels (background boxes are in neither)."""
        boxes = self.motion.at_frame(frame)
        reason = boxes.data["reason"]
        return boxes.xyxy[reason == KEPT], boxes.xyxy[~np.isin(reason, (KEPT, BACKGROUND))]


def _running_median(values: np.ndarray, half: int) -> np.ndarray:
    """Median of ``values[i - half : i + half + 1]`` for every ``i`` (edges repeat the end values)."""
    padded = np.pad(values, half, mode="edge")
    return np.median(sliding_window_view(padded, 2 * half + 1), axis=1)


def filter_consistent(motion: Detections, params: PseudoLabelParams) -> np.ndarray:
    """Reason code (index into :data:`REASONS`) of every box of ``motion``, which must carry track ids.

    Tracks are judged on their own boxes only, so the result does not depend on the other tracks;
    except whether a static track is background, which also asks what was there just before it.
    """
    n = len(motion)
    reason = np.zeros(n, dtype=np.int8)
    if n == 0:
        return reason
    wh = motion.xyxy[:, 2:] - motion.xyxy[:, :2]
    stable = np.zeros(n, dtype=bool)
    long_enough = np.zeros(n, dtype=bool)
    travels = np.zeros(n, dtype=bool)
    background = np.zeros(n, dtype=bool)
    at_edge = _at_edge(motion, params.edge_margin)
    centre = (motion.xyxy[:, :2] + motion.xyxy[:, 2:]) / 2
    tracked = np.flatnonzero(motion.track_id >= 0)
    order = tracked[np.lexsort((motion.frame[tracked], motion.track_id[tracked]))]
    ids = motion.track_id[order]
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
    ends = np.r_[starts[1:], len(order)]
    static: list[tuple[np.ndarray, float]] = []
    for s, e in zip(starts, ends, strict=True):
        rows = order[s:e]
        long_enough[rows] = len(rows) >= params.min_track_length
        size = float(np.median(np.max(wh[rows], axis=1)))
        travels[rows] = np.linalg.norm(centre[rows[-1]] - centre[rows[0]]) >= params.min_travel * size
        if not travels[rows[0]]:
            static.append((rows, size))
        ratio = np.ones(len(rows), dtype=bool)
        for side in (0, 1):
            median = _running_median(wh[rows, side], params.size_window)
            ratio &= np.abs(wh[rows, side] - median) <= params.max_size_change * np.maximum(median, 1e-9)
        stable[rows] = ratio
    # In order of appearance, so that a static region whose track was split in two (a vehicle passed over
    # it) is found to be background in its first part before its second part asks what was there before.
    for rows, size in sorted(static, key=lambda track: int(motion.frame[track[0][0]])):
        background[rows] = _never_moved(motion, rows, size, at_edge, background, params)
    # The first failing test names the reason (most basic first), so the counts add up to the boxes.
    # A background track's boxes go on to the per-box tests; those that pass all of them are background.
    checks = [
        (motion.track_id < 0, "untracked"),
        (~long_enough, "short_track"),
        (~travels & ~background, "static"),
        (~stable, "unstable_size"),
        (np.min(wh, axis=1) < params.min_side, "too_small"),
        (motion.score < params.min_fill, "low_fill"),
        (at_edge, "at_edge"),
    ]
    for failed, name in reversed(checks):
        reason[failed] = REASONS.index(name)
    reason[(reason == KEPT) & background] = BACKGROUND
    return reason


def _never_moved(
    motion: Detections,
    rows: np.ndarray,
    size: float,
    at_edge: np.ndarray,
    background: np.ndarray,
    params: PseudoLabelParams,
) -> bool:
    """Whether the static track ``rows`` (its boxes in frame order) appeared in place and stayed (module docstring, 4).

    ``background``: the boxes of the tracks that started earlier and were found to be background; they
    are not "something that was there before" (they are this region itself, under another track id).
    """
    if len(rows) < params.min_background_length or at_edge[rows].any():
        return False
    centre = (motion.xyxy[rows, :2] + motion.xyxy[rows, 2:]) / 2
    path = float(np.linalg.norm(np.diff(centre, axis=0), axis=1).sum())
    if not path < params.max_background_path * size:
        return False
    start = int(motion.frame[rows[0]])
    before = np.flatnonzero(
        (motion.frame >= start - params.background_lookback)
        & (motion.frame < start)
        & (motion.track_id >= 0)
        & (motion.track_id != motion.track_id[rows[0]])
        & ~background
    )
    if not len(before):
        return True
    first = motion.xyxy[rows[0]]
    lt = np.maximum(motion.xyxy[before, :2], first[:2])
    rb = np.minimum(motion.xyxy[before, 2:], first[2:])
    return not bool((np.prod(np.clip(rb - lt, 0, None), axis=1) > 0).any())


def _at_edge(motion: Detections, margin: float) -> np.ndarray:
    if margin <= 0 or motion.canvas is None:
        return np.zeros(len(motion), dtype=bool)
    w, h = motion.canvas
    x1, y1, x2, y2 = motion.xyxy.T
    return (x1 < margin) | (y1 < margin) | (x2 > w - margin) | (y2 > h - margin)


def usable_frames(motion: Detections, reason: np.ndarray, params: PseudoLabelParams) -> np.ndarray:
    """``bool (num_frames,)``: frames with a label, few ignored boxes and a settled background model.

    Background boxes count as neither labels nor ignored boxes.
    """
    num_frames = motion.frame_count
    total = np.bincount(motion.frame[reason != BACKGROUND], minlength=num_frames)
    kept = np.bincount(motion.frame[reason == KEPT], minlength=num_frames)
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
    kept = motion[reason == KEPT]
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
