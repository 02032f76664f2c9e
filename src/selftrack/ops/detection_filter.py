"""``detection_filter``: keep the boxes that matter (categories, score, size, region)."""

from __future__ import annotations

import numpy as np
from pydantic import Field

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.workspace.store import DataType


class DetectionFilterParams(OpParams):
    categories: list[str] = Field(
        default_factory=list, description="Keep only these category names; empty keeps every category."
    )
    min_score: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="Drop boxes whose score is below this. Unset keeps every score (0 is a real value here).",
    )
    min_width: float = Field(default=0, ge=0, description="Drop boxes narrower than this, in canvas pixels.")
    min_height: float = Field(default=0, ge=0, description="Drop boxes shorter than this, in canvas pixels.")
    region: tuple[float, float, float, float] | None = Field(
        default=None,
        description="Keep boxes whose bottom-centre point lies in this x1, y1, x2, y2 rectangle (canvas pixels), e.g. the road.",
    )


def filter_detections(dets, params: DetectionFilterParams):  # (Detections, params) -> Detections
    keep = np.ones(len(dets), dtype=bool)
    if params.categories:
        wanted = set(params.categories)
        unknown = wanted - set(dets.classes.values())
        if unknown and dets.classes:
            raise SelftrackError(
                f"detection_filter: categories {sorted(unknown)} not in {dets.source or 'the detections'} "
                f"(it has: {', '.join(sorted(set(dets.classes.values())))})"
            )
        ids = [cid for cid, name in dets.classes.items() if name in wanted]
        keep &= np.isin(dets.class_id, ids)
    if params.min_score is not None:
        keep &= dets.score >= params.min_score
    w = dets.xyxy[:, 2] - dets.xyxy[:, 0]
    h = dets.xyxy[:, 3] - dets.xyxy[:, 1]
    keep &= (w >= params.min_width) & (h >= params.min_height)
    if params.region is not None:
        x1, y1, x2, y2 = params.region
        cx = (dets.xyxy[:, 0] + dets.xyxy[:, 2]) / 2
        by = dets.xyxy[:, 3]
        keep &= (cx >= x1) & (cx <= x2) & (by >= y1) & (by <= y2)
    return dets[keep]


class DetectionFilter(Op):
    name = "detection_filter"
    title = "Detection Filter"
    category = "Detection/Tracking"
    description = "Keep boxes by category, minimum score, minimum size and region; tracks keep their ids."
    inputs = (Port("detections", (DataType.DETECTIONS,), "Detections or tracks to filter."),)
    outputs = (Port("detections", (DataType.DETECTIONS,), "The boxes that pass."),)
    Params = DetectionFilterParams

    @classmethod
    def output_types(cls, params, input_types):
        src = (input_types.get("detections") or [DataType.DETECTIONS])[0]
        return {"detections": src}

    def run_item(self, ctx: ItemContext) -> None:
        dets = ctx.item("detections").load_detections()
        ctx.put_detections("detections", filter_detections(dets, self.params))
