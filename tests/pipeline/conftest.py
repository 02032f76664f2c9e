"""Helpers of the pipeline tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def first_frames() -> Callable[[list[Path], Path, int], list[Path]]:
    """``first_frames(sources, folder, n)``: the first ``n`` frames of each real video, as MP4s in ``folder``."""
    return _first_frames


def _first_frames(sources: list[Path], folder: Path, frames: int) -> list[Path]:
    """The first ``frames`` frames of each real video, as MP4s in ``folder`` (whole files make tests slow, not better)."""
    from selftrack.video import VideoReader, VideoWriter

    paths = []
    for source in sources:
        target = folder / (source.stem + ".mp4")
        with VideoReader(source) as reader, VideoWriter(target, reader.output_fps) as writer:
            for frame in reader.frames(0, min(frames, reader.frame_count)):
                writer.write(frame)
        paths.append(target)
    return paths
