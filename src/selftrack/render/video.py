"""Render detections and tracks onto videos (SkyhookML's "Render Images or Video", with ids and trails).

Each video is decoded (optionally resampled with ``fps`` and resized with ``resize``), every layer's
boxes of frame ``k`` are drawn on frame ``k`` (layers in order, so later layers are on top), and the
result is encoded as browser-playable H.264. Several videos are stacked vertically, each with its
own layers, as SkyhookML stacks its image/video inputs; narrower ones are padded with black on the
right, and the output stops with the shortest video.

Frame indices of a layer are frames *as decoded*: pass the same ``fps`` the detections were made
at. A layer's ``canvas`` maps its coordinates onto the frame; a layer without a canvas (a bare MOT
file) is taken to be in pixels of the video's original size.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.core.video_info import VideoInfo
from selftrack.render.draw import draw_detections, scale_boxes
from selftrack.video import ResizeSpec, VideoReader, VideoWriter, probe

logger = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
PathLike = str | Path


class TrailBuffer:
    """Recent centres of each track of one layer, for drawing trails of the last ``length`` frames."""

    def __init__(self, length: int) -> None:
        self.length = length
        self._points: dict[int, deque[tuple[int, float, float]]] = {}

    def update(self, frame: int, track_ids: np.ndarray, centres: np.ndarray) -> dict[int, np.ndarray]:
        """Add this frame's centres and return ``{track_id: (k, 2)}`` of the last ``length`` frames."""
        for tid, (cx, cy) in zip(track_ids.tolist(), centres.tolist(), strict=True):
            if tid >= 0:
                self._points.setdefault(tid, deque()).append((frame, cx, cy))
        out: dict[int, np.ndarray] = {}
        oldest = frame - self.length + 1
        for tid in list(self._points):
            points = self._points[tid]
            while points and points[0][0] < oldest:
                points.popleft()
            if not points:
                del self._points[tid]
            elif len(points) >= 2:
                out[tid] = np.array([(x, y) for _, x, y in points])
        return out


def _layer_canvas(layer: Detections, info: VideoInfo) -> tuple[int, int]:
    return layer.canvas if layer.canvas is not None else (info.width, info.height)


def render_videos(
    inputs: Sequence[tuple[PathLike, Sequence[Detections]]],
    out_path: PathLike,
    *,
    trail_length: int = 0,
    progress: ProgressFn | None = None,
    fps: Fraction | float | None = None,
    resize: ResizeSpec | None = None,
    label: bool = True,
    thickness: int = 2,
    stop: int | None = None,
) -> VideoInfo:
    """Draw each video's layers on it, stack the videos vertically, and write an H.264 MP4.

    Args:
        inputs: ``(video path, layers)`` per video, top to bottom.
        out_path: the ``.mp4`` to write (atomically).
        trail_length: draw each track's path over its last N frames (0 = no trails).
        progress: ``progress(frames_done, frames_total)`` every frame.
        fps: decode (and write) at this rate; ``None`` = the first video's rate.
        resize: size the videos are decoded (and drawn) at; ``None`` = their own size.
        label: write track ids on the boxes.
        thickness: line thickness of tracked boxes.
        stop: render only the first ``stop`` frames.

    Returns:
        The probe of the written video.
    """
    if not inputs:
        raise ValidationError("render: no video to draw on")
    if trail_length < 0:
        raise ValidationError(f"render: trail_length must be 0 or more, got {trail_length}")
    first_fps = probe(inputs[0][0]).fps if fps is None else fps
    readers = [VideoReader(path, fps=first_fps, resize=resize) for path, _ in inputs]
    total = min(r.frame_count for r in readers)
    if stop is not None:
        if stop < 1:
            raise ValidationError(f"render: stop must be at least 1, got {stop}")
        total = min(total, stop)
    if len({r.frame_count for r in readers}) > 1:
        logger.info("render: videos have %s frames; rendering the first %d", [r.frame_count for r in readers], total)
    out_w = max(r.output_size[0] for r in readers)
    out_h = sum(r.output_size[1] for r in readers)
    layer_sets: list[list[tuple[Detections, np.ndarray]]] = []
    trails: list[list[TrailBuffer]] = []
    for reader, (path, layers) in zip(readers, inputs, strict=True):
        prepared = []
        for layer in layers:
            scaled = layer.replace(
                xyxy=scale_boxes(layer.xyxy, _layer_canvas(layer, reader.info), reader.output_size),
                canvas=reader.output_size,
            )
            if len(scaled) and int(scaled.frame.max()) >= reader.frame_count:
                logger.warning(
                    "render: %s has boxes up to frame %d but %s has %d frames (another fps?)",
                    layer.source or "a layer",
                    int(scaled.frame.max()),
                    path,
                    reader.frame_count,
                )
            bounds = np.searchsorted(scaled.frame, np.arange(total + 1), side="left")
            prepared.append((scaled, bounds))
        layer_sets.append(prepared)
        trails.append([TrailBuffer(trail_length) for _ in layers])

    streams = [reader.frames(0, total) for reader in readers]
    try:
        with VideoWriter(out_path, first_fps, (out_w, out_h)) as writer:
            for k in range(total):
                canvas = np.zeros((out_h, out_w, 3), dtype=np.uint8)
                y = 0
                for stream, prepared, buffers in zip(streams, layer_sets, trails, strict=True):
                    frame = next(stream)
                    for (layer, bounds), buffer in zip(prepared, buffers, strict=True):
                        boxes = layer[slice(int(bounds[k]), int(bounds[k + 1]))]
                        trail = None
                        if trail_length > 0:
                            centres = (boxes.xyxy[:, :2] + boxes.xyxy[:, 2:]) / 2
                            trail = buffer.update(k, boxes.track_id, centres)
                        frame = draw_detections(
                            frame, boxes, trails=trail, label=label, thickness=thickness, copy=False
                        )
                    fh, fw = frame.shape[:2]
                    canvas[y : y + fh, :fw] = frame
                    y += fh
                writer.write(canvas)
                if progress is not None:
                    progress(k + 1, total)
    finally:
        for stream in streams:
            stream.close()
    return probe(out_path)


def render_video(
    video_path: PathLike,
    layers: Sequence[Detections],
    out_path: PathLike,
    *,
    trail_length: int = 0,
    progress: ProgressFn | None = None,
    fps: Fraction | float | None = None,
    resize: ResizeSpec | None = None,
    label: bool = True,
    thickness: int = 2,
    stop: int | None = None,
) -> VideoInfo:
    """Draw ``layers`` on the video at ``video_path`` and write an H.264 MP4; see :func:`render_videos`."""
    return render_videos(
        [(video_path, layers)],
        out_path,
        trail_length=trail_length,
        progress=progress,
        fps=fps,
        resize=resize,
        label=label,
        thickness=thickness,
        stop=stop,
    )
