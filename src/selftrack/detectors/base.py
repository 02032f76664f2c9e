"""The detector interface and the loop that runs a detector over a whole video.

A :class:`Detector` is one loaded model. It sees frames in batches (``N x H x W x 3`` RGB uint8, as
``VideoReader.read_batches`` yields them) and returns one :class:`FrameBoxes` per frame: the boxes of
that frame alone, in pixels of the frames it was given. :func:`detect_video` turns those into one
:class:`~selftrack.core.Detections` per video, with 0-based frame indices and ``canvas`` = the size
of the frames the detector saw (SkyhookML's ``CanvasDims``: the frame size after ``ResizeSpec``).

Why a per-frame ``FrameBoxes`` and not a ``Detections`` per frame: a detector does not know which
frame of which video a batch holds, how many frames the video has, or its name; ``detect_video``
does. Keeping the per-frame type to three arrays also keeps detectors trivial to write and test.
"""

from __future__ import annotations

import queue
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.video import ResizeSpec, VideoReader

T = TypeVar("T")

ProgressFn = Callable[[int, int], None]
"""``progress(frames_done, frames_total)``, called after each batch."""

MAX_BATCH = 1024
"""Most frames per inference batch (a batch of 100000 1080p frames would need 600 GB)."""
MAX_BATCH_BYTES = 2 << 30
"""Most bytes of decoded frames one batch may hold; ``detect_video`` refuses a larger batch up front."""
MAX_INPUT_SIDE = 8192
"""Largest network input side accepted from a model file (YOLO inputs are 320 to 1920 pixels)."""


@dataclass(frozen=True)
class FrameBoxes:
    """The boxes a detector found in one frame.

    Attributes:
        xyxy: ``float64 (n, 4)`` corners in pixels of the frame the detector was given.
        score: ``float32 (n,)`` confidence; its meaning is the detector's (documented on each one).
        class_id: ``int32 (n,)`` key into the detector's ``classes``.
    """

    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray

    @classmethod
    def create(cls, xyxy: object, score: object, class_id: object) -> FrameBoxes:
        """Build from array-likes, casting dtypes and checking that the three arrays line up."""
        xyxy_arr = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        score_arr = np.asarray(score, dtype=np.float32).reshape(-1)
        class_arr = np.asarray(class_id, dtype=np.int32).reshape(-1)
        n = len(xyxy_arr)
        if score_arr.shape != (n,) or class_arr.shape != (n,):
            raise ValidationError(
                f"FrameBoxes: {n} boxes but {score_arr.shape[0]} scores and {class_arr.shape[0]} class ids"
            )
        return cls(xyxy_arr, score_arr, class_arr)

    @classmethod
    def empty(cls) -> FrameBoxes:
        return cls(np.zeros((0, 4)), np.zeros(0, np.float32), np.zeros(0, np.int32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def select(self, mask: np.ndarray) -> FrameBoxes:
        return FrameBoxes(self.xyxy[mask], self.score[mask], self.class_id[mask])


class Detector(ABC):
    """One loaded detection model.

    Detectors are stateless from one batch to the next, except those that model the scene over time
    (the background-subtraction detector): ``reset()`` forgets that state and must be called before
    each new video (``detect_video`` does).

    Attributes:
        classes: ``{class_id: name}`` of every class the detector can output.
    """

    classes: dict[int, str]

    @abstractmethod
    def detect_batch(self, frames: np.ndarray) -> list[FrameBoxes]:
        """Boxes for each frame of ``frames`` (``N x H x W x 3`` RGB uint8), in the frames' pixels."""

    def reset(self) -> None:  # noqa: B027 - stateless detectors have nothing to forget
        """Forget everything learned from previous frames (called before each video)."""


def check_frames(frames: np.ndarray, who: str) -> np.ndarray:
    """Return ``frames`` as an ``N x H x W x 3`` uint8 array or raise naming ``who`` and the shape."""
    arr = np.asarray(frames)
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[3] != 3 or arr.dtype != np.uint8:
        raise ValidationError(f"{who}: frames must be RGB uint8 of shape (N, H, W, 3), got {arr.dtype} {arr.shape}")
    return arr


def resolve_class_ids(names: Iterable[str], classes: Mapping[int, str], who: str) -> np.ndarray:
    """Class ids of the class ``names`` (case-insensitive); an unknown name raises listing the known ones."""
    by_name = {v.lower(): k for k, v in classes.items()}
    ids = []
    for name in names:
        key = str(name).lower()
        if key not in by_name:
            known = ", ".join(sorted(classes.values())) or "(none)"
            raise ValidationError(f"{who}: unknown class {name!r}; the model's classes are: {known}")
        ids.append(by_name[key])
    return np.asarray(sorted(set(ids)), dtype=np.int32)


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """Produce ``items`` in a background thread, ``depth`` ahead of the consumer.

    Decoding the next batch (PyAV) overlaps inference on the current one (onnxruntime, OpenCV): both
    release the GIL, so on two cores the detector no longer waits for the decoder. Exceptions in the
    producer are re-raised in the consumer; closing the consumer early stops the producer.
    """
    buffer: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=max(1, depth))
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(("item", item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(("end", None))
        except BaseException as e:  # handed to the consumer
            buffer.put(("error", e))

    thread = threading.Thread(target=produce, name="selftrack-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "end":
                return
            if kind == "error":
                raise value  # type: ignore[misc]
            yield value  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


def detect_video(
    detector: Detector,
    path: str | Path,
    *,
    resize: ResizeSpec | None = None,
    batch_size: int = 8,
    fps: Fraction | float | None = None,
    progress: ProgressFn | None = None,
    classes: list[str] | None = None,
    start: int = 0,
    stop: int | None = None,
) -> Detections:
    """Run ``detector`` over every frame of the video at ``path``.

    Args:
        detector: the model; ``reset()`` is called first.
        path: the video file.
        resize: size the frames are decoded at before the detector sees them (``None`` = source size).
            The result's ``canvas`` is that size, so boxes can be scaled to any other frame size.
        batch_size: frames per ``detect_batch`` call.
        fps: decode at this frame rate (``None`` = the video's own); frame indices count frames at
            this rate.
        progress: ``progress(done, total)`` after each batch.
        classes: keep only boxes of these class names (``None`` = all).
        start, stop: detect only on frames ``[start, stop)``; indices stay those of the whole video,
            and ``num_frames`` is ``stop`` (later frames were not looked at, so they are not "empty").

    Returns:
        One ``Detections`` with 0-based ``frame``, ``canvas`` = the decoded frame size,
        ``classes`` = the detector's classes and ``source`` = ``path``.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValidationError(f"batch_size must be in 1..{MAX_BATCH}, got {batch_size}")
    keep = None if classes is None else resolve_class_ids(classes, detector.classes, f"detect_video({path})")
    reader = VideoReader(path, fps=fps, resize=resize)
    w, h = reader.output_size
    if batch_size * w * h * 3 > MAX_BATCH_BYTES:
        raise ValidationError(
            f"{path}: a batch of {batch_size} frames of {w}x{h} needs {batch_size * w * h * 3 / 2**30:.1f} GiB; "
            f"use a batch size of at most {max(1, MAX_BATCH_BYTES // (w * h * 3))}"
        )
    stop = reader.frame_count if stop is None else min(stop, reader.frame_count)
    if not 0 <= start <= stop:
        raise ValidationError(f"{path}: frame range {start}:{stop} is outside 0:{reader.frame_count}")
    total = stop - start
    detector.reset()
    frames, boxes, scores, class_ids = [], [], [], []
    done = 0
    for first, batch in prefetch(reader.read_batches(batch_size, start, stop), depth=2):
        results = detector.detect_batch(batch)
        if len(results) != len(batch):
            raise ValidationError(
                f"{type(detector).__name__} returned {len(results)} results for a batch of {len(batch)} frames"
            )
        for offset, res in enumerate(results):
            if keep is not None:
                res = res.select(np.isin(res.class_id, keep))
            frames.append(np.full(len(res), first + offset, dtype=np.int64))
            boxes.append(res.xyxy)
            scores.append(res.score)
            class_ids.append(res.class_id)
        done += len(batch)
        if progress is not None:
            progress(done, total)
    w, h = reader.output_size
    if not frames:
        return Detections.empty(canvas=(w, h), num_frames=stop, classes=detector.classes, source=str(path))
    return Detections.create(
        np.concatenate(frames),
        np.concatenate(boxes),
        np.concatenate(scores),
        np.concatenate(class_ids),
        canvas=(w, h),
        num_frames=stop,
        classes=detector.classes,
        source=str(path),
    )
