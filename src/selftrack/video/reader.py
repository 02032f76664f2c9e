"""Decode a video as a stream of RGB frames, with optional frame-rate resampling and resizing.

Frames are never all in memory: decoding is a generator over packets. Frame ``i`` is the ``i``-th
frame the decoder outputs (presentation order), counted from 0; this is the index detections and
tracks use. Timestamps only serve to seek (see ``probe``).

Frame-rate resampling (opt-in; SkyhookML resamples to 10 fps on import, selftrack keeps the native
rate unless ``fps`` is given). Source frame ``i`` is taken to cover the time ``[i/src, (i+1)/src)``
(a constant frame rate at the stream's average rate; variable-rate sources are treated as such).
Output frame ``k`` shows the instant ``k/out``, i.e. the source frame covering it,
``floor(k * src / out)`` (the nearest source frame at or before that time). The output has
``ceil(n * out / src)`` frames, so the last output frame is always within the source: 748 frames at
25 fps resampled to 10 fps give 300 frames, taking source frames 0, 2, 5, 7, 10, ... 747. Asking for a
rate above the source rate repeats frames.

Resizing uses ``ResizeSpec`` (see ``resize``); pixels are converted and scaled in one swscale pass
("area" filter when shrinking, bilinear when enlarging).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from fractions import Fraction
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from selftrack.core.errors import ValidationError, VideoError
from selftrack.core.video_info import VideoInfo
from selftrack.video._common import as_fps
from selftrack.video.probe import PathLike, ProbeDetails, _reason, decode_frames, open_container, probe_details
from selftrack.video.regions import FramePixels
from selftrack.video.resize import ResizeSpec, resize_dims

logger = logging.getLogger(__name__)


def output_frame_count(source_frames: int, source_fps: Fraction, output_fps: Fraction) -> int:
    """Frames a video of ``source_frames`` at ``source_fps`` has once resampled to ``output_fps``."""
    if output_fps == source_fps:
        return source_frames
    return -((-source_frames * output_fps) // source_fps)  # ceil(n * out / src)


def source_index(k: int, source_fps: Fraction, output_fps: Fraction) -> int:
    """Source frame shown by output frame ``k``: the one covering time ``k / output_fps``."""
    return (k * source_fps) // output_fps


class _DecodeFailure(Exception):
    """Internal: the decoder or demuxer failed; ``get`` turns it into a ``VideoError`` with the frame."""


class _Decoder:
    """One open container decoding forward, able to jump to a source frame.

    ``get(i)`` returns source frame ``i`` as an ``av.VideoFrame``. Moving forward decodes on, unless
    a keyframe lies between the current position and ``i`` (then it seeks there); moving backward
    seeks (or, without a trusted timestamp table, restarts from the first frame).
    """

    def __init__(self, path: PathLike, details: ProbeDetails, allow_truncated: bool) -> None:
        self.path = path
        self.details = details
        self.allow_truncated = allow_truncated
        self._container: av.container.InputContainer | None = None
        self._frames: Iterator[tuple[int, av.VideoFrame]] | None = None
        self._next = 0  # index of the frame self._frames yields next
        self._last: tuple[int, av.VideoFrame] | None = None

    @property
    def frame_count(self) -> int:
        return self.details.info.frame_count

    def close(self) -> None:
        self._frames = None
        self._last = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def _open(self) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
        if self._container is None:
            self._container = open_container(self.path)
            self._container.streams.video[0].codec_context.thread_type = "AUTO"
        return self._container, self._container.streams.video[0]

    def get(self, index: int) -> av.VideoFrame | None:
        """Source frame ``index``; ``None`` when decoding fails before it and truncation is allowed."""
        if self._last is not None and self._last[0] == index:
            return self._last[1]
        if self._frames is None or index < self._next or self._keyframe_between(self._next, index):
            self._restart(index)
        assert self._frames is not None
        n = self.frame_count
        try:
            for i, frame in self._frames:
                self._next = i + 1
                if i == index:
                    self._last = (i, frame)
                    return frame
        except _DecodeFailure as e:
            self._frames = None
            self._fail(f"decoding failed at frame {self._next} of {n} ({e})")
            return None
        self._frames = None
        self._fail(
            f"decoding failed at frame {self._next} of {n} (the stream ended early: expected {n} frames, "
            f"got {self._next})"
        )
        return None

    def _fail(self, message: str) -> None:
        if not self.allow_truncated:
            raise VideoError(f"{self.path}: {message}")
        logger.warning("%s: %s; stopping there (allow_truncated)", self.path, message)

    def _keyframe_between(self, after: int, upto: int) -> bool:
        """Whether seeking beats decoding on: a keyframe in ``(after, upto]``."""
        keyframes = self.details.keyframes
        if self.details.pts is None or len(keyframes) == 0 or upto <= after:
            return False
        j = int(np.searchsorted(keyframes, upto, side="right")) - 1
        return j >= 0 and int(keyframes[j]) > after

    def _restart(self, index: int) -> None:
        pts = self.details.pts
        self._last = None
        if pts is not None and index > 0:
            container, stream = self._open()
            target = int(pts[index])
            try:
                container.seek(target, stream=stream, backward=True, any_frame=False)
            except (av.FFmpegError, OSError) as e:
                logger.debug("%s: seek to frame %d failed (%s); decoding from the start", self.path, index, e)
            else:
                self._frames = self._after_seek(stream, index, target)
                self._next = index
                return
        self.close()  # reopening is the one reliable way back to frame 0 in every container
        container, stream = self._open()
        self._frames = enumerate(self._raw(container, stream))
        self._next = 0

    def _after_seek(
        self, stream: av.video.stream.VideoStream, index: int, target: int
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Frames from ``index`` on, after a seek to the keyframe before ``target`` (its pts).

        Frames before the target are dropped by timestamp; if the target's timestamp is never seen
        (a seek that lands after it) decoding restarts from frame 0, which is slow but exact.
        """
        assert self._container is not None
        frames = self._raw(self._container, stream)
        for frame in frames:
            if frame.pts is None or frame.pts < target:
                continue
            if frame.pts == target:
                yield index, frame
                yield from enumerate(frames, start=index + 1)
                return
            break
        logger.debug("%s: seeking to frame %d missed it; decoding from the start", self.path, index)
        self._container.close()
        self._container = None
        container, stream = self._open()
        yield from enumerate(self._raw(container, stream))

    def _raw(
        self, container: av.container.InputContainer, stream: av.video.stream.VideoStream
    ) -> Iterator[av.VideoFrame]:
        try:
            yield from decode_frames(
                container, stream, stop_at_corrupt=self.details.truncated, contiguous=self.details.ordered_pts
            )
        except (av.FFmpegError, OSError) as e:
            raise _DecodeFailure(_reason(e)) from e


class VideoReader:
    """Frames of one video file, optionally resampled to ``fps`` and resized by ``resize``.

    ``info`` describes the source; ``output_size`` (width, height), ``output_fps`` and
    ``frame_count`` describe the frames this reader yields. Iterating decodes the whole video as a
    stream; ``frames(start, stop)`` a range; ``read_frame(i)`` one frame by seeking; all three give the
    same array for the same index. Indices are output indices (after resampling).

    ``allow_truncated``: a truncated or corrupt file yields its good frames and stops with a logged
    warning instead of raising ``VideoError``.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        fps: Fraction | float | None = None,
        resize: ResizeSpec | None = None,
        allow_truncated: bool = False,
    ) -> None:
        self.path = path
        self.allow_truncated = allow_truncated
        self._details = probe_details(path, allow_truncated=allow_truncated)
        self.info: VideoInfo = self._details.info
        self.resize = resize
        self.output_fps: Fraction = self.info.fps if fps is None else as_fps(fps)
        self.output_size: tuple[int, int] = resize_dims(self.info.width, self.info.height, resize)
        self.frame_count: int = output_frame_count(self.info.frame_count, self.info.fps, self.output_fps)
        self._random: _Decoder | None = None

    # -- lifetime -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the file handle kept for ``read_frame`` (iterators hold their own)."""
        if self._random is not None:
            self._random.close()
            self._random = None

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __len__(self) -> int:
        return self.frame_count

    # -- frames ---------------------------------------------------------------------------------------

    def source_index(self, index: int) -> int:
        """Source frame index behind output frame ``index``."""
        return source_index(index, self.info.fps, self.output_fps)

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        w, h = self.output_size
        if (w, h) == (frame.width, frame.height):
            return frame.to_ndarray(format="rgb24")
        shrink = w <= frame.width and h <= frame.height
        return frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA" if shrink else "BILINEAR")

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Output frames ``start`` to ``stop - 1`` (``stop=None``: to the end) as RGB uint8 HxWx3."""
        return self._frames(start, self._range(start, stop))

    def _range(self, start: int, stop: int | None) -> int:
        """``stop`` (``None``: the end) once ``start:stop`` is checked to be a range of this video's frames."""
        stop = self.frame_count if stop is None else stop
        if start < 0 or stop < start or stop > self.frame_count:
            raise ValidationError(
                f"{self.path}: frame range {start}:{stop} is outside 0:{self.frame_count} (the video has "
                f"{self.frame_count} frames)"
            )
        return stop

    def _frames(self, start: int, stop: int) -> Iterator[np.ndarray]:
        decoder = _Decoder(self.path, self._details, self.allow_truncated)
        try:
            for k in range(start, stop):
                frame = decoder.get(self.source_index(k))
                if frame is None:
                    return
                yield self._to_rgb(frame)
        finally:
            decoder.close()

    def frame_pixels(self, start: int = 0, stop: int | None = None) -> Iterator[FramePixels]:
        """Like :meth:`frames`, but each frame's RGB pixels are converted when asked for, region by region.

        For a consumer that needs a few boxes of each frame (re-id crops): ``pixels.region(x1, y1, x2,
        y2)`` equals ``frame[y1:y2, x1:x2]`` of :meth:`frames`, bit for bit, at a fraction of the cost of
        converting the whole frame (see :mod:`selftrack.video.regions`). Resized output is converted whole.
        """
        return self._frame_pixels(start, self._range(start, stop))

    def _frame_pixels(self, start: int, stop: int) -> Iterator[FramePixels]:
        decoder = _Decoder(self.path, self._details, self.allow_truncated)
        reformatter = VideoReformatter()
        try:
            for k in range(start, stop):
                frame = decoder.get(self.source_index(k))
                if frame is None:
                    return
                yield FramePixels(
                    frame, lambda frame=frame: self._to_rgb(frame), reformatter=reformatter, size=self.output_size
                )
        finally:
            decoder.close()

    def read_frame(self, index: int) -> np.ndarray:
        """Output frame ``index`` alone: seeks to the keyframe before it and decodes forward.

        Consecutive calls with increasing indices decode on instead of seeking again, so reading
        frames in order this way is not much slower than iterating.
        """
        if not 0 <= index < self.frame_count:
            raise ValidationError(
                f"{self.path}: frame {index} is out of range (the video has {self.frame_count} frames)"
            )
        if self._random is None:
            self._random = _Decoder(self.path, self._details, self.allow_truncated)
        frame = self._random.get(self.source_index(index))
        if frame is None:
            raise VideoError(f"{self.path}: frame {index} could not be decoded (the file ends before it)")
        return self._to_rgb(frame)

    def read_batches(
        self, batch_size: int, start: int = 0, stop: int | None = None
    ) -> Iterator[tuple[int, np.ndarray]]:
        """``(index of the first frame, frames as N x H x W x 3)`` for batched inference.

        Every batch has ``batch_size`` frames except possibly the last. Each batch is a new array, so a
        caller may keep it.
        """
        if batch_size < 1:
            raise ValidationError(f"batch_size must be at least 1, got {batch_size}")
        w, h = self.output_size
        batch = np.empty((batch_size, h, w, 3), dtype=np.uint8)
        n = 0
        first = start
        for k, frame in enumerate(self.frames(start, stop), start=start):
            if n == 0:
                first = k
            batch[n] = frame
            n += 1
            if n == batch_size:
                yield first, batch
                batch = np.empty_like(batch)
                n = 0
        if n:
            yield first, batch[:n].copy()


def iter_frames(
    path: PathLike,
    *,
    fps: Fraction | float | None = None,
    resize: ResizeSpec | None = None,
    start: int = 0,
    stop: int | None = None,
    allow_truncated: bool = False,
) -> Iterator[np.ndarray]:
    """Stream the frames of ``path`` (RGB uint8 HxWx3); see ``VideoReader`` for the arguments.

    The file is probed (and a missing, broken or truncated file reported) when this is called, not at
    the first ``next()``.
    """
    return VideoReader(path, fps=fps, resize=resize, allow_truncated=allow_truncated).frames(start, stop)
