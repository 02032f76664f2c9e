"""Encode RGB frames into an MP4 that browsers play: H.264 (libx264), yuv420p, moov atom first.

Why these settings: Chromium and Firefox decode H.264 only in 4:2:0 (yuv420p), and an MP4 whose
index (``moov``) comes after the data (``mdat``) cannot start playing until fully downloaded, so the
file is rewritten with the index first (``movflags=+faststart``).

yuv420p stores colour at half resolution, so width and height must be even. Odd-sized frames are
padded by one row/column at the bottom/right, repeating the edge pixels: pixel coordinates (and so
boxes drawn on the frames) stay where they were and no content is lost; the video is one pixel
larger than the frames given.

Writing is atomic: frames go to a hidden temporary file in the target folder, which is renamed onto
``path`` only when ``close()`` succeeds. An exception inside the ``with`` block, or closing without a
single frame, deletes the temporary file; ``path`` is then left as it was (absent, or the old file).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from selftrack.core.errors import ValidationError, VideoError
from selftrack.core.video_info import VideoInfo
from selftrack.video._common import as_fps
from selftrack.video.probe import PathLike, _reason, probe

logger = logging.getLogger(__name__)


def _even(n: int) -> int:
    return n + (n % 2)


class VideoWriter:
    """Context manager writing RGB uint8 HxWx3 frames to an H.264 MP4 at ``path``.

    ``size`` (width, height) fixes the frame size; without it the first frame fixes it. Every frame
    must have that size. ``crf`` (0-51, lower is better and bigger; 23 is libx264's default) and
    ``preset`` (libx264 speed/size trade-off) go to the encoder.
    """

    def __init__(
        self,
        path: PathLike,
        fps: Fraction | float,
        size: tuple[int, int] | None = None,
        *,
        crf: int = 23,
        preset: str = "veryfast",
    ) -> None:
        self.path = Path(path)
        self.fps = as_fps(fps, what=f"{path}: fps")
        if not 0 <= crf <= 51:
            raise ValidationError(f"{path}: crf must be between 0 and 51, got {crf}")
        if size is not None and (len(size) != 2 or min(size) < 1):
            raise ValidationError(f"{path}: size must be (width, height) with both at least 1, got {size}")
        self.size: tuple[int, int] | None = None if size is None else (int(size[0]), int(size[1]))
        self.crf = crf
        self.preset = preset
        self.frame_count = 0
        if not self.path.parent.is_dir():
            raise VideoError(f"{path}: cannot write the video, folder {self.path.parent} does not exist")
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".part")
        os.close(fd)
        self._tmp = Path(tmp)
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._closed = False

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def _open(self, width: int, height: int) -> av.video.stream.VideoStream:
        try:
            container = av.open(
                os.fspath(self._tmp), mode="w", format="mp4", container_options={"movflags": "+faststart"}
            )
            stream = container.add_stream("libx264", rate=self.fps)
            stream.width = _even(width)
            stream.height = _even(height)
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = Fraction(1) / self.fps
            stream.options = {"crf": str(self.crf), "preset": self.preset}
        except (av.FFmpegError, OSError, ValueError) as e:
            self.abort()
            raise VideoError(f"{self.path}: cannot start the H.264 encoder ({_reason(e)})") from e
        self._container = container
        self._stream = stream
        return stream

    def write(self, frame_rgb: np.ndarray) -> None:
        """Append one RGB uint8 HxWx3 frame."""
        if self._closed:
            raise VideoError(f"{self.path}: write() after close()")
        arr = np.asarray(frame_rgb)
        if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
            raise ValidationError(
                f"{self.path}: frame {self.frame_count} must be an RGB uint8 array of shape (height, width, 3), "
                f"got {arr.dtype} {arr.shape}"
            )
        h, w = arr.shape[:2]
        if self.size is None:
            self.size = (w, h)
        if (w, h) != self.size:
            raise ValidationError(
                f"{self.path}: frame {self.frame_count} is {w}x{h}, but the video is {self.size[0]}x{self.size[1]}"
            )
        stream = self._stream or self._open(w, h)
        if w % 2 or h % 2:
            arr = np.pad(arr, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        frame.pts = self.frame_count
        frame.time_base = Fraction(1) / self.fps
        try:
            assert self._container is not None
            for packet in stream.encode(frame):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as e:
            self.abort()
            raise VideoError(f"{self.path}: encoding failed at frame {self.frame_count} ({_reason(e)})") from e
        self.frame_count += 1

    def close(self) -> None:
        """Finish the file and move it onto ``path``. Raises ``VideoError`` if no frame was written."""
        if self._closed:
            return
        if self.frame_count == 0:
            self.abort()
            raise VideoError(f"{self.path}: no frames were written, so no video was created")
        assert self._container is not None and self._stream is not None
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            self._container = None
            os.chmod(self._tmp, 0o644)  # mkstemp makes it owner-only; a video is ordinary data
            os.replace(self._tmp, self.path)
        except (av.FFmpegError, OSError) as e:
            self.abort()
            raise VideoError(f"{self.path}: finishing the video failed ({_reason(e)})") from e
        self._closed = True

    def abort(self) -> None:
        """Stop writing and delete the temporary file; ``path`` is left untouched."""
        self._closed = True
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
            self._container = None
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __del__(self) -> None:
        # A writer dropped without close() (e.g. a generator abandoned mid-write) leaves no stray file.
        if not getattr(self, "_closed", True):
            with contextlib.suppress(Exception):
                self.abort()


def write_video(
    path: PathLike,
    frames: Iterable[np.ndarray],
    fps: Fraction | float,
    *,
    size: tuple[int, int] | None = None,
    crf: int = 23,
    preset: str = "veryfast",
) -> VideoInfo:
    """Write ``frames`` (RGB uint8 HxWx3) to an H.264 MP4 at ``path`` atomically; return its probe."""
    with VideoWriter(path, fps, size, crf=crf, preset=preset) as writer:
        for frame in frames:
            writer.write(frame)
    return probe(path)
