"""Helpers shared by the probe, reader and writer."""

from __future__ import annotations

import math
from fractions import Fraction

from selftrack.core.errors import ValidationError

# 1001 keeps NTSC rates exact (30000/1001) while turning float noise (29.97002997...) and odd AVI
# headers (214748359/3579125 for what is 60 fps) into the rate a person would write.
MAX_FPS_DENOMINATOR = 1001


def as_fps(value: Fraction | float | int, what: str = "fps") -> Fraction:
    """A positive, finite frame rate as an exact fraction with a denominator of at most 1001."""
    if isinstance(value, bool) or not isinstance(value, Fraction | float | int):
        raise ValidationError(f"{what} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"{what} must be finite, got {value!r}")
    fps = Fraction(value)
    if fps <= 0:
        raise ValidationError(f"{what} must be positive, got {value!r}")
    if fps.denominator > MAX_FPS_DENOMINATOR:
        fps = fps.limit_denominator(MAX_FPS_DENOMINATOR)
        if fps <= 0:
            raise ValidationError(f"{what} {value!r} is too small to be a frame rate")
    return fps
