"""Score thresholds that follow the detector: chosen from the detections' own score distribution.

Trackers split boxes by score: confident ones are matched first and may start tracks, doubtful ones
only extend tracks (ByteTrack). A fixed threshold suits one detector: one that keeps nearly every
MOT15 public detection (scores cut at 0.5 by the benchmark, most above 0.9) keeps almost none of the
moving-object detector's boxes, whose score is the share of the box that moved. Here the threshold is where the video's score histogram splits best into a low and
a high group (Otsu's rule: the split with the largest variance between the two groups), so a
detector whose junk scores 0.1-0.3 and whose objects score 0.6-0.9 is cut between the two, and a
detector whose every box scores alike (refined detections, all 1) has every box confident.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ScoreThresholds:
    """Where a video's detections were split, and why (for the log line users see)."""

    high: float
    low: float
    rule: str

    def describe(self) -> str:
        return f"first-stage score >= {self.high:.2f}, second stage >= {self.low:.2f} ({self.rule})"


def otsu_threshold(scores: np.ndarray, bins: int = 64) -> float | None:
    """Otsu's split of ``scores`` (the left edge of the upper group), or ``None`` when they are all alike."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    if len(s) < 2 or float(s.max() - s.min()) < 1e-6:
        return None
    hist, edges = np.histogram(s, bins=bins, range=(float(s.min()), float(s.max())))
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist)[:-1].astype(np.float64)
    w1 = len(s) - w0
    m0 = np.cumsum(hist * centres)[:-1] / np.maximum(w0, 1)
    m1 = (np.sum(hist * centres) - np.cumsum(hist * centres)[:-1]) / np.maximum(w1, 1)
    between = w0 * w1 * (m0 - m1) ** 2
    return float(edges[1 + int(np.argmax(between))])


def score_thresholds(scores: np.ndarray, low: float = 0.1) -> ScoreThresholds:
    """First- and second-stage score thresholds for one video's detections (see module doc).

    ``low`` is the floor of the second stage (ByteTrack's 0.1), kept below the first-stage threshold.
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(s) == 0:
        return ScoreThresholds(0.0, 0.0, "no detections")
    split = otsu_threshold(s)
    if split is None:
        value = float(s.min())
        return ScoreThresholds(value, value, f"every box scores {value:.2f}: all are confident")
    share = float(np.mean(s >= split))
    return ScoreThresholds(
        split, min(low, split), f"Otsu's split of the {len(s)} detection scores: {100 * share:.0f} % above"
    )
