"""Bottom layer: data types and geometry. Imports numpy only, never a higher selftrack layer."""

from selftrack.core.detections import NO_TRACK, Detections
from selftrack.core.errors import (
    FormatError,
    InUseError,
    SelftrackError,
    SelftrackWarning,
    StoreError,
    UnsafeArchiveError,
    ValidationError,
    VideoError,
)
from selftrack.core.video_info import VideoInfo

__all__ = [
    "NO_TRACK",
    "Detections",
    "FormatError",
    "InUseError",
    "SelftrackError",
    "SelftrackWarning",
    "StoreError",
    "UnsafeArchiveError",
    "ValidationError",
    "VideoError",
    "VideoInfo",
]
