"""Tracking metrics equal to TrackEval's: HOTA, CLEAR (MOTA...) and Identity (IDF1...).

``evaluate(gt, tracks)`` scores one sequence, ``evaluate_many({name: (gt, tracks)})`` several plus
their combination. MOTChallenge preprocessing (MOT17 distractors, consider flags) is applied per
``benchmark``. Scores are fractions in [0, 1]; user-facing tables multiply by 100.
"""

from selftrack.metrics.evaluate import evaluate, evaluate_many, score_prepared
from selftrack.metrics.preprocess import BENCHMARKS, Benchmark, PreparedSequence, parse_frame_range, prepare_sequence
from selftrack.metrics.results import (
    ALPHAS,
    SUMMARY_FIELDS,
    BenchmarkResult,
    ClearResult,
    HotaResult,
    IdentityResult,
    SequenceResult,
)

__all__ = [
    "ALPHAS",
    "BENCHMARKS",
    "SUMMARY_FIELDS",
    "Benchmark",
    "BenchmarkResult",
    "ClearResult",
    "HotaResult",
    "IdentityResult",
    "PreparedSequence",
    "SequenceResult",
    "evaluate",
    "evaluate_many",
    "parse_frame_range",
    "prepare_sequence",
    "score_prepared",
]
