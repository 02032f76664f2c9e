"""Shared pieces of the fuzz suite: Hypothesis profiles, hostile values, the memory-bounded call, checks."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from selftrack.core import Detections, SelftrackError

settings.register_profile(
    "ci", max_examples=60, derandomize=True, deadline=None, suppress_health_check=list(HealthCheck), database=None
)
settings.register_profile("dev", max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
settings.register_profile("long", max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

MEMORY_BASE = 16 << 20
MEMORY_PER_BYTE = 200
"""Stated memory bound: 16 MB plus 200 bytes per input byte (a MOT line of ~30 bytes becomes ~100 bytes of
arrays; the slack covers parsing copies). A file naming frame 10^9 must not allocate per frame."""

NUMBERS = st.one_of(
    st.integers(-3, 3000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 1e9, 1e20, -1e20, 1e308, 2**53 + 1, 99_999_999, 100_000_001, 0.5, 1e-300]),
)
TOKENS = st.one_of(NUMBERS.map(str), st.sampled_from(["", " ", "x", "nan", "inf", "-", "1e", "0x10", "١", "\x00"]))


def bounded(call: Callable[[], Any], size: int) -> Any:
    """Run ``call``; return its result or the SelftrackError it raised; fail on anything else or on memory."""
    tracemalloc.start()
    try:
        try:
            result: Any = call()
        except SelftrackError as exc:
            result = exc
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    limit = MEMORY_BASE + MEMORY_PER_BYTE * size
    assert peak <= limit, f"peak {peak} bytes for a {size}-byte input (stated bound {limit})"
    if isinstance(result, SelftrackError):
        assert 0 < len(str(result).strip()) < 2000, "an error says what is wrong, in a line or two"
    return result


def check_detections(dets: Any, expected_rows: int | None = None) -> None:
    assert isinstance(dets, Detections)
    dets.validate()
    assert np.isfinite(dets.xyxy).all() and np.isfinite(dets.score).all()
    assert (dets.frame >= 0).all()
    if expected_rows is not None:
        assert len(dets) == expected_rows
