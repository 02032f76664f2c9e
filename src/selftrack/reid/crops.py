"""Appearance crops of detections: extraction from frames and an on-disk cache per video.

Every detection becomes one ``crop_size x crop_size x 3`` uint8 image: the box is cut from the
frame (clipped to it), resized with its aspect ratio kept so that its longer side is ``crop_size``,
and pasted into the top-left corner of a zero canvas (UNS20's and SkyhookML's convention; the
zero padding also tells the network the box's shape).

SkyhookML kept every crop of the training videos in RAM, so memory grew with video length. Here
crops are extracted while the video is streamed in batches (:meth:`VideoReader.read_batches`) and
written straight to a ``.npy`` file in a cache folder the caller owns; training and inference read
it back memory-mapped. The file is reused when the same video, detections and crop size are asked
for again (the key hashes all three), so a second training run, or the tracker after training,
does not decode the video again.

This module needs no torch (numpy and OpenCV only).
"""

from __future__ import annotations

import hashlib
import json
import mmap
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError, VideoError
from selftrack.video import VideoReader
from selftrack.video.regions import FramePixels

T = TypeVar("T")

CACHE_VERSION = 2
"""Bumped when the crop rule changes, so stale cache files are never reused."""


def frame_boxes(detections: Detections, frame_size: tuple[int, int]) -> np.ndarray:
    """Boxes of ``detections`` in pixels of frames of ``frame_size`` (width, height).

    Detections made on another canvas (SkyhookML's CanvasDims: a detector run at 960x544 on a 1080p
    video) are scaled to the frame; without a canvas the boxes are taken to be in frame pixels.
    """
    if detections.canvas is None or tuple(detections.canvas) == tuple(frame_size):
        return detections.xyxy
    sx = frame_size[0] / detections.canvas[0]
    sy = frame_size[1] / detections.canvas[1]
    return detections.xyxy * np.array([sx, sy, sx, sy])


def crop_boxes(
    frame: np.ndarray | FramePixels,
    xyxy: np.ndarray,
    crop_size: int = 64,
    out: np.ndarray | None = None,
    stretch: bool = False,
) -> np.ndarray:
    """Crops of ``xyxy`` (frame pixels) from one RGB ``frame``: ``(n, crop_size, crop_size, 3)`` uint8.

    ``frame`` is an RGB array or a decoded frame (:meth:`VideoReader.frame_pixels`), of which only the
    boxes' pixels are then converted to RGB (the same crops, for less work).

    The box is widened to whole pixels (``floor`` of the top-left corner, ``ceil`` of the
    bottom-right), clipped to the frame, then resized so that its longer side is ``crop_size``
    pixels (``round(side * crop_size / longer side)`` for the shorter one, at least 1) and pasted
    top-left; the rest of the crop is zero. A box with no pixel inside the frame gives an all-zero
    crop. Shrinking uses area averaging (after keeping every k-th pixel of a box more than twice the
    crop's size, which makes large boxes cheap and still averages over k x k), enlarging bilinear
    interpolation. With
    ``stretch`` the box fills the whole crop instead (aspect ratio not kept): a standing person then
    gets every pixel of the crop, not a 25-pixel-wide strip of it.
    """
    h, w = frame.shape[:2]
    plan = CropPlan.of(xyxy, (w, h), crop_size, stretch)
    if out is None:
        out = np.zeros((len(plan), crop_size, crop_size, 3), dtype=np.uint8)
    return plan.cut(frame, 0, len(plan), out)


@dataclass(frozen=True)
class CropPlan:
    """The geometry of :func:`crop_boxes` for many boxes, computed once: what to cut and at what size.

    The tracker plans a whole video's boxes in one vectorised pass, so that cutting a frame's crops
    (:meth:`cut`) is only slicing and resizing, with no per-frame array arithmetic.
    """

    rects: list[tuple[int, int, int, int]]  # (x1, y1, x2, y2) in whole pixels, clipped to the frame
    steps: list[int]  # keep every k-th pixel before resizing (1: every pixel)
    sizes: list[tuple[int, int]]  # (width, height) pasted top-left in the crop
    valid: list[bool]  # the box has pixels inside the frame

    @classmethod
    def of(cls, xyxy: np.ndarray, frame_size: tuple[int, int], crop_size: int, stretch: bool = False) -> CropPlan:
        """The plan for boxes ``xyxy`` (frame pixels) of frames of ``frame_size`` (width, height)."""
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        w, h = frame_size
        x1 = np.clip(np.floor(xyxy[:, 0]), 0, w).astype(np.int64)
        y1 = np.clip(np.floor(xyxy[:, 1]), 0, h).astype(np.int64)
        x2 = np.clip(np.ceil(xyxy[:, 2]), 0, w).astype(np.int64)
        y2 = np.clip(np.ceil(xyxy[:, 3]), 0, h).astype(np.int64)
        bw, bh = x2 - x1, y2 - y1
        longer = np.maximum(bw, bh)
        valid = (bw > 0) & (bh > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(valid, crop_size / np.maximum(longer, 1), 0.0)
        tw = np.clip(np.rint(bw * scale), 1, crop_size).astype(np.int64)
        th = np.clip(np.rint(bh * scale), 1, crop_size).astype(np.int64)
        if stretch:  # the whole crop shows the box, its shape is lost
            tw[:] = th[:] = crop_size
        # area averaging costs in proportion to the box's pixels: a 1080p person is first thinned to
        # every k-th pixel, k chosen to leave at least twice the crop's resolution, then averaged
        k = np.maximum(1, np.minimum(bw // (2 * tw), bh // (2 * th)))
        return cls(
            rects=list(zip(x1.tolist(), y1.tolist(), x2.tolist(), y2.tolist(), strict=True)),
            steps=k.tolist(),
            sizes=list(zip(tw.tolist(), th.tolist(), strict=True)),
            valid=valid.tolist(),
        )

    def __len__(self) -> int:
        return len(self.rects)

    def cut(self, frame: np.ndarray | FramePixels, lo: int, hi: int, out: np.ndarray) -> np.ndarray:
        """Crops of boxes ``lo:hi`` of the plan from ``frame`` into ``out[: hi - lo]`` (zeroed first)."""
        out[: hi - lo] = 0
        rows = [i for i in range(lo, hi) if self.valid[i]]
        if isinstance(frame, FramePixels):
            patches = frame.regions_of([self.rects[i] for i in rows])
        else:
            patches = [frame[y1:y2, x1:x2] for x1, y1, x2, y2 in (self.rects[i] for i in rows)]
        for i, patch in zip(rows, patches, strict=True):
            k, (tw, th) = self.steps[i], self.sizes[i]
            if k > 1:
                patch = patch[::k, ::k]
            ph, pw = patch.shape[:2]
            if (pw, ph) == (tw, th):
                out[i - lo, :th, :tw] = patch
            else:
                interp = cv2.INTER_AREA if ph > th or pw > tw else cv2.INTER_LINEAR
                out[i - lo, :th, :tw] = cv2.resize(patch, (tw, th), interpolation=interp)
        return out


# ---------------------------------------------------------------------------------------------- cache
def _file_identity(path: Path) -> dict[str, object]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def detections_digest(detections: Detections) -> str:
    """Content hash of the boxes (frames, coordinates, canvas): what the crops depend on."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(detections.frame, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(detections.xyxy, dtype=np.float64).tobytes())
    h.update(repr(detections.canvas).encode())
    return h.hexdigest()


def cache_key(video_path: str | os.PathLike[str], detections: Detections, crop_size: int, stretch: bool = False) -> str:
    """Name of the cache entry for these crops (stable across runs, changes with any input)."""
    ident = {
        "version": CACHE_VERSION,
        "video": _file_identity(Path(video_path)),
        "detections": detections_digest(detections),
        "crop_size": int(crop_size),
        **({"stretch": True} if stretch else {}),
    }
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]


@dataclass
class CropStore:
    """The crops of one video's detections, memory-mapped from the cache (read-only).

    ``crops[i]`` is the crop of detection row ``i`` (the rows of the ``Detections`` it was built
    from). Reading touches only the pages needed; :meth:`release` hands the touched pages back to
    the page cache, so a long training run over hours of video keeps a flat resident size.
    """

    path: Path
    crops: np.ndarray
    frame_size: tuple[int, int]
    key: str

    @classmethod
    def open(cls, path: Path, frame_size: tuple[int, int], key: str) -> CropStore:
        crops = np.load(path, mmap_mode="r")
        return cls(path=path, crops=crops, frame_size=frame_size, key=key)

    def __len__(self) -> int:
        return int(self.crops.shape[0])

    def take(self, rows: np.ndarray) -> np.ndarray:
        """Crops of ``rows`` copied into a new array (sorted access, original order kept)."""
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == 0:
            return np.zeros((0, *self.crops.shape[1:]), dtype=np.uint8)
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.crops.shape[1:]), dtype=np.uint8)
        out[order] = self.crops[rows[order]]
        return out

    def release(self) -> None:
        """Drop the mapped pages from this process's resident set (they stay in the OS page cache)."""
        raw = getattr(self.crops, "_mmap", None)
        if isinstance(raw, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
            try:
                raw.madvise(mmap.MADV_DONTNEED)
            except OSError:  # pragma: no cover - platform without madvise on file mappings
                self.crops = np.load(self.path, mmap_mode="r")


ProgressFn = Callable[[int, int], None]


def read_ahead(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Run a generator in a background thread, ``depth`` items ahead.

    Decoding (PyAV) and resizing (OpenCV) release the GIL, so on two cores the next frame is
    decoded while this one is cropped (or encoded). The thread stops when the consumer does.
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

    thread = threading.Thread(target=work, name="selftrack-decode", daemon=True)
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


def build_crop_store(
    video_path: str | os.PathLike[str],
    detections: Detections,
    cache_dir: str | os.PathLike[str],
    *,
    crop_size: int = 64,
    stretch: bool = False,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CropStore:
    """Crops of every detection of ``video_path``, from the cache or extracted now.

    Extraction streams the video frame by frame (decoding the next frame in a background thread
    while this one is cropped) and writes the crops to the file in chunks with ordinary writes (no
    growing mapping), stopping at the last frame that has a box. The entry is written under a temporary name and renamed when complete, so an interrupted
    run never leaves a half-written file that a later run would trust.

    Raises:
        ValidationError: bad ``crop_size`` or boxes past the end of the video.
        VideoError: the video cannot be read.
        InterruptedError: ``should_stop()`` became true (nothing is left in the cache).
    """
    if not 8 <= int(crop_size) <= 512:
        raise ValidationError(f"crop_size must be between 8 and 512 pixels, got {crop_size}")
    video_path = Path(video_path)
    if not video_path.is_file():
        raise VideoError(f"{video_path}: video file not found")
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = cache_key(video_path, detections, crop_size, stretch)
    npy = cache_dir / f"crops-{key}.npy"
    meta_path = cache_dir / f"crops-{key}.json"
    if npy.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        if meta.get("rows") == len(detections) and meta.get("version") == CACHE_VERSION:
            return CropStore.open(npy, tuple(meta["frame_size"]), key)

    with VideoReader(video_path) as reader:
        frame_size = reader.output_size
        n = len(detections)
        if n and int(detections.frame[-1]) >= reader.frame_count:
            src = f" ({detections.source})" if detections.source else ""
            raise ValidationError(
                f"detections{src} have boxes in frame {int(detections.frame[-1])} but {video_path} has "
                f"{reader.frame_count} frames"
            )
        boxes = frame_boxes(detections, frame_size)
        tmp = cache_dir / f"crops-{key}.{os.getpid()}.tmp.npy"
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, crop_size, crop_size, 3))
        offset = arr.offset
        del arr  # only the header is kept from the mapping; the data is written below
        try:
            stop = int(detections.frame[-1]) + 1 if n else 0
            bounds = np.searchsorted(detections.frame, np.arange(stop + 1), side="left")
            row_bytes = crop_size * crop_size * 3
            # crops go to the file in chunks; one decoded frame (and the next, decoded ahead) is all that
            # is held of the video, so memory does not grow with the frame size or the video's length
            buf = np.zeros((max(256, int(np.diff(bounds).max(initial=0))), crop_size, crop_size, 3), dtype=np.uint8)
            at, written = 0, 0
            every = max(1, stop // 100)
            with open(tmp, "r+b") as fh:
                frames = read_ahead(reader.frame_pixels(0, stop)) if stop else iter(())
                for f, frame in enumerate(frames):
                    if should_stop is not None and should_stop():
                        raise InterruptedError("crop extraction stopped")
                    a, b = int(bounds[f]), int(bounds[f + 1])
                    if at + b - a > len(buf):
                        fh.seek(offset + written * row_bytes)
                        fh.write(buf[:at].tobytes())
                        written, at = written + at, 0
                    if b > a:
                        crop_boxes(frame, boxes[a:b], crop_size, out=buf[at : at + b - a], stretch=stretch)
                        at += b - a
                    if progress is not None and ((f + 1) % every == 0 or f + 1 == stop):
                        progress(f + 1, stop)
                fh.seek(offset + written * row_bytes)
                fh.write(buf[:at].tobytes())
            os.replace(tmp, npy)
        finally:
            if tmp.exists():
                tmp.unlink()
    meta = {
        "version": CACHE_VERSION,
        "rows": n,
        "crop_size": int(crop_size),
        "frame_size": list(frame_size),
        "video": str(video_path),
        "source": detections.source,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    meta_path.write_text(json.dumps(meta))
    return CropStore.open(npy, frame_size, key)
