"""``reid_tracker``: track with the learned re-identification model plus motion (Kalman, two-stage association).

Accepts SkyhookML's parameters (Velocity Steps, Minimum IOU — honoured —, Maximum Age, Re-identification
Weight) next to the UNS20 inference settings; see ``selftrack.reid.ReidTrackerParams``. Long videos can be
tracked in overlapping pieces in parallel (``chunk_frames``), stitched like the motion tracker's.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import ConfigDict, Field

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError
from selftrack.ops._video import is_resampled
from selftrack.ops.track import CHUNK_OVERLAP, MapPieces
from selftrack.pipeline.op import ItemContext, Op, Port
from selftrack.reid import ReidTrackerParams, track_with_reid
from selftrack.trackers import drop_short_tracks, interpolate_tracks
from selftrack.trackers.chunks import BoundaryReport, plan_chunks, stitch_chunks
from selftrack.workspace.store import DataType

CHUNK_FIELDS = {"chunk_frames", "overlap_frames"}


class ReidTrackerOpParams(ReidTrackerParams):
    """The tracker's parameters plus how to split a long video."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_frames: int | None = Field(
        default=None,
        ge=1,
        description="Long videos: track pieces of this many frames in parallel (on the workers or the Ray cluster) "
        "and stitch their tracks where neighbouring pieces overlap; empty: the whole video in one pass.",
    )
    overlap_frames: int = Field(
        default=CHUNK_OVERLAP,
        ge=0,
        description="Frames neighbouring pieces share (chunk_frames): both track them, their boxes decide which "
        "tracks continue each other, and each keeps half.",
    )

    def tracker_params(self) -> ReidTrackerParams:
        return ReidTrackerParams(**self.model_dump(exclude=CHUNK_FIELDS))


def _track_piece(piece: tuple[Any, ...]) -> Detections:
    """Track one chunk (runs in a worker): the tracker's own fragment stitching inside the chunk, no more."""
    model_path, video_path, detections, params = piece
    return track_with_reid(model_path, video_path, detections, params, postprocess="stitch")


def track_reid_chunked(
    model_path: str | os.PathLike[str],
    video_path: str | os.PathLike[str],
    detections: Detections,
    params: ReidTrackerParams,
    *,
    chunk_frames: int,
    overlap_frames: int = CHUNK_OVERLAP,
    map_pieces: MapPieces | None = None,
) -> tuple[Detections, list[BoundaryReport]]:
    """The re-id tracker over overlapping chunks of a long video, run by ``map_pieces`` (``ctx.map``; default:
    one after the other here) and stitched; short tracks are dropped and gaps filled on the joined result."""
    chunks = plan_chunks(detections.frame_count, chunk_frames, overlap_frames)
    pieces = [(model_path, video_path, detections.frames_range(c.start, c.stop), params) for c in chunks]
    if map_pieces is None:
        parts = [_track_piece(p) for p in pieces]
    else:
        parts = map_pieces(_track_piece, pieces, frames=[c.frames for c in chunks], gpu=True)
    tracks, boundaries = stitch_chunks(parts, chunks)
    tracks = drop_short_tracks(tracks.replace(num_frames=detections.num_frames), params.min_track_length)
    if params.max_interpolation_gap > 0:
        tracks = interpolate_tracks(tracks, params.max_interpolation_gap)
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
    )
    outputs = (Port("tracks", (DataType.TRACKS,), "The boxes with track ids."),)
    Params = ReidTrackerOpParams
    uses_gpu = True

    def run_item(self, ctx: ItemContext) -> None:
        video = ctx.item("video")
        dets = ctx.item("detections").load_detections()
        if is_resampled(video):
            raise SelftrackError(
                f"reid_tracker: {video.dataset}/{video.key} is resampled; track the original video or re-encode it"
            )
        params: ReidTrackerOpParams = self.params  # type: ignore[assignment]
        tracker_params = params.tracker_params()
        model = ctx.item("model").path
        if params.chunk_frames:
            tracks, boundaries = track_reid_chunked(
                model,
                video.path,
                dets,
                tracker_params,
                chunk_frames=params.chunk_frames,
                overlap_frames=params.overlap_frames,
                map_pieces=ctx.map,
            )
            breaks = sum(b.ended + b.started for b in boundaries)
            ctx.log(
                f"{len(boundaries) + 1} chunks stitched; {breaks} track end(s)/start(s) at the cuts no other chunk continues"
            )
        else:
            tracks = track_with_reid(
                model,
                video.path,
                dets,
                tracker_params,
                progress=ctx.progress,
                should_stop=ctx.reporter.stop_requested,
            )
        ctx.check_stop()
        ctx.put_detections("tracks", tracks)
