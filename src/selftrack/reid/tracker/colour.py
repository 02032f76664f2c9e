"""Offline cuts and joins by colour, for when the learned model is not trusted for decisions on its own.

Motion alone makes two errors that a look can catch: a track lost for a few frames in a group is
found again on a neighbour (the re-acquisition takes someone else), and a track that ends in an
occlusion is not continued by the fragment that starts after it. A re-id model trained on a short
clip is often too weak to decide either (its trust stays low), while the boxes' colours still tell
the people apart (:mod:`selftrack.reid.colour`). So during the online pass :class:`ColourMemory`
keeps, per track, the look of its first crops, the looks just before and just after every
re-acquisition (a match after ``colour.min_gap - 1`` or more missed frames) and the look of its
last crops, plus a sample of how alike the looks of two tracks matched in one frame are (certainly
different objects, their looks averaged as every compared look is), which calibrates both
thresholds to this video's colours. After the pass, :func:`colour_check`:

1. **cuts** a track at a re-acquisition whose looks before and after are less alike than
   ``colour.cut_below`` of the same-frame pairs;
2. **joins** a fragment's end to a later fragment's start, inside stitching's gates (gap,
   continuation of the motion or exit and re-entry at the border: :func:`.stitching.candidate_pairs`),
   when their looks are more alike than ``colour.join_above`` of the same-frame pairs and each is
   the other's best candidate; one assignment, chains allowed (A -> B -> C).

Both stay off when the video's colours do not separate objects: when the looks of one object about
a second apart (the first crops of a stretch that motion followed without a gap, and its crops a
second later) are, in the median, not above the join threshold (a grey-scale video of people
dressed alike, say). A look averages ``colour.crops`` crops,
the clean ones (no other box overlaps them) when there are any. Memory: a ring of the last
``crops`` looks per live track and two looks per re-acquisition; nothing per box.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from selftrack.core.detections import Detections
from selftrack.reid.tracker.appearance import clean_boxes
from selftrack.reid.tracker.params import ReidTrackerParams
from selftrack.reid.tracker.stitching import candidate_pairs, join_chains, reference_boxes, track_ends
from selftrack.trackers.base import StepResult
from selftrack.trackers.matching import assign

FALLBACK_LAG = 10
"""Matches between two looks of one object (about a second) when the frame rate is unknown."""
NEGATIVE_SAMPLE = 20_000
"""Same-frame pairs of tracks kept (a uniform sample of the video's) to calibrate the thresholds."""
PAIRS_PER_FRAME = 8
MIN_NEGATIVES, MIN_POSITIVES = 50, 5
"""Fewer same-frame pairs or followed stretches than this: too little to calibrate, no colour check."""


@dataclass(frozen=True)
class BoxVectors:
    """The learned vectors and colour looks of a run of boxes, sliced together by the tracker's frame loop."""

    features: np.ndarray | None
    colour: np.ndarray | None

    def __getitem__(self, rows: slice) -> BoxVectors:
        return BoxVectors(
            None if self.features is None else self.features[rows], None if self.colour is None else self.colour[rows]
        )


def _prefer_clean(clean: np.ndarray, clean_n: int, every: np.ndarray) -> np.ndarray:
    """The unit-length mean look of the clean crops when there are any, else of every crop."""
    v = clean if clean_n else every
    norm = float(np.linalg.norm(v))
    return (v / norm if norm > 0 else v).astype(np.float32)


class _Look:
    """A running mean of looks, of clean crops and of all crops (the clean one is preferred)."""

    __slots__ = ("clean", "clean_n", "every", "n")

    def __init__(self, dim: int) -> None:
        self.clean = np.zeros(dim, np.float32)
        self.every = np.zeros(dim, np.float32)
        self.clean_n = self.n = 0

    def add(self, look: np.ndarray, clean: bool) -> None:
        self.every += look
        self.n += 1
        if clean:
            self.clean += look
            self.clean_n += 1

    def vector(self) -> np.ndarray:
        return _prefer_clean(self.clean, self.clean_n, self.every)


@dataclass
class _Track:
    ring: np.ndarray  # (crops, dim) the last looks
    ring_clean: np.ndarray  # (crops,)
    start: _Look  # the first crops of the track
    last: int  # frame of the last match
    stretch_head: _Look  # the first crops since the last re-acquisition (at first: ``start``)
    rows: int = 0  # matches so far
    stretch_rows: int = 0  # matches since the last re-acquisition
    collecting: list[_Look] = field(default_factory=list)  # looks still taking crops (fewer than `crops`)
    # (frame of the re-acquisition, look before it, look after it)
    reacquired: list[tuple[int, np.ndarray, _Look]] = field(default_factory=list)
    end: np.ndarray | None = None  # the last crops' look, once the track is over
    # sums over the ring (all of it, its clean crops), kept as crops come and go: tail() costs one vector
    every_sum: np.ndarray = field(init=False)
    clean_sum: np.ndarray = field(init=False)
    clean_count: int = 0

    def __post_init__(self) -> None:
        self.every_sum = np.zeros(self.ring.shape[1])
        self.clean_sum = np.zeros(self.ring.shape[1])

    def push(self, look: np.ndarray, clean: bool) -> None:
        """The newest crop's look enters the ring, the oldest leaves it."""
        at = self.rows % len(self.ring)
        if self.rows >= len(self.ring):
            self.every_sum -= self.ring[at]
            if self.ring_clean[at]:
                self.clean_sum -= self.ring[at]
                self.clean_count -= 1
        self.ring[at], self.ring_clean[at] = look, clean
        self.every_sum += look
        if clean:
            self.clean_sum += look
            self.clean_count += 1
        self.rows += 1

    def tail(self) -> np.ndarray:
        """The look of the last crops (the clean ones among them when there are any)."""
        return _prefer_clean(self.clean_sum, self.clean_count, self.every_sum)


class ColourMemory:
    """What :func:`colour_check` needs of every track's colours, gathered frame by frame (see module doc)."""

    def __init__(self, params: ReidTrackerParams, forget: int, fps: float | None, seed: int = 0) -> None:
        """``forget``: frames after which the tracker no longer matches a lost track; ``fps`` the video's rate."""
        self.params = params.colour
        self.clean_iou = params.appearance.clean_crop_iou
        self.horizon = 2 * max(1, forget) + 1  # frames after which an unmatched track is over (with a margin)
        # matches between the two looks of one object that calibrate "alike": about a second
        self.lag = max(1, round(fps) if fps else FALLBACK_LAG)
        self.tracks: dict[int, _Track] = {}
        self.negatives = np.zeros(NEGATIVE_SAMPLE, np.float32)
        self.seen_pairs = 0
        self.positives: list[float] = []
        self._rng = np.random.default_rng(seed)

    def observe_frame(
        self, frame: int, xyxy: np.ndarray, looks: np.ndarray, result: StepResult, clean: np.ndarray | None = None
    ) -> None:
        """One frame of the tracker: its boxes, their looks, and what the tracker output (``result``); ``clean``:
        which boxes no other overlaps by more than ``appearance.clean_crop_iou``, when the tracker has it."""
        rows = np.asarray(result.rows, dtype=np.int64)
        clean = (clean_boxes(xyxy, self.clean_iou) if clean is None else clean)[rows]
        self.observe(frame, np.asarray(looks, np.float32), rows, np.asarray(result.track_id), clean)

    def observe(
        self, frame: int, looks: np.ndarray, track_rows: np.ndarray, track_id: np.ndarray, clean: np.ndarray
    ) -> None:
        """One frame: ``looks`` of all its boxes; boxes ``track_rows`` were output under ``track_id``."""
        k, c = self.params.crops, self.params
        for row, tid, is_clean in zip(track_rows.tolist(), track_id.tolist(), clean.tolist(), strict=True):
            look = looks[row]
            t = self.tracks.get(tid)
            if t is not None and t.end is not None:  # matched again after it was taken to be over: reopen
                end = t.end
                t.ring, t.ring_clean, t.end = np.zeros((k, looks.shape[1]), np.float32), np.zeros(k, bool), None
                t.rows, t.clean_count = 0, 0
                t.__post_init__()
                for _ in range(k):
                    t.push(end, True)
            if t is None:
                start = _Look(looks.shape[1])
                t = _Track(np.zeros((k, looks.shape[1]), np.float32), np.zeros(k, bool), start, frame, start)
                t.collecting.append(start)
                self.tracks[tid] = t
            elif frame - t.last >= c.min_gap:
                before = t.tail()
                after = _Look(looks.shape[1])
                t.reacquired.append((frame, before, after))
                t.collecting.append(after)
                t.stretch_head, t.stretch_rows = after, 0
            t.push(look, is_clean)
            for part in t.collecting:
                part.add(look, is_clean)
            t.collecting = [part for part in t.collecting if part.n < k]
            t.stretch_rows += 1
            t.last = frame
            if t.stretch_rows == k + self.lag:  # one object's looks, `lag` matches apart
                self.positives.append(float(t.stretch_head.vector() @ t.tail()))
        self._sample_negatives([self.tracks[tid] for tid in track_id.tolist()])
        if frame % 64 == 0:
            self._close(frame - self.horizon)

    def _close(self, before: int | None = None) -> None:
        """Tracks unmatched since ``before`` (all: ``None``) are over: keep their end look, free the ring."""
        for t in self.tracks.values():
            if t.end is None and (before is None or t.last < before):
                t.end = t.tail()
                t.ring, t.ring_clean, t.collecting = t.ring[:0], t.ring_clean[:0], []

    def _sample_negatives(self, tracks: list[_Track]) -> None:
        """Looks of two tracks matched in the same frame (certainly different objects), each averaged over
        ``crops`` crops as every compared look is: averaging alone makes any two looks more alike."""
        k = self.params.crops
        full = [t for t in tracks if t.rows >= k]
        n = len(full)
        if n < 2:
            return
        m = min(PAIRS_PER_FRAME, n * (n - 1) // 2)
        a = self._rng.integers(0, n, size=m)
        b = (a + self._rng.integers(1, n, size=m)) % n  # b != a
        sims = [float(full[i].tail() @ full[j].tail()) for i, j in zip(a.tolist(), b.tolist(), strict=True)]
        for s in sims:  # reservoir sampling: every pair of the video equally likely to be kept
            if self.seen_pairs < NEGATIVE_SAMPLE:
                self.negatives[self.seen_pairs] = s
            else:
                j = int(self._rng.integers(0, self.seen_pairs + 1))
                if j < NEGATIVE_SAMPLE:
                    self.negatives[j] = s
            self.seen_pairs += 1

    def thresholds(self) -> tuple[float, float] | str:
        """``(cut, join)`` similarity thresholds for this video, or why colour cannot decide here."""
        self._close()
        neg = self.negatives[: min(self.seen_pairs, NEGATIVE_SAMPLE)]
        if len(neg) < MIN_NEGATIVES:
            return f"fewer than {MIN_NEGATIVES} pairs of tracks seen in one frame"
        if len(self.positives) < MIN_POSITIVES:
            return f"fewer than {MIN_POSITIVES} stretches followed long enough to compare their ends"
        cut, join = np.quantile(neg, [self.params.cut_below, self.params.join_above])
        alike = float(np.median(self.positives))
        if alike < join:
            return (
                f"one object's looks a second apart (median similarity {alike:.2f}) are not above the join threshold "
                f"{join:.2f} that different objects set in this video"
            )
        return float(cut), float(join)


@dataclass(frozen=True)
class ColourResult:
    """What :func:`colour_check` did (for the settings line users see)."""

    cuts: int = 0
    joins: int = 0
    why_not: str = ""  # set when colour did not decide anything

    def describe(self) -> str:
        if self.why_not:
            return f"colour check: off ({self.why_not})"
        return f"colour check: {self.cuts} re-acquisition(s) cut, {self.joins} fragment(s) joined"


def colour_check(
    tracks: Detections,
    memory: ColourMemory,
    params: ReidTrackerParams,
    *,
    limit: int,
    canvas: tuple[int, int] | None,
    fps: float | None,
    affines: np.ndarray | None = None,
) -> tuple[Detections, ColourResult]:
    """``tracks`` (the online pass's output) cut and joined by colour (see module doc)."""
    found = memory.thresholds()
    if isinstance(found, str):
        return tracks, ColourResult(why_not=found)
    cut_at, join_at = found
    if not len(tracks):
        return tracks, ColourResult()
    # 1. cut re-acquisitions whose looks disagree; each piece keeps the looks at its two ends
    next_id = int(tracks.track_id.max()) + 1
    new_id = tracks.track_id.copy()
    starts: dict[int, np.ndarray] = {}
    ends: dict[int, np.ndarray] = {}
    cuts = 0
    for tid, t in memory.tracks.items():
        assert t.end is not None  # thresholds() closed every track
        pieces = [tid]
        starts[tid] = t.start.vector()
        for frame, before, after in t.reacquired:
            if float(before @ after.vector()) >= cut_at:
                continue
            rows = np.flatnonzero((tracks.track_id == tid) & (tracks.frame >= frame))
            new_id[rows] = next_id
            ends[pieces[-1]] = before
            starts[next_id] = after.vector()
            pieces.append(next_id)
            next_id += 1
            cuts += 1
        ends[pieces[-1]] = t.end
    tracks = tracks.replace(track_id=new_id)
    # 2. join a piece's end to a later piece's start: looks alike, mutual best, inside stitching's gates
    reference = None if affines is None else reference_boxes(tracks.frame, tracks.xyxy, affines)
    info = track_ends(tracks, reference)
    ids = info["id"]
    known = np.array([int(i) in starts and int(i) in ends for i in ids], dtype=bool)
    ok = candidate_pairs(info, known, params, limit, canvas, fps) if limit > 0 else np.zeros((len(ids),) * 2, bool)
    joins = 0
    if ok.any():
        rows, cols = np.nonzero(ok)
        sim = np.full(ok.shape, -np.inf)
        end_looks = {int(i): ends[int(i)] for i in ids[np.unique(rows)]}
        for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
            sim[a, b] = float(end_looks[int(ids[a])] @ starts[int(ids[b])])
        best_start, best_end = sim.argmax(axis=1), sim.argmax(axis=0)
        allowed = ok & (sim >= join_at)
        allowed &= best_start[:, None] == np.arange(len(ids))[None, :]
        allowed &= best_end[None, :] == np.arange(len(ids))[:, None]
        if allowed.any():
            pairs = assign(np.where(allowed, -sim, 1e6), cost_limit=0.0)
            pairs = pairs[allowed[pairs[:, 0], pairs[:, 1]]]
            tracks = join_chains(tracks, ids, pairs[:, 0], pairs[:, 1])
            joins = len(pairs)
    return tracks, ColourResult(cuts, joins)
