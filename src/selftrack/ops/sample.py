"""``sample``: a random subset of a dataset's items (linked, not copied)."""

from __future__ import annotations

import random
from typing import Literal

from pydantic import Field

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.op import DatasetContext, Op, OpParams, Port
from selftrack.workspace.store import DataType

ANY = tuple(DataType)


class SampleParams(OpParams):
    mode: Literal["count", "percentage", "direct"] = Field(default="count", description="How to choose the items.")
    count: int = Field(default=4, ge=1, description="Number of items (mode count).")
    percentage: float = Field(default=10, gt=0, le=100, description="Share of the items, in percent (mode percentage).")
    keys: list[str] = Field(default_factory=list, description="The keys to keep (mode direct).")
    seed: int = Field(default=0, description="Random seed: the same seed picks the same items.")


class Sample(Op):
    name = "sample"
    title = "Sample"
    category = "General"
    description = "A random subset of the items of a dataset."
    inputs = (Port("input", ANY, "Any dataset."),)
    outputs = (Port("output", ANY, "The chosen items (same type as the input)."),)
    Params = SampleParams
    per_item = False

    @classmethod
    def output_types(cls, params, input_types):
        return {"output": (input_types.get("input") or [DataType.FILE])[0]}

    def run(self, ctx: DatasetContext) -> None:
        items = {it.key: it for it in ctx.input_items("input")}
        keys = sorted(items)
        p = self.params
        if p.mode == "direct":
            unknown = sorted(set(p.keys) - set(keys))
            if unknown:
                raise SelftrackError(f"sample: keys not in {ctx.dataset('input')!r}: {', '.join(unknown)}")
            chosen = sorted(set(p.keys))
        else:
            n = p.count if p.mode == "count" else max(1, round(len(keys) * p.percentage / 100))
            chosen = sorted(random.Random(p.seed).sample(keys, min(n, len(keys))))
        for i, key in enumerate(chosen):
            ctx.link_item("output", key, items[key])
            ctx.progress(i + 1, len(chosen))
