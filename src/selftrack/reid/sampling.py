"""Training sequences sampled from unlabeled videos, as in UNS20, with spans set by the track duration.

UNS20 samples 17 frames at a stride ``skip`` (16 steps) and trains the appearance matcher between
frame 0 and frame 4 or 16 steps later, the recurrent box matcher over every step. Its strides were
tuned per dataset; here the span follows SkyhookML's ``TrackDuration``: with ``G = track_duration
x fps`` frames, a sequence spans ``L = G / 2`` or ``G`` frames (chosen at random, UNS20's two
skips), cut into ``min(16, L)`` steps, and the appearance gaps are ``L / 4`` and ``L``, i.e.
exactly SkyhookML's four gaps ``G x {1/8, 1/4, 1/2, 1}``.

A sequence is usable when every one of its frames has at least ``min_detections`` boxes (UNS20:
every frame has detections, 6 for training). Validation holds out whole blocks of time (every
``1 / val_fraction``-th block of ``2 G`` frames; a clip too short for ten such blocks holds out its
last few seconds instead, validated at the span that fits), and training sequences never touch a
held-out block, so the validation loss measures generalisation to unseen moments of the video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from selftrack.core.boxes import covered_fraction
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.candidates import match_gaps
from selftrack.reid.crops import CropStore


@dataclass
class VideoData:
    """One training video: its boxes (in frame pixels), per-frame layout and crop store."""

    name: str
    frame: np.ndarray
    boxes: np.ndarray
    bounds: np.ndarray
    counts: np.ndarray
    store: CropStore
    frame_size: tuple[int, int]
    fps: float
    covered: np.ndarray  # per box: the largest share of it covered by a box in front (core.boxes.covered_fraction)

    @classmethod
    def build(cls, name: str, detections: Detections, boxes: np.ndarray, store: CropStore, fps: float) -> VideoData:
        bounds = detections.frame_bounds()
        boxes = np.asarray(boxes, dtype=np.float64)
        covered = np.zeros(len(boxes))
        for f in np.flatnonzero(np.diff(bounds) > 1):
            covered[bounds[f] : bounds[f + 1]] = covered_fraction(boxes[bounds[f] : bounds[f + 1]])
        return cls(
            name=name,
            frame=detections.frame,
            boxes=boxes,
            bounds=bounds,
            counts=np.diff(bounds),
            store=store,
            frame_size=store.frame_size,
            fps=float(fps),
            covered=covered,
        )

    @property
    def num_frames(self) -> int:
        return len(self.counts)

    def rows(self, f: int) -> np.ndarray:
        return np.arange(int(self.bounds[f]), int(self.bounds[f + 1]))


@dataclass(frozen=True)
class Sequence:
    """One training example: a video, its sampled frames, and the two appearance gaps."""

    video: int
    frames: tuple[int, ...]  # frames[0] is the start; len = steps + 1
    gaps: tuple[int, int]  # appearance gaps (frames after the start): L / 4 and L

    @property
    def start(self) -> int:
        return self.frames[0]

    @property
    def span(self) -> int:
        return self.frames[-1] - self.frames[0]


def sequence_offsets(span: int, steps: int) -> np.ndarray:
    """Frame offsets ``0 .. span`` of a sequence cut into ``min(steps, span)`` steps (strictly increasing)."""
    k = max(1, min(int(steps), int(span)))
    return np.unique(np.rint(np.linspace(0, span, k + 1)).astype(np.int64))


def _held_out(num_frames: int, spans: list[int], val_fraction: float) -> tuple[np.ndarray, int]:
    """Frames held out for validation and the span validated at (see the module doc).

    A long video holds out every ``1 / val_fraction``-th block of two long spans (validated at the
    long span). A video too short for that holds out its last frames instead: the longest span
    whose validation tail (the span, plus a quarter of it for several starts) is at most 40 % of
    the video, so that training keeps the rest in one piece; none if even the shortest is too long.
    """
    held = np.zeros(num_frames, dtype=bool)
    if val_fraction <= 0:
        return held, 0
    full = spans[-1]
    block = 2 * full
    nblocks = max(1, -(-num_frames // block))
    period = max(2, round(1.0 / val_fraction))
    if nblocks >= period:
        held = ((np.arange(num_frames) // block) % period) == (period // 2)
        return held, full
    for span in sorted(spans, reverse=True):
        tail = span + 1 + max(2, span // 4)
        if tail <= 0.4 * num_frames:
            held[num_frames - tail :] = True
            return held, span
    return held, 0


class SequenceSampler:
    """Draws training and validation sequences from several videos (see module doc)."""

    def __init__(
        self,
        videos: list[VideoData],
        *,
        track_duration: float,
        steps: int = 16,
        min_detections: int = 2,
        val_fraction: float = 0.1,
    ) -> None:
        if not videos:
            raise ValidationError("re-id training needs at least one video with detections")
        self.videos = videos
        self.steps = steps
        self.plans: list[list[tuple[int, np.ndarray, tuple[int, int]]]] = []  # per video: (span, offsets, gaps)
        self.train_starts: list[dict[int, np.ndarray]] = []
        self.val_starts: list[dict[int, np.ndarray]] = []
        self.held: list[np.ndarray] = []  # per video: frames held out for validation
        for v in videos:
            gaps = match_gaps(track_duration, v.fps)
            full = gaps[-1]
            spans = sorted({max(1, round(full / 2)), full})
            plans = []
            for span in spans:
                offsets = sequence_offsets(span, steps)
                plans.append((span, offsets, (max(1, round(span / 4)), span)))
            self.plans.append(plans)
            held, val_span = _held_out(v.num_frames, [p[0] for p in plans], val_fraction)
            self.held.append(held)
            tr: dict[int, np.ndarray] = {}
            va: dict[int, np.ndarray] = {}
            ok_frame = v.counts >= max(1, min_detections)
            for span, offsets, _ in plans:
                n_start = v.num_frames - span
                if n_start <= 0:
                    tr[span] = va[span] = np.zeros(0, dtype=np.int64)
                    continue
                starts = np.arange(n_start)
                good = np.ones(n_start, dtype=bool)
                for off in offsets:
                    good &= ok_frame[starts + off]
                # held-out frames anywhere in [start, start + span] exclude a training sequence
                held_cum = np.concatenate([[0], np.cumsum(held)])
                touches = (held_cum[starts + span + 1] - held_cum[starts]) > 0
                tr[span] = starts[good & ~touches]
                inside = held[starts] & (held_cum[starts + span + 1] - held_cum[starts] == span + 1)
                va[span] = starts[good & inside] if span == val_span else np.zeros(0, dtype=np.int64)
            self.train_starts.append(tr)
            self.val_starts.append(va)
        self.train_weight = np.array([sum(len(s) for s in tr.values()) for tr in self.train_starts], dtype=np.float64)
        if self.train_weight.sum() == 0:
            raise ValidationError(
                "no usable training sequence: every span of "
                f"{', '.join(str(p[0][0]) + '-' + str(p[-1][0]) for p in self.plans)} frames has a frame with fewer "
                "boxes than min_detections (or the videos are shorter than track_duration x fps)"
            )

    def training_boxes(self, max_fps: float = 10.0) -> float:
        """Boxes in the frames training may use, each video's counted at up to ``max_fps`` frames a second.

        A measure of how much there is to learn: at 60 fps consecutive frames show nearly the same
        crops, so a high frame rate adds frames but not much new appearance.
        """
        total = 0.0
        for v, held in zip(self.videos, self.held, strict=True):
            total += float(v.counts[~held].sum()) * min(1.0, max_fps / max(v.fps, 1e-9))
        return total

    def _make(self, vi: int, span_index: int, start: int) -> Sequence:
        _, offsets, gaps = self.plans[vi][span_index]
        return Sequence(vi, tuple(int(start + o) for o in offsets), gaps)

    def sample(self, rng: np.random.Generator) -> Sequence:
        """A random training sequence (videos weighted by their number of usable starts)."""
        vi = int(rng.choice(len(self.videos), p=self.train_weight / self.train_weight.sum()))
        spans = [i for i, (span, _, _) in enumerate(self.plans[vi]) if len(self.train_starts[vi][span])]
        si = spans[int(rng.integers(len(spans)))]
        starts = self.train_starts[vi][self.plans[vi][si][0]]
        return self._make(vi, si, int(starts[int(rng.integers(len(starts)))]))

    def validation(self, count: int, rng: np.random.Generator) -> list[Sequence]:
        """Up to ``count`` held-out sequences (fixed for a given ``rng``), at each video's validation span."""
        pool = []
        for vi, plans in enumerate(self.plans):
            for si, (span, _, _) in enumerate(plans):
                for start in self.val_starts[vi][span]:
                    pool.append((vi, si, int(start)))
        if not pool:
            return []
        pick = rng.choice(len(pool), size=min(count, len(pool)), replace=False)
        return [self._make(*pool[int(i)]) for i in sorted(pick)]

    def negative_frame(self, video: int, rng: np.random.Generator, min_boxes: int = 5) -> tuple[int, int] | None:
        """A random frame with at least ``min_boxes`` boxes from a video other than ``video``."""
        others = [i for i in range(len(self.videos)) if i != video and (self.videos[i].counts >= min_boxes).any()]
        if not others:
            return None
        vi = others[int(rng.integers(len(others)))]
        frames = np.flatnonzero(self.videos[vi].counts >= min_boxes)
        return vi, int(frames[int(rng.integers(len(frames)))])
