"""Executors: where per-item tasks run.

A task (:class:`ItemTask`) is plain data: the workspace path, the op name and params, the (dataset, key)
of every input item and the output dataset names. A worker opens the workspace itself and writes its
outputs through the store, so a task needs no state of the process that planned it. That is what lets
the same tasks run in a local process pool today and on Ray workers over a shared workspace later.

Workers never outlive the run that started them (issue 13: after ``kill -9`` of ``selftrack run``, pool
workers kept committing items for minutes after the job showed "interrupted", then hung). Two mechanisms:

* a pool worker asks the kernel to kill it when its parent dies (Linux ``PR_SET_PDEATHSIG``), and a thread
  checks the parent every second where that is not available;
* every commit of a task's outputs runs a guard inside the catalog's write transaction: the job must still
  be running and the worker's parent alive. ``mark_interrupted`` writes in a transaction too, and SQLite
  serialises them, so an item is either committed while its job runs or not at all.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing
import os
import signal
import sqlite3
import sys
import threading
import time
import traceback
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftrack.core.errors import SelftrackError, SelftrackWarning, error_message


@dataclass(frozen=True)
class ItemTask:
    """One key of one per-item node, described by value."""

    ws_root: str
    job_id: int | None
    node: str
    op: str
    params: dict[str, Any]
    key: str
    inputs: dict[str, list[tuple[str, str]]]
    """Per input port, the (dataset, key) of each input item (several for variable inputs)."""
    variable: dict[str, bool]
    outputs: dict[str, str]
    cache_key: str


@dataclass
class ItemResult:
    key: str
    node: str
    seconds: float
    ok: bool = True
    error: str | None = None
    traceback: str | None = None
    stopped: bool = False
    written: dict[str, str] = field(default_factory=dict)
    staged: list[Any] = field(default_factory=list)
    """Outputs a remote worker staged for the driver to commit (:mod:`selftrack.pipeline.staged`)."""
    transient: bool = False
    """The error may not recur on another try (I/O, memory), so a cluster executor retries the task."""


class TaskFailed(SelftrackError):
    """A task raised: the message names the node and the item."""


@dataclass
class TaskRuntime:
    """Hooks for executors whose workers do not sit next to the catalog (Ray); every field is optional.

    ``jobs``: where progress, logs and events go (an object with JobStore's ``item_started``,
    ``item_progress``, ``log``, ``event`` and ``stop_requested``); default: the job tables.
    ``inputs``: the input items, resolved by the driver, per port; default: read from the catalog.
    ``stage_dir``: write outputs under this folder of the workspace (the driver's staging folder) for the
    driver to commit; the catalog is not opened.
    ``mapper``: runs the pieces an op splits an item into (``ctx.map``); default: serially here.
    """

    jobs: Any = None
    inputs: dict[str, list[Any]] | None = None
    stage_dir: str | None = None
    mapper: Any = None


class JobNotRunning(SelftrackError):
    """A worker refused to commit: its job is no longer running or its parent process is gone."""


_PARENT_PID: int | None = None
"""In a pool worker: the pid of the process that owns the pool (``None`` in the planning process)."""


def _die_with_parent(parent_pid: int) -> None:
    """Pool worker initializer: die when the parent dies, by the kernel's hand where it can, else by polling."""
    global _PARENT_PID
    _PARENT_PID = parent_pid
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="selftrack-parent-watch", daemon=True).start()


def _commit_guard(job_id: int | None) -> Callable[[sqlite3.Connection], None]:
    """Checked inside each output commit: the parent lives and the job is still queued or running."""

    def guard(db: sqlite3.Connection) -> None:
        if _PARENT_PID is not None and os.getppid() != _PARENT_PID:
            raise JobNotRunning("the process running this job is gone; not committing")
        if job_id is None:
            return
        row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None or row[0] not in ("queued", "running"):
            raise JobNotRunning(f"job {job_id} is {row[0] if row else 'gone'}; not committing")

    return guard


def execute_item_task(task: ItemTask, runtime: TaskRuntime | None = None) -> ItemResult:
    """Run one task (in whatever process the executor chose). Never raises: failures come back as results."""
    from selftrack.pipeline.op import ItemContext, Reporter, StopRequested, get_op
    from selftrack.workspace.store import Workspace

    rt = runtime or TaskRuntime()
    t0 = time.perf_counter()
    ws = None if (rt.stage_dir and rt.inputs is not None) else Workspace(task.ws_root)
    if ws is not None:
        ws.commit_guard = _commit_guard(task.job_id)
    jobs = rt.jobs
    if jobs is None and task.job_id is not None and ws is not None:
        from selftrack.pipeline.jobs import JobStore

        jobs = JobStore(ws)
    staged = None
    try:
        op_cls = get_op(task.op)
        op = op_cls(task.params)
        inputs: dict[str, Any] = {}
        for port, refs in task.inputs.items():
            items = rt.inputs[port] if rt.inputs is not None else [ws.item(ds, key) for ds, key in refs]
            inputs[port] = items if task.variable.get(port) else (items[0] if items else None)
        _check_aligned(op_cls, task, inputs)
        last = [0.0]

        def progress(done: int, total: int) -> None:
            now = time.monotonic()
            if jobs is not None and (now - last[0] > 0.5 or done >= total):
                last[0] = now
                jobs.item_progress(task.job_id, task.node, task.key, done, total)

        reporter = Reporter(
            log_fn=(lambda line: jobs.log(task.job_id, f"{task.node}: {line}")) if jobs else None,
            event_fn=(lambda kind, data: jobs.event(task.job_id, kind, {"node": task.node, "key": task.key, **data}))
            if jobs
            else None,
            progress_fn=progress,
            stop_fn=(lambda: jobs.stop_requested(task.job_id)) if jobs else None,
        )
        if jobs is not None:
            jobs.item_started(task.job_id, task.node, task.key)
        if rt.stage_dir:
            from selftrack.pipeline.staged import StagedOutputs

            staged = StagedOutputs(Path(task.ws_root), rt.stage_dir, task.node, task.key, task.cache_key)
        ctx = ItemContext(
            ws=ws,
            key=task.key,
            inputs=inputs,
            output_datasets=task.outputs,
            cache_key=task.cache_key,
            reporter=reporter,
            staged=staged,
            mapper=rt.mapper,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", SelftrackWarning)
            op.run_item(ctx)
        for w in caught:  # said about the input: into the job's log, where the user looks
            if issubclass(w.category, SelftrackWarning):
                reporter.log(f"[{task.key}] warning: {w.message}")
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
        missing = set(task.outputs) - set(ctx.written)
        if missing:
            raise SelftrackError(f"op {task.op} wrote no item for output(s) {sorted(missing)}")
        if staged is not None:
            staged.write_manifest()
        return ItemResult(
            task.key,
            task.node,
            time.perf_counter() - t0,
            written={k: v.key for k, v in ctx.written.items()},
            staged=list(staged.items) if staged is not None else [],
        )
    except StopRequested:
        return ItemResult(task.key, task.node, time.perf_counter() - t0, ok=False, stopped=True, error="stopped")
    except Exception as e:  # reported to the job with its traceback
        return ItemResult(
            task.key,
            task.node,
            time.perf_counter() - t0,
            ok=False,
            error=error_message(e),
            traceback=traceback.format_exc(),
            transient=isinstance(e, (OSError, MemoryError)) and not isinstance(e, SelftrackError),
        )
    finally:
        if ws is not None:
            ws.close()


def _check_aligned(op_cls: Any, task: ItemTask, inputs: dict[str, Any]) -> None:
    """Frame-sequence inputs of one key must have the same length unless the op says how it aligns them."""
    if op_cls.aligns_frames:
        return
    lengths: list[tuple[str, int]] = []
    for port, value in inputs.items():
        for item in value if isinstance(value, list) else [value]:
            if item is None:
                continue
            n = None
            if "video" in item.metadata:
                n = item.metadata["video"].get("frame_count")
            elif "detections" in item.metadata and item.metadata["detections"].get("num_frames") is not None:
                n = item.metadata["detections"]["num_frames"]
            if n is not None:
                lengths.append((f"{port} {item.dataset}/{item.key}", int(n)))
    if len({n for _, n in lengths}) > 1:
        desc = ", ".join(f"{name} has {n} frames" for name, n in lengths)
        raise SelftrackError(f"inputs of item {task.key!r} have different lengths: {desc}")


class Executor(ABC):
    """Runs per-item tasks and yields their results as they finish."""

    @abstractmethod
    def run(self, tasks: list[ItemTask], *, poll: Callable[[], bool] | None = None) -> Iterator[ItemResult]:
        """Yield a result per task. ``poll`` is called about twice a second; when it returns True the
        executor stops submitting tasks (already running ones finish or stop on their own)."""

    @property
    def name(self) -> str:
        return type(self).__name__


class LocalExecutor(Executor):
    """A process pool on this machine (default: one worker per core).

    Workers are started with ``spawn``: forking a process that already runs torch or OpenCV threads can
    deadlock. They die with the process that owns the pool (see the module docstring). A single task, or
    ``max_workers=1``, runs in-process, which is what training and tests want.
    """

    def __init__(self, max_workers: int | None = None) -> None:
        self.max_workers = max_workers or os.cpu_count() or 1

    def run(self, tasks: list[ItemTask], *, poll: Callable[[], bool] | None = None) -> Iterator[ItemResult]:
        if not tasks:
            return
        from selftrack.pipeline.parallel import ProcessMapper

        workers = min(self.max_workers, len(tasks))
        if workers <= 1:  # the pieces of a split item (ctx.map) still use every worker
            runtime = TaskRuntime(mapper=ProcessMapper(self.max_workers, _die_with_parent, (os.getpid(),)))
            for task in tasks:
                if poll is not None and poll():
                    return
                yield execute_item_task(task, runtime)
            return
        runtime = TaskRuntime(
            mapper=ProcessMapper(max(1, self.max_workers // workers), _die_with_parent, (os.getpid(),))
        )
        ctx = multiprocessing.get_context("spawn")
        pool = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_die_with_parent, initargs=(os.getpid(),)
        )
        try:
            pending = list(tasks)
            running: set[cf.Future[ItemResult]] = set()
            stop = False
            while pending or running:
                while pending and len(running) < workers * 2 and not stop:
                    running.add(pool.submit(execute_item_task, pending.pop(0), runtime))
                done, running = cf.wait(running, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    yield fut.result()  # BrokenProcessPool (a worker killed) propagates to the engine
                if poll is not None and poll():
                    stop = True
                    pending.clear()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
