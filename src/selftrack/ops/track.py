"""``track``: classic motion trackers (IoU, SORT, ByteTrack, OC-SORT) with post-processing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from selftrack.core.detections import Detections
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.trackers import drop_short_tracks, get_tracker, interpolate_tracks, list_trackers
from selftrack.workspace.store import DataType


class TrackParams(OpParams):
    tracker: str = Field(default="bytetrack", description="Tracker: iou (SkyhookML's simple tracker), sort, bytetrack or ocsort.")
    tracker_params: dict[str, Any] = Field(
        default_factory=dict, description="The tracker's own parameters (see `selftrack track --help-tracker NAME`); unset ones keep their defaults."
    )
    min_track_length: int = Field(default=0, ge=0, description="Drop tracks with fewer boxes than this (0 keeps all).")
    interpolate_max_gap: int = Field(default=0, ge=0, description="Fill gaps of up to this many frames by linear interpolation (0: off).")

    @model_validator(mode="after")
    def _check_tracker(self) -> TrackParams:
        known = list_trackers()
        if self.tracker not in known:
            raise ValueError(f"unknown tracker {self.tracker!r}; choose one of {', '.join(sorted(known))}")
        known[self.tracker].model_validate(self.tracker_params)  # unknown or invalid tracker params fail here
        return self


def run_tracker(
    detections: Detections,
    params: TrackParams,
    *,
    transforms: np.ndarray | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Detections:
    """Track one video's detections and apply the post-processing steps (shared by the op and the CLI)."""
    tracker = get_tracker(params.tracker, **params.tracker_params)
    tracks = tracker.track(detections, transforms=transforms, progress=progress)
    if params.min_track_length:
        tracks = drop_short_tracks(tracks, params.min_track_length)
    if params.interpolate_max_gap:
        tracks = interpolate_tracks(tracks, params.interpolate_max_gap)
    return tracks


class Track(Op):
    name = "track"
    title = "Track (motion)"
    category = "Detection/Tracking"
    description = "Link detections into tracks with a motion tracker (no appearance model), then clean the tracks up."
    inputs = (Port("detections", (DataType.DETECTIONS,), "Detections of each video."),)
    outputs = (Port("tracks", (DataType.TRACKS,), "The same boxes with track ids."),)
    Params = TrackParams

    def run_item(self, ctx: ItemContext) -> None:
        dets = ctx.item("detections").load_detections()
        ctx.put_detections("tracks", run_tracker(dets, self.params, progress=ctx.progress))
