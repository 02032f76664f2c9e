"""MOTChallenge preprocessing: from ground truth and tracks to the boxes and IoUs that are scored.

Metrics only ever see a :class:`PreparedSequence` (TrackEval's "preprocessed sequence data"):
benchmark rules live here so that HOTA, CLEAR and Identity stay rule-free. The rules follow
TrackEval's ``MotChallenge2DBox`` exactly, because published numbers are only comparable when the
same boxes are scored:

* ``mot17`` (also MOT16): a tracker box that overlaps a *distractor* gt box (person on vehicle,
  static person, distractor, reflection) is removed, not counted as a false positive. Which gt box
  a tracker box "overlaps" is decided by one Hungarian matching per frame over every gt box, on IoU
  thresholded at 0.5. Then gt boxes whose consider flag is 0 and gt boxes that are not pedestrians
  are dropped (a tracker box matching them is a false positive unless it matched a distractor).
* ``mot20``: as ``mot17`` with "non-motorized vehicle" also a distractor.
* ``mot15``: files without a class column; only gt boxes with consider flag 0 are dropped.
* ``none``: every gt box is scored as given (synthetic or hand-made ground truth).
* ``auto``: ``mot17`` when the gt carries MOT17 class ids (all in 1..13, pedestrians present),
  otherwise ``mot15``.

The consider flag of a gt box is ``data["consider"]`` when the reader provided it, else ``score``
(MOT files keep it in column 7, which the MOT reader puts in both). Every tracker box is scored as a
pedestrian whatever its ``class_id``: the metrics are single-class.

Frame ranges are 0-based and half-open, ``(start, stop)``, like ``Detections.frames_range``; use
:func:`parse_frame_range` to turn the MOT numbering users type (``"401-795"``) into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from selftrack.core.boxes import iou_matrix
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError

Benchmark = Literal["auto", "mot17", "mot20", "mot15", "none"]
BENCHMARKS: tuple[str, ...] = ("auto", "mot17", "mot20", "mot15", "none")

EPS = float(np.finfo(np.float64).eps)
"""TrackEval compares thresholds with a machine-epsilon margin; the same margin keeps parity exact."""

PEDESTRIAN = 1
MOT_CLASSES = np.arange(1, 14)
"""MOT17 gt classes: 1 pedestrian, 2 person on vehicle, 3 car, 4 bicycle, 5 motorbike, 6 non-motorized
vehicle, 7 static person, 8 distractor, 9 occluder, 10 occluder on ground, 11 occluder full,
12 reflection, 13 crowd."""
MOT17_DISTRACTORS = np.array([2, 7, 8, 12])
MOT20_DISTRACTORS = np.array([2, 6, 7, 8, 12])
DISTRACTOR_IOU = 0.5


@dataclass(frozen=True, eq=False)
class PreparedSequence:
    """The scored boxes of one sequence, grouped by timestep, with the IoU of every overlapping pair.

    Rows of gt (and tracker) boxes are sorted by timestep; timestep ``t``'s rows are
    ``gt_bounds[t]:gt_bounds[t + 1]``. Timesteps are the frames where gt or tracker has a box, in order
    (frames with neither change no metric); ``num_frames`` is the length of the scored range. Ids are relabelled ``0..num_*_ids - 1``.

    Pairs (a gt box and a tracker box of the same timestep) are stored only where they overlap
    (IoU > 0): ``pair_gt``/``pair_tracker`` are rows, ``similarity`` the IoU, ordered by timestep
    (``pair_bounds``) then row-major. Every metric ignores non-overlapping pairs except inside the
    per-frame Hungarian assignment, which gets a dense block from :meth:`block`; storing them would
    cost memory quadratic in crowd density (TrackEval keeps them all).
    """

    num_frames: int
    gt_id: np.ndarray
    tracker_id: np.ndarray
    gt_bounds: np.ndarray
    tracker_bounds: np.ndarray
    pair_gt: np.ndarray
    pair_tracker: np.ndarray
    similarity: np.ndarray
    pair_bounds: np.ndarray
    num_gt_ids: int
    num_tracker_ids: int
    benchmark: str
    timestep_frames: np.ndarray | None = None
    """Frame of each timestep, counted from the start of the scored range."""

    @property
    def num_timesteps(self) -> int:
        return len(self.gt_bounds) - 1

    @property
    def num_gt_dets(self) -> int:
        return len(self.gt_id)

    @property
    def num_tracker_dets(self) -> int:
        return len(self.tracker_id)

    @cached_property
    def active_frames(self) -> np.ndarray:
        """Timesteps with both gt and tracker boxes: the only ones where matching happens."""
        ng = np.diff(self.gt_bounds)
        nt = np.diff(self.tracker_bounds)
        return np.flatnonzero((ng > 0) & (nt > 0))

    def block(self, t: int, values: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Timestep ``t`` as a dense ``(n_gt, n_tracker)`` matrix, with its gt ids and tracker ids.

        The matrix holds ``similarity`` (or ``values``, one per pair), 0 for pairs that do not overlap.
        """
        g0, g1 = self.gt_bounds[t], self.gt_bounds[t + 1]
        t0, t1 = self.tracker_bounds[t], self.tracker_bounds[t + 1]
        p0, p1 = self.pair_bounds[t], self.pair_bounds[t + 1]
        dense = np.zeros((g1 - g0, t1 - t0))
        source = self.similarity if values is None else values
        dense[self.pair_gt[p0:p1] - g0, self.pair_tracker[p0:p1] - t0] = source[p0:p1]
        return dense, self.gt_id[g0:g1], self.tracker_id[t0:t1]


def parse_frame_range(text: str) -> tuple[int, int]:
    """``"401-795"`` (MOT frames, 1-based, inclusive, as users type them) -> ``(400, 795)`` (0-based, half-open).

    A single number selects one frame.
    """
    parts = text.strip().split("-")
    try:
        if len(parts) == 1:
            first = last = int(parts[0])
        elif len(parts) == 2:
            first, last = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise ValidationError(f"frame range {text!r} is not FIRST-LAST (MOT frame numbers, e.g. 401-795)") from None
    if first < 1 or last < first:
        raise ValidationError(f"frame range {text!r}: frames count from 1 and FIRST must not exceed LAST")
    return first - 1, last


def resolve_benchmark(gt: Detections, benchmark: str) -> str:
    """Pick the rules for ``benchmark="auto"`` and check that explicit MOT17/MOT20 rules can apply."""
    if benchmark not in BENCHMARKS:
        raise ValidationError(f"unknown benchmark {benchmark!r}; choose one of {', '.join(BENCHMARKS)}")
    classes = np.unique(gt.class_id)
    mot_classes = bool(np.isin(classes, MOT_CLASSES).all()) and PEDESTRIAN in classes
    if benchmark == "auto":
        return "mot17" if mot_classes else "mot15"
    if benchmark in ("mot17", "mot20"):
        bad = np.setdiff1d(classes, MOT_CLASSES)
        if len(bad):
            raise ValidationError(
                f"ground truth {_name(gt)} has class ids {bad.tolist()} that are not MOT17 classes (1-13); "
                "files without a class column are scored with benchmark='mot15'"
            )
    return benchmark


def prepare_sequence(
    gt: Detections,
    tracks: Detections,
    *,
    frames: tuple[int, int] | None = None,
    benchmark: Benchmark | str = "auto",
    num_frames: int | None = None,
) -> PreparedSequence:
    """Apply the benchmark rules and compute every per-frame IoU (see the module docstring).

    Args:
        gt: ground truth; every box needs a ``track_id``.
        tracks: tracker output; every box needs a ``track_id``.
        frames: 0-based half-open ``(start, stop)``: only these frames are scored, and boxes of
            either side outside them are dropped *before* preprocessing (so gt that covers frames
            0-399 can score a tracker run on the whole video).
        benchmark: which rules (``auto``, ``mot17``, ``mot20``, ``mot15``, ``none``).
        num_frames: length of the sequence; defaults to the larger ``frame_count`` of the two.
            It only affects ``CLR_Frames``/``FP_per_frame``, but boxes past it are an error.
    """
    for det, role in ((gt, "ground truth"), (tracks, "tracks")):
        missing = np.flatnonzero(det.track_id < 0)
        if len(missing):
            i = int(missing[0])
            raise ValidationError(
                f"{len(missing)} box(es) of the {role} {_name(det)} have no track_id (-1), first in frame "
                f"{int(det.frame[i])}; tracking metrics need an identity on every box"
            )
    benchmark = resolve_benchmark(gt, benchmark)
    total = num_frames if num_frames is not None else max(gt.frame_count, tracks.frame_count)
    for det, role in ((gt, "ground truth"), (tracks, "tracks")):
        if len(det) and int(det.frame[-1]) >= total:
            raise ValidationError(
                f"the {role} {_name(det)} has boxes in frame {int(det.frame[-1])} (0-based) but the sequence "
                f"has {total} frames"
            )
    start, stop = 0, total
    if frames is not None:
        start, stop = int(frames[0]), int(frames[1])
        if not 0 <= start < stop:
            raise ValidationError(f"frame range {frames} must be 0-based (start, stop) with 0 <= start < stop")
        if num_frames is not None and stop > num_frames:
            raise ValidationError(f"frame range {frames} runs past the sequence's {num_frames} frames")
        gt = gt.frames_range(start, stop)
        tracks = tracks.frames_range(start, stop)
    _check_unique_ids(gt, "ground truth")
    _check_unique_ids(tracks, "tracks")
    steps = stop - start
    # Timesteps are the frames where either side has a box: frames with neither add nothing to any
    # metric (TrackEval carries no state across them), and sizing arrays by them would make memory grow
    # with frame numbers instead of boxes (a gt file naming frame 10^8 would need gigabytes).
    marks = np.append(np.union1d(gt.frame, tracks.frame), stop)
    gt_bounds = np.searchsorted(gt.frame, marks)
    tr_bounds = np.searchsorted(tracks.frame, marks)
    gt_keep = _gt_to_score(gt, benchmark)
    tr_keep = np.ones(len(tracks), dtype=bool)
    distractor = _distractors(gt, benchmark)

    # One pass over the frames that have boxes on both sides: IoU of every pair, distractor
    # removal, then the overlapping pairs of the kept boxes. core.boxes.iou_matrix is the project's
    # only IoU.
    pair_frame, pair_r, pair_c, pair_sim = [], [], [], []
    both = np.flatnonzero((np.diff(gt_bounds) > 0) & (np.diff(tr_bounds) > 0))
    for t in both:
        g0, g1, t0, t1 = gt_bounds[t], gt_bounds[t + 1], tr_bounds[t], tr_bounds[t + 1]
        iou = iou_matrix(gt.xyxy[g0:g1], tracks.xyxy[t0:t1])
        if distractor is not None and distractor[g0:g1].any():
            tr_keep[t0:t1] &= ~_matched_to_distractor(iou, distractor[g0:g1])
        kept = iou[gt_keep[g0:g1]][:, tr_keep[t0:t1]]
        r, c = np.nonzero(kept > 0)
        if len(r):
            pair_frame.append(np.full(len(r), t))
            pair_r.append(r)
            pair_c.append(c)
            pair_sim.append(kept[r, c])

    gt = gt[gt_keep]
    tracks = tracks[tr_keep]
    gt_bounds = np.searchsorted(gt.frame, marks)
    tr_bounds = np.searchsorted(tracks.frame, marks)
    frame_of_pair = np.concatenate(pair_frame) if pair_frame else np.zeros(0, dtype=np.int64)
    pair_bounds = np.searchsorted(frame_of_pair, np.arange(len(marks)))
    gt_ids, gt_id = np.unique(gt.track_id, return_inverse=True)
    tr_ids, tr_id = np.unique(tracks.track_id, return_inverse=True)
    return PreparedSequence(
        num_frames=steps,
        gt_id=gt_id.astype(np.int64),
        tracker_id=tr_id.astype(np.int64),
        gt_bounds=gt_bounds,
        tracker_bounds=tr_bounds,
        pair_gt=gt_bounds[frame_of_pair] + (np.concatenate(pair_r) if pair_r else 0),
        pair_tracker=tr_bounds[frame_of_pair] + (np.concatenate(pair_c) if pair_c else 0),
        similarity=np.concatenate(pair_sim) if pair_sim else np.zeros(0),
        pair_bounds=pair_bounds,
        num_gt_ids=len(gt_ids),
        num_tracker_ids=len(tr_ids),
        benchmark=benchmark,
        timestep_frames=marks[:-1] - start,
    )


def _gt_to_score(gt: Detections, benchmark: str) -> np.ndarray:
    """Mask of gt boxes that count: consider flag set and, under MOT17/20 rules, pedestrians only."""
    if benchmark == "none":
        return np.ones(len(gt), dtype=bool)
    consider = np.asarray(gt.data["consider"]) if "consider" in gt.data else gt.score
    keep = consider != 0
    if benchmark in ("mot17", "mot20"):
        keep &= gt.class_id == PEDESTRIAN
    return keep


def _distractors(gt: Detections, benchmark: str) -> np.ndarray | None:
    if benchmark == "mot17":
        return np.isin(gt.class_id, MOT17_DISTRACTORS)
    if benchmark == "mot20":
        return np.isin(gt.class_id, MOT20_DISTRACTORS)
    return None


def _matched_to_distractor(iou: np.ndarray, distractor: np.ndarray) -> np.ndarray:
    """Tracker columns that the per-frame Hungarian matching (IoU >= 0.5) gives to a distractor gt row.

    The matching is over *all* gt rows: a tracker box near both a pedestrian and a distractor is only
    removed if the optimal assignment hands it to the distractor.
    """
    removed = np.zeros(iou.shape[1], dtype=bool)
    if not (iou[distractor] >= DISTRACTOR_IOU - EPS).any():
        return removed  # no distractor can be matched: skip the assignment
    scores = np.where(iou < DISTRACTOR_IOU - EPS, 0.0, iou)
    rows, cols = linear_sum_assignment(-scores)
    hit = (scores[rows, cols] > EPS) & distractor[rows]
    removed[cols[hit]] = True
    return removed


def _check_unique_ids(det: Detections, role: str) -> None:
    if len(det) < 2:
        return
    span = int(det.track_id.max()) + 1
    key = det.frame * span + det.track_id
    uniq, counts = np.unique(key, return_counts=True)
    if (counts > 1).any():
        frame, tid = divmod(int(uniq[counts > 1][0]), span)
        raise ValidationError(f"the {role} {_name(det)} has track_id {tid} twice in frame {frame} (0-based)")


def _name(det: Detections) -> str:
    return repr(det.source) if det.source else "(unnamed)"
