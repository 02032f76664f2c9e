"""``union``: the items of several datasets of one type in one dataset."""

from __future__ import annotations

from pydantic import Field

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.op import DatasetContext, Op, OpParams, Port
from selftrack.workspace.store import DataType

ANY = tuple(DataType)


class UnionParams(OpParams):
    prefix_keys: bool = Field(
        default=False,
        description="Prefix each key with its dataset name, so equal keys from different datasets both survive.",
    )


class Union(Op):
    name = "union"
    title = "Union"
    category = "General"
    description = "All items of all input datasets in one dataset."
    inputs = (Port("inputs", ANY, "Datasets of the same type.", variable=True),)
    outputs = (Port("output", ANY, "Every item (same type as the inputs)."),)
    Params = UnionParams
    per_item = False

    @classmethod
    def output_types(cls, params, input_types):
        types = input_types.get("inputs") or [DataType.FILE]
        if len(set(types)) > 1:
            raise SelftrackError(f"union: inputs must share one type, got {sorted(t.value for t in set(types))}")
        return {"output": types[0]}

    def run(self, ctx: DatasetContext) -> None:
        seen: dict[str, str] = {}
        for name in ctx.inputs["inputs"]:
            for item in ctx.ws.items(name):
                key = f"{name}-{item.key}" if self.params.prefix_keys else item.key
                if key in seen:
                    raise SelftrackError(
                        f"union: key {item.key!r} is in both {seen[key]!r} and {name!r}; set prefix_keys to keep both"
                    )
                seen[key] = name
                ctx.link_item("output", key, item)
