"""SkyhookML's "Resize" parameter: what size frames are decoded at before a model sees them.

Three modes, as in SkyhookML: ``keep`` the source size, ``scale-down`` so the larger side is at most
``max_dimension`` (aspect ratio kept, never upscaled), or ``fixed`` ``width`` x ``height`` (aspect
ratio not kept; no letterboxing). Then each side is rounded to a ``multiple`` (detectors such as
YOLOv5 need sides divisible by their stride, 32).

Rounding to the multiple is to the *nearest* multiple, ties rounding up, and never below one
multiple. SkyhookML's code rounds down, which turns 1920x1080 at scale-down 960 / multiple 32 into
960x512; its tutorial says the video is read at 960x544, which is what nearest rounding gives and
what keeps the aspect ratio closest (540 is 4 px from 544 but 28 px from 512). The price: after
rounding a side may exceed ``max_dimension`` (or the source size in ``keep`` mode) by less than half
a multiple.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from selftrack.core.errors import ValidationError

ResizeMode = Literal["keep", "scale-down", "fixed"]

MAX_SIDE = 16384
"""Largest frame side a resize may ask for (16K video): a 100000x100000 frame would need 30 GB."""


class ResizeSpec(BaseModel):
    """How to resize frames before inference (SkyhookML's ``Resize`` node parameter)."""

    model_config = ConfigDict(extra="forbid")

    mode: ResizeMode = Field(
        "keep",
        description=(
            "keep: use the source size. scale-down: shrink so the larger side is at most Max Dimension, "
            "keeping the aspect ratio (small videos are not enlarged). fixed: resize to Width x Height "
            "(the aspect ratio may change)."
        ),
    )
    max_dimension: int = Field(
        640,
        ge=1,
        le=MAX_SIDE,
        description="scale-down only: the larger side of the frame is shrunk to at most this many pixels.",
    )
    width: int | None = Field(None, ge=1, le=MAX_SIDE, description="fixed only: output width in pixels.")
    height: int | None = Field(None, ge=1, le=MAX_SIDE, description="fixed only: output height in pixels.")
    multiple: int = Field(
        1,
        ge=1,
        le=1024,
        description=(
            "After resizing, round each side to the nearest multiple of this (ties round up; at least one "
            "multiple). Use 32 for YOLOv5. 1 = no rounding."
        ),
    )

    @model_validator(mode="after")
    def _fixed_needs_size(self) -> ResizeSpec:
        if self.mode == "fixed" and (self.width is None or self.height is None):
            raise ValueError("resize mode 'fixed' needs both width and height")
        return self


def _round_half_up(x: Fraction) -> int:
    return int((x + Fraction(1, 2)).__floor__())


def _to_multiple(side: int, multiple: int) -> int:
    if multiple <= 1:
        return side
    return multiple * max(1, _round_half_up(Fraction(side, multiple)))


def resize_dims(width: int, height: int, spec: ResizeSpec | None) -> tuple[int, int]:
    """Output ``(width, height)`` for a ``width`` x ``height`` source under ``spec``.

    ``scale-down`` scales both sides by ``max_dimension / max(width, height)`` (only when that is
    below 1) and rounds each to the nearest pixel, at least 1. Then both modes round each side to
    the nearest ``multiple`` (ties up, minimum one multiple): 1920x1080, scale-down 960, multiple 32
    gives 960x544. ``None`` means keep.
    """
    if width < 1 or height < 1:
        raise ValidationError(f"cannot resize a {width}x{height} frame: both sides must be at least 1 pixel")
    if spec is None or spec.mode == "keep":
        w, h = width, height
    elif spec.mode == "fixed":
        assert spec.width is not None and spec.height is not None  # checked by the model
        w, h = spec.width, spec.height
    else:  # scale-down
        larger = max(width, height)
        if larger <= spec.max_dimension:
            w, h = width, height
        else:
            scale = Fraction(spec.max_dimension, larger)
            w = max(1, _round_half_up(width * scale))
            h = max(1, _round_half_up(height * scale))
    multiple = 1 if spec is None else spec.multiple
    return _to_multiple(w, multiple), _to_multiple(h, multiple)
