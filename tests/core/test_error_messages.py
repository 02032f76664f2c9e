"""One formatter for every pydantic error a person meets: a line per problem, the key or flag, the value, what is allowed."""

from __future__ import annotations

from typing import Literal

import pydantic
import pytest

from selftrack.core.errors import validation_message, validation_problems


class Settings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    batch_size: int = pydantic.Field(8, ge=1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    name: str
    max_minutes: float | None = pydantic.Field(None, gt=0)

    @pydantic.model_validator(mode="after")
    def _whole(self) -> Settings:
        if self.name == "bad":
            raise ValueError("name 'bad' is reserved; choose another")
        return self


def error_of(**values: object) -> pydantic.ValidationError:
    with pytest.raises(pydantic.ValidationError) as info:
        Settings(**values)
    return info.value


def test_each_problem_is_one_line_naming_the_key_the_value_and_what_is_allowed():
    exc = error_of(batch_size=0, device="gpu", nosuch=1, max_minutes=-1)
    lines = validation_problems(exc, fields=Settings.model_fields, flags={"max_minutes": "--minutes"})
    assert lines == [
        "batch_size=0: should be greater than or equal to 1",
        "device=gpu: should be 'auto', 'cpu' or 'cuda'",
        "name: a value is required",
        "--minutes -1: should be greater than 0",
        "unknown parameter 'nosuch'; valid parameters: batch_size, device, max_minutes, name",
    ]
    message = validation_message("training parameters", exc, fields=Settings.model_fields)
    assert message.startswith("invalid training parameters:\n  batch_size=0")
    assert "pydantic" not in message and "validation error" not in message and "Input should" not in message


def test_a_whole_model_check_reads_as_its_own_sentence():
    assert validation_message("settings", error_of(name="bad")) == (
        "invalid settings: name 'bad' is reserved; choose another"
    )
