"""What every request handler shares: the configuration, the job runner, the live feeds, and per-thread
handles on the workspace (SQLite connections are per thread; opening the pipeline or job tables creates
their schema, a write, so each thread does it once)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request

from selftrack.pipeline import JobStore, Pipeline
from selftrack.server.config import ServerConfig
from selftrack.server.feeds import Feeds
from selftrack.server.runner import JobRunner
from selftrack.workspace import Workspace


class AppState:
    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.root: Path = Workspace(config.workspace).root
        self._local = threading.local()
        self.runner = JobRunner(self.ws, python=config.worker_python)
        self.feeds = Feeds(self.root)

    @property
    def ws(self) -> Workspace:
        ws = getattr(self._local, "ws", None)
        if ws is None:
            ws = self._local.ws = Workspace(self.root)
        return ws

    @property
    def jobs(self) -> JobStore:
        jobs = getattr(self._local, "jobs", None)
        if jobs is None:
            jobs = self._local.jobs = JobStore(self.ws)
        return jobs

    @property
    def pipeline(self) -> Pipeline:
        pipe = getattr(self._local, "pipeline", None)
        if pipe is None:
            pipe = self._local.pipeline = Pipeline(self.ws)
        return pipe


def state(request: Request) -> AppState:
    """FastAPI dependency: the app's shared state."""
    return request.app.state.selftrack


St = Annotated[AppState, Depends(state)]
"""Handler parameter type that FastAPI fills with the app's state."""
