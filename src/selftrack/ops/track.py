"""``track``: classic motion trackers (IoU, SORT, ByteTrack, OC-SORT) with post-processing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Annotated, Any, Protocol

import numpy as np
from pydantic import Field, model_validator

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError
from selftrack.ops._camera_motion import CMC_HELP, CmcMode, item_estimate, item_gmc_reader, resolve_cmc
from selftrack.ops._video import item_fps
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.trackers import drop_short_tracks, get_tracker, interpolate_tracks, list_trackers
from selftrack.trackers.chunks import plan_chunks, stitch_chunks
from selftrack.workspace.store import DataType, Item

CHUNK_OVERLAP = 100
"""Default overlap of tracking chunks, in frames (BENCHMARKS.md, "Long videos in chunks", says how it was chosen)."""

# The video-level fields every tracking op has (``track``, ``reid_tracker``), declared once.
VideoFps = Annotated[
    float | None,
    Field(
        gt=0,
        description="The video's frame rate (frames per second), for limits in time; default: the video container's.",
    ),
]
ChunkFrames = Annotated[
    int | None,
    Field(
        ge=1,
        description="Long videos: track pieces of this many frames in parallel (on the workers or the Ray cluster) "
        "and stitch their tracks where neighbouring pieces overlap; empty: the whole video in one pass.",
    ),
]
OverlapFrames = Annotated[
    int,
    Field(
        ge=0,
        description="Frames neighbouring pieces share (chunk_frames): both track them, their boxes decide which "
        "tracks continue each other, and each keeps half.",
    ),
]


class MapPieces(Protocol):
    """``ctx.map``'s signature: ``[fn(p) for p in pieces]`` on parallel workers, in order."""

    def __call__(
        self, fn: Callable[[Any], Any], pieces: Sequence[Any], *, frames: Sequence[int], gpu: bool = False
    ) -> list[Any]: ...


class TrackParams(OpParams):
    tracker: str = Field(
        default="bytetrack", description="Tracker: iou (SkyhookML's simple tracker), sort, bytetrack or ocsort."
    )
    tracker_params: dict[str, Any] = Field(
        default_factory=dict,
        description="The tracker's own parameters (`selftrack track --tracker NAME --show-params`); unset ones keep their defaults.",
    )
    min_track_length: int = Field(default=0, ge=0, description="Drop tracks with fewer boxes than this (0 keeps all).")
    interpolate_max_gap: int = Field(
        default=0, ge=0, description="Fill gaps of up to this many frames by linear interpolation (0: off)."
    )
    cmc: CmcMode = Field(default="auto", description=CMC_HELP)
    fps: VideoFps = None
    chunk_frames: ChunkFrames = None
    overlap_frames: OverlapFrames = CHUNK_OVERLAP

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
    fps: float | Fraction | None = None,
    map_pieces: MapPieces | None = None,
    stats: dict[str, int] | None = None,
    report: Callable[[str], None] | None = None,
) -> Detections:
    """Track one video's detections and apply the post-processing steps (shared by the op and the CLI).

    ``stats``, when given, receives the box counts of each step: ``given``, ``linked`` (in the tracker's
    output), ``short`` (dropped with tracks under ``min_track_length``) and ``interpolated`` (added).

    ``fps``, the video's frame rate, is passed as the tracker's ``frame_rate`` when it has one and the
    params do not set it: ByteTrack's lost-track buffer and OC-SORT's maximum age are meant in time
    (their frame counts are for 30 fps), so a 7 fps video would otherwise keep lost tracks 4x too long.

    With ``params.chunk_frames`` the video is tracked in overlapping pieces, run by ``map_pieces``
    (``ctx.map`` in the op: the executor's workers; default: one after the other here), and stitched
    (:mod:`selftrack.trackers.chunks`); the post-processing then runs on the joined tracks. The
    tracker's ``preset="auto"`` settings are chosen once, from the whole video's detections, so every
    piece tracks with the same ones.

    ``report``, when given, receives the lines saying what the tracker chose (``Tracker.settings``).
    """
    kwargs = dict(params.tracker_params)
    if fps and "frame_rate" in list_trackers()[params.tracker].model_fields and "frame_rate" not in kwargs:
        kwargs["frame_rate"] = float(fps)
    tracker = get_tracker(params.tracker, **kwargs)
    tracker.adapt(detections.score)
    if params.chunk_frames:
        if tracker.chosen:  # the whole video's choice, fixed for every piece (none re-chooses on its own boxes)
            kwargs |= {**tracker.chosen, "preset": "official"}
        chunks = plan_chunks(detections.frame_count, params.chunk_frames, params.overlap_frames)
        pieces = [
            (
                detections.frames_range(c.start, c.stop),
                params.tracker,
                kwargs,
                None if transforms is None else transforms[c.start : c.stop],
                c.start,
                c.stop,
            )
            for c in chunks
        ]
        if map_pieces is None:
            parts = [_track_piece(p) for p in pieces]
        else:
            parts = map_pieces(_track_piece, pieces, frames=[c.frames for c in chunks])
        tracks, _ = stitch_chunks(parts, chunks)
        tracks = tracks.replace(num_frames=detections.num_frames)
    else:
        tracks = tracker.track(detections, transforms=transforms, progress=progress)
    if report is not None:
        for line in tracker.settings():
            report(line)
    linked = len(tracks)
    if params.min_track_length:
        tracks = drop_short_tracks(tracks, params.min_track_length)
    kept = len(tracks)
    if params.interpolate_max_gap:
        tracks = interpolate_tracks(tracks, params.interpolate_max_gap, transforms)
    if stats is not None:
        stats.update(given=len(detections), linked=linked, short=linked - kept, interpolated=len(tracks) - kept)
    return tracks


def _track_piece(piece: tuple[Any, ...]) -> Detections:
    """Track one chunk from scratch (runs in a worker): frames renumbered from 0, then back."""
    detections, name, kwargs, transforms, start, stop = piece
    local = detections.shift_frames(-start, num_frames=stop - start)
    tracks = get_tracker(name, **kwargs).track(local, transforms=transforms)
    return tracks.shift_frames(start, num_frames=stop)


class Track(Op):
    name = "track"
    title = "Track (motion)"
    category = "Detection/Tracking"
    description = "Link detections into tracks with a motion tracker (no appearance model), then clean the tracks up."
    inputs = (
        Port("detections", (DataType.DETECTIONS,), "Detections of each video."),
        Port(
            "video",
            (DataType.VIDEO,),
            "Optional: the videos; their frame rate becomes the tracker's frame_rate unless the params set it, "
            "and camera motion is measured from them (cmc=video or auto).",
            optional=True,
        ),
        Port(
            "camera_motion",
            (DataType.FILE,),
            "Optional: a gmc.txt per video (camera motion, BoT-SORT's format) for cmc=file or auto.",
            optional=True,
        ),
    )
    outputs = (Port("tracks", (DataType.TRACKS,), "The same boxes with track ids."),)
    Params = TrackParams

    @classmethod
    def check_wiring(cls, params: OpParams, wired: set[str]) -> None:
        assert isinstance(params, TrackParams)
        if params.cmc == "video" and "video" not in wired:
            raise SelftrackError("track: cmc=video needs the video input wired (camera motion is measured from it)")
        if params.cmc == "file" and "camera_motion" not in wired:
            raise SelftrackError("track: cmc=file needs the camera_motion input wired (gmc.txt files)")

    def run_item(self, ctx: ItemContext) -> None:
        dets = ctx.item("detections").load_detections()
        video = ctx.item("video") if ctx.inputs.get("video") else None
        gmc = ctx.item("camera_motion") if ctx.inputs.get("camera_motion") else None
        fps = self.params.fps or (item_fps(video) if video is not None else None)
        frames = int(video.metadata.get("video", {}).get("frame_count") or 0) if video is not None else 0
        cmc = resolve_cmc(
            self.params.cmc,
            dets,
            read_file=item_gmc_reader(gmc, frames or None),
            estimate=None if video is None else item_estimate(ctx, video, dets, ctx.progress),
            video_size=_video_size(video),
            what=f"track {ctx.key}",
        )
        ctx.log(cmc.note)
        tracks = run_tracker(
            dets,
            self.params,
            transforms=cmc.transforms,
            progress=ctx.progress,
            fps=fps,
            map_pieces=ctx.map,
            report=ctx.log,
        )
        ctx.put_detections("tracks", tracks)


def _video_size(video: Item | None) -> tuple[int, int] | None:
    """Source frame size of a video item (what gmc files and estimates refer to), if known."""
    meta = (video.metadata.get("video") or {}) if video is not None else {}
    return (int(meta["width"]), int(meta["height"])) if meta.get("width") and meta.get("height") else None
