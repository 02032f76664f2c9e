"""Helpers of the Ray tests: compare workspaces run two ways, wait for a job to reach a state."""

from __future__ import annotations

import time
from collections.abc import Callable

from selftrack.workspace import DatasetKind, Workspace

OBJECT_STORE = 80 * 1024 * 1024
"""Object store per Ray node: the tests pass detections of a few hundred frames, not video frames."""


def computed_items(ws: Workspace, nodes: set[str] | None = None) -> dict[str, dict[str, str]]:
    """``{dataset: {key: sha256}}`` of the computed datasets (of ``nodes`` only, if given)."""
    return {
        ds.name: {it.key: it.sha256 for it in ws.items(ds.name)}
        for ds in ws.datasets()
        if ds.kind == DatasetKind.COMPUTED and (nodes is None or ds.metadata.get("node") in nodes)
    }


def drop_outputs(ws: Workspace, nodes: set[str]) -> None:
    """Delete the computed datasets of ``nodes`` so that the next run computes them again."""
    for ds in ws.datasets():
        if ds.kind == DatasetKind.COMPUTED and ds.metadata.get("node") in nodes:
            ws.delete_dataset(ds.name)


def wait_for(condition: Callable[[], object], timeout: float = 60.0, every: float = 0.1) -> object:
    """Poll ``condition`` until it returns something truthy (the value), or fail after ``timeout`` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout} s")
