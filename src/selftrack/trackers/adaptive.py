"""Defaults that follow the detections: what a video's boxes look like decides the classic trackers' settings.

A classic tracker's published settings suit the detector it was published with. Users bring others:
public detections whose scores spread over 0.05-1, the moving-object detector whose scores are the
share of the box that moved, or refined, ground-truth-like boxes that all score 1. The trackers'
``preset="auto"`` (their default) looks at the video's detection scores before tracking and picks:

- **score thresholds** from the score distribution (Otsu's split, :mod:`.thresholds`): the split
  between a detector's junk and its objects, wherever the detector puts it;
- **options by the kind of detections**, one rule on the scores, never a table per benchmark:

  - *alike*: every box scores the same (refined or ground-truth-like boxes; the score says
    nothing). Every box is a confident, precise box of a real object: output the box itself rather
    than the filter's smoothing of it, accept small overlaps with the prediction (a fast or
    partly hidden object), and follow box corners, which such boxes place well;
  - *graded*: a detector's scores. Boxes are noisier and the score matters: thresholds from the
    distribution, the rest as the tracker's own design says, with the changes each tracker's
    module names.

``preset="official"`` keeps every published default (the parity with the reference code is tested
on it); any parameter a user sets explicitly is kept under either preset. What was chosen is
described by :meth:`DetectionProfile.describe` and by each tracker's ``settings()``, the lines the
CLI and the track op log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from selftrack.trackers.thresholds import ScoreThresholds, otsu_threshold, score_thresholds

Preset = Literal["auto", "official"]
PRESET_HELP = (
    "auto: score thresholds and options chosen from the video's detection scores (see the tracker's "
    "settings in the log); official: the published algorithm's fixed defaults. Parameters set explicitly "
    "are kept either way."
)


@dataclass(frozen=True)
class DetectionProfile:
    """What a video's detection scores look like, and the thresholds they give."""

    kind: Literal["alike", "graded", "none"]
    thresholds: ScoreThresholds
    count: int
    reason: str = ""  # why kind is "none"

    def describe(self) -> str:
        if self.kind == "none":
            return f"{self.reason}: the published defaults"
        what = "every box scores alike" if self.kind == "alike" else "graded detector scores"
        return f"{what} ({self.count} boxes): {self.thresholds.describe()}"


def detection_profile(scores: np.ndarray) -> DetectionProfile:
    """The kind of a video's detections (see module doc) from all of its scores."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    thresholds = score_thresholds(s)
    if len(s) == 0:
        return DetectionProfile("none", thresholds, 0, "no detections")
    if s.min() < 0 or s.max() > 1:  # not confidences: every threshold here assumes [0, 1]
        return DetectionProfile("none", thresholds, len(s), "scores outside [0, 1]")
    kind: Literal["alike", "graded"] = "alike" if otsu_threshold(s) is None else "graded"
    return DetectionProfile(kind, thresholds, len(s))


def below(value: float) -> float:
    """A threshold just under ``value`` for a ``score > threshold`` test, so ``value`` passes (>= 0).

    The margin is above float32 precision near 1 (scores are often float32, and a float32 1.0 is not
    above a float64 just under 1 once the threshold is rounded to float32 for the comparison).
    """
    return max(0.0, float(value) - 1e-6)


def settings_lines(name: str, requested: Any, profile: DetectionProfile | None, chosen: dict[str, Any]) -> list[str]:
    """The log lines saying what a tracker chose: the kind of detections, the values picked, those kept as set."""
    if requested is None or getattr(requested, "preset", "official") != "auto":
        return [f"{name}: preset official (the published defaults)"]
    if profile is None:
        return [f"{name}: preset auto, nothing chosen yet (no detections seen)"]
    values = ", ".join(f"{k}={_short(v)}" for k, v in chosen.items()) or "the published defaults"
    lines = [f"{name}: {profile.describe()}", f"{name}: chosen {values}"]
    kept = sorted(set(requested.model_fields_set) - {"preset"})
    if kept:
        lines.append(f"{name}: kept as set: {', '.join(kept)}")
    return lines


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
