"""ResizeSpec / resize_dims: SkyhookML's resize modes with nearest-multiple rounding."""

from __future__ import annotations

import pydantic
import pytest

from selftrack.core.errors import ValidationError
from selftrack.video import ResizeSpec, resize_dims


def test_tutorial_example_1080p_scale_down_960_multiple_32_gives_960x544() -> None:
    # SkyhookML's tracker tutorial reads 1080p footage "at 960x544"; nearest rounding gives exactly that
    # (rounding down, as SkyhookML's code does, would give 960x512).
    spec = ResizeSpec(mode="scale-down", max_dimension=960, multiple=32)
    assert resize_dims(1920, 1080, spec) == (960, 544)


@pytest.mark.parametrize(
    ("size", "spec", "expected"),
    [
        # keep: unchanged, then rounded to the nearest multiple (ties up, at least one multiple)
        ((1920, 1080), ResizeSpec(), (1920, 1080)),
        ((1920, 1080), ResizeSpec(mode="keep", multiple=32), (1920, 1088)),  # 33.75 -> 34
        ((768, 576), ResizeSpec(mode="keep", multiple=32), (768, 576)),  # already multiples
        ((320, 240), ResizeSpec(mode="keep", multiple=64), (320, 256)),  # 3.75 -> 4
        ((336, 240), ResizeSpec(mode="keep", multiple=32), (352, 256)),  # 10.5 -> 11 (tie up), 7.5 -> 8
        ((10, 5), ResizeSpec(mode="keep", multiple=32), (32, 32)),  # never below one multiple
        # scale-down: larger side to max_dimension, aspect kept, never upscaled
        ((1920, 1080), ResizeSpec(mode="scale-down", max_dimension=640), (640, 360)),
        ((1080, 1920), ResizeSpec(mode="scale-down", max_dimension=640), (360, 640)),  # portrait
        ((768, 576), ResizeSpec(mode="scale-down", max_dimension=640), (640, 480)),
        ((640, 480), ResizeSpec(mode="scale-down", max_dimension=640), (640, 480)),  # equal: untouched
        ((320, 240), ResizeSpec(mode="scale-down", max_dimension=640), (320, 240)),  # smaller: not upscaled
        ((1000, 333), ResizeSpec(mode="scale-down", max_dimension=500), (500, 167)),  # 166.5 rounds up
        ((768, 576), ResizeSpec(mode="scale-down", max_dimension=640, multiple=32), (640, 480)),
        ((960, 540), ResizeSpec(mode="scale-down", max_dimension=640, multiple=32), (640, 352)),  # 360 -> 352
        ((1920, 1080), ResizeSpec(mode="scale-down", max_dimension=1000, multiple=32), (992, 576)),  # 562.5->576
        ((5000, 2), ResizeSpec(mode="scale-down", max_dimension=100), (100, 1)),  # at least one pixel
        # fixed: exactly width x height, aspect ratio not kept, then rounded
        ((1920, 1080), ResizeSpec(mode="fixed", width=416, height=416), (416, 416)),
        ((320, 240), ResizeSpec(mode="fixed", width=1000, height=100, multiple=32), (992, 96)),
    ],
)
def test_resize_dims_table(size: tuple[int, int], spec: ResizeSpec, expected: tuple[int, int]) -> None:
    assert resize_dims(*size, spec) == expected


def test_none_spec_keeps_size() -> None:
    assert resize_dims(321, 241, None) == (321, 241)


def test_scale_down_result_may_exceed_max_by_less_than_half_a_multiple() -> None:
    # Documented price of nearest rounding: 1010 / 32 = 31.56 rounds to 32 multiples = 1024.
    w, h = resize_dims(2020, 1010, ResizeSpec(mode="scale-down", max_dimension=1010, multiple=32))
    assert (w, h) == (1024, 512)
    assert w - 1010 < 16


def test_fixed_mode_needs_width_and_height() -> None:
    with pytest.raises(pydantic.ValidationError, match="width and height"):
        ResizeSpec(mode="fixed", width=416)


@pytest.mark.parametrize("field", ["max_dimension", "width", "height", "multiple"])
def test_non_positive_sizes_are_refused(field: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=field):
        ResizeSpec(**{field: 0})


def test_unknown_mode_and_unknown_fields_are_refused() -> None:
    with pytest.raises(pydantic.ValidationError):
        ResizeSpec(mode="letterbox")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="maxdim"):
        ResizeSpec(maxdim=5)  # type: ignore[call-arg]


def test_zero_source_size_is_refused() -> None:
    with pytest.raises(ValidationError, match="0x240"):
        resize_dims(0, 240, ResizeSpec())


def test_every_field_has_help_text_for_the_web_form() -> None:
    schema = ResizeSpec.model_json_schema()
    for name, prop in schema["properties"].items():
        assert prop.get("description"), f"ResizeSpec.{name} has no description"
    assert schema["properties"]["mode"]["enum"] == ["keep", "scale-down", "fixed"]


def test_round_trips_through_json() -> None:
    spec = ResizeSpec(mode="scale-down", max_dimension=960, multiple=32)
    assert ResizeSpec.model_validate_json(spec.model_dump_json()) == spec
