"""Cost matrices and assignment, shared by every tracker.

Assignment is the Jonker-Volgenant solver of ``lap`` (``lapjv`` with ``extend_cost``) when it is
installed, else scipy's ``linear_sum_assignment`` on the same extended matrix, so both give the
same matches (up to ties). A cost limit is built into the problem (as lapjv's ``cost_limit``
does) rather than filtered afterwards: a pair costlier than the limit is never preferred to
leaving both sides unmatched, which is what ByteTrack's association relies on.

IoU comes from :func:`selftrack.core.boxes.iou_matrix`, the project's only IoU definition.
"""

from __future__ import annotations

import numpy as np

from selftrack.core.boxes import iou_matrix

try:  # lap is a dependency; the fallback keeps the trackers usable where its wheel is missing
    import lap as _lap
except ImportError:  # pragma: no cover - exercised only without lap
    _lap = None

__all__ = [
    "assign",
    "fuse_score",
    "greedy_best_match",
    "iou_distance",
    "iou_matrix",
    "match_by_similarity",
    "split_matches",
]

_EMPTY_PAIRS = np.zeros((0, 2), dtype=np.int64)


def _solve_scipy(cost: np.ndarray, cost_limit: float) -> np.ndarray:
    from scipy.optimize import linear_sum_assignment

    n, m = cost.shape
    if np.isfinite(cost_limit):
        # lapjv's extension: every row and column may instead pair with a dummy at cost_limit / 2.
        ext = np.full((n + m, n + m), cost_limit / 2.0)
        ext[n:, m:] = 0.0
        ext[:n, :m] = cost
        rows, cols = linear_sum_assignment(ext)
        keep = (rows < n) & (cols < m)
        return np.stack([rows[keep], cols[keep]], axis=1).astype(np.int64)
    rows, cols = linear_sum_assignment(cost)
    return np.stack([rows, cols], axis=1).astype(np.int64)


def assign(cost: np.ndarray, cost_limit: float = np.inf, *, limit_after: bool = False) -> np.ndarray:
    """Minimum-cost one-to-one assignment; returns ``(k, 2)`` ``[row, col]`` pairs.

    With a finite ``cost_limit`` no returned pair costs more than it, and pairs are chosen so
    that the total of the kept pairs plus ``cost_limit / 2`` per unmatched row or column is least.
    With ``limit_after`` the limit is applied the SORT way instead: the full assignment is solved
    first and its pairs costlier than the limit are dropped afterwards. The two differ when a
    costly pair displaces cheaper ones: the first then leaves it out and keeps the others.
    """
    cost = np.asarray(cost, dtype=np.float64)
    if cost.size == 0:
        return _EMPTY_PAIRS
    if limit_after:
        pairs = assign(cost)
        return pairs[cost[pairs[:, 0], pairs[:, 1]] <= cost_limit]
    if _lap is None:
        return _solve_scipy(cost, cost_limit)
    _, x, _ = _lap.lapjv(cost, extend_cost=True, cost_limit=cost_limit)
    rows = np.flatnonzero(x >= 0)
    return np.stack([rows, x[rows]], axis=1).astype(np.int64)


def split_matches(pairs: np.ndarray, num_rows: int, num_cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(matches, unmatched_rows, unmatched_cols)`` from assigned pairs."""
    if len(pairs) == 0:
        return pairs, np.arange(num_rows), np.arange(num_cols)
    row_free = np.ones(num_rows, dtype=bool)
    col_free = np.ones(num_cols, dtype=bool)
    row_free[pairs[:, 0]] = False
    col_free[pairs[:, 1]] = False
    return pairs, np.flatnonzero(row_free), np.flatnonzero(col_free)


def iou_distance(track_boxes: np.ndarray, det_boxes: np.ndarray) -> np.ndarray:
    """``1 - IoU``, tracks as rows and detections as columns."""
    if len(track_boxes) == 0 or len(det_boxes) == 0:
        return np.ones((len(track_boxes), len(det_boxes)))
    return 1.0 - iou_matrix(track_boxes, det_boxes)


def fuse_score(distance: np.ndarray, det_scores: np.ndarray) -> np.ndarray:
    """ByteTrack's score fusion: ``1 - IoU * score``, so a confident detection is cheaper to match."""
    if distance.size == 0:
        return distance
    return 1.0 - (1.0 - distance) * np.asarray(det_scores, dtype=np.float64)[None, :]


def match_by_similarity(
    similarity: np.ndarray,
    threshold: float,
    *,
    cost: np.ndarray | None = None,
    unique_shortcut: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SORT-style matching: assign to maximise similarity, then drop pairs below ``threshold``.

    Args:
        similarity: ``(rows, cols)`` similarity (IoU) used for the threshold.
        threshold: pairs whose similarity is below it are unmatched after the assignment.
        cost: the matrix to minimise, if not ``-similarity`` (OC-SORT adds a direction term).
        unique_shortcut: when every row and every column has at most one pair above the
            threshold, take those pairs without solving (SORT and OC-SORT do this).

    Returns:
        ``(matches, unmatched_rows, unmatched_cols)``; ``matches`` is ``(k, 2)`` ``[row, col]``.
    """
    n, m = similarity.shape
    if n == 0 or m == 0:
        return _EMPTY_PAIRS, np.arange(n), np.arange(m)
    pairs = None
    if unique_shortcut:
        above = similarity > threshold
        if above.sum(axis=1).max() == 1 and above.sum(axis=0).max() == 1:
            pairs = np.argwhere(above).astype(np.int64)
    if pairs is None:
        pairs = assign(-similarity if cost is None else cost)
        pairs = pairs[similarity[pairs[:, 0], pairs[:, 1]] >= threshold]
    return split_matches(pairs, n, m)


def greedy_best_match(similarity: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SkyhookML's greedy matching: each row proposes its best column, each column keeps its best row.

    A row proposes the column with the highest similarity strictly above ``threshold`` (the first
    one on ties). A column proposed by several rows keeps the row with the highest similarity (the
    first on ties); the other rows stay unmatched, with no second choice.
    """
    n, m = similarity.shape
    if n == 0 or m == 0:
        return _EMPTY_PAIRS, np.arange(n), np.arange(m)
    best_col = np.argmax(similarity, axis=1)
    best = similarity[np.arange(n), best_col]
    rows = np.flatnonzero(best > threshold)
    if len(rows) == 0:
        return _EMPTY_PAIRS, np.arange(n), np.arange(m)
    cols, vals = best_col[rows], best[rows]
    order = np.lexsort((rows, -vals, cols))  # by column, then best first, then earliest row
    cols_sorted = cols[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = cols_sorted[1:] != cols_sorted[:-1]
    winners = order[first]
    pairs = np.stack([rows[winners], cols[winners]], axis=1).astype(np.int64)
    return split_matches(pairs, n, m)
