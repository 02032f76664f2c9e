"""Appearance vectors of detections at inference: stream the video, crop, encode in batches.

The tracker needs one appearance vector per detection. Frames are decoded in batches, every
detection of the batch is cropped (the same rule as for training, :func:`crop_boxes`) and all
crops of the batch go through the CNN in one call, on the model's device. Nothing per video is
held in memory except what the caller keeps (:func:`iter_video_features` yields batch by batch).
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.checkpoint import ReidModel, load_reid_model, resolve_device
from selftrack.reid.crops import crop_boxes, frame_boxes
from selftrack.reid.model import ReidNet
from selftrack.video import VideoReader


class AppearanceEncoder:
    """Runs a model's CNN(s) on crops: ``(n, s, s, 3)`` uint8 -> ``(n, members, dim)`` float32."""

    def __init__(self, model: ReidModel, batch_size: int = 512) -> None:
        self.model = model
        self.batch_size = batch_size
        self.crop_size = model.arch.crop_size

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
    reader: VideoReader, boxes: np.ndarray, bounds: np.ndarray, start: int, stop: int, batch_frames: int, size: int
) -> Iterator[tuple[int, int, np.ndarray]]:
    """``(first frame, end frame, crops of the boxes of those frames)``, decoding frames ``[start, stop)``."""
    first, buf, n = start, np.zeros((64, size, size, 3), dtype=np.uint8), 0
    for f, frame in enumerate(reader.frames(start, stop), start=start):
        a, b = int(bounds[f]), int(bounds[f + 1])
        if b > a:
            if n + b - a > len(buf):
                grown = np.zeros((max(2 * len(buf), n + b - a), size, size, 3), dtype=np.uint8)
                grown[:n] = buf[:n]
                buf = grown
            crop_boxes(frame, boxes[a:b], size, out=buf[n : n + b - a])
            n += b - a
        if f + 1 - first == batch_frames or f + 1 == stop:
            yield first, f + 1, buf[:n].copy()
            first, n = f + 1, 0


def _prefetch(items: Iterator[Any], depth: int = 2) -> Iterator[Any]:
    """Run a generator in a background thread, ``depth`` items ahead.

    Decoding (PyAV) and resizing (OpenCV) release the GIL, so on two cores the next batch is
    decoded and cropped while the CNN and the tracker work on this one.
    """
    q: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            q.put(exc)

    thread = threading.Thread(target=work, name="selftrack-reid-decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5.0)


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

    Only frames from the first to the last one with a box are decoded (a chunk of a long video seeks
    to its first frame). Boxes on another canvas are scaled to
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
        start = int(detections.frame[0])
        batches = _crop_batches(reader, boxes, bounds, start, stop, batch_frames, encoder.crop_size)
        for first, last, crops in _prefetch(batches) if prefetch else batches:
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
