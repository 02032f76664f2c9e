"""Running nodes: planning, caching, incremental and partial runs, jobs.

Caching, and why it is right where SkyhookML's was not (the keys themselves: ``cache_key.py``):

* A **per-item** node writes into one output dataset per config hash and set of input datasets
  (:func:`selftrack.pipeline.cache_key.output_identity`). Each output item records a **cache key**: the
  config hash plus the fingerprint (file sha256 and metadata) of every input item of that key. A rerun
  recomputes exactly the keys whose cache key changed (an edited or added input item, a metadata-only
  change such as a new decode rate) or whose output file is gone, and nothing else; changing a param gives
  a new config hash, so everything of that node (and, through their input datasets, of the nodes below) is
  recomputed into new datasets, while the old
  ones stay until ``selftrack gc``.
* A **whole-dataset** node (training) is keyed by its config hash plus the content hashes of its input
  datasets; its outputs are recomputed when any input changes.

A run is a job (:mod:`selftrack.pipeline.jobs`). Items are written atomically one by one and an output
dataset is marked done only when every key it should hold is there with a current cache key, so a failed,
stopped or killed job leaves nothing half-written marked done, and the next run resumes from the items
already finished.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

from selftrack.core.errors import error_message
from selftrack.pipeline.cache_key import config_hash, item_cache_key, whole_identity
from selftrack.pipeline.executors import Executor, ItemTask, LocalExecutor, TaskFailed
from selftrack.pipeline.graph import Node, PipelineError, PipelineGraph
from selftrack.pipeline.jobs import JobProgress, JobState, JobStore
from selftrack.pipeline.op import DatasetContext, Op, Reporter, StopRequested
from selftrack.pipeline.planning import Partial, Planner, ensure_output
from selftrack.pipeline.progress import StageReporter, finish_stage, start_item_stage
from selftrack.workspace.store import Item, Workspace


@dataclass
class NodeRun:
    node: str
    op: str
    outputs: dict[str, str]
    computed: list[str] = field(default_factory=list)
    skipped: int = 0
    missing_keys: dict[str, list[str]] = field(default_factory=dict)
    done: bool = False
    state: str = "running"
    """``running``, then ``done`` (all keys current), ``partial`` (a partial run), ``failed`` or ``stopped``."""

    @property
    def status(self) -> str:
        """One phrase for the CLI: what happened to this node in the run."""
        if self.state in ("failed", "stopped"):
            return f"{self.state} after computing {len(self.computed)}" if self.computed else self.state
        return f"computed {len(self.computed)}" if self.computed else "up to date"


@dataclass
class RunResult:
    job_id: int
    state: JobState
    nodes: dict[str, NodeRun]
    error: str | None = None

    @property
    def computed(self) -> dict[str, list[str]]:
        """Keys computed per node (empty lists: the node was up to date)."""
        return {name: run.computed for name, run in self.nodes.items()}

    def outputs(self, node: str) -> dict[str, str]:
        return self.nodes[node].outputs


def _refs(task: ItemTask) -> list[tuple[str, str]]:
    return [ref for refs in task.inputs.values() for ref in refs]


class _Runner(Planner):
    def __init__(
        self,
        ws: Workspace,
        target: str,
        *,
        partial: Partial | None,
        executor: Executor,
        job_id: int,
        on_progress: Callable[[JobProgress], None] | None,
    ) -> None:
        self.ws = ws
        self.pipeline = PipelineGraph(ws)
        self.nodes = self.pipeline.nodes()
        self.target = target
        self.partial = partial
        self.executor = executor
        self.jobs = JobStore(ws)
        self.job_id = job_id
        self.on_progress = on_progress
        self.resolved: dict[tuple[str, str], str] = {}  # (node, output) -> dataset name
        self.potential_keys: dict[str, set[str]] = {}
        self.runs: dict[str, NodeRun] = {}
        self._last_progress = 0.0
        self._traceback: str | None = None  # of the first failed task (it ran in another process)

    # -- helpers -------------------------------------------------------------------------------------
    def log(self, line: str) -> None:
        self.jobs.log(self.job_id, line)

    def report(self, force: bool = False) -> None:
        if self.on_progress is None:
            return
        now = time.monotonic()
        if force or now - self._last_progress > 0.25:
            self._last_progress = now
            self.on_progress(self.jobs.progress(self.job_id))

    def stop_requested(self) -> bool:
        self.report()
        return self.jobs.stop_requested(self.job_id)

    # -- execution -----------------------------------------------------------------------------------
    def run(self) -> None:
        order = self.pipeline.validate(self.target)
        full = self.full_nodes(order) if self.partial else set(order)
        self.plan = [{"node": n, "op": self.nodes[n].op, "state": "pending", "partial": n not in full} for n in order]
        self.jobs.start(self.job_id, self.plan, 0)
        self.log(f"plan: {' -> '.join(order)}" + (f" (partial run of {self.target})" if self.partial else ""))
        selected: set[str] | None = None
        for i, name in enumerate(order):
            node = self.nodes[name]
            self.plan[i]["state"] = "running"
            self.jobs.set_plan(self.job_id, self.plan)
            self.jobs.set_current(self.job_id, name)
            try:
                if node.op_class.per_item:
                    restrict = None
                    if name not in full:
                        if selected is None:
                            selected = self.select_partial(order, full)
                        restrict = selected
                    self.run_per_item(node, restrict)
                else:
                    self.run_whole(node)
            except BaseException as exc:
                state = "stopped" if isinstance(exc, StopRequested) else "failed"
                self.plan[i]["state"] = state
                if name in self.runs:
                    self.runs[name].state = state
                raise
            self.plan[i]["state"] = "done"
            self.runs[name].state = "done" if self.runs[name].done else "partial"
            self.jobs.set_plan(self.job_id, self.plan)
            self.report(force=True)

    def claim_outputs(self, node: Node, outputs: dict[str, str]) -> None:
        """Record the datasets this job writes in its plan, so ``gc`` keeps them while the job runs.

        Called with the workspace lock's shared side held around resolving the outputs: ``gc`` (exclusive
        side) either ran before (and a missing dataset was just created again) or sees the claim.
        """
        for step in self.plan:
            if step["node"] == node.name:
                step["outputs"] = dict(outputs)
        self.jobs.set_plan(self.job_id, self.plan)

    @staticmethod
    def missing_files(items: list[Item]) -> list[str]:
        return [f"{it.dataset}/{it.key} ({it.path})" for it in items if not it.path.is_file()]

    def run_per_item(self, node: Node, restrict: set[str] | None) -> None:
        op = node.op_class
        with self.ws.lock.shared(what="run"):
            outputs = self.planned_outputs(node)
            self.claim_outputs(node, outputs)
        for out, ds in outputs.items():
            self.resolved[(node.name, out)] = ds
        inputs = self.input_datasets(node)
        items_by_ds = {ds: {it.key: it for it in self.ws.items(ds)} for names in inputs.values() for ds in names}
        keys, missing = self.joined_keys(node, inputs, lambda ds: set(items_by_ds[ds]))
        run = NodeRun(node.name, node.op, outputs, missing_keys=missing)
        self.runs[node.name] = run
        for label, extra in missing.items():
            shown = ", ".join(extra[:10]) + (" ..." if len(extra) > 10 else "")
            self.log(
                f"node {node.name}: {len(extra)} key(s) of input {label} are missing from another input and were skipped: {shown}"
            )
            self.jobs.event(self.job_id, "missing_keys", {"node": node.name, "input": label, "keys": extra})
        # non-joined inputs (a model): one item, given to every key
        broadcast: dict[str, list[tuple[str, str]]] = {}
        for port in op.inputs:
            if port.joined:
                continue
            refs: list[tuple[str, str]] = []
            for ds in inputs.get(port.name, []):
                its = list(items_by_ds[ds].values())
                if len(its) != 1:
                    raise PipelineError(
                        f"node {node.name!r} input {port.name!r}: dataset {ds!r} must hold exactly one item (a model), it has {len(its)}"
                    )
                refs.append((ds, its[0].key))
            broadcast[port.name] = refs
        # each key's input items and cache key, computed once: used to plan tasks and to judge "done"
        identity = config_hash(node)
        refs_of: dict[str, dict[str, list[tuple[str, str]]]] = {}
        cache_of: dict[str, str] = {}
        for key in keys:
            refs_of[key] = {
                p.name: [(ds, key) for ds in inputs.get(p.name, [])] if p.joined else broadcast.get(p.name, [])
                for p in op.inputs
            }
            items = {port: [items_by_ds[ds][k] for ds, k in refs] for port, refs in refs_of[key].items()}
            cache_of[key] = item_cache_key(identity, items)
        wanted = keys if restrict is None else keys & restrict
        existing = {name: {it.key: it for it in self.ws.items(ds)} for name, ds in outputs.items()}
        tasks: list[ItemTask] = []
        missing_inputs: list[str] = []
        for key in sorted(wanted):
            task_inputs, cache = refs_of[key], cache_of[key]
            if all(_current(existing[o].get(key), cache) for o in outputs):
                run.skipped += 1
                continue
            missing_inputs += self.missing_files(
                [items_by_ds[ds][k] for refs in task_inputs.values() for ds, k in refs]
            )
            tasks.append(
                ItemTask(
                    ws_root=str(self.ws.root),
                    job_id=self.job_id,
                    node=node.name,
                    op=node.op,
                    params=node.params,
                    key=key,
                    inputs=task_inputs,
                    variable={p.name: p.variable for p in op.inputs},
                    outputs=outputs,
                    cache_key=cache,
                )
            )
        if missing_inputs:
            raise PipelineError(
                f"node {node.name!r}: input item files are missing (deleted outside selftrack?): "
                f"{', '.join(sorted(set(missing_inputs))[:5])}; run `selftrack check` (and `--repair`)"
            )
        if restrict is None:  # a full run drops outputs of keys that left the inputs
            for o, ds in outputs.items():
                for key in sorted(set(existing[o]) - keys):
                    self.ws.delete_item(ds, key)
        if tasks:
            for ds in outputs.values():
                self.ws.set_done(ds, False)
            self.jobs.add_items_total(self.job_id, len(tasks))
            self.log(f"node {node.name}: computing {len(tasks)} item(s), {run.skipped} up to date")
            stage = start_item_stage(
                self.ws,
                self.job_id,
                node.name,
                {t.key: [items_by_ds[ds][k].metadata for ds, k in _refs(t)] for t in tasks},
            )
        else:
            self.log(f"node {node.name}: up to date ({run.skipped} item(s))")
        failure: Exception | None = None
        stopped = False
        try:
            for result in self.executor.run(tasks, poll=self.stop_requested):
                if result.ok:
                    self.jobs.item_finished(self.job_id, node.name, result.key)
                    run.computed.append(result.key)
                    self.log(f"node {node.name}: item {result.key} done in {result.seconds:.1f} s")
                elif result.stopped:
                    stopped = True
                    self.jobs.item_finished(self.job_id, node.name, result.key, state="stopped")
                else:
                    self.jobs.item_finished(self.job_id, node.name, result.key, state="failed")
                    if failure is None:
                        failure = TaskFailed(f"node {node.name!r}, item {result.key!r}: {result.error}")
                        failure.__cause__ = None
                        self._traceback = result.traceback
                        self.jobs.request_stop(self.job_id)  # stop scheduling the rest
                self.report()
        except BrokenProcessPool:
            raise TaskFailed(
                f"node {node.name!r}: a worker process died (killed, or out of memory); finished items are kept "
                "and the next run resumes from them"
            ) from None
        if failure is not None:
            raise failure
        if stopped or self.jobs.stop_requested(self.job_id):
            raise StopRequested("stopped on request")
        if tasks:
            finish_stage(self.ws, stage)
        written = [{it.key: it for it in self.ws.items(ds)} for ds in outputs.values()]
        complete = all(_current(items.get(key), cache_of[key]) for items in written for key in keys)
        if restrict is not None:  # a partial run: done only if it happened to cover every key there is
            complete = complete and self.potential_keys.get(node.name, keys) <= restrict
        for ds in outputs.values():
            self.ws.set_done(ds, complete)
        run.done = complete

    def run_whole(self, node: Node) -> None:
        op_cls: type[Op] = node.op_class
        inputs = self.input_datasets(node)
        for port, names in inputs.items():
            for ds in names:
                if not self.ws.dataset(ds).done:
                    raise PipelineError(f"node {node.name!r}: input {port!r} dataset {ds!r} is not complete")
        missing = self.missing_files([it for names in inputs.values() for ds in names for it in self.ws.items(ds)])
        if missing:
            raise PipelineError(
                f"node {node.name!r}: input item files are missing (deleted outside selftrack?): "
                f"{', '.join(missing[:5])}; run `selftrack check` (and `--repair`)"
            )
        identity = whole_identity(self.ws, node, inputs)
        types = self.output_types(node)
        with self.ws.lock.shared(what="run"):
            outputs = {o.name: ensure_output(self.ws, node, o.name, types[o.name], identity) for o in op_cls.outputs}
            self.claim_outputs(node, outputs)
        for out, ds in outputs.items():
            self.resolved[(node.name, out)] = ds
        run = NodeRun(node.name, node.op, outputs)
        self.runs[node.name] = run
        if all(
            self.ws.dataset(ds).done
            and self.ws.dataset(ds).metadata.get("cache") == identity
            and not self.missing_files(self.ws.items(ds))
            for ds in outputs.values()
        ):
            self.log(f"node {node.name}: up to date")
            run.done = True
            return
        for ds in outputs.values():
            self.ws.set_done(ds, False)
            for key in self.ws.keys(ds):  # a previous, interrupted attempt
                self.ws.delete_item(ds, key)
        self.jobs.add_items_total(self.job_id, 1)
        self.jobs.item_started(self.job_id, node.name, "*")
        stages = StageReporter(self.ws, self.job_id, node.name, op_cls.progress_unit)

        def progress(done: int, total: int) -> None:
            stages.progress(done, total)
            self.report()

        reporter = Reporter(
            log_fn=lambda line: self.log(f"{node.name}: {line}"),
            event_fn=lambda kind, data: self.jobs.event(self.job_id, kind, {"node": node.name, **data}),
            progress_fn=progress,
            stop_fn=lambda: self.jobs.stop_requested(self.job_id),
            stage_fn=lambda name, unit, total, part, parts: stages.stage(name, unit, total, part=part, parts=parts),
        )
        keys = {port: sorted({k for ds in names for k in self.ws.keys(ds)}) for port, names in inputs.items()}
        ctx = DatasetContext(
            ws=self.ws, inputs=inputs, output_datasets=outputs, keys=keys, cache_key=identity, reporter=reporter
        )
        self.log(f"node {node.name}: running {node.op}")
        op_cls(node.parsed_params()).run(ctx)
        stages.finish()
        for ds in outputs.values():
            self.ws.update_dataset_metadata(ds, cache=identity)
            self.ws.set_done(ds, True)
        self.jobs.item_finished(self.job_id, node.name, "*")
        run.computed.append("*")
        run.done = True


def run_node(
    ws: Workspace,
    name: str,
    *,
    partial: Partial | None = None,
    executor: Executor | None = None,
    on_progress: Callable[[JobProgress], None] | None = None,
    job_id: int | None = None,
    raise_on_error: bool = True,
) -> RunResult:
    """Run node ``name`` and the ancestors that are not up to date, as a job.

    Validation errors (mis-wired inputs, bad params, cycles) are raised before a job is created. Errors
    during the run mark the job failed (with traceback) and are re-raised unless ``raise_on_error`` is
    False; a stop request marks it stopped.
    """
    pipeline = PipelineGraph(ws)
    pipeline.validate(name)
    jobs = JobStore(ws)
    jobs.mark_interrupted()
    if job_id is None:
        job_id = jobs.create(f"run {name}" + (" (partial)" if partial else ""), "run", name)
    runner = _Runner(
        ws, name, partial=partial, executor=executor or LocalExecutor(), job_id=job_id, on_progress=on_progress
    )
    try:
        runner.run()
    except StopRequested:
        jobs.finish(job_id, JobState.STOPPED, error="stopped on request")
        result = RunResult(job_id, JobState.STOPPED, runner.runs, "stopped on request")
    except Exception as e:
        tb = runner._traceback or traceback.format_exc()
        message = error_message(e)
        jobs.log(job_id, f"error: {message}")
        jobs.finish(job_id, JobState.FAILED, error=message, traceback=tb)
        if raise_on_error:
            raise
        result = RunResult(job_id, JobState.FAILED, runner.runs, message)
    else:
        jobs.finish(job_id, JobState.DONE)
        jobs.log(job_id, "done")
        result = RunResult(job_id, JobState.DONE, runner.runs)
    runner.report(force=True)
    return result


def _current(item: Item | None, cache: str) -> bool:
    """An output item is current when it was made from these inputs (cache key) and its file is still there."""
    return item is not None and item.metadata.get("cache") == cache and item.path.is_file()
