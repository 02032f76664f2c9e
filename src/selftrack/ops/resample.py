"""``resample``: change the frame rate of videos (without re-encoding) or subsample detections."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from pydantic import Field, field_validator

from selftrack.core.errors import SelftrackError
from selftrack.ops._video import item_fps, open_video, video_metadata
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.video.reader import output_frame_count, source_index
from selftrack.workspace.store import DataType


class ResampleParams(OpParams):
    fraction: str | None = Field(
        default=None,
        description="Multiply the frame rate by this fraction, e.g. 1/3 keeps every third frame (SkyhookML's Fraction).",
    )
    fps: str | None = Field(
        default=None, description="Target frame rate for videos, e.g. 10 or 30000/1001 (instead of a fraction)."
    )

    @field_validator("fraction", "fps", mode="before")
    @classmethod
    def _positive_fraction(cls, v: object) -> str | None:
        if v is None:
            return v
        if isinstance(v, (int, float)) and not isinstance(v, bool):  # YAML's `fraction: 0.5` is a number
            v = str(Fraction(str(v)))
        if not isinstance(v, str):
            raise ValueError(f"{v!r} is not a number or a fraction like 1/3")
        try:
            f = Fraction(v)
        except (ValueError, ZeroDivisionError):
            raise ValueError(f"{v!r} is not a number or a fraction like 1/3") from None
        if f <= 0:
            raise ValueError("must be positive")
        return v

    def ratio(self, source_fps: Fraction | None, key: str) -> Fraction:
        if (self.fraction is None) == (self.fps is None):
            raise SelftrackError("resample: set exactly one of fraction or fps")
        if self.fraction is not None:
            ratio = Fraction(self.fraction)
        else:
            if source_fps is None:
                raise SelftrackError(f"resample: item {key!r} has no frame rate; use fraction for detections")
            ratio = Fraction(self.fps) / source_fps
        if ratio > 1:
            raise SelftrackError(f"resample: item {key!r}: upsampling (ratio {ratio}) is not supported")
        return ratio


def resample_detections(dets, ratio: Fraction):  # (Detections, Fraction) -> Detections
    """Keep the boxes of the frames the resampled video shows, renumbered to the new frame indices."""
    n_out = output_frame_count(dets.frame_count, Fraction(1), ratio)
    src = np.array([source_index(k, Fraction(1), ratio) for k in range(n_out)], dtype=np.int64)
    new_index = np.full(dets.frame_count + 1, -1, dtype=np.int64)
    new_index[src] = np.arange(n_out)
    mapped = new_index[np.minimum(dets.frame, dets.frame_count)]
    keep = mapped >= 0
    return dets[keep].replace(frame=mapped[keep], num_frames=n_out)


class Resample(Op):
    name = "resample"
    title = "Resample"
    category = "General"
    description = "Lower the frame rate of videos (decode-time, no re-encode) or subsample detections the same way."
    inputs = (Port("input", (DataType.VIDEO, DataType.DETECTIONS), "Videos or detections."),)
    outputs = (Port("output", (DataType.VIDEO,), "Resampled items (same type as the input)."),)
    Params = ResampleParams

    @classmethod
    def output_types(cls, params, input_types):
        return {"output": (input_types.get("input") or [DataType.VIDEO])[0]}

    def run_item(self, ctx: ItemContext) -> None:
        item = ctx.item("input")
        if "video" in item.metadata:
            current = item_fps(item)
            assert current is not None  # every imported video has its probed rate
            target = current * self.params.ratio(current, ctx.key)
            decode = {**(item.metadata.get("decode") or {}), "fps": f"{target.numerator}/{target.denominator}"}
            staged_meta = {**item.metadata, "decode": decode}
            probe_item = type(item)(item.dataset, item.key, item.format, staged_meta, item.path, item.size, item.sha256)
            with open_video(probe_item) as reader:
                meta = {**staged_meta, "video": video_metadata(reader, item.metadata["video"])}
            ctx.link_item("output", item, metadata=meta)
        else:
            dets = item.load_detections()
            ctx.put_detections("output", resample_detections(dets, self.params.ratio(None, ctx.key)))
