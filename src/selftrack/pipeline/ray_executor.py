"""Ray executor: per-item tasks on a Ray cluster (the optional ``selftrack[ray]`` extra).

The engine plans :class:`~selftrack.pipeline.executors.ItemTask` s as for a local run; this executor
runs each as a Ray task. What it adds to Ray, and why:

* **The catalog stays with the driver.** A task gets its input items resolved by the driver and
  writes its outputs to a staging folder in the workspace (which every node mounts at the same path);
  it never opens SQLite, whose locking is not safe on network filesystems. When a task succeeds the
  driver commits its staged files through the store (:mod:`selftrack.pipeline.staged`). A worker or
  node that dies mid-write leaves no catalog row and nothing marked done.
* **Job reporting through an actor.** Progress, log lines and events go to a channel
  actor placed on the driver's node; the driver drains it twice a second into the job tables, so a
  Ray job reads exactly like a local one (``selftrack job ID``, the web app). The same actor carries
  Stop the other way: workers poll it, and the driver cancels the job's Ray tasks (recursively, so
  the pieces of a split item go too).
* **Resources and retries.** Each task asks for ``cpus_per_task`` CPUs, and a GPU when its op runs a
  model and the cluster has GPUs (Ray then places it on a GPU node). A worker process or node that
  dies is retried by Ray (``max_retries``); an error that may be transient (I/O, memory) is retried
  too; any other error fails the item, and the engine fails the job with the worker's message and
  traceback.
* **Pieces of long videos.** Inside a task, ``ctx.map`` submits the pieces (frame ranges, tracking
  chunks) as nested Ray tasks (:class:`RayMapper`), spread over the cluster; Ray releases the parent's
  CPU while it waits.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.executors import Executor, ItemResult, ItemTask, TaskRuntime, execute_item_task
from selftrack.pipeline.parallel import Mapper, PieceFailed, PiecesStopped

try:
    import ray
    from ray.exceptions import GetTimeoutError, RayError, RayTaskError, TaskCancelledError
except ImportError as e:  # pragma: no cover - the extra is installed in CI
    raise SelftrackError("the ray executor needs the ray extra: pip install 'selftrack[ray]'") from e

DRAIN_SECONDS = 0.5
"""How often the driver drains the job channel, checks Stop and collects finished tasks."""


class TransientTaskError(SelftrackError):
    """Raised inside a Ray task for an error that may not recur (I/O, memory), so that Ray retries it."""


# ------------------------------------------------------------------------------------------------ channel
class _Channel:
    """Messages from workers to the driver, and the Stop flag from the driver to workers."""

    def __init__(self) -> None:
        self.messages: list[tuple[Any, ...]] = []
        self.stop = False

    def push(self, messages: list[tuple[Any, ...]]) -> None:
        self.messages.extend(messages)

    def drain(self) -> list[tuple[Any, ...]]:
        out, self.messages = self.messages, []
        return out

    def request_stop(self) -> None:
        self.stop = True

    def stop_requested(self) -> bool:
        return self.stop


@cache
def _channel_actor() -> Any:
    return ray.remote(num_cpus=0, max_concurrency=4)(_Channel)


def job_channel() -> Any:
    """A channel actor pinned to this (the driver's) node, so no worker node's death takes it away."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    here = ray.get_runtime_context().get_node_id()
    return _channel_actor().options(scheduling_strategy=NodeAffinitySchedulingStrategy(here, soft=False)).remote()


class ChannelJobs:
    """What a worker's task reports to its job: JobStore's reporting methods, sent through the channel."""

    def __init__(self, channel: Any) -> None:
        self.channel = channel
        self.pid = os.getpid()
        self.host = socket.gethostname()

    def _send(self, *message: Any) -> None:
        self.channel.push.remote([message])

    def item_started(self, job_id: int, node: str, key: str) -> None:
        node_id = ray.get_runtime_context().get_node_id()
        self._send("started", node, key, self.pid, self.host, node_id)

    def item_progress(self, job_id: int, node: str, key: str, done: int, total: int) -> None:
        self._send("progress", node, key, int(done), int(total))

    def log(self, job_id: int, line: str) -> None:
        self._send("log", line)

    def event(self, job_id: int, kind: str, data: dict[str, Any]) -> None:
        self._send("event", kind, data)

    def stop_requested(self, job_id: int) -> bool:
        try:
            return bool(ray.get(self.channel.stop_requested.remote(), timeout=10))
        except (GetTimeoutError, RayError):  # the driver is gone: stop rather than work for nobody
            return True


# ------------------------------------------------------------------------------------------------ pieces
def _call_piece(fn: Callable[[Any], Any], piece: Any) -> Any:
    return fn(piece)


@cache
def _remote(fn: Callable[..., Any]) -> Any:
    """``fn`` as a Ray remote function, made once per process (Ray ships a function's code once)."""
    return ray.remote(fn)


class RayMapper(Mapper):
    """Runs the pieces of one item as nested Ray tasks (used inside a task on the cluster)."""

    def __init__(self, num_cpus: float, num_gpus: float, max_retries: int) -> None:
        self.num_cpus, self.num_gpus, self.max_retries = num_cpus, num_gpus, max_retries

    @property
    def workers(self) -> int:
        return int(ray.cluster_resources().get("CPU", 1))

    def map(
        self,
        fn: Callable[[Any], Any],
        pieces: Sequence[Any],
        *,
        on_done: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        gpu: bool = False,
    ) -> list[Any]:
        remote = _remote(_call_piece).options(
            num_cpus=self.num_cpus, num_gpus=self.num_gpus if gpu else 0, max_retries=self.max_retries
        )
        refs = [remote.remote(fn, piece) for piece in pieces]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(pieces)
        waiting = list(refs)
        try:
            while waiting:
                ready, waiting = ray.wait(waiting, num_returns=len(waiting), timeout=DRAIN_SECONDS)
                for ref in ready:
                    i = index[ref]
                    try:
                        results[i] = ray.get(ref)
                    except RayTaskError as e:
                        cause = e.as_instanceof_cause()
                        raise PieceFailed(f"piece {i + 1} of {len(pieces)}: {type(cause).__name__}: {cause}") from e
                    except RayError as e:
                        raise PieceFailed(f"piece {i + 1} of {len(pieces)}: {type(e).__name__}: {e}") from e
                    if on_done is not None:
                        on_done(i)
                if waiting and should_stop is not None and should_stop():
                    raise PiecesStopped("stopped on request")
        finally:
            for ref in waiting:
                ray.cancel(ref)
        return results


# ------------------------------------------------------------------------------------------------ tasks
def _run_on_worker(
    task: ItemTask,
    inputs: dict[str, list[Any]],
    stage: str,
    channel: Any,
    piece_cpus: float,
    piece_gpus: float,
    retries: int,
) -> ItemResult:
    """The body of one Ray task: reuse a finished attempt's outputs, else run the op with staged outputs."""
    from selftrack.pipeline.staged import load_manifest

    found = load_manifest(task.ws_root, task.node, task.key, task.cache_key)
    if found is not None:
        channel.push.remote([("log", f"{task.node}: item {task.key}: outputs of an earlier attempt reused")])
        return ItemResult(task.key, task.node, 0.0, written={it.dataset: it.key for it in found}, staged=found)
    runtime = TaskRuntime(
        jobs=ChannelJobs(channel),
        inputs=inputs,
        stage_dir=stage,
        mapper=RayMapper(piece_cpus, piece_gpus, retries),
    )
    result = execute_item_task(task, runtime)
    # Flush: calls from one caller reach an actor in order, so once this returns, every message of the
    # task is in the channel, and the driver's drain after the result sees them all.
    ray.get(channel.push.remote([]))
    if result.transient:
        raise TransientTaskError(f"{result.error}\n{result.traceback or ''}")
    return result


class RayExecutor(Executor):
    """Runs per-item tasks on a Ray cluster (see the module doc).

    Args:
        address: the cluster: ``"auto"`` (the one this machine is part of), ``"HOST:PORT"`` (its head's
            GCS address), ``"ray://HOST:10001"`` (Ray Client), or ``None``: a Ray already initialised in
            this process, else a new local one (``max_workers`` CPUs).
        max_workers: with a new local Ray, its CPU count (default: every core).
        cpus_per_task: CPUs each item task and each piece asks for.
        gpus_per_task: GPUs a task of a model op asks for when the cluster has GPUs (fractions share one).
        max_retries: how often Ray retries a task whose worker or node died, or whose error may be transient.
        stop_grace_seconds: after Stop, how long running tasks get to stop on their own before they are cancelled.
        init_options: more ``ray.init`` keyword arguments (e.g. ``runtime_env``), used only when connecting.
    """

    def __init__(
        self,
        address: str | None = None,
        *,
        max_workers: int | None = None,
        cpus_per_task: float = 1,
        gpus_per_task: float = 1,
        max_retries: int = 3,
        stop_grace_seconds: float = 5.0,
        init_options: dict[str, Any] | None = None,
    ) -> None:
        self.address = address
        self.max_workers = max_workers
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.max_retries = max_retries
        self.stop_grace_seconds = stop_grace_seconds
        self.init_options = dict(init_options or {})
        self._started_ray = False

    # -- connection ----------------------------------------------------------------------------------
    def connect(self) -> None:
        """Join the cluster (or start a local Ray) unless this process is already connected."""
        if ray.is_initialized():
            return
        options: dict[str, Any] = {"include_dashboard": False, "logging_level": "warning", **self.init_options}
        if self.address is None:
            options.setdefault("num_cpus", self.max_workers or os.cpu_count() or 1)
            self._started_ray = True
        else:
            options["address"] = self.address
        try:
            ray.init(**options)
        except (ConnectionError, RuntimeError, ValueError) as e:
            where = self.address or "a local Ray"
            raise SelftrackError(f"cannot connect to the Ray cluster at {where}: {e}") from e

    def close(self) -> None:
        """Shut down a local Ray this executor started (a cluster it joined keeps running)."""
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
        self._started_ray = False

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running -------------------------------------------------------------------------------------
    def _options(self, task: ItemTask, has_gpu: bool) -> dict[str, Any]:
        from selftrack.pipeline.op import get_op

        op = get_op(task.op)
        gpu = has_gpu and op.task_uses_gpu(op.Params.model_validate(task.params))
        return {
            "num_cpus": self.cpus_per_task,
            "num_gpus": self.gpus_per_task if gpu else 0,
            "max_retries": self.max_retries,
            "retry_exceptions": [TransientTaskError],
            "name": f"{task.node}:{task.key}",
        }

    def run(self, tasks: list[ItemTask], *, poll: Callable[[], bool] | None = None) -> Iterator[ItemResult]:
        if not tasks:
            return
        from selftrack.pipeline.jobs import JobStore
        from selftrack.pipeline.staged import commit_staged
        from selftrack.workspace.store import Workspace

        self.connect()
        ws = Workspace(tasks[0].ws_root)
        jobs = JobStore(ws)
        stage = f"tmp/{ws.staging_name('staged')}"  # <host>.<pid>.staged: gc keeps it while this driver runs
        channel = job_channel()
        has_gpu = ray.cluster_resources().get("GPU", 0) > 0
        piece_gpus = self.gpus_per_task if has_gpu else 0
        remote = _remote(_run_on_worker)
        limit = max(2, 2 * int(ray.cluster_resources().get("CPU", 1) / max(self.cpus_per_task, 0.01)))
        pending = list(tasks)
        running: dict[Any, ItemTask] = {}
        stop_at: float | None = None
        cancelled = False
        try:
            while pending or running:
                while pending and len(running) < limit and stop_at is None:
                    task = pending.pop(0)
                    inputs = {port: [ws.item(ds, key) for ds, key in refs] for port, refs in task.inputs.items()}
                    ref = remote.options(**self._options(task, has_gpu)).remote(
                        task, inputs, stage, channel, self.cpus_per_task, piece_gpus, self.max_retries
                    )
                    running[ref] = task
                ready: list[Any] = []
                if running:
                    ready, _ = ray.wait(list(running), num_returns=1, timeout=DRAIN_SECONDS)
                    if ready:
                        ready, _ = ray.wait(list(running), num_returns=len(running), timeout=0)
                self._drain(channel, jobs, tasks[0].job_id)
                for ref in ready:
                    task = running.pop(ref)
                    result = self._result(ref, task)
                    if result.ok and result.staged:
                        try:
                            commit_staged(ws, result.staged)
                        except Exception as e:
                            result = ItemResult(task.key, task.node, result.seconds, ok=False, error=f"commit: {e}")
                    yield result
                if stop_at is None and poll is not None and poll():
                    stop_at = time.monotonic()
                    pending.clear()
                    channel.request_stop.remote()
                if stop_at is not None and not cancelled and time.monotonic() - stop_at > self.stop_grace_seconds:
                    for ref in running:
                        ray.cancel(ref, recursive=True)
                    cancelled = True
        finally:
            for ref in running:  # the consumer went away (an error, or the generator closed): cancel the rest
                ray.cancel(ref, recursive=True)
            try:
                self._drain(channel, jobs, tasks[0].job_id)
            finally:
                ray.kill(channel)
                with contextlib.suppress(OSError):
                    (ws.root / stage).rmdir()  # empty unless a task was cut short: a rerun may reuse its outputs
                ws.close()

    def _result(self, ref: Any, task: ItemTask) -> ItemResult:
        """The task's result; Ray's errors (cancelled, worker or node died after the retries) as failed results."""
        try:
            return ray.get(ref)
        except TaskCancelledError:
            return ItemResult(task.key, task.node, 0.0, ok=False, stopped=True, error="stopped")
        except RayTaskError as e:
            cause = e.as_instanceof_cause()
            if isinstance(cause, TaskCancelledError | KeyboardInterrupt):
                return ItemResult(task.key, task.node, 0.0, ok=False, stopped=True, error="stopped")
            text = str(cause.args[0]) if isinstance(cause, TransientTaskError) and cause.args else str(cause)
            message, _, tb = text.partition("\n")
            return ItemResult(
                task.key,
                task.node,
                0.0,
                ok=False,
                error=f"{message} (after {self.max_retries} retries)",
                traceback=tb or str(e),
            )
        except RayError as e:  # WorkerCrashedError, NodeDiedError, ... after max_retries
            return ItemResult(
                task.key,
                task.node,
                0.0,
                ok=False,
                error=f"{type(e).__name__}: the worker running it died {self.max_retries + 1} times: {e}",
            )

    @staticmethod
    def _drain(channel: Any, jobs: Any, job_id: int | None) -> None:
        """Write what workers reported since the last drain into the job tables (driver only)."""
        try:
            messages = ray.get(channel.drain.remote(), timeout=30)
        except RayError:
            return
        if job_id is None:
            return
        for kind, *rest in messages:
            if kind == "started":
                node, key, pid, host, node_id = rest
                jobs.item_started(job_id, node, key, pid=pid)
                jobs.event(
                    job_id, "placement", {"node": node, "key": key, "host": host, "pid": pid, "ray_node": node_id}
                )
                jobs.log(job_id, f"{node}: item {key} started on {host} (pid {pid}, Ray node {node_id[:8]})")
            elif kind == "progress":
                jobs.item_progress(job_id, *rest)
            elif kind == "log":
                jobs.log(job_id, rest[0])
            elif kind == "event":
                jobs.event(job_id, rest[0], rest[1])
