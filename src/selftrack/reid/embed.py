"""Appearance vectors of detections at inference: stream the video, crop, encode in batches.

The tracker needs one appearance vector per detection. Frames are decoded in batches, every
detection of the batch is cropped (the same rule as for training, :func:`crop_boxes`) and all
crops of the batch go through the CNN in one call, on the model's device. Nothing per video is
held in memory except what the caller keeps (:func:`iter_video_features` yields batch by batch).
"""

from __future__ import annotations

import mmap
import multiprocessing as mp
import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.colour import COLOUR_DIM, colour_descriptors
from selftrack.reid.crops import CropPlan, frame_boxes, read_ahead
from selftrack.reid.inference import InferenceModel
from selftrack.video import VideoReader

if TYPE_CHECKING:
    from selftrack.reid.checkpoint import ReidModel


class AppearanceEncoder:
    """Runs a model's CNN(s) on crops: ``(n, s, s, 3)`` uint8 -> ``(n, members, dim)`` float32.

    An :class:`~selftrack.reid.inference.InferenceModel` runs its ONNX twin (no torch); a torch
    :class:`~selftrack.reid.checkpoint.ReidModel` runs on its device.
    """

    def __init__(self, model: ReidModel | InferenceModel, batch_size: int = 512) -> None:
        self.model = model
        self.batch_size = batch_size
        self.crop_size = model.arch.crop_size
        self.stretch = model.arch.crop_stretch

    def __call__(self, crops: np.ndarray) -> np.ndarray:
        k, d = self.model.arch.ensemble, self.model.arch.embed_dim
        out = np.empty((len(crops), k, d), dtype=np.float32)
        if isinstance(self.model, InferenceModel):
            for lo in range(0, len(crops), self.batch_size):
                part = self.model.embed(crops[lo : lo + self.batch_size])
                out[lo : lo + len(part)] = part
            return out
        import torch

        from selftrack.reid.model import ReidNet

        net, dev = self.model.net, self.model.device
        with torch.inference_mode():
            for lo in range(0, len(crops), self.batch_size):
                x = ReidNet.prepare(torch.from_numpy(np.ascontiguousarray(crops[lo : lo + self.batch_size])).to(dev))
                out[lo : lo + len(x)] = net.embed(x).permute(1, 0, 2).float().cpu().numpy()
        return out


@dataclass(frozen=True)
class FeatureBatch:
    """Appearance vectors of the detections of frames ``[start, stop)`` (rows ``[lo, hi)``), and their colour
    looks when asked for (:func:`~selftrack.reid.colour.colour_descriptors`)."""

    start: int
    stop: int
    lo: int
    hi: int
    features: np.ndarray
    colour: np.ndarray | None = None


COLOUR_CROP = 64
"""Crop size of the colour looks (crops that keep the box's shape, as the models' by default)."""
FIRST_BATCH_FRAMES = 4
"""The first batch is short, so tracking starts after a few frames rather than a whole batch."""


SHARED_SLOTS = 4
"""Batches of crops the decoding process may have ready ahead of the tracker (see :class:`_CropSlots`)."""
SHARED_BYTES = 256 << 20
"""Most memory the slots take together (fewer slots, at least two, for very crowded batches)."""


def _crop_batches(
    reader: VideoReader,
    boxes: np.ndarray,
    bounds: np.ndarray,
    start: int,
    stop: int,
    batch_frames: int,
    size: int,
    stretch: bool = False,
    copy: bool = True,
    colour: bool = False,
) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
    """``(first frame, end frame, crops of the boxes of those frames, their colour looks or None)``, decoding
    frames ``[start, stop)``.

    Batches are :func:`_batch_spans`. With ``copy=False`` the crops are a view that the next batch
    overwrites (for a consumer that copies them before asking for the next). With ``colour`` each batch
    also has the boxes' colour looks, always from ``COLOUR_CROP``-pixel crops that keep the box's shape
    (the model's own crops when they are those), so the looks do not depend on the model.
    """
    first, buf, n = start, np.zeros((64, size, size, 3), dtype=np.uint8), 0
    length = min(batch_frames, FIRST_BATCH_FRAMES)
    lo = int(bounds[start])
    plan = CropPlan.of(boxes[lo : int(bounds[stop])], reader.output_size, size, stretch)  # crop_boxes' geometry
    own = colour and (size, stretch) != (COLOUR_CROP, False)
    colour_plan = CropPlan.of(boxes[lo : int(bounds[stop])], reader.output_size, COLOUR_CROP) if own else plan
    colour_buf = np.zeros((0, COLOUR_CROP, COLOUR_CROP, 3), dtype=np.uint8)
    looks: list[np.ndarray] = []
    for f, frame in enumerate(reader.frame_pixels(start, stop), start=start):
        a, b = int(bounds[f]), int(bounds[f + 1])
        if b > a:
            if n + b - a > len(buf):
                grown = np.zeros((max(2 * len(buf), n + b - a), size, size, 3), dtype=np.uint8)
                grown[:n] = buf[:n]
                buf = grown
            plan.cut(frame, a - lo, b - lo, buf[n : n + b - a])
            if colour:
                crops = buf[n : n + b - a]
                if own:
                    if len(colour_buf) < b - a:
                        colour_buf = np.zeros((b - a, COLOUR_CROP, COLOUR_CROP, 3), dtype=np.uint8)
                    crops = colour_plan.cut(frame, a - lo, b - lo, colour_buf)[: b - a]
                looks.append(colour_descriptors(crops, np.asarray(colour_plan.sizes[a - lo : b - lo]).reshape(-1, 2)))
            n += b - a
        if f + 1 - first == length or f + 1 == stop:
            batch_looks = None
            if colour:
                batch_looks = np.concatenate(looks) if looks else np.zeros((0, COLOUR_DIM), np.float32)
            yield first, f + 1, buf[:n].copy() if copy else buf[:n], batch_looks
            first, n, length, looks = f + 1, 0, batch_frames, []


def _batch_spans(start: int, stop: int, batch_frames: int) -> list[tuple[int, int]]:
    """The frame ranges of :func:`_crop_batches`' batches: a short first one, then ``batch_frames`` each."""
    spans, first, length = [], start, min(batch_frames, FIRST_BATCH_FRAMES)
    while first < stop:
        spans.append((first, min(stop, first + length)))
        first, length = spans[-1][1], batch_frames
    return spans


class _CropSlots:
    """Memory shared with the decoding process: ``count`` slots of up to ``rows`` crops each.

    The process copies each batch's crops into the next free slot and sends only ``(first, end, slot,
    n)`` through the pipe; this process encodes the crops straight from the slot, then frees it. So
    crops are never pickled, and the process can work up to ``count`` batches ahead (a pipe holds
    less than one): a moment in which the machine's other work takes one process's core does not at
    once stall the other process too.
    """

    def __init__(self, ctx: Any, count: int, rows: int, shape: tuple[int, ...]) -> None:
        self.count = count
        size = count * rows * int(np.prod(shape))
        self.memory = mmap.mmap(-1, max(1, size))  # anonymous and shared: a forked process writes, this one reads
        self.slots = np.frombuffer(self.memory, np.uint8, count=size).reshape(count, rows, *shape)
        self.free = ctx.Semaphore(count)
        self.written = 0

    def put(self, item: tuple[int, int, np.ndarray, Any]) -> tuple[int, int, int, int, Any]:
        """In the decoding process: wait for a free slot, copy the crops there; what to send instead (the
        item's last part, small, travels as it is)."""
        first, end, crops, extra = item
        parent = os.getppid()
        while not self.free.acquire(timeout=1.0):
            if os.getppid() != parent:  # the tracking process is gone: nobody will free a slot
                raise RuntimeError("the tracking process ended")
        slot = self.written % self.count
        self.written += 1
        self.slots[slot, : len(crops)] = crops
        return first, end, slot, len(crops), extra

    def get(self, item: tuple[int, int, int, int, Any]) -> tuple[int, int, np.ndarray, Any]:
        """In this process: the crops a message points to (valid until :meth:`release`)."""
        first, end, slot, n, extra = item
        return first, end, self.slots[slot, :n], extra

    def release(self) -> None:
        """The oldest slot handed out is free again (slots are used and freed in turn)."""
        self.free.release()


def _decode_worker(conn: Connection, make: Callable[[], Iterator[Any]], slots: _CropSlots | None = None) -> None:
    """In the decoding process: send every item of ``make()``, then ``None``; an error is sent, not raised.

    With ``slots`` each item's crops go through shared memory (see :class:`_CropSlots`).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends this process
    try:
        for item in make():
            conn.send(item if slots is None else slots.put(item))
        conn.send(None)
    except BaseException as exc:
        try:
            conn.send(exc)
        except Exception:  # an exception that does not pickle: its text
            conn.send(RuntimeError(f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _in_process(
    make: Callable[[], Iterator[Any]], slots: Callable[[Any], _CropSlots] | None = None
) -> Iterator[Any] | None:
    """Run ``make()`` in a forked process and yield its items; ``None`` where a process cannot be forked.

    ``slots`` (given the process context) makes the shared memory that ``(first, end, crops)`` items
    travel through (:class:`_CropSlots`); each item's crops are then valid until the next is asked for.

    Why a process and not a thread: PyAV holds the GIL for much of its decoding, and the tracker's
    per-frame work is Python, so in threads the two take turns (decoding beside a busy Python thread
    ran at a fraction of its speed); a process decodes and crops on the other core for real. Without
    ``slots`` the pipe holds about one batch, so the process runs at most a batch or two ahead.
    """
    try:
        ctx = mp.get_context("fork")
        if mp.current_process().daemon:  # daemonic workers (multiprocessing.Pool) may not fork children
            return None
        shared = None if slots is None else slots(ctx)
        ours, theirs = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_decode_worker, args=(theirs, make, shared), name="selftrack-reid-decode", daemon=True
        )
        proc.start()
    except (ValueError, OSError, AssertionError):
        return None
    theirs.close()

    def items() -> Iterator[Any]:
        try:
            while True:
                try:
                    item = ours.recv()
                except EOFError:
                    raise RuntimeError("the decoding process ended unexpectedly") from None
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                if shared is None:
                    yield item
                else:
                    yield shared.get(item)
                    shared.release()
        finally:
            ours.close()
            if proc.is_alive():
                proc.terminate()
            proc.join(timeout=5.0)

    return items()


def iter_video_features(
    model: ReidModel | InferenceModel | None,
    video_path: str | os.PathLike[str],
    detections: Detections,
    *,
    batch_frames: int = 32,
    should_stop: Callable[[], bool] | None = None,
    prefetch: bool | Literal["process", "thread"] = True,
    colour: bool = False,
) -> Iterator[FeatureBatch]:
    """Stream ``video_path`` and yield the appearance vectors of ``detections``, batch by batch.

    Only frames from the first to the last one with a box are decoded (a chunk of a long video seeks
    to its first frame). Boxes on another canvas are scaled to the frame. With ``prefetch`` (``True`` =
    ``"process"``) the video is decoded and cropped in a forked process (see :func:`_in_process`; a
    background thread where forking is not possible), with ``"thread"`` in a thread, with ``False`` in
    this thread. With ``colour`` each batch also carries the boxes' colour looks (made where the crops
    are, see :func:`_crop_batches`); ``model=None`` gives the colour looks alone (``features`` empty).
    """
    encoder = AppearanceEncoder(model) if model is not None else None
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

        size, stretch = (encoder.crop_size, encoder.stretch) if encoder is not None else (COLOUR_CROP, False)

        def make(copy: bool = True) -> Iterator[tuple[int, int, np.ndarray, np.ndarray | None]]:
            return _crop_batches(reader, boxes, bounds, start, stop, batch_frames, size, stretch, copy, colour)

        def slots(ctx: Any) -> _CropSlots:
            rows = max(int(bounds[b] - bounds[a]) for a, b in _batch_spans(start, stop, batch_frames))
            count = int(np.clip(SHARED_BYTES // max(1, rows * size * size * 3), 2, SHARED_SLOTS))
            return _CropSlots(ctx, count, rows, (size, size, 3))

        if prefetch == "thread" or not prefetch:
            batches = read_ahead(make()) if prefetch else make()
        else:
            batches = _in_process(lambda: make(copy=False), slots) or read_ahead(make())
        for first, last, crops, looks in batches:
            if should_stop is not None and should_stop():
                raise InterruptedError("appearance extraction stopped")
            lo, hi = int(bounds[first]), int(bounds[last])
            features = encoder(crops) if encoder is not None else np.zeros((hi - lo, 0, 0), np.float32)
            yield FeatureBatch(first, last, lo, hi, features, looks)


def embed_video(
    model: ReidModel | InferenceModel | str | os.PathLike[str],
    video_path: str | os.PathLike[str],
    detections: Detections,
    *,
    device: str = "auto",
    batch_frames: int = 32,
) -> np.ndarray:
    """Appearance vectors ``(len(detections), members, dim)`` of every detection of a video.

    A model path is loaded as for tracking (:func:`~selftrack.reid.inference.load_tracking_model`).
    """
    if isinstance(model, str | os.PathLike):
        from selftrack.reid.inference import load_tracking_model

        model = load_tracking_model(model, device=device)
    out = np.zeros((len(detections), model.arch.ensemble, model.arch.embed_dim), dtype=np.float32)
    for batch in iter_video_features(model, video_path, detections, batch_frames=batch_frames):
        out[batch.lo : batch.hi] = batch.features
    return out


def colour_video(video_path: str | os.PathLike[str], detections: Detections, *, batch_frames: int = 32) -> np.ndarray:
    """Colour looks ``(len(detections), COLOUR_DIM)`` of every detection of a video (no model needed), for
    :meth:`ReidTracker.track(..., colour=...) <selftrack.reid.tracker.ReidTracker.track>`."""
    out = np.zeros((len(detections), COLOUR_DIM), dtype=np.float32)
    for batch in iter_video_features(None, video_path, detections, batch_frames=batch_frames, colour=True):
        assert batch.colour is not None
        out[batch.lo : batch.hi] = batch.colour
    return out
