"""Long videos in pieces: split into frame ranges, track the pieces in parallel, stitch them back.

Detection looks at one frame at a time, so a long video splits into disjoint frame ranges whose
outputs simply concatenate (:func:`frame_ranges`). Tracking carries state from frame to frame, so the
pieces overlap (:func:`plan_chunks`): chunk ``k`` sees frames ``[k*C - O, (k+1)*C)`` (``C`` =
``chunk_frames``, ``O`` = ``overlap_frames``), and both neighbours track the ``O`` shared frames
independently. :func:`stitch_chunks` then matches, frame by frame over the overlap, the boxes of the
earlier chunk's tracks to the later chunk's (one-to-one on IoU), and a pair of tracks that share most
of their overlap boxes is one identity. The output takes each frame from one chunk only: up to the
middle of the overlap from the earlier chunk, after it from the later one, so every kept box was
produced by a tracker that had been running for at least ``O / 2`` frames (its tracks confirmed, its
motion model warmed up) and had not yet reached the end of its piece.

Why boxes and not appearance: both chunks tracked the very same detections in the overlap, so the
same object gives (nearly) the same boxes in both; matching them needs no model and works for every
tracker, the classic ones and the re-id one alike. What stitching cannot recover is an identity the
whole-video tracker kept only thanks to history older than the overlap (a re-identification after
a long absence that spans a boundary); longer overlaps make that rarer. BENCHMARKS.md measures the
difference against whole-video runs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from selftrack.core.boxes import iou_matrix
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.trackers.matching import assign


@dataclass(frozen=True)
class Chunk:
    """One piece of a video: the tracker sees frames ``[start, stop)``; ``[keep_from, keep_to)`` is kept."""

    index: int
    start: int
    stop: int
    keep_from: int
    keep_to: int

    @property
    def frames(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class BoundaryReport:
    """What stitching found at one chunk boundary (for logs and benchmarks)."""

    cut: int
    """First frame taken from the later chunk."""
    overlap: tuple[int, int]
    joined: int
    """Tracks of the earlier chunk continued by a track of the later one."""
    ended: int
    """Tracks alive at the cut in the earlier chunk that no later track continues (a possible id break)."""
    started: int
    """Tracks alive at the cut in the later chunk that continue no earlier track (a possible id break)."""


def _check(num_frames: int, chunk_frames: int, overlap_frames: int = 0) -> None:
    if num_frames < 0:
        raise ValidationError(f"a video cannot have {num_frames} frames")
    if chunk_frames < 1:
        raise ValidationError(f"chunk_frames must be at least 1, got {chunk_frames}")
    if overlap_frames < 0:
        raise ValidationError(f"overlap_frames must be at least 0, got {overlap_frames}")


def frame_ranges(num_frames: int, chunk_frames: int) -> list[tuple[int, int]]:
    """Disjoint ``[start, stop)`` ranges of at most ``chunk_frames`` frames covering ``[0, num_frames)``."""
    _check(num_frames, chunk_frames)
    if num_frames == 0:
        return [(0, 0)]
    return [(s, min(num_frames, s + chunk_frames)) for s in range(0, num_frames, chunk_frames)]


def plan_chunks(num_frames: int, chunk_frames: int, overlap_frames: int) -> list[Chunk]:
    """Overlapping tracking chunks over ``[0, num_frames)``; a last piece shorter than the overlap joins the one before.

    One chunk (no split) when the video is not longer than ``chunk_frames + overlap_frames``.
    """
    _check(num_frames, chunk_frames, overlap_frames)
    starts = list(range(0, max(num_frames, 1), chunk_frames))
    if len(starts) > 1 and num_frames - starts[-1] < max(overlap_frames, 1):
        starts.pop()
    if len(starts) > 1 and num_frames <= chunk_frames + overlap_frames:
        starts = [0]
    chunks = []
    for k, nominal in enumerate(starts):
        start = max(0, nominal - overlap_frames)
        stop = starts[k + 1] if k + 1 < len(starts) else num_frames
        keep_from = 0 if k == 0 else start + (nominal - start + 1) // 2
        chunks.append(Chunk(k, start, stop, keep_from, num_frames))
    for k in range(len(chunks) - 1):  # each keeps up to where the next one takes over
        chunks[k] = dataclasses.replace(chunks[k], keep_to=chunks[k + 1].keep_from)
    return chunks


def _overlap_votes(
    a: Detections, b: Detections, lo: int, hi: int, min_iou: float
) -> tuple[dict[tuple[int, int], int], dict[int, int], dict[int, int]]:
    """Per (earlier id, later id): frames of ``[lo, hi)`` where their boxes are matched to each other."""
    votes: dict[tuple[int, int], int] = {}
    seen_a: dict[int, int] = {}
    seen_b: dict[int, int] = {}
    a, b = a.frames_range(lo, hi), b.frames_range(lo, hi)
    ba, bb = (np.searchsorted(x.frame, np.arange(lo, hi + 1)) for x in (a, b))
    for i in range(hi - lo):
        ra, rb = slice(int(ba[i]), int(ba[i + 1])), slice(int(bb[i]), int(bb[i + 1]))
        ids_a, ids_b = a.track_id[ra], b.track_id[rb]
        for t in ids_a.tolist():
            seen_a[t] = seen_a.get(t, 0) + 1
        for t in ids_b.tolist():
            seen_b[t] = seen_b.get(t, 0) + 1
        if not len(ids_a) or not len(ids_b):
            continue
        iou = iou_matrix(a.xyxy[ra], b.xyxy[rb])
        for r, c in assign(1.0 - iou, cost_limit=1.0 - min_iou):
            pair = (int(ids_a[r]), int(ids_b[c]))
            votes[pair] = votes.get(pair, 0) + 1
    return votes, seen_a, seen_b


def match_overlap(
    a: Detections, b: Detections, lo: int, hi: int, *, min_iou: float = 0.5, min_share: float = 0.5
) -> dict[int, int]:
    """Which track of ``b`` continues which track of ``a``, from their boxes in frames ``[lo, hi)``.

    Pairs are chosen by one assignment on the number of frames their boxes were matched; a pair is kept
    when that number is at least ``min_share`` of the frames the shorter-lived of the two is seen in
    the overlap. Returns ``{b_id: a_id}``.
    """
    votes, seen_a, seen_b = _overlap_votes(a, b, lo, hi, min_iou)
    if not votes:
        return {}
    ids_a = sorted({p[0] for p in votes})
    ids_b = sorted({p[1] for p in votes})
    ia = {t: i for i, t in enumerate(ids_a)}
    ib = {t: i for i, t in enumerate(ids_b)}
    count = np.zeros((len(ids_a), len(ids_b)))
    for (ta, tb), n in votes.items():
        count[ia[ta], ib[tb]] = n
    out: dict[int, int] = {}
    for r, c in assign(-count, cost_limit=-0.5):
        ta, tb = ids_a[r], ids_b[c]
        if count[r, c] >= min_share * min(seen_a[ta], seen_b[tb]):
            out[tb] = ta
    return out


def stitch_chunks(
    parts: list[Detections], chunks: list[Chunk], *, min_iou: float = 0.5, min_share: float = 0.5
) -> tuple[Detections, list[BoundaryReport]]:
    """Join per-chunk tracks (frames in whole-video numbering, ids local to each chunk) into one video's tracks.

    Identities continue across each boundary where :func:`match_overlap` pairs two tracks; every other
    track gets a new id. Ids of the result count from 1 in order of each track's first box.
    """
    if len(parts) != len(chunks):
        raise ValidationError(f"{len(parts)} tracked chunks for a plan of {len(chunks)}")
    if not parts:
        raise ValidationError("nothing to stitch: no chunks")
    reports: list[BoundaryReport] = []
    global_of: list[dict[int, int]] = []
    next_id = 1
    for k, (part, chunk) in enumerate(zip(parts, chunks, strict=True)):
        local = [int(t) for t in part.track_ids]
        mapping: dict[int, int] = {}
        if k > 0:
            prev, prev_chunk = parts[k - 1], chunks[k - 1]
            lo, hi = chunk.start, prev_chunk.stop
            cont = match_overlap(prev, part, lo, hi, min_iou=min_iou, min_share=min_share)
            for tb, ta in cont.items():
                mapping[tb] = global_of[k - 1][ta]
            cut = chunk.keep_from
            alive_a = {int(t) for t in prev.track_id[(prev.frame >= cut - 1) & (prev.frame <= cut)]}
            alive_b = {int(t) for t in part.track_id[(part.frame >= cut) & (part.frame <= cut + 1)]}
            reports.append(
                BoundaryReport(
                    cut=cut,
                    overlap=(lo, hi),
                    joined=len(cont),
                    ended=len(alive_a - set(cont.values())),
                    started=len(alive_b - set(cont)),
                )
            )
        for t in local:
            if t not in mapping:
                mapping[t] = next_id
                next_id += 1
        global_of.append(mapping)
    kept = []
    for part, chunk, mapping in zip(parts, chunks, global_of, strict=True):
        piece = part.frames_range(chunk.keep_from, chunk.keep_to)
        if len(piece):
            ids = np.array([mapping[int(t)] if t >= 0 else -1 for t in piece.track_id], dtype=np.int64)
            kept.append(dataclasses.replace(piece, track_id=ids))
    first = parts[0]
    num_frames = chunks[-1].keep_to
    if not kept:
        return dataclasses.replace(first[np.zeros(0, dtype=np.int64)], num_frames=num_frames), reports
    joined = Detections.concat(kept)
    return dataclasses.replace(_renumber(joined), num_frames=num_frames), reports


def _renumber(tracks: Detections) -> Detections:
    """Track ids 1, 2, ... in order of each track's first box (ties: the old id)."""
    ids = tracks.track_id
    valid = ids >= 0
    if not valid.any():
        return tracks
    uniq, first = np.unique(ids[valid], return_index=True)
    order = np.lexsort((uniq, tracks.frame[valid][first]))
    new = np.empty(len(uniq), dtype=np.int64)
    new[order] = np.arange(1, len(uniq) + 1)
    out = ids.copy()
    out[valid] = new[np.searchsorted(uniq, ids[valid])]
    return dataclasses.replace(tracks, track_id=out)
