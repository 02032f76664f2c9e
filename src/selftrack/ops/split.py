"""``split``: partition items into train / validation / test by key, reproducibly."""

from __future__ import annotations

import random

from pydantic import Field, model_validator

from selftrack.pipeline.op import DatasetContext, Op, OpParams, Port
from selftrack.workspace.store import DataType

ANY = tuple(DataType)


class SplitParams(OpParams):
    train_percent: float = Field(
        default=80, ge=0, le=100, description="Share of items in the train output, in percent."
    )
    validation_percent: float = Field(
        default=20, ge=0, le=100, description="Share in the validation output, in percent."
    )
    test_percent: float = Field(default=0, ge=0, le=100, description="Share in the test output, in percent.")
    seed: int = Field(default=0, description="Random seed of the shuffle.")

    @model_validator(mode="after")
    def _sums_to_100(self) -> SplitParams:
        total = self.train_percent + self.validation_percent + self.test_percent
        if abs(total - 100) > 1e-6:
            raise ValueError(f"percentages must add up to 100, they add up to {total:g}")
        return self


class Split(Op):
    name = "split"
    title = "Split"
    category = "General"
    description = (
        "Partition the items of a dataset into train, validation and test subsets (every item in exactly one)."
    )
    inputs = (Port("input", ANY, "Any dataset."),)
    outputs = (
        Port("train", ANY, "Train items."),
        Port("validation", ANY, "Validation items."),
        Port("test", ANY, "Test items."),
    )
    Params = SplitParams
    per_item = False

    @classmethod
    def output_types(cls, params, input_types):
        t = (input_types.get("input") or [DataType.FILE])[0]
        return {"train": t, "validation": t, "test": t}

    def run(self, ctx: DatasetContext) -> None:
        items = {it.key: it for it in ctx.input_items("input")}
        keys = sorted(items)
        random.Random(self.params.seed).shuffle(keys)
        n = len(keys)
        n_train = round(n * self.params.train_percent / 100)
        n_val = round(n * self.params.validation_percent / 100) if self.params.test_percent else n - n_train
        parts = {
            "train": keys[:n_train],
            "validation": keys[n_train : n_train + n_val],
            "test": keys[n_train + n_val :],
        }
        for output, part in parts.items():
            for key in part:
                ctx.link_item(output, key, items[key])
        ctx.log(", ".join(f"{k}: {len(v)}" for k, v in parts.items()))
