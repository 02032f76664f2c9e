"""Choosing an executor by name: what ``selftrack run --executor`` and the web app's Run offer."""

from __future__ import annotations

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.executors import Executor, LocalExecutor

EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", *, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor named ``kind``.

    ``local``: a process pool of ``workers`` (default: one per core). ``ray``: tasks on the Ray cluster at
    ``address`` (``"auto"``: the one this machine belongs to, ``HOST:PORT``: its head; ``None``: a Ray already
    initialised in this process, else a local one of ``workers`` CPUs); needs the ``selftrack[ray]`` extra.
    """
    if kind == "local":
        if address is not None:
            raise SelftrackError("--address is for the ray executor; the local executor runs on this machine")
        return LocalExecutor(workers)
    if kind == "ray":
        from selftrack.pipeline.ray_executor import RayExecutor

        return RayExecutor(address=address, max_workers=workers)
    raise SelftrackError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")
