"""Video I/O with PyAV: probe, stream-decode (resampled, resized, random access) and H.264 encode.

Low layer: imports ``selftrack.core`` only.
"""

from selftrack.core.video_info import VideoInfo
from selftrack.video.probe import probe
from selftrack.video.reader import VideoReader, iter_frames
from selftrack.video.resize import ResizeSpec, resize_dims
from selftrack.video.writer import VideoWriter, write_video

__all__ = [
    "ResizeSpec",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "iter_frames",
    "probe",
    "resize_dims",
    "write_video",
]
