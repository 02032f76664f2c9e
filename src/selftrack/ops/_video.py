"""Helpers shared by ops that read video items.

A video item may carry a ``decode`` entry in its metadata: frame rate and size at which consumers decode
it (written by ``resample``, as SkyhookML did with its metadata Framerate/Dims). Going through
:func:`open_video` keeps every op consistent with that, so frame indices of detections and of decoded
frames always agree.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from selftrack.video import ResizeSpec, VideoReader, probe
from selftrack.workspace.store import Item


def decode_settings(item: Item) -> dict[str, Any]:
    return dict(item.metadata.get("decode") or {})


def decode_fps(item: Item) -> Fraction | None:
    """The rate a ``resample`` set for decoding this video item (``None``: decode at its own rate)."""
    fps = decode_settings(item).get("fps")
    return Fraction(fps) if fps else None


def source_fps(item: Item) -> Fraction | None:
    """The video file's own frame rate.

    The item's ``video`` metadata describes the video as consumers decode it, so after a ``resample`` its
    rate is the new one; the file's own rate then comes from probing the file.
    """
    if decode_fps(item) is not None:
        return probe(item.path).fps
    fps = (item.metadata.get("video") or {}).get("fps")
    return Fraction(fps) if fps else None


def is_resampled(item: Item) -> bool:
    """Whether consumers decode this video at another rate than the file's."""
    fps = decode_fps(item)
    return fps is not None and fps != source_fps(item)


def open_video(item: Item, *, resize: ResizeSpec | None = None, allow_truncated: bool = False) -> VideoReader:
    """A reader for a video item, at the frame rate its metadata says (and an optional extra resize)."""
    decode = decode_settings(item)
    fps = decode_fps(item)
    if resize is None and decode.get("size"):
        w, h = decode["size"]
        resize = ResizeSpec(mode="fixed", width=int(w), height=int(h))
    return VideoReader(item.path, fps=fps, resize=resize, allow_truncated=allow_truncated)


def video_metadata(reader: VideoReader, base: dict[str, Any]) -> dict[str, Any]:
    """The ``video`` metadata of what ``reader`` yields (size, fps and frame count after decode settings)."""
    info = dict(base)
    info["width"], info["height"] = reader.output_size
    fps = Fraction(reader.output_fps)
    info["fps"] = f"{fps.numerator}/{fps.denominator}"
    info["frame_count"] = reader.frame_count
    info["duration"] = float(reader.frame_count / fps) if fps else 0.0
    return info


def item_fps(item: Item) -> Fraction | None:
    """Frame rate at which consumers decode a video item (its ``decode`` entry, else the probed rate)."""
    return decode_fps(item) or source_fps(item)
