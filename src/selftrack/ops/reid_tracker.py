"""``reid_tracker``: track with the learned re-identification model plus motion (Kalman, two-stage association).

Accepts SkyhookML's parameters (Velocity Steps, Minimum IOU — honoured —, Maximum Age, Re-identification
Weight) next to the UNS20 inference settings; see ``selftrack.reid.ReidTrackerParams``. On top of them, the
op's own: ``cmc`` (camera-motion compensation, as the ``track`` op's), ``fps`` (the frame rate the
tracker's limits in seconds use, default the video container's) and, for long videos, ``chunk_frames`` /
``overlap_frames`` (overlapping pieces tracked in parallel and stitched like the motion tracker's).

The model runs as its ONNX twin (``selftrack.reid.inference``), kept in the workspace's
``cache/reid_onnx/`` by the model file's content.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from pydantic import Field

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError
from selftrack.ops._camera_motion import CMC_HELP, CmcMode, item_estimate, item_gmc_reader, resolve_cmc
from selftrack.ops._video import is_resampled
from selftrack.ops.track import CHUNK_OVERLAP, ChunkFrames, MapPieces, OverlapFrames, VideoFps
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.reid import ReidTrackerParams, load_tracking_model, track_with_reid
from selftrack.trackers import drop_short_tracks, interpolate_tracks
from selftrack.trackers.chunks import BoundaryReport, plan_chunks, stitch_chunks
from selftrack.video import probe
from selftrack.workspace.store import DataType

OP_FIELDS = {"cmc", "fps", "chunk_frames", "overlap_frames"}
"""The op's own fields on top of the tracker's."""


class ReidTrackerOpParams(ReidTrackerParams):
    """The re-id tracker's parameters plus where camera motion and the frame rate come from, and how to split
    a long video."""

    cmc: CmcMode = Field(default="auto", description=CMC_HELP)
    fps: VideoFps = None
    chunk_frames: ChunkFrames = None
    overlap_frames: OverlapFrames = CHUNK_OVERLAP

    def tracker_params(self) -> ReidTrackerParams:
        """The tracker's own parameters (without the op's)."""
        return ReidTrackerParams.model_validate(self.model_dump(exclude=OP_FIELDS))


def _track_piece(piece: tuple[Any, ...]) -> Detections:
    """Track one chunk (runs in a worker): the tracker's own fragment stitching inside the chunk, no more."""
    model_path, video_path, detections, params, transforms, fps, cache_dir = piece
    model = load_tracking_model(model_path, cache_dir=cache_dir)
    return track_with_reid(model, video_path, detections, params, transforms=transforms, fps=fps, postprocess="stitch")


def track_reid_chunked(
    model_path: str | os.PathLike[str],
    video_path: str | os.PathLike[str],
    detections: Detections,
    params: ReidTrackerParams,
    *,
    chunk_frames: int,
    overlap_frames: int = CHUNK_OVERLAP,
    transforms: np.ndarray | None = None,
    fps: float | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    map_pieces: MapPieces | None = None,
) -> tuple[Detections, list[BoundaryReport]]:
    """The re-id tracker over overlapping chunks of a long video, run by ``map_pieces`` (``ctx.map``; default:
    one after the other here) and stitched; short tracks are dropped and gaps filled on the joined result.

    Each chunk keeps the video's frame numbers, so it takes the whole video's ``transforms`` (camera motion
    is accumulated from frame 0 up to the chunk's first box)."""
    chunks = plan_chunks(detections.frame_count, chunk_frames, overlap_frames)
    pieces = [
        (model_path, video_path, detections.frames_range(c.start, c.stop), params, transforms, fps, cache_dir)
        for c in chunks
    ]
    if map_pieces is None:
        parts = [_track_piece(p) for p in pieces]
    else:
        parts = map_pieces(_track_piece, pieces, frames=[c.frames for c in chunks], gpu=True)
    tracks, boundaries = stitch_chunks(parts, chunks)
    tracks = drop_short_tracks(tracks.replace(num_frames=detections.num_frames), params.min_track_length)
    gap = params.interpolation_gap(fps or probe(video_path).fps)
    if gap > 0:
        tracks = interpolate_tracks(tracks, gap, transforms)
    return tracks, boundaries


class ReidTrackerOp(Op):
    name = "reid_tracker"
    title = "Re-identification Tracker"
    category = "Detection/Tracking"
    description = "Link detections into tracks using the learned appearance model and a motion model."
    inputs = (
        Port("model", (DataType.MODEL, DataType.FILE), "A model from Unsupervised Re-identification.", joined=False),
        Port("video", (DataType.VIDEO,), "Videos."),
        Port("detections", (DataType.DETECTIONS,), "Detections of the videos."),
        Port(
            "camera_motion",
            (DataType.FILE,),
            "Optional: a gmc.txt per video (camera motion, BoT-SORT's format) for cmc=file or auto.",
            optional=True,
        ),
    )
    outputs = (Port("tracks", (DataType.TRACKS,), "The boxes with track ids."),)
    Params = ReidTrackerOpParams
    uses_gpu = True

    @classmethod
    def check_wiring(cls, params: OpParams, wired: set[str]) -> None:
        assert isinstance(params, ReidTrackerOpParams)
        if params.cmc == "file" and "camera_motion" not in wired:
            raise SelftrackError("reid_tracker: cmc=file needs the camera_motion input wired (gmc.txt files)")

    def run_item(self, ctx: ItemContext) -> None:
        video = ctx.item("video")
        dets = ctx.item("detections").load_detections()
        if is_resampled(video):
            raise SelftrackError(
                f"reid_tracker: {video.dataset}/{video.key} is resampled; track the original video or re-encode it"
            )
        params: ReidTrackerOpParams = self.params  # type: ignore[assignment]
        meta = video.metadata.get("video") or {}
        gmc = ctx.item("camera_motion") if ctx.inputs.get("camera_motion") else None
        cmc = resolve_cmc(
            params.cmc,
            dets,
            read_file=item_gmc_reader(gmc, int(meta.get("frame_count") or 0) or None),
            estimate=item_estimate(ctx, video, dets, ctx.progress),
            video_size=(int(meta["width"]), int(meta["height"])) if meta.get("width") else None,
            what=f"reid_tracker {ctx.key}",
        )
        ctx.log(cmc.note)
        cache_dir = ctx.cache_dir("reid_onnx")
        model_path = ctx.item("model").path
        if params.chunk_frames:
            tracks, boundaries = track_reid_chunked(
                model_path,
                video.path,
                dets,
                params.tracker_params(),
                chunk_frames=params.chunk_frames,
                overlap_frames=params.overlap_frames,
                transforms=cmc.transforms,
                fps=params.fps,
                cache_dir=cache_dir,
                map_pieces=ctx.map,
            )
            breaks = sum(b.ended + b.started for b in boundaries)
            ctx.log(
                f"{len(boundaries) + 1} chunks stitched; {breaks} track end(s)/start(s) at the cuts no other chunk continues"
            )
        else:
            tracks = track_with_reid(
                load_tracking_model(model_path, cache_dir=cache_dir),
                video.path,
                dets,
                params.tracker_params(),
                transforms=cmc.transforms,
                fps=params.fps,
                progress=ctx.progress,
                should_stop=ctx.reporter.stop_requested,
                report=ctx.log,
            )
        ctx.check_stop()
        ctx.put_detections("tracks", tracks)
