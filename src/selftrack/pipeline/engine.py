"""Running nodes: planning, caching, incremental and partial runs, jobs.

Caching, and why it is right where SkyhookML's was not:

* A node's **config hash** covers its op, the op's code ``version`` and its params with defaults filled in.
* A **per-item** node writes into one output dataset per config hash and set of input datasets
  (:func:`output_identity`). Each output item records a **cache key**: the config hash plus the sha256 of
  every input item of that key. A rerun recomputes exactly the keys whose cache key changed (an edited or
  added input item) and nothing else; changing a param gives a new config hash, so everything of that node
  (and, through their input datasets, of the nodes below) is recomputed into new datasets, while the old
  ones stay until ``selftrack gc``.
* A **whole-dataset** node (training) is keyed by its config hash plus the content hashes of its input
  datasets; its outputs are recomputed when any input changes.

A run is a job (:mod:`selftrack.pipeline.jobs`). Items are written atomically one by one and an output
dataset is marked done only when every key it should hold is there with a current cache key, so a failed,
stopped or killed job leaves nothing half-written marked done, and the next run resumes from the items
already finished.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import traceback
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.executors import Executor, ItemTask, LocalExecutor, TaskFailed
from selftrack.pipeline.graph import Node, PipelineError, PipelineGraph
from selftrack.pipeline.jobs import JobProgress, JobState, JobStore
from selftrack.pipeline.op import DatasetContext, Op, Reporter, StopRequested
from selftrack.pipeline.progress import StageReporter, finish_stage, start_item_stage
from selftrack.workspace.store import DatasetKind, DataType, Workspace


@dataclass(frozen=True)
class Partial:
    """A partial run: compute only some keys, through the per-item ancestors (fast previews).

    Exactly one of: ``count`` random keys not computed yet, the ``keys`` given, or the keys of ``dataset``.
    """

    count: int | None = None
    keys: tuple[str, ...] | None = None
    dataset: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.count, self.keys, self.dataset)) != 1:
            raise SelftrackError("a partial run takes exactly one of: count, keys, dataset")
        if self.count is not None and self.count < 1:
            raise SelftrackError(f"a partial run needs a positive count, got {self.count}")


@dataclass
class NodeRun:
    node: str
    op: str
    outputs: dict[str, str]
    computed: list[str] = field(default_factory=list)
    skipped: int = 0
    missing_keys: dict[str, list[str]] = field(default_factory=dict)
    done: bool = False


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


def _sha(*parts: Any) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()


def config_hash(node: Node) -> str:
    op = node.op_class
    params = node.parsed_params().model_dump(mode="json")
    return _sha("op", op.name, "version", op.version, "params", params)


def output_identity(node: Node, inputs: dict[str, list[str]]) -> str:
    """Which datasets a per-item node writes into: its config hash and the datasets it reads.

    The input datasets' names carry their own lineage (a node's output is named by this identity, a whole-
    dataset node's by its inputs' content), so a param change anywhere above gives this node new output
    datasets and the old ones stay, whole and consistent, until ``selftrack gc``. Adding items to an
    imported dataset keeps the name: only the new keys are computed.
    """
    return _sha(config_hash(node), {port: list(names) for port, names in inputs.items()})


def _ensure_output(ws: Workspace, node: Node, output: str, data_type: DataType, identity: str) -> str:
    """The computed dataset for (node, output, identity), created on first use."""
    row = ws.db.execute(
        "SELECT dataset_id FROM node_outputs WHERE node = ? AND output = ? AND config_hash = ?",
        (node.name, output, identity),
    ).fetchone()
    now = time.time()
    if row is not None:
        try:
            ds = ws.dataset_by_id(row[0])
            with ws.transaction() as db:
                db.execute(
                    "UPDATE node_outputs SET last_used_at = ? WHERE node = ? AND output = ? AND config_hash = ?",
                    (now, node.name, output, identity),
                )
            return ds.name
        except SelftrackError:
            pass
    name = f"{node.name}.{output}@{identity[:8]}"
    ds = ws.create_dataset(
        name,
        data_type,
        kind=DatasetKind.COMPUTED,
        metadata={"node": node.name, "op": node.op, "output": output, "identity": identity, "params": node.params},
        exist_ok=True,
    )
    ws.set_done(name, False)
    with ws.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO node_outputs(node, output, config_hash, dataset_id, created_at, last_used_at) VALUES (?, ?, ?, ?, ?, ?)",
            (node.name, output, identity, ds.id, now, now),
        )
    return name


class _Runner:
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

    def input_datasets(self, node: Node) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for port, refs in node.inputs.items():
            names = []
            for ref in refs:
                if ref.dataset is not None:
                    names.append(ref.dataset)
                else:
                    parent = self.nodes[ref.node]
                    output = ref.output or parent.op_class.outputs[0].name
                    names.append(self.resolved[(ref.node, output)])
            out[port] = names
        return out

    def output_types(self, node: Node) -> dict[str, DataType]:
        return self.pipeline.output_types(self.nodes, node.name)

    # -- planning ------------------------------------------------------------------------------------
    def full_nodes(self, order: list[str]) -> set[str]:
        """Nodes that must run completely even in a partial run: whole-dataset nodes and their ancestors."""
        full: set[str] = set()
        for name in order:
            if not self.nodes[name].op_class.per_item:
                full |= {name} | self.pipeline.ancestors(self.nodes, name)
        return full

    def joined_keys(
        self, node: Node, inputs: dict[str, list[str]], keys_of: Callable[[str], set[str]]
    ) -> tuple[set[str], dict[str, list[str]]]:
        op = node.op_class
        sets: list[tuple[str, set[str]]] = []
        for port in op.inputs:
            if not port.joined:
                continue
            for ds in inputs.get(port.name, []):
                sets.append((f"{port.name} ({ds})", keys_of(ds)))
        if not sets:
            return set(), {}
        common = set.intersection(*(s for _, s in sets))
        missing = {}
        for label, s in sets:
            extra = sorted(s - common)
            if extra:
                missing[label] = extra
        return common, missing

    def choose_partial_keys(self, candidates: set[str], done: set[str]) -> set[str]:
        assert self.partial is not None
        if self.partial.keys is not None:
            unknown = sorted(set(self.partial.keys) - candidates)
            if unknown:
                raise PipelineError(f"partial run of {self.target!r}: keys not available: {', '.join(unknown)}")
            return set(self.partial.keys)
        if self.partial.dataset is not None:
            wanted = set(self.ws.keys(self.partial.dataset))
            return wanted & candidates
        assert self.partial.count is not None
        todo = sorted(candidates - done) or sorted(candidates)
        rng = random.Random(self.partial.seed)
        return set(rng.sample(todo, min(self.partial.count, len(todo))))

    # -- execution -----------------------------------------------------------------------------------
    def run(self) -> None:
        order = self.pipeline.validate(self.target)
        full = self.full_nodes(order) if self.partial else set(order)
        plan = [{"node": n, "op": self.nodes[n].op, "state": "pending", "partial": n not in full} for n in order]
        self.jobs.start(self.job_id, plan, 0)
        self.log(f"plan: {' -> '.join(order)}" + (f" (partial run of {self.target})" if self.partial else ""))
        selected: set[str] | None = None
        for i, name in enumerate(order):
            node = self.nodes[name]
            plan[i]["state"] = "running"
            self.jobs.set_plan(self.job_id, plan)
            self.jobs.set_current(self.job_id, name)
            if node.op_class.per_item:
                restrict = None
                if name not in full:
                    if selected is None:
                        selected = self.select_partial(order, full)
                    restrict = selected
                self.run_per_item(node, restrict)
            else:
                self.run_whole(node)
            plan[i]["state"] = "done"
            self.jobs.set_plan(self.job_id, plan)
            self.report(force=True)

    def select_partial(self, order: list[str], full: set[str]) -> set[str]:
        """Potential keys of each partial node, from its inputs, up to the target; then the selection."""
        potential: dict[str, set[str]] = {}

        def keys_of_dataset(ds: str) -> set[str]:
            return set(self.ws.keys(ds))

        for name in order:
            if name in full:
                continue
            node = self.nodes[name]

            # inputs from partial parents: their potential keys; others: actual keys
            def keys_of(ds: str, node: Node = node) -> set[str]:
                for (pnode, _out), dname in self.resolved.items():
                    if dname == ds and pnode in potential:
                        return potential[pnode]
                return keys_of_dataset(ds)

            inputs = self.input_datasets_planned(node, potential)
            potential[name], _ = self.joined_keys(node, inputs, keys_of)
        self.potential_keys = potential
        target = self.nodes[self.target]
        target_outputs = self.planned_outputs(target)
        first = next(iter(target_outputs.values()))
        done = {it.key for it in self.ws.items(first)} if first else set()
        chosen = self.choose_partial_keys(potential[self.target], done)
        self.log(f"partial run: {len(chosen)} key(s): {', '.join(sorted(chosen))}")
        return chosen

    def planned_outputs(self, node: Node) -> dict[str, str]:
        identity = output_identity(node, self.input_datasets(node))
        types = self.output_types(node)
        return {o.name: _ensure_output(self.ws, node, o.name, types[o.name], identity) for o in node.op_class.outputs}

    def input_datasets_planned(self, node: Node, potential: dict[str, set[str]]) -> dict[str, list[str]]:
        for _port, refs in node.inputs.items():
            for ref in refs:
                if ref.node and ref.node in potential:
                    parent = self.nodes[ref.node]
                    for out, ds in self.planned_outputs(parent).items():
                        self.resolved[(parent.name, out)] = ds
        return self.input_datasets(node)

    def run_per_item(self, node: Node, restrict: set[str] | None) -> None:
        op = node.op_class
        identity = config_hash(node)
        outputs = self.planned_outputs(node)
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
        refs_of: dict[str, dict[str, list[tuple[str, str]]]] = {}
        cache_of: dict[str, str] = {}
        for key in keys:
            refs_of[key] = {
                p.name: [(ds, key) for ds in inputs.get(p.name, [])] if p.joined else broadcast.get(p.name, [])
                for p in op.inputs
            }
            hashes = [[port, [items_by_ds[ds][k].sha256 for ds, k in refs]] for port, refs in refs_of[key].items()]
            cache_of[key] = _sha(identity, hashes)
        wanted = keys if restrict is None else keys & restrict
        existing = {name: {it.key: it for it in self.ws.items(ds)} for name, ds in outputs.items()}
        tasks: list[ItemTask] = []
        for key in sorted(wanted):
            task_inputs, cache = refs_of[key], cache_of[key]
            if all((it := existing[o].get(key)) is not None and it.metadata.get("cache") == cache for o in outputs):
                run.skipped += 1
                continue
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
        except BrokenProcessPool as e:
            raise TaskFailed(f"node {node.name!r}: a worker process died ({e}); finished items are kept") from None
        if failure is not None:
            raise failure
        if stopped or self.jobs.stop_requested(self.job_id):
            raise StopRequested("stopped on request")
        if tasks:
            finish_stage(self.ws, stage)
        written = [{it.key: it.metadata.get("cache") for it in self.ws.items(ds)} for ds in outputs.values()]
        complete = all(caches.get(key) == cache_of[key] for caches in written for key in keys)
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
        identity = _sha(
            config_hash(node),
            {port: [self.ws.dataset(ds).content_hash for ds in names] for port, names in sorted(inputs.items())},
        )
        types = self.output_types(node)
        outputs = {o.name: _ensure_output(self.ws, node, o.name, types[o.name], identity) for o in op_cls.outputs}
        for out, ds in outputs.items():
            self.resolved[(node.name, out)] = ds
        run = NodeRun(node.name, node.op, outputs)
        self.runs[node.name] = run
        if all(
            self.ws.dataset(ds).done and self.ws.dataset(ds).metadata.get("cache") == identity
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
        message = str(e) if isinstance(e, SelftrackError) else f"{type(e).__name__}: {e}"
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


def current_outputs(
    ws: Workspace, name: str, _memo: dict[str, dict[str, str | None]] | None = None
) -> dict[str, str | None]:
    """Output datasets of node ``name`` for its current params and inputs (per-item nodes), or the latest run (whole)."""
    memo = {} if _memo is None else _memo
    if name in memo:
        return memo[name]
    pipeline = PipelineGraph(ws)
    node = pipeline.node(name)
    out: dict[str, str | None] = {o.name: None for o in node.op_class.outputs}
    memo[name] = out
    if node.op_class.per_item:
        inputs: dict[str, list[str]] = {}
        for port, refs in node.inputs.items():
            names = []
            for ref in refs:
                if ref.dataset is not None:
                    names.append(ref.dataset)
                    continue
                parent = pipeline.node(ref.node)
                upstream = current_outputs(ws, ref.node, memo).get(ref.output or parent.op_class.outputs[0].name)
                if upstream is None:  # a parent not computed for its current settings: neither is this node
                    return out
                names.append(upstream)
            inputs[port] = names
        identity = output_identity(node, inputs)
        for o in node.op_class.outputs:
            row = ws.db.execute(
                "SELECT dataset_id FROM node_outputs WHERE node = ? AND output = ? AND config_hash = ?",
                (name, o.name, identity),
            ).fetchone()
            out[o.name] = ws.dataset_by_id(row[0]).name if row else None
    else:
        for o in node.op_class.outputs:
            row = ws.db.execute(
                "SELECT dataset_id FROM node_outputs WHERE node = ? AND output = ? ORDER BY last_used_at DESC LIMIT 1",
                (name, o.name),
            ).fetchone()
            out[o.name] = ws.dataset_by_id(row[0]).name if row else None
    return out


def garbage_collect(ws: Workspace, *, dry_run: bool = False) -> list[str]:
    """Delete computed datasets that no node's current outputs use (old params, removed nodes)."""
    pipeline = PipelineGraph(ws)
    nodes = pipeline.nodes()
    keep: set[str] = set()
    for name in nodes:
        try:
            keep |= {ds for ds in current_outputs(ws, name).values() if ds}
        except SelftrackError:
            continue
    doomed = [ds.name for ds in ws.datasets() if ds.kind == DatasetKind.COMPUTED and ds.name not in keep]
    if not dry_run:
        for ds in doomed:
            ws.delete_dataset(ds)
        ws.gc_files()
    return doomed
