"""Fixtures of the server tests (helpers in ``server_helpers.py``, shared with the browser tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from server_helpers import kill_job_workers, live_server_fixture, make_client

from selftrack.workspace import Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


@pytest.fixture
def client(ws: Workspace) -> Iterator[TestClient]:
    with make_client(ws.root) as c:
        yield c
    kill_job_workers(ws.root)


live_server = pytest.fixture(live_server_fixture)
