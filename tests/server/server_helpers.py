"""Helpers for the server and browser tests: an in-process client (fast) and a real ``selftrack serve`` process.

The real server is what users run: it binds a socket, prints its URL with the token, streams uploads and
starts job workers. Teardown stops the server and kills any job worker a test left running, so no test
leaves processes behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from selftrack.pipeline import JobStore
from selftrack.server import ServerConfig, create_app
from selftrack.workspace import Workspace

TOKEN = "test-token-0123456789"


def make_client(root: Path, **overrides: object) -> TestClient:
    config = ServerConfig(workspace=root, token=TOKEN, port=8765, **overrides)  # type: ignore[arg-type]
    client = TestClient(create_app(config), base_url="http://127.0.0.1:8765", raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {TOKEN}"
    return client


def wait_job(client: TestClient | httpx.Client, job_id: int, timeout: float = 120) -> dict:
    """Poll the job until it finishes (tests only: the app itself follows jobs by server-sent events)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}?log=50").json()["job"]
        if job["state"] not in ("queued", "running"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish within {timeout} s")


@dataclass
class LiveServer:
    root: Path
    proc: subprocess.Popen[str]
    base: str
    token: str = TOKEN
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/?token={self.token}"

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}, timeout=30, **kwargs)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)


def start_server(root: Path, *extra: str, token: str = TOKEN) -> LiveServer:
    cmd = [sys.executable, "-m", "selftrack", "serve", str(root), "--port", "0", "--token", token, *extra]
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    lines: list[str] = []
    end = time.monotonic() + 60
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        m = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=", line)
        if m:
            return LiveServer(root, proc, m.group(1), token, lines)
    proc.kill()
    raise AssertionError("selftrack serve did not print its URL:\n" + "".join(lines))


def kill_job_workers(root: Path) -> None:
    """Kill job workers a test left running (they live in their own sessions, outside the server)."""
    if not (root / "selftrack.sqlite").exists():
        return
    ws = Workspace(root)
    jobs = JobStore(ws)
    for job in jobs.list(200):
        if job.state.value in ("queued", "running") and job.pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(job.pid, signal.SIGKILL)
    ws.close()


def live_server_fixture(tmp_path: Path) -> Iterator[object]:
    """``start(*extra_args) -> LiveServer`` on a fresh workspace (or ``root=``); all stopped at teardown."""
    started: list[LiveServer] = []

    def start(*extra: str, root: Path | None = None, token: str = TOKEN) -> LiveServer:
        server = start_server(root or tmp_path / "ws", *extra, token=token)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        kill_job_workers(server.root)
