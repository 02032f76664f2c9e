"""Live updates, pushed as server-sent events: one watcher, many listeners.

SkyhookML's pages polled every second per open tab. Here one task per server watches the workspace
catalog with SQLite's ``PRAGMA data_version`` (it changes whenever another connection commits: a worker
writing progress, a log line, a loss value), every 50 ms on one dedicated thread. Only when it changes
are the watched jobs re-read, once, and the differences fanned out to every listener's queue. Fifty
browser tabs on one job cost the same database reads as one.

Streams:

* ``/api/events``: the job list (recent and running jobs, with progress) and a datasets version, so the
  job list, the navigation badge and the pipeline's output states update themselves;
* ``/api/jobs/{id}/stream``: one job: a snapshot (row, progress, items, log tail, events such as loss
  values and metrics), then ``job``, ``log`` and ``events`` messages as they happen.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftrack.pipeline.jobs import JobStore
from selftrack.workspace import Workspace

WATCH_INTERVAL = 0.05
HEARTBEAT = 15.0
LOG_TAIL = 300
EVENTS_KEPT = 20000
JOB_LIST_LIMIT = 100


def job_row(jobs: JobStore, job_id: int, *, traceback: bool = False) -> dict[str, Any] | None:
    """A job as the API shows it: every column of its row (whatever the engine records), and its progress."""
    row = jobs.ws.db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None:
        return None
    out = _row_dict(row)
    if not traceback:
        out.pop("traceback", None)
    out["progress"] = jobs.progress(job_id).to_dict()
    return out


def _row_dict(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in row.keys():  # noqa: SIM118 (sqlite3.Row)
        v = row[k]
        if isinstance(v, str) and v[:1] in "[{":
            with contextlib.suppress(ValueError):
                v = json.loads(v)
        out[k] = v
    out["stop_requested"] = bool(out.get("stop_requested"))
    return out


def job_items(jobs: JobStore, job_id: int) -> list[dict[str, Any]]:
    rows = jobs.ws.db.execute(
        "SELECT node, key, state, frames_done, frames_total, started_at, updated_at FROM job_items WHERE job_id = ?"
        " ORDER BY started_at DESC LIMIT 200",
        (job_id,),
    ).fetchall()
    return [dict(r) for r in rows]


def list_jobs(
    jobs: JobStore, limit: int = JOB_LIST_LIMIT, offset: int = 0, finished: dict[int, dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """Recent jobs, newest first, and every queued or running one whatever its age.

    ``finished``: a cache of finished jobs (they never change again), so a list of a hundred jobs re-reads
    only the ones still running."""
    rows = jobs.ws.db.execute(
        "SELECT id, state FROM jobs WHERE state IN ('queued', 'running') OR id IN (SELECT id FROM jobs ORDER BY id DESC"
        " LIMIT ? OFFSET ?) ORDER BY id DESC",
        (limit, offset),
    ).fetchall()
    out = []
    for job_id, state in rows:
        if finished is not None and job_id in finished and finished[job_id]["state"] == state:
            out.append(finished[job_id])
            continue
        job = job_row(jobs, job_id)
        if job is None:
            continue
        if finished is not None and job["state"] not in ("queued", "running"):
            finished[job_id] = job
        out.append(job)
    return out


class _Encoded(str):
    """A message's JSON, encoded once for every listener."""


CLOCK_FIELDS = frozenset({"elapsed", "eta_seconds", "rate"})
"""Progress fields that change with the clock alone; sent with the periodic round, not on every commit."""


def _no_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _no_clock(v) for k, v in value.items() if k not in CLOCK_FIELDS}
    if isinstance(value, list):
        return [_no_clock(v) for v in value]
    return value


def _without_clock(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**j, "progress": _no_clock(j["progress"])} for j in jobs]


@dataclass
class _JobFeed:
    job_id: int
    subscribers: set[asyncio.Queue[tuple[str, Any]]] = field(default_factory=set)
    job: dict[str, Any] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    last_log_id: int = 0
    last_event_id: int = 0
    primed: bool = False
    _compared: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"job": self.job, "items": self.items, "log": self.log, "events": self.events}

    def poll(self, jobs: JobStore, *, full: bool = False) -> list[tuple[str, Any]]:
        """Read what changed since the last poll (runs on the watcher thread).

        Log lines and events go first, then the row: a client that sees "done" already has the last log
        line. The row is sent when anything but the clock-driven fields changed (elapsed time, rate and
        ETA change every second and are sent with the periodic ``full`` round only)."""
        out: list[tuple[str, Any]] = []
        job = job_row(jobs, self.job_id, traceback=True)
        if job is None:
            return out
        rows = jobs.ws.db.execute(
            "SELECT id, line FROM job_logs WHERE job_id = ? AND id > ? ORDER BY id", (self.job_id, self.last_log_id)
        ).fetchall()
        if rows:
            self.last_log_id = rows[-1][0]
            lines = [r[1] for r in rows][-LOG_TAIL:]
            self.log = (self.log + lines)[-LOG_TAIL:]
            out.append(("log", {"lines": lines}))
        events = jobs.events(self.job_id, after_id=self.last_event_id)
        if events:
            self.last_event_id = events[-1]["id"]
            self.events = (self.events + events)[-EVENTS_KEPT:]
            out.append(("events", {"events": events}))
        items = job_items(jobs, self.job_id)
        compared = {**_without_clock([job])[0], "items": items}
        if compared != self._compared or (full and job["state"] in ("queued", "running")):
            self._compared = compared
            self.job, self.items = job, items
            out.append(("job", {"job": job, "items": items}))
        self.primed = True
        return out


class Feeds:
    """The watcher and its listeners (one per server)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._ws: Workspace | None = None
        self._jobstore: JobStore | None = None
        self._thread = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="selftrack-feeds")
        self._jobs: dict[int, _JobFeed] = {}
        self._global: set[asyncio.Queue[tuple[str, Any]]] = set()
        self._job_list: list[dict[str, Any]] = []
        self._finished: dict[int, dict[str, Any]] = {}
        self._datasets_version: list[Any] = []
        self._version: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._last_full = 0.0
        self._last_interrupted_check = 0.0
        self.polls = 0

    # -- the watcher thread (all database reads of the feeds happen there, on one connection) ----------
    @property
    def ws(self) -> Workspace:
        if self._ws is None:
            self._ws = Workspace(self.root)
        return self._ws

    @property
    def jobs(self) -> JobStore:
        if self._jobstore is None:
            self._jobstore = JobStore(self.ws)
        return self._jobstore

    def _changed(self) -> bool:
        version = self.ws.db.execute("PRAGMA data_version").fetchone()[0]
        changed = version != self._version
        self._version = version
        return changed

    def _poll(
        self, job_ids: list[int], with_global: bool, full: bool = False
    ) -> tuple[dict[int, list[tuple[str, Any]]], list[Any]]:
        self.polls += 1
        jobs = self.jobs
        per_job = {i: self._jobs[i].poll(jobs, full=full) for i in job_ids if i in self._jobs}
        glob: list[Any] = []
        if with_global:
            now = time.monotonic()
            if now - self._last_interrupted_check > 5:
                self._last_interrupted_check = now
                jobs.mark_interrupted()
            listed = list_jobs(jobs, finished=self._finished)
            running = any(j["state"] in ("queued", "running") for j in listed)
            if _without_clock(listed) != _without_clock(self._job_list) or (full and running):
                self._job_list = listed
                glob.append(("jobs", {"jobs": listed}))
            version = list(self.ws.db.execute("SELECT COUNT(*), MAX(updated_at) FROM datasets").fetchone())
            if version != self._datasets_version:
                self._datasets_version = version
                glob.append(("datasets", {"version": version}))
        return per_job, glob

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)

    # -- lifecycle -------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        for q in [*self._global, *(q for f in self._jobs.values() for q in f.subscribers)]:
            self._put(q, ("close", {}))
        self._thread.shutdown(wait=False, cancel_futures=True)

    async def _loop(self) -> None:
        while True:
            try:
                changed = await self._run(self._changed)
                now = time.monotonic()
                # a full round at least every 2 s: elapsed time, ETA and dead workers change without commits
                full = now - self._last_full > 2.0
                if changed or full:
                    if full:
                        self._last_full = now
                    await self._broadcast(full)
            except asyncio.CancelledError:
                raise
            except Exception:  # a locked or busy catalog: try again next tick
                await asyncio.sleep(0.5)
            await asyncio.sleep(WATCH_INTERVAL)

    async def _broadcast(self, full: bool = False) -> None:
        ids = [i for i, f in self._jobs.items() if f.subscribers]
        if not ids and not self._global:
            return
        per_job, glob = await self._run(self._poll, ids, bool(self._global), full)
        for job_id, messages in per_job.items():
            feed = self._jobs.get(job_id)
            if feed is None:
                continue
            for kind, data in messages:
                msg = (kind, _encode(data))
                for q in list(feed.subscribers):
                    self._put(q, msg)
        for kind, data in glob:
            msg = (kind, _encode(data))
            for q in list(self._global):
                self._put(q, msg)

    @staticmethod
    def _put(q: asyncio.Queue[tuple[str, Any]], msg: tuple[str, Any]) -> None:
        if q.full():  # a client that does not read: drop its backlog, it gets a fresh snapshot
            while not q.empty():
                q.get_nowait()
            q.put_nowait(("resync", {}))
            return
        q.put_nowait(msg)

    # -- listeners ---------------------------------------------------------------------------------------
    async def job_stream(self, job_id: int) -> AsyncIterator[tuple[str, Any]]:
        feed = self._jobs.get(job_id)
        if feed is None:
            feed = self._jobs[job_id] = _JobFeed(job_id)
        q: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=256)
        try:
            if not feed.primed:
                await self._run(lambda: feed.poll(self.jobs))
            feed.subscribers.add(q)
            yield ("snapshot", feed.snapshot())
            while True:
                kind, data = await q.get()
                if kind == "close":
                    return
                yield ("snapshot", feed.snapshot()) if kind == "resync" else (kind, data)
        finally:
            feed.subscribers.discard(q)
            if not feed.subscribers:
                self._jobs.pop(job_id, None)

    async def global_stream(self) -> AsyncIterator[tuple[str, Any]]:
        q: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=64)
        if not self._global:
            await self._run(self._poll, [], True)
        self._global.add(q)
        try:
            yield ("jobs", {"jobs": self._job_list})
            yield ("datasets", {"version": self._datasets_version})
            while True:
                kind, data = await q.get()
                if kind == "close":
                    return
                if kind == "resync":
                    yield ("jobs", {"jobs": self._job_list})
                    continue
                yield (kind, data)
        finally:
            self._global.discard(q)


def _encode(data: Any) -> _Encoded:
    return _Encoded(json.dumps(data, separators=(",", ":"), default=str))


async def sse(stream: AsyncIterator[tuple[str, Any]]) -> AsyncIterator[bytes]:
    """Server-sent events framing, with a comment line as heartbeat so proxies keep the stream open."""
    counter = 0
    it = stream.__aiter__()
    pending: asyncio.Task[tuple[str, Any]] | None = None
    try:
        yield b"retry: 2000\n\n"
        while True:
            if pending is None:
                pending = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=HEARTBEAT)
            if not done:
                yield b": keep-alive\n\n"
                continue
            try:
                kind, data = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            counter += 1
            payload = data if isinstance(data, _Encoded) else _encode(data)
            yield f"id: {counter}\nevent: {kind}\ndata: {payload}\n\n".encode()
    finally:
        if pending is not None:
            pending.cancel()
        with contextlib.suppress(Exception):
            await it.aclose()  # type: ignore[attr-defined]
