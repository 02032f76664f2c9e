"""``probe``: size, frame rate and exact frame count of a video, without decoding it when possible.

The frame count must be exact, because detections and tracks are indexed by frame and a count that
is off by two shifts or drops boxes. Container headers are not always right: the AVI header of the
sample ``highway_cctv.avi`` says 750 frames, but it decodes to 748. So the count comes from
demuxing every packet of the video stream (reading the file, no decoding; about as fast as copying
it), leaving out packets that carry no frame (empty, marked discard, and the one-byte "skipped frame"
markers of DivX/Xvid MPEG-4).

Where even packets do not map one-to-one to frames the video is decoded once to count: MPEG-4
Part 2 or any reordering codec (B-frames) in AVI, whose "packed bitstream" puts two frames in one
packet and a placeholder in the next, and whose timestamps are frame numbers rather than
presentation times; and streams without (unique) timestamps. These files are also the ones that
cannot be seeked by timestamp, so the reader decodes them sequentially (``ProbeDetails.pts`` is
``None``).

A file with fewer packets than its container declares frames (or whose packets cannot all be
read) is truncated. ``probe`` refuses it, naming how far its data goes, unless
``allow_truncated=True``; then the count is that of the good frames: decoding stops before the
cut-off last packet (see ``decode_frames``), so no half-decoded frame is counted or yielded.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from selftrack.core.errors import VideoError
from selftrack.core.video_info import VideoInfo
from selftrack.video._common import as_fps

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class ProbeDetails:
    """``VideoInfo`` plus what the reader needs to seek and to notice a short decode.

    ``pts[i]`` is the presentation timestamp (in the stream's time base) of frame ``i``; it is
    ``None`` when timestamps cannot be trusted to identify frames, and then the reader only decodes
    forward from the start. ``keyframes`` are the frame indices of keyframes (empty without ``pts``).
    ``declared_frames`` is the container's own count (0 when it has none). ``ordered_pts``: every
    packet has its own timestamp and the container does not pack frames (AVI's packed B-frames), so
    a gap between decoded frames' timestamps is a lost frame (see :func:`decode_frames`).
    """

    info: VideoInfo
    stream_index: int
    declared_frames: int
    truncated: bool
    pts: np.ndarray | None
    keyframes: np.ndarray
    ordered_pts: bool = False


def probe(path: PathLike, *, allow_truncated: bool = False) -> VideoInfo:
    """Size, frame rate, exact frame count, codec and pixel format of the video at ``path``.

    Raises ``VideoError`` naming the path when the file is missing, is not a video, has no video
    stream, or is truncated (unless ``allow_truncated``, see the module docstring).
    """
    return probe_details(path, allow_truncated=allow_truncated).info


def open_container(path: PathLike) -> av.container.InputContainer:
    """Open ``path`` for reading, turning every failure into a ``VideoError`` that names it."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{path}: no such file")
    if p.is_dir():
        raise VideoError(f"{path}: is a folder, not a video file")
    try:
        return av.open(os.fspath(p), mode="r")
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise VideoError(f"{path}: not a readable video file ({_reason(e)})") from e


def _reason(e: BaseException) -> str:
    """The useful part of a PyAV error (its strerror, without the repeated file name)."""
    if isinstance(e, av.FFmpegError) and e.strerror:
        return str(e.strerror)
    return str(e) or type(e).__name__


def stream_fps(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The stream's frame rate: the average rate when the container knows it, else FFmpeg's guess."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return as_fps(Fraction(rate))
    return None


def probe_details(path: PathLike, *, allow_truncated: bool = False) -> ProbeDetails:
    """``probe`` with the seek table and truncation facts the reader needs.

    Remembered per process for the same file (path, size, modification time): a command that probes
    a video, then opens readers on it, demuxes it once.
    """
    try:
        st = os.stat(path)
    except OSError:
        return _probe_details(path, allow_truncated)  # raises the error that names the problem
    return _remembered(os.fspath(path), st.st_ino, st.st_size, st.st_mtime_ns, allow_truncated)


@functools.lru_cache(maxsize=64)
def _remembered(path: str, inode: int, size: int, mtime_ns: int, allow_truncated: bool) -> ProbeDetails:
    return _probe_details(path, allow_truncated)


def _probe_details(path: PathLike, allow_truncated: bool) -> ProbeDetails:
    container = open_container(path)
    with container:
        if not container.streams.video:
            raise VideoError(f"{path}: has no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        width, height = int(cc.width), int(cc.height)
        if width <= 0 or height <= 0:
            raise VideoError(f"{path}: cannot determine the frame size of its video stream")
        fps = stream_fps(stream)
        if fps is None:
            raise VideoError(f"{path}: its video stream has no frame rate")
        codec = cc.name
        pix_fmt = cc.pix_fmt or ""
        declared = int(stream.frames or 0)
        is_avi = container.format.name == "avi"
        packed = is_avi and (bool(cc.has_b_frames) or codec == "mpeg4")

        n_entries = 0  # every packet the container stores for the stream, incl. empty ones
        pts: list[int] = []
        key: list[bool] = []
        missing_pts = False
        demux_error: Exception | None = None
        try:
            for packet in container.demux(stream):
                if packet.size == 0 and packet.dts is None and packet.pts is None:
                    continue  # PyAV's end-of-stream flush packet
                n_entries += 1
                if packet.size == 0 or packet.is_discard:
                    continue
                if codec == "mpeg4" and packet.size == 1:
                    continue  # DivX/Xvid "frame skipped" marker: the decoder outputs nothing
                if packet.pts is None:
                    missing_pts = True
                else:
                    pts.append(int(packet.pts))
                key.append(bool(packet.is_keyframe))
        except (av.FFmpegError, OSError) as e:
            demux_error = e

    truncated = demux_error is not None or 0 < n_entries < declared
    if truncated and not allow_truncated:
        if demux_error is not None:
            why = f"reading its data failed after {n_entries} frames ({_reason(demux_error)})"
        else:
            why = f"its data ends after {n_entries} of the {declared} frames the container declares"
        raise VideoError(
            f"{path}: truncated or corrupt video: {why}; remux it to keep the readable frames "
            "(`ffmpeg -i IN -c copy OUT.mp4`) and use that file (in Python, allow_truncated=True reads them as is)"
        )
    if truncated:
        logger.warning("%s: video is truncated; counting the frames that still decode", path)

    unique_pts = not missing_pts and len(set(pts)) == len(pts)
    ordered_pts = not packed and unique_pts
    seekable = ordered_pts and not truncated
    if seekable:
        frame_count = len(pts)
        pts_table = np.sort(np.asarray(pts, dtype=np.int64))
        key_pts = np.asarray([p for p, k in zip(pts, key, strict=True) if k], dtype=np.int64)
        keyframes = np.unique(np.searchsorted(pts_table, key_pts))
    else:
        frame_count = count_by_decoding(
            path, declared or n_entries, allow_truncated=allow_truncated, truncated=truncated, contiguous=ordered_pts
        )
        pts_table = None
        keyframes = np.zeros(0, dtype=np.int64)
    if frame_count == 0:
        raise VideoError(f"{path}: contains no decodable video frames")
    for table in (pts_table, keyframes):  # shared by every reader of the file (see probe_details)
        if table is not None:
            table.flags.writeable = False

    info = VideoInfo(
        width=width,
        height=height,
        fps=fps,
        frame_count=frame_count,
        codec=codec,
        duration=float(frame_count / fps),
        pix_fmt=pix_fmt,
        path=os.fspath(path),
    )
    return ProbeDetails(
        info=info,
        stream_index=stream.index,
        declared_frames=declared,
        truncated=truncated,
        pts=pts_table,
        keyframes=keyframes,
        ordered_pts=ordered_pts,
    )


def decode_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    *,
    stop_at_corrupt: bool,
    contiguous: bool = False,
) -> Iterator[av.VideoFrame]:
    """Decoded frames of ``stream``, in presentation order.

    ``stop_at_corrupt`` (used on truncated files): stop feeding the decoder at the first packet the
    demuxer flags as corrupt (the cut-off last packet of a truncated file) and drain it, so a
    half-decoded frame is never passed off as a good one; and, with ``contiguous`` (timestamps that
    identify frames, :attr:`ProbeDetails.ordered_pts`), stop before a frame that does not follow the
    one before it (its predecessor's packet was cut off, see :class:`_Contiguous`).
    Intact files decode every packet, as FFmpeg does, so frame numbers agree with other tools.
    """
    if not stop_at_corrupt:
        for packet in container.demux(stream):
            yield from packet.decode()
        return
    follows = _Contiguous(enabled=contiguous)
    for packet in container.demux(stream):
        if packet.is_corrupt:
            # Drain the frames the decoder holds back for reordering, but only those shown before the lost
            # packet's frame: with B-frames a later frame (in display order) may already be decoded while
            # the frames between (the lost one, and packets never read) are missing; passing it on would
            # shift every frame after the gap by one index.
            lost = packet.pts
            for frame in stream.codec_context.decode(None):
                if (lost is not None and frame.pts is not None and frame.pts >= lost) or not follows.next(frame):
                    return
                yield frame
            return
        follows.packet(packet)
        for frame in packet.decode():
            if not follows.next(frame):
                return
            yield frame


class _Contiguous:
    """Whether each decoded frame follows the previous one, from the packets' timestamps and durations.

    A file cut inside its last B-frame group can end with whole packets of frames shown *after* a frame
    whose packet was lost (display order 46, 48 with 47 cut off): no packet is flagged corrupt, and the
    decoder outputs 46 then 48. A frame is contiguous when it starts where the previous one ended (its
    pts is the previous pts plus that packet's duration, give or take half a frame: containers that
    round timestamps to milliseconds); without timestamps or durations (some AVI and raw streams) every
    frame is taken as contiguous.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._duration: dict[int, int] = {}
        self._end: int | None = None
        self._slack = 0

    def packet(self, packet: av.Packet) -> None:
        if self.enabled and packet.pts is not None and packet.duration:
            self._duration[int(packet.pts)] = int(packet.duration)

    def next(self, frame: av.VideoFrame) -> bool:
        pts = frame.pts
        if not self.enabled or pts is None:
            self._end = None
            return True
        if self._end is not None and pts > self._end + self._slack:
            return False
        duration = self._duration.pop(int(pts), None)  # each frame once: the table holds only frames in flight
        self._end = int(pts) + duration if duration else None
        self._slack = (duration or 0) // 2
        return True


def count_by_decoding(
    path: PathLike, expected: int, *, allow_truncated: bool, truncated: bool = False, contiguous: bool = False
) -> int:
    """Number of frames a full decode of ``path`` yields (decoded, not converted to RGB).

    ``expected`` is only used in the error message. A decode error raises ``VideoError`` naming the
    frame, unless ``allow_truncated``, where counting stops there.
    """
    n = 0
    with open_container(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "AUTO"
        try:
            for _ in decode_frames(container, stream, stop_at_corrupt=truncated, contiguous=contiguous):
                n += 1
        except (av.FFmpegError, OSError) as e:
            if not allow_truncated:
                of = f" of {expected}" if expected else ""
                raise VideoError(f"{path}: decoding failed at frame {n}{of} ({_reason(e)})") from e
            logger.warning("%s: decoding failed at frame %d (%s); counting the %d frames before it", path, n, e, n)
    return n
