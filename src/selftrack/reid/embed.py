"""Appearance vectors of detections at inference: stream the video, crop, encode in batches.

The tracker needs one appearance vector per detection. Frames are decoded in batches, every
detection of the batch is cropped (the same rule as for training, :func:`crop_boxes`) and all
crops of the batch go through the CNN in one call, on the model's device. Nothing per video is
held in memory except what the caller keeps (:func:`iter_video_features` yields batch by batch).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.checkpoint import ReidModel, load_reid_model, resolve_device
from selftrack.reid.crops import crop_boxes, frame_boxes, read_ahead
from selftrack.reid.model import ReidNet
from selftrack.video import VideoReader


class AppearanceEncoder:
    """Runs a model's CNN(s) on crops: ``(n, s, s, 3)`` uint8 -> ``(n, members, dim)`` float32."""

    def __init__(self, model: ReidModel, batch_size: int = 512) -> None:
        self.model = model
        self.batch_size = batch_size
        self.crop_size = model.arch.crop_size
        self.stretch = model.arch.crop_stretch

    @torch.inference_mode()
    def __call__(self, crops: np.ndarray) -> np.ndarray:
        net, dev = self.model.net, self.model.device
        k, d = net.arch.ensemble, net.arch.embed_dim
        out = np.empty((len(crops), k, d), dtype=np.float32)
        for lo in range(0, len(crops), self.batch_size):
            x = ReidNet.prepare(torch.from_numpy(np.ascontiguousarray(crops[lo : lo + self.batch_size])).to(dev))
            out[lo : lo + len(x)] = net.embed(x).permute(1, 0, 2).float().cpu().numpy()
        return out


@dataclass(frozen=True)
class FeatureBatch:
    """Appearance vectors of the detections of frames ``[start, stop)`` (rows ``[lo, hi)``)."""

    start: int
    stop: int
    lo: int
    hi: int
    features: np.ndarray


def _crop_batches(
    reader: VideoReader,
    boxes: np.ndarray,
    bounds: np.ndarray,
    stop: int,
    batch_frames: int,
    size: int,
    stretch: bool = False,
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(first frame, end frame, crops of the boxes of those frames)``, decoding frame by frame."""
    first, buf, n = 0, np.zeros((64, size, size, 3), dtype=np.uint8), 0
    for f, frame in enumerate(reader.frames(0, stop)):
        a, b = int(bounds[f]), int(bounds[f + 1])
        if b > a:
            if n + b - a > len(buf):
                grown = np.zeros((max(2 * len(buf), n + b - a), size, size, 3), dtype=np.uint8)
                grown[:n] = buf[:n]
                buf = grown
            crop_boxes(frame, boxes[a:b], size, out=buf[n : n + b - a], stretch=stretch)
            n += b - a
        if f + 1 - first == batch_frames or f + 1 == stop:
            yield first, f + 1, buf[:n].copy()
            first, n = f + 1, 0


def iter_video_features(
    model: ReidModel,
    video_path: str | os.PathLike[str],
    detections: Detections,
    *,
    batch_frames: int = 32,
    should_stop: Callable[[], bool] | None = None,
    prefetch: bool = True,
) -> Iterator[FeatureBatch]:
    """Stream ``video_path`` and yield the appearance vectors of ``detections``, batch by batch.

    Only frames up to the last one with a box are decoded. Boxes on another canvas are scaled to
    the frame. With ``prefetch`` the video is decoded and cropped in a background thread.
    """
    encoder = AppearanceEncoder(model)
    with VideoReader(video_path) as reader:
        n = len(detections)
        if n and int(detections.frame[-1]) >= reader.frame_count:
            raise ValidationError(
                f"detections{' (' + detections.source + ')' if detections.source else ''} have boxes in frame "
                f"{int(detections.frame[-1])} but {video_path} has {reader.frame_count} frames"
            )
        if n == 0:
            return
        boxes = frame_boxes(detections, reader.output_size)
        stop = int(detections.frame[-1]) + 1
        bounds = np.searchsorted(detections.frame, np.arange(stop + 1), side="left")
        batches = _crop_batches(reader, boxes, bounds, stop, batch_frames, encoder.crop_size, encoder.stretch)
        for first, last, crops in read_ahead(batches) if prefetch else batches:
            if should_stop is not None and should_stop():
                raise InterruptedError("appearance extraction stopped")
            lo, hi = int(bounds[first]), int(bounds[last])
            yield FeatureBatch(first, last, lo, hi, encoder(crops))


def embed_video(
    model: ReidModel | str | os.PathLike[str],
    video_path: str | os.PathLike[str],
    detections: Detections,
    *,
    device: str = "auto",
    batch_frames: int = 32,
) -> np.ndarray:
    """Appearance vectors ``(len(detections), members, dim)`` of every detection of a video."""
    if not isinstance(model, ReidModel):
        model = load_reid_model(model, resolve_device(device))
    out = np.zeros((len(detections), model.arch.ensemble, model.arch.embed_dim), dtype=np.float32)
    for batch in iter_video_features(model, video_path, detections, batch_frames=batch_frames):
        out[batch.lo : batch.hi] = batch.features
    return out
