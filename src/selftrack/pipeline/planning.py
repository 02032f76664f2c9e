"""Planning a run: which datasets a node writes, which keys it computes, which keys a partial run picks.

Split from the engine (which executes the plan: per-item tasks, whole-dataset ops, the job) because the two
change for different reasons: planning follows the data model (key joins, partial previews through per-item
ancestors), execution follows where work runs (processes, workers, jobs).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.cache_key import output_identity
from selftrack.pipeline.graph import Node, PipelineError, PipelineGraph
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


def ensure_output(ws: Workspace, node: Node, output: str, data_type: DataType, identity: str) -> str:
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


class Planner:
    """The planning half of a run (the engine's runner extends it with execution)."""

    ws: Workspace
    pipeline: PipelineGraph
    nodes: dict[str, Node]
    target: str
    partial: Partial | None
    resolved: dict[tuple[str, str], str]
    potential_keys: dict[str, set[str]]

    def log(self, line: str) -> None:
        raise NotImplementedError

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
        return {o.name: ensure_output(self.ws, node, o.name, types[o.name], identity) for o in node.op_class.outputs}

    def input_datasets_planned(self, node: Node, potential: dict[str, set[str]]) -> dict[str, list[str]]:
        for _port, refs in node.inputs.items():
            for ref in refs:
                if ref.node and ref.node in potential:
                    parent = self.nodes[ref.node]
                    for out, ds in self.planned_outputs(parent).items():
                        self.resolved[(parent.name, out)] = ds
        return self.input_datasets(node)


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
