"""Training sequences sampled from unlabeled videos, as in UNS20, with spans set by the track duration.

UNS20 samples 17 frames at a stride ``skip`` (16 steps) and trains the appearance matcher between
frame 0 and frame 4 or 16 steps later, the recurrent box matcher over every step. Its strides were
tuned per dataset; here the span follows SkyhookML's ``TrackDuration``: with ``G = track_duration
x fps`` frames, a sequence spans ``L = G / 2`` or ``G`` frames (chosen at random, UNS20's two
skips), cut into ``min(16, L)`` steps, and the appearance gaps are ``L / 4`` and ``L``, i.e.
exactly SkyhookML's four gaps ``G x {1/8, 1/4, 1/2, 1}``.

A sequence is usable when every one of its frames has at least ``min_detections`` boxes (UNS20:
every frame has detections, 6 for training). Validation holds out whole blocks of time (every
``1 / val_fraction``-th block of ``2 G`` frames), and training sequences never touch a held-out
block, so the validation loss measures generalisation to unseen moments of the video.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    @classmethod
    def build(cls, name: str, detections: Detections, boxes: np.ndarray, store: CropStore, fps: float) -> VideoData:
        bounds = detections.frame_bounds()
        return cls(
            name=name,
            frame=detections.frame,
            boxes=np.asarray(boxes, dtype=np.float64),
            bounds=bounds,
            counts=np.diff(bounds),
            store=store,
            frame_size=store.frame_size,
            fps=float(fps),
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
        for v in videos:
            gaps = match_gaps(track_duration, v.fps)
            full = gaps[-1]
            spans = sorted({max(1, round(full / 2)), full})
            plans = []
            for span in spans:
                offsets = sequence_offsets(span, steps)
                plans.append((span, offsets, (max(1, round(span / 4)), span)))
            self.plans.append(plans)
            block = 2 * full
            nblocks = max(1, -(-v.num_frames // block))
            period = max(2, round(1.0 / val_fraction)) if val_fraction > 0 else 0
            block_of = np.arange(v.num_frames) // block
            held = np.zeros(v.num_frames, dtype=bool)
            if period and nblocks >= 2:
                held = (block_of % period) == (min(period, nblocks) // 2)
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
                va[span] = starts[good & held[starts] & (held_cum[starts + span + 1] - held_cum[starts] == span + 1)]
            self.train_starts.append(tr)
            self.val_starts.append(va)
        self.train_weight = np.array([sum(len(s) for s in tr.values()) for tr in self.train_starts], dtype=np.float64)
        if self.train_weight.sum() == 0:
            raise ValidationError(
                "no usable training sequence: every span of "
                f"{', '.join(str(p[0][0]) + '-' + str(p[-1][0]) for p in self.plans)} frames has a frame with fewer "
                "boxes than min_detections (or the videos are shorter than track_duration x fps)"
            )

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
        """Up to ``count`` held-out sequences at the longest span (fixed for a given ``rng``)."""
        pool = []
        for vi, plans in enumerate(self.plans):
            si = len(plans) - 1
            for start in self.val_starts[vi][plans[si][0]]:
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
