"""Appearance scores of tracks against boxes: UNS20's query averaging and min-softmax matrix.

Each track keeps a ring of its past crops' *query* vectors (``hist``, length ``max(offsets)``) and
the *target* vectors of its first crops (``head``, for stitching). A track is scored against the
frame's boxes with its crops 1, 2, 4, 8 and 16 matches back (its current look and older ones,
which survive a short occlusion); logits are averaged over the queries, a terminal column with the
learned "no match" logit is appended, and ``P = min(softmax over tracks, softmax over boxes)``: a
box that looks like two tracks, or a track that looks like two boxes, gets a low score for both.
"""

from __future__ import annotations

import numpy as np

from selftrack.core.boxes import FrameOverlaps, iou_matrix
from selftrack.reid.heads import NumpyHeads, min_softmax


def track_logits(
    heads: NumpyHeads, hist: np.ndarray, hist_n: np.ndarray, offsets: np.ndarray, targets: np.ndarray
) -> np.ndarray:
    """Appearance logits ``(len(hist), len(targets))``, averaged over each track's queries.

    ``hist`` is the tracks' query rings ``(n, ring, members, width)`` and ``hist_n`` how many crops
    each has seen. Every track's crops ``offsets`` matches back are scored in one matcher call (a
    track that has fewer crops so far averages over those it has).
    """
    if len(hist) == 0 or len(targets) == 0:
        return np.zeros((len(hist), len(targets)), dtype=np.float32)
    ring = hist.shape[1]
    has = hist_n[:, None] >= offsets[None, :]
    slot = (hist_n[:, None] - offsets[None, :]) % ring
    queries = hist[np.arange(len(hist))[:, None], slot]  # (tracks, offsets, members, width)
    k, j = has.shape
    logits = heads.logits(queries.reshape(k * j, *queries.shape[2:]), targets).reshape(k, j, -1)
    logits *= has[:, :, None]
    return logits.sum(axis=1) / np.maximum(has.sum(axis=1), 1)[:, None].astype(np.float32)


def probability_matrix(heads: NumpyHeads, logits: np.ndarray) -> np.ndarray:
    """``P`` with the terminal column last: ``min_softmax([logits, terminal])``."""
    full = np.concatenate([logits, np.full((len(logits), 1), heads.terminal, np.float32)], axis=1)
    return min_softmax(full)


def clean_boxes(xyxy: np.ndarray, limit: float | None, overlaps: FrameOverlaps | None = None) -> np.ndarray:
    """Boxes that overlap no other box of the frame by more IoU than ``limit`` (all, when unset).

    ``overlaps`` are the boxes' :class:`~selftrack.core.boxes.FrameOverlaps` when the caller has them.
    """
    if limit is None or len(xyxy) < 2:
        return np.ones(len(xyxy), dtype=bool)
    iou = iou_matrix(xyxy, xyxy) if overlaps is None else overlaps.iou()
    np.fill_diagonal(iou, 0.0)
    return iou.max(axis=1) <= limit


def appearance_agrees(prob: np.ndarray, ti: np.ndarray, di: np.ndarray, high: np.ndarray, n: int) -> np.ndarray:
    """Per match, whether the appearance matcher prefers it to "no match" (boxes it did not score: True).

    ``prob`` is the frame's ``P`` (tracks x high-score boxes, terminal column last). In a crowd
    the first stage may give a track a box on overlap alone while the matcher says the box shows
    someone else (a box that drifted onto a passer-by, or covers two people); learning that crop
    as the track's look makes the track claim the other person later. Low-score boxes (second
    stage) are not scored and keep the clean-crop rule only.
    """
    col = np.full(n, -1)
    col[high] = np.arange(len(high))
    c = col[di]
    scored = c >= 0
    agree = np.ones(len(ti), dtype=bool)
    agree[scored] = prob[ti[scored], c[scored]] > prob[ti[scored], -1]
    return agree
