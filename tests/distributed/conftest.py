"""Fixtures of the Ray tests: generated scene videos, and helpers to compare workspaces run two ways.

These tests start real Ray (a local instance, and a multi-node cluster on this machine through
``ray.cluster_utils``). Ray is the ``selftrack[ray]`` extra: without it they skip locally and fail
under CI, which installs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

try:
    import ray
except ImportError:
    ray = None


def pytest_configure(config: pytest.Config) -> None:
    """CI installs the extra, so there its absence fails the run (the ultralytics environment runs only its own)."""
    if ray is None and os.environ.get("CI") and config.getoption("markexpr") != "ultralytics":
        raise pytest.UsageError("the Ray tests need the selftrack[ray] extra, which CI installs; it is missing")


@pytest.fixture(scope="session")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> Callable[[int, int], Path]:
    """``scene_video(frames, seed)``: the demo's plaza scene as an H.264 file, rendered once per session."""
    from selftrack.cli.demo import scene_config
    from selftrack.synth import generate_scene, render_scene_video

    folder = tmp_path_factory.mktemp("scenes")
    cache: dict[tuple[int, int], Path] = {}

    def make(frames: int, seed: int) -> Path:
        if (frames, seed) not in cache:
            path = folder / f"plaza-{seed}-{frames}.mp4"
            render_scene_video(generate_scene(scene_config(frames, seed)), path)
            cache[frames, seed] = path
        return cache[frames, seed]

    return make
