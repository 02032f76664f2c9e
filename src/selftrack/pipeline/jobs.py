"""Jobs: every run is a row in the workspace with state, progress, a log, events and its error.

Everything a job knows is in the catalog, not in a process's memory, so any process (the CLI, the web
server, a worker on another machine through a shared workspace) can read progress, append events or ask
a job to stop. SkyhookML kept live job state in the coordinator's memory and polled it every second; here
a restarted server still shows every job, and jobs whose process died are marked ``interrupted``.

Progress is kept by **stage** (:mod:`selftrack.pipeline.progress`): :meth:`JobStore.progress` returns a
:class:`~selftrack.pipeline.progress.JobProgress` whose ``to_dict()`` is the JSON ``selftrack job ID --json``
prints and the web app reads: ``state``, ``elapsed``, ``fraction`` (never decreasing), ``items_done`` /
``items_total``, ``current`` (node), ``nodes_done`` / ``nodes_total``, ``eta_seconds``, ``stage`` (the
current one) and ``stages``, each ``{node, name, unit, done, total, part, parts, state, fraction, elapsed,
rate, eta_seconds, started_at, finished_at}`` (units: frames, boxes, steps, epochs, items). The full shape,
with an example, is in that module's docstring.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from selftrack.core.errors import StoreError
from selftrack.pipeline.progress import JobProgress, ensure_stage_schema, finish_running_stages, read_stages
from selftrack.workspace.maintenance import pid_alive
from selftrack.workspace.store import Workspace

LOG_TAIL = 1000
"""Log lines kept per job (SkyhookML kept the last 1000 too)."""


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    STOPPED = "stopped"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self not in (JobState.QUEUED, JobState.RUNNING)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT,
    state TEXT NOT NULL,
    plan TEXT NOT NULL DEFAULT '[]',
    items_total INTEGER NOT NULL DEFAULT 0,
    items_done INTEGER NOT NULL DEFAULT 0,
    current TEXT NOT NULL DEFAULT '',
    error TEXT,
    traceback TEXT,
    stop_requested INTEGER NOT NULL DEFAULT 0,
    host TEXT,
    pid INTEGER,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS job_items (
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT NOT NULL,
    frames_done INTEGER NOT NULL DEFAULT 0,
    frames_total INTEGER NOT NULL DEFAULT 0,
    pid INTEGER,
    started_at REAL,
    updated_at REAL,
    PRIMARY KEY (job_id, node, key)
);
CREATE TABLE IF NOT EXISTS job_logs (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    ts REAL NOT NULL,
    line TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_logs_job ON job_logs(job_id, id);
CREATE TABLE IF NOT EXISTS job_events (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS job_events_job ON job_events(job_id, kind, id);
"""


def ensure_job_schema(ws: Workspace) -> None:
    ws.ensure_schema(_SCHEMA)  # writes only when a table is missing (read-only workspaces stay browsable)
    ensure_stage_schema(ws)


@dataclass
class Job:
    id: int
    name: str
    kind: str
    target: str | None
    state: JobState
    plan: list[dict[str, Any]]
    error: str | None
    traceback: str | None
    stop_requested: bool
    host: str | None
    pid: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    items_total: int = 0
    items_done: int = 0
    current: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["state"] = self.state.value
        return d


class JobStore:
    """Reads and writes job rows. Cheap to create: one per process or per task."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        ensure_job_schema(ws)

    # -- lifecycle ----------------------------------------------------------------------------------
    def create(self, name: str, kind: str, target: str | None = None) -> int:
        with self.ws.transaction() as db:
            cur = db.execute(
                "INSERT INTO jobs(name, kind, target, state, created_at, host, pid) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, kind, target, JobState.QUEUED.value, time.time(), socket.gethostname(), os.getpid()),
            )
            return int(cur.lastrowid)

    def start(self, job_id: int, plan: list[dict[str, Any]], items_total: int) -> None:
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, plan = ?, items_total = ?, started_at = ?, pid = ?, host = ? WHERE id = ?",
                (
                    JobState.RUNNING.value,
                    json.dumps(plan),
                    items_total,
                    time.time(),
                    os.getpid(),
                    socket.gethostname(),
                    job_id,
                ),
            )

    def set_plan(self, job_id: int, plan: list[dict[str, Any]]) -> None:
        with self.ws.transaction() as db:
            db.execute("UPDATE jobs SET plan = ? WHERE id = ?", (json.dumps(plan), job_id))

    def add_items_total(self, job_id: int, n: int) -> None:
        with self.ws.transaction() as db:
            db.execute("UPDATE jobs SET items_total = items_total + ? WHERE id = ?", (n, job_id))

    def set_current(self, job_id: int, current: str) -> None:
        with self.ws.transaction() as db:
            db.execute("UPDATE jobs SET current = ? WHERE id = ?", (current, job_id))

    def finish(self, job_id: int, state: JobState, error: str | None = None, traceback: str | None = None) -> None:
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE jobs SET state = ?, error = ?, traceback = ?, finished_at = ? WHERE id = ?",
                (state.value, error, traceback, time.time(), job_id),
            )
        finish_running_stages(self.ws, job_id, state.value)

    def request_stop(self, job_id: int) -> Job:
        job = self.get(job_id)
        if job.state.finished:
            return job
        with self.ws.transaction() as db:
            db.execute("UPDATE jobs SET stop_requested = 1 WHERE id = ?", (job_id,))
        # a queued job, or one whose process is gone, stops right away
        if job.state == JobState.QUEUED or (job.host == socket.gethostname() and not pid_alive(job.pid or 0)):
            self.finish(job_id, JobState.STOPPED, error="stopped on request")
        return self.get(job_id)

    def stop_requested(self, job_id: int) -> bool:
        row = self.ws.db.execute("SELECT stop_requested FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return bool(row and row[0])

    def mark_interrupted(self) -> list[int]:
        """Jobs left ``running`` by a process that no longer exists (crash, reboot) become ``interrupted``."""
        if self.ws.read_only:
            return []
        host = socket.gethostname()
        rows = self.ws.db.execute(
            "SELECT id, pid, host FROM jobs WHERE state IN (?, ?)", (JobState.RUNNING.value, JobState.QUEUED.value)
        ).fetchall()
        dead = [r["id"] for r in rows if r["host"] == host and not pid_alive(r["pid"] or 0)]
        for job_id in dead:
            self.finish(job_id, JobState.INTERRUPTED, error="the process running this job ended without finishing it")
        return dead

    # -- items / progress -----------------------------------------------------------------------------
    def item_started(self, job_id: int, node: str, key: str, frames_total: int = 0, pid: int | None = None) -> None:
        """``pid``: the worker process's (default: this process's; a remote executor passes its worker's)."""
        now = time.time()
        with self.ws.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO job_items(job_id, node, key, state, frames_done, frames_total, pid, started_at, updated_at)"
                " VALUES (?, ?, ?, 'running', 0, ?, ?, ?, ?)",
                (job_id, node, key, frames_total, pid or os.getpid(), now, now),
            )

    def item_progress(self, job_id: int, node: str, key: str, done: int, total: int) -> None:
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE job_items SET frames_done = ?, frames_total = ?, updated_at = ? WHERE job_id = ? AND node = ? AND key = ?",
                (done, total, time.time(), job_id, node, key),
            )

    def item_finished(self, job_id: int, node: str, key: str, state: str = "done") -> None:
        with self.ws.transaction() as db:
            db.execute(
                "UPDATE job_items SET state = ?, frames_done = CASE WHEN ? = 'done' THEN frames_total ELSE frames_done END,"
                " updated_at = ? WHERE job_id = ? AND node = ? AND key = ?",
                (state, state, time.time(), job_id, node, key),
            )
            if state == "done":
                db.execute("UPDATE jobs SET items_done = items_done + 1 WHERE id = ?", (job_id,))

    def items(self, job_id: int) -> list[dict[str, Any]]:
        rows = self.ws.db.execute("SELECT * FROM job_items WHERE job_id = ? ORDER BY started_at", (job_id,))
        return [dict(r) for r in rows]

    def progress(self, job_id: int) -> JobProgress:
        """Stages (each in its own unit, with its own rate and ETA), items and plan: see :mod:`.progress`."""
        job = self.get(job_id)
        end = job.finished_at or time.time()
        elapsed = max(0.0, end - job.started_at) if job.started_at else 0.0
        return JobProgress(
            state=job.state.value,
            elapsed=elapsed,
            items_done=job.items_done,
            items_total=job.items_total,
            current=job.current,
            nodes_done=sum(1 for step in job.plan if step.get("state") == "done"),
            nodes_total=len(job.plan),
            stages=read_stages(self.ws, job_id),
            plan=job.plan,
        )

    # -- logs and events -----------------------------------------------------------------------------
    def log(self, job_id: int, line: str) -> None:
        with self.ws.transaction() as db:
            db.execute("INSERT INTO job_logs(job_id, ts, line) VALUES (?, ?, ?)", (job_id, time.time(), line))
            # keep the tail only
            db.execute(
                "DELETE FROM job_logs WHERE job_id = ? AND id <= (SELECT id FROM job_logs WHERE job_id = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
                (job_id, job_id, LOG_TAIL),
            )

    def log_tail(self, job_id: int, n: int = 100) -> list[str]:
        rows = self.ws.db.execute(
            "SELECT line FROM job_logs WHERE job_id = ? ORDER BY id DESC LIMIT ?", (job_id, n)
        ).fetchall()
        return [r[0] for r in reversed(rows)]

    def event(self, job_id: int, kind: str, data: dict[str, Any]) -> None:
        with self.ws.transaction() as db:
            db.execute(
                "INSERT INTO job_events(job_id, ts, kind, data) VALUES (?, ?, ?, ?)",
                (job_id, time.time(), kind, json.dumps(data)),
            )

    def events(self, job_id: int, kind: str | None = None, after_id: int = 0) -> list[dict[str, Any]]:
        if kind:
            rows = self.ws.db.execute(
                "SELECT * FROM job_events WHERE job_id = ? AND kind = ? AND id > ? ORDER BY id",
                (job_id, kind, after_id),
            )
        else:
            rows = self.ws.db.execute(
                "SELECT * FROM job_events WHERE job_id = ? AND id > ? ORDER BY id", (job_id, after_id)
            )
        return [{"id": r["id"], "ts": r["ts"], "kind": r["kind"], **json.loads(r["data"])} for r in rows]

    # -- queries -------------------------------------------------------------------------------------
    @staticmethod
    def _from_row(row: Any) -> Job:
        return Job(
            id=row["id"],
            name=row["name"],
            kind=row["kind"],
            target=row["target"],
            state=JobState(row["state"]),
            plan=json.loads(row["plan"]),
            error=row["error"],
            traceback=row["traceback"],
            stop_requested=bool(row["stop_requested"]),
            host=row["host"],
            pid=row["pid"],
            created_at=row["created_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            items_total=row["items_total"],
            items_done=row["items_done"],
            current=row["current"],
        )

    def get(self, job_id: int) -> Job:
        row = self.ws.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise StoreError(f"no job {job_id} in {self.ws.root}")
        return self._from_row(row)

    def list(self, limit: int = 50) -> list[Job]:
        self.mark_interrupted()
        rows = self.ws.db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        return [self._from_row(r) for r in rows]
