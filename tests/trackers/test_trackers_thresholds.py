"""Score thresholds from the detections' own score distribution (Otsu's split)."""

from __future__ import annotations

import numpy as np

from selftrack.trackers.thresholds import otsu_threshold, score_thresholds


def test_a_bimodal_detector_is_split_between_junk_and_objects() -> None:
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(0.1, 0.3, 600), rng.uniform(0.6, 0.95, 400)])
    t = score_thresholds(scores)
    assert 0.3 <= t.high <= 0.6 and t.low == 0.1
    assert "Otsu" in t.describe() and "40 % above" in t.describe()


def test_refined_detections_are_all_confident_and_public_ones_keep_their_confident_mass() -> None:
    t = score_thresholds(np.ones(50))
    assert t.high == 1.0 and t.low == 1.0 and "every box scores 1.00" in t.rule
    rng = np.random.default_rng(1)  # MOT15-like: cut at 0.5 by the benchmark, most boxes above 0.9
    public = np.clip(np.concatenate([rng.uniform(0.5, 0.9, 100), rng.normal(0.98, 0.01, 900)]), 0.5, 1.0)
    high = score_thresholds(public).high
    assert 0.75 <= high <= 0.95 and np.mean(public >= high) > 0.85
    assert otsu_threshold(np.array([0.4])) is None and score_thresholds(np.zeros(0)).rule == "no detections"
