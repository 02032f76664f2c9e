"""The re-id tracker's fast paths give what the general code gives (they exist for speed only)."""

from __future__ import annotations

import numpy as np

from selftrack.reid.tracker.online import ReidTracker
from selftrack.trackers.matching import assign


def test_assignment_shortcut_matches_the_solver() -> None:
    """When no row or column has two allowed pairs, the solver is skipped: its answer must be the same."""
    tracker = ReidTracker()
    rng = np.random.default_rng(5)
    shortcut = 0
    for _ in range(300):
        n, m = rng.integers(1, 7, size=2)
        score = rng.uniform(0.0, 1.5, (n, m))
        score[rng.uniform(size=(n, m)) < 0.1] = 0.0  # ties with leaving both unmatched: the solver decides
        allowed = rng.uniform(size=(n, m)) < rng.choice([0.15, 0.5])
        unique = (allowed.sum(axis=0) <= 1).all() and (allowed.sum(axis=1) <= 1).all()
        shortcut += bool(unique and allowed.any())
        cost = np.where(allowed, -score, 1e6)
        solved = assign(cost, cost_limit=0.0)
        solved = solved[allowed[solved[:, 0], solved[:, 1]]]
        got = tracker._assign(score, allowed)
        assert got.dtype == solved.dtype and got.tolist() == solved.tolist()
    assert shortcut > 50  # the shortcut was taken often enough to be tested
