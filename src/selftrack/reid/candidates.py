"""Which detections *may* be the same object: the candidate-match mask from IoU chains.

No track ids are available for training, so the only spatial prior the appearance model gets is
this mask (UNS20 ``preprocess-matches.go``; SkyhookML ``preprocess_matches.go``). Starting from a
detection in frame ``t``, detections are chained forward frame by frame: a box reached in frame
``f`` links to every box of a later frame ``f + d`` (``1 <= d <= max_gap``, so a chain may bridge
missed detections) whose IoU with it is at least ``min_iou`` after both boxes are padded by
``padding`` pixels on every side. Every box of frame ``t + g`` reachable this way is a candidate
match of the start box at gap ``g``; the appearance loss rewards putting probability only on
candidates (or on the "terminal" column: the object left or was missed).

With ``mutual``, a link also needs each box to be the other's best overlap between their two frames,
and to be the nearest such link in time (a bridge over frames only where the object was missed): a
one-to-one chain, as a tracker would link boxes. In a crowd, "every overlap links" makes almost
everyone a candidate of everyone a few seconds later, and the mask then teaches nothing.

Where the original code deletes a chain node once it is ``MaxMatchAge`` frames old *before*
linking from it (so its links span at most 9 frames), ``max_gap`` here is the longest link span
itself (default 10).

Vectorised: for one start frame the boxes of the whole window ``t .. t + horizon`` are linked in
one IoU matrix, then reachability is propagated frame by frame with small boolean products, so a
start frame costs well under a millisecond for typical scenes.
"""

from __future__ import annotations

import numpy as np

from selftrack.core.boxes import iou_matrix

DEFAULT_FRACTIONS = (0.125, 0.25, 0.5, 1.0)


def match_gaps(track_duration: float, fps: float, fractions: tuple[float, ...] = DEFAULT_FRACTIONS) -> tuple[int, ...]:
    """Frame gaps used for training: ``track_duration * fps * f`` for each fraction ``f`` (at least 1).

    SkyhookML derives them from ``TrackDuration`` ("average duration in seconds that objects are
    visible", default 4 s): at 10 fps that is 5, 10, 20 and 40 frames.
    """
    base = float(track_duration) * float(fps)
    return tuple(sorted({max(1, round(base * f)) for f in fractions}))


def pad_boxes(xyxy: np.ndarray, padding: float) -> np.ndarray:
    """Grow each box by ``padding`` pixels on every side."""
    return np.asarray(xyxy, dtype=np.float64) + np.array([-padding, -padding, padding, padding])


def chain_reach(
    frame: np.ndarray,
    xyxy: np.ndarray,
    bounds: np.ndarray,
    start: int,
    horizon: int,
    *,
    padding: float = 10.0,
    min_iou: float = 0.1,
    max_gap: int = 10,
    mutual: bool = False,
    relative: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Reachability from the boxes of frame ``start`` to every box of frames ``start .. start + horizon``.

    Args:
        frame, xyxy: the video's detections (``Detections.frame`` / ``.xyxy``, sorted by frame).
        bounds: ``Detections.frame_bounds()`` (rows of frame ``f`` are ``bounds[f]:bounds[f+1]``).
        start, horizon: first frame and how many frames after it to follow.

    Returns:
        ``(reach, rows)``: ``rows`` are the detection rows of the window in frame order and
        ``reach[i, k]`` tells whether window box ``k`` is reachable from the ``i``-th box of frame
        ``start`` (a start box reaches itself).
    """
    last = min(start + horizon, len(bounds) - 2)
    lo, hi = int(bounds[start]), int(bounds[last + 1])
    n0 = int(bounds[start + 1]) - lo
    rows = np.arange(lo, hi)
    reach = np.zeros((n0, hi - lo), dtype=bool)
    if n0 == 0 or hi == lo:
        return reach, rows
    reach[np.arange(n0), np.arange(n0)] = True
    wf = frame[lo:hi]
    padded = pad_boxes(xyxy[lo:hi], padding)
    delta = wf[None, :] - wf[:, None]
    iou = iou_matrix(padded, padded)
    link = (iou >= min_iou) & (delta >= 1) & (delta <= max_gap)
    if relative > 0:
        link &= _near_best(iou, wf, relative)
    if mutual:
        link &= _mutual_best(iou, wf)
        link &= _nearest(link, wf)
    link_f = link.astype(np.float32)
    reach_f = reach.astype(np.float32)
    for f in range(start + 1, last + 1):
        a, b = int(bounds[f]) - lo, int(bounds[f + 1]) - lo
        if b == a:
            continue
        src_lo = int(bounds[max(start, f - max_gap)]) - lo
        hit = reach_f[:, src_lo:a] @ link_f[src_lo:a, a:b]
        reach_f[:, a:b] = hit > 0
    return reach_f > 0, rows


def _near_best(iou: np.ndarray, frames: np.ndarray, ratio: float) -> np.ndarray:
    """Pairs ``(i, j)`` whose overlap is at least ``ratio`` times the best of ``i`` in ``j``'s frame, and of ``j`` in ``i``'s."""
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(frames)]))
    row_best = np.maximum.reduceat(iou, starts, axis=1)[:, run]
    col_best = np.maximum.reduceat(iou, starts, axis=0)[run, :]
    return (iou >= ratio * row_best) & (iou >= ratio * col_best)


def _mutual_best(iou: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Pairs ``(i, j)`` where ``j`` is ``i``'s best overlap among the boxes of ``j``'s frame and the reverse.

    ``frames`` is sorted (the window's rows are in frame order), so each frame is one run of columns.
    """
    starts = np.flatnonzero(np.r_[True, frames[1:] != frames[:-1]])
    run = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, len(frames)]))
    row_best = np.maximum.reduceat(iou, starts, axis=1)[:, run]  # best of i's row within j's frame
    col_best = np.maximum.reduceat(iou, starts, axis=0)[run, :]  # best of j's column within i's frame
    return (iou >= row_best) & (iou >= col_best) & (iou > 0)


def _nearest(link: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Keep each box's links to the *first* later frame it links to, and into each box from the *last* earlier one.

    Links longer than one frame bridge missed detections; a box seen in the next frame needs no
    bridge, and comparing it with a box several frames on (after both objects moved) would link it
    to whoever walked into its old place.
    """
    big = np.iinfo(np.int64).max
    first_after = np.where(link, frames[None, :], big).min(axis=1)
    last_before = np.where(link, frames[:, None], -big).max(axis=0)
    return (frames[None, :] == first_after[:, None]) & (frames[:, None] == last_before[None, :])


def candidate_mask(
    frame: np.ndarray,
    xyxy: np.ndarray,
    bounds: np.ndarray,
    start: int,
    targets: list[int] | tuple[int, ...],
    **chain: float,
) -> list[np.ndarray]:
    """Candidate masks from frame ``start`` to each frame in ``targets`` (all ``>= start``).

    Returns one ``bool (n_start, n_target)`` matrix per target frame (the terminal column is not
    included: it is always allowed).
    """
    horizon = max(targets) - start if len(targets) else 0
    reach, _ = chain_reach(frame, xyxy, bounds, start, horizon, **chain)  # type: ignore[arg-type]
    lo = int(bounds[start])
    out = []
    for t in targets:
        a, b = int(bounds[t]) - lo, int(bounds[t + 1]) - lo
        out.append(reach[:, a:b])
    return out
