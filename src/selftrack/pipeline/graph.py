"""Nodes and pipelines: an op, its params, and each input wired to a dataset or another node's output.

A workspace holds one pipeline (its ``nodes`` table). Pipelines can be written to and read from YAML::

    nodes:
      detect:
        op: object_detection
        inputs: {video: videos, model: detector}        # a plain name: a node if one has it, else a dataset
        params: {confidence_threshold: 0.1}
      track:
        op: reid_tracker
        inputs:
          detections: {node: detect, output: detections} # explicit forms: {node: ..[, output: ..]} / {dataset: ..}
          video: {dataset: videos}

Everything is validated before anything runs (:meth:`PipelineGraph.validate`): unknown ops, unknown or invalid
params, missing, unknown or mistyped inputs, and cycles are errors that name the node and the input.
SkyhookML's wizards could leave a node mis-wired and the run then crashed half-way; we refuse to start.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from selftrack.core.errors import SelftrackError, validation_message
from selftrack.formats import parse_yaml
from selftrack.pipeline.op import Op, get_op
from selftrack.workspace.store import DataType, Workspace

_NODE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    op TEXT NOT NULL,
    params TEXT NOT NULL DEFAULT '{}',
    inputs TEXT NOT NULL DEFAULT '{}',
    position TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS node_outputs (
    node TEXT NOT NULL,
    output TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    created_at REAL NOT NULL,
    last_used_at REAL NOT NULL,
    PRIMARY KEY (node, output, config_hash)
);
"""


class PipelineError(SelftrackError):
    """A pipeline that cannot run as wired; the message names the node and the input."""


@dataclass(frozen=True)
class InputRef:
    """Where an input comes from: a dataset, or an output of another node."""

    dataset: str | None = None
    node: str | None = None
    output: str | None = None

    @classmethod
    def parse(cls, value: Any, *, node_names: set[str] | None = None, where: str = "") -> InputRef:
        if isinstance(value, InputRef):
            return value
        if isinstance(value, str):
            if node_names is not None and value in node_names:
                return cls(node=value)
            return cls(dataset=value)
        if isinstance(value, dict):
            extra = set(value) - {"dataset", "node", "output"}
            if extra or ("dataset" in value) == ("node" in value):
                raise PipelineError(
                    f"{where}: an input is a name, {{dataset: NAME}} or {{node: NAME, output: NAME}}, got {value!r}"
                )
            return cls(dataset=value.get("dataset"), node=value.get("node"), output=value.get("output"))
        raise PipelineError(f"{where}: cannot read input reference {value!r}")

    def to_yaml(self) -> Any:
        if self.dataset is not None:
            return {"dataset": self.dataset}
        return {"node": self.node, **({"output": self.output} if self.output else {})}

    def __str__(self) -> str:
        if self.dataset is not None:
            return f"dataset {self.dataset!r}"
        return f"node {self.node!r}" + (f" output {self.output!r}" if self.output else "")


@dataclass
class Node:
    """A pipeline node: op name, params (as given by the user) and wired inputs."""

    name: str
    op: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, list[InputRef]] = field(default_factory=dict)
    position: dict[str, float] = field(default_factory=dict)

    @property
    def op_class(self) -> type[Op]:
        return get_op(self.op)

    def parsed_params(self):  # -> OpParams
        try:
            return self.op_class.Params.model_validate(self.params)
        except PydanticValidationError as e:
            fields = self.op_class.Params.model_fields
            raise PipelineError(
                f"node {self.name!r} ({self.op}): {validation_message('params', e, fields=fields)}"
            ) from None

    def parents(self) -> set[str]:
        return {ref.node for refs in self.inputs.values() for ref in refs if ref.node}

    def to_yaml(self) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for port, refs in self.inputs.items():
            port_def = next((p for p in self.op_class.inputs if p.name == port), None)
            values = [r.to_yaml() for r in refs]
            inputs[port] = values if (port_def is not None and port_def.variable) else (values[0] if values else None)
        return {"op": self.op, "inputs": inputs, "params": self.params}


class PipelineGraph:
    """The nodes of a workspace, with validation and YAML round trip (what running a node reads).

    Users drive it as :class:`selftrack.pipeline.Pipeline`, which adds ``run`` and ``outputs`` to each
    node; the engine reads this class, so the graph never imports the engine that runs it.
    """

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        ws.ensure_schema(_SCHEMA)  # writes only when a table is missing (read-only workspaces stay browsable)

    # -- CRUD ----------------------------------------------------------------------------------------
    def nodes(self) -> dict[str, Node]:
        rows = self.ws.db.execute("SELECT * FROM nodes ORDER BY created_at, name").fetchall()
        out = {}
        for r in rows:
            raw_inputs = json.loads(r["inputs"])
            out[r["name"]] = Node(
                name=r["name"],
                op=r["op"],
                params=json.loads(r["params"]),
                inputs={k: [InputRef(**ref) for ref in v] for k, v in raw_inputs.items()},
                position=json.loads(r["position"]),
            )
        return out

    def node(self, name: str) -> Node:
        nodes = self.nodes()
        if name not in nodes:
            raise PipelineError(f"no node named {name!r} (nodes: {', '.join(nodes) or 'none'})")
        return nodes[name]

    def add_node(
        self,
        name: str,
        op: str,
        *,
        inputs: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        replace: bool = False,
    ) -> Node:
        """Add (or with ``replace``, redefine) a node. The node is validated against the current pipeline."""
        if not _NODE_NAME.match(name):
            raise PipelineError(f"invalid node name {name!r}: a letter, then letters, digits, '_' or '-' (max 64)")
        get_op(op)
        existing = self.nodes()
        if name in existing and not replace:
            raise PipelineError(f"a node named {name!r} already exists")
        node_names = set(existing) | {name}
        node = Node(
            name=name, op=op, params=dict(params or {}), inputs=self._parse_inputs(name, inputs or {}, node_names)
        )
        trial = {**existing, name: node}
        self._validate(trial, only={name})
        self._save(node)
        return node

    def update_node(
        self, name: str, *, params: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None
    ) -> Node:
        nodes = self.nodes()
        if name not in nodes:
            raise PipelineError(f"no node named {name!r}")
        node = nodes[name]
        if params is not None:
            node.params = dict(params)
        if inputs is not None:
            node.inputs = self._parse_inputs(name, inputs, set(nodes))
        self._validate(nodes, only={name})
        self._save(node)
        return node

    def remove_node(self, name: str) -> None:
        nodes = self.nodes()
        users = [n.name for n in nodes.values() if name in n.parents()]
        if users:
            raise PipelineError(f"node {name!r} feeds {', '.join(users)}; rewire or remove them first")
        with self.ws.transaction() as db:
            db.execute("DELETE FROM nodes WHERE name = ?", (name,))

    def rename_node(self, name: str, new_name: str) -> Node:
        """Rename a node; the nodes it feeds follow, and its computed outputs stay valid (names are not
        part of cache keys)."""
        nodes = self.nodes()
        if name not in nodes:
            raise PipelineError(f"no node named {name!r}")
        if not _NODE_NAME.match(new_name):
            raise PipelineError(f"invalid node name {new_name!r}: a letter, then letters, digits, '_' or '-' (max 64)")
        if new_name in nodes:
            raise PipelineError(f"a node named {new_name!r} already exists")
        with self.ws.transaction() as db:
            db.execute("UPDATE nodes SET name = ?, updated_at = ? WHERE name = ?", (new_name, time.time(), name))
            db.execute("UPDATE node_outputs SET node = ? WHERE node = ?", (new_name, name))
            for other in nodes.values():
                if name not in other.parents():
                    continue
                inputs = {
                    port: [{**r.__dict__, "node": new_name if r.node == name else r.node} for r in refs]
                    for port, refs in other.inputs.items()
                }
                db.execute("UPDATE nodes SET inputs = ? WHERE name = ?", (json.dumps(inputs), other.name))
        return self.node(new_name)

    def set_position(self, name: str, x: float, y: float) -> None:
        """Where the node sits in the app's graph view (not part of the node's definition or cache key)."""
        with self.ws.transaction() as db:
            cur = db.execute("UPDATE nodes SET position = ? WHERE name = ?", (json.dumps({"x": x, "y": y}), name))
            if cur.rowcount == 0:
                raise PipelineError(f"no node named {name!r}")

    def _save(self, node: Node) -> None:
        now = time.time()
        inputs = {k: [r.__dict__ for r in v] for k, v in node.inputs.items()}
        with self.ws.transaction() as db:
            db.execute(
                "INSERT INTO nodes(name, op, params, inputs, position, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET op = excluded.op, params = excluded.params, inputs = excluded.inputs,"
                " updated_at = excluded.updated_at",
                (
                    node.name,
                    node.op,
                    json.dumps(node.params, sort_keys=True),
                    json.dumps(inputs),
                    json.dumps(node.position),
                    now,
                    now,
                ),
            )

    @staticmethod
    def _parse_inputs(node: str, inputs: dict[str, Any], node_names: set[str]) -> dict[str, list[InputRef]]:
        if not isinstance(inputs, dict):
            raise PipelineError(f"node {node!r}: inputs must be a mapping of port names to datasets or nodes")
        out: dict[str, list[InputRef]] = {}
        for port, value in inputs.items():
            if value is None:
                continue
            values = value if isinstance(value, list) else [value]
            out[port] = [
                InputRef.parse(v, node_names=node_names, where=f"node {node!r} input {port!r}") for v in values
            ]
        return out

    # -- validation ----------------------------------------------------------------------------------
    def validate(self, target: str | None = None) -> list[str]:
        """Check the whole pipeline (or ``target`` and its ancestors); returns the run order."""
        nodes = self.nodes()
        names = set(nodes) if target is None else self.ancestors(nodes, target) | {target}
        self._validate(nodes, only=names)
        return [n for n in self.topological_order(nodes) if n in names]

    def ancestors(self, nodes: dict[str, Node], name: str) -> set[str]:
        if name not in nodes:
            raise PipelineError(f"no node named {name!r} (nodes: {', '.join(nodes) or 'none'})")
        seen: set[str] = set()
        stack = [name]
        while stack:
            for parent in nodes[stack.pop()].parents():
                if parent not in seen and parent in nodes:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    @staticmethod
    def topological_order(nodes: dict[str, Node]) -> list[str]:
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = [*path[path.index(name) :], name]
                raise PipelineError(f"the pipeline has a cycle: {' -> '.join(cycle)}")
            state[name] = 1
            for parent in sorted(nodes[name].parents()):
                if parent in nodes:
                    visit(parent, [*path, name])
            state[name] = 2
            order.append(name)

        for name in nodes:
            visit(name, [])
        return order

    def output_types(
        self, nodes: dict[str, Node], name: str, _seen: frozenset[str] = frozenset()
    ) -> dict[str, DataType]:
        """Data type of each output of node ``name`` (ops like ``sample`` follow their input's type)."""
        node = nodes[name]
        if name in _seen:
            raise PipelineError(f"the pipeline has a cycle through node {name!r}")
        input_types = {
            port: [self.ref_type(nodes, r, _seen | {name}) for r in refs] for port, refs in node.inputs.items()
        }
        return node.op_class.output_types(node.parsed_params(), input_types)

    def ref_type(self, nodes: dict[str, Node], ref: InputRef, _seen: frozenset[str] = frozenset()) -> DataType:
        if ref.dataset is not None:
            return self.ws.dataset(ref.dataset).data_type
        assert ref.node is not None
        types = self.output_types(nodes, ref.node, _seen)
        output = ref.output or next(iter(types))
        return types[output]

    def _validate(self, nodes: dict[str, Node], only: set[str]) -> None:
        self.topological_order(nodes)  # cycles first: type inference below would recurse forever
        for name in sorted(only):
            node = nodes[name]
            try:
                op = get_op(node.op)
            except SelftrackError as e:
                raise PipelineError(f"node {name!r}: {e}") from None
            node.parsed_params()
            ports = {p.name: p for p in op.inputs}
            for port in node.inputs:
                if port not in ports:
                    raise PipelineError(
                        f"node {name!r} ({op.name}) has no input {port!r}; its inputs are: {', '.join(ports) or 'none'}"
                    )
            for port in op.inputs:
                refs = node.inputs.get(port.name, [])
                if not refs:
                    if port.optional:
                        continue
                    raise PipelineError(
                        f"node {name!r} ({op.name}): input {port.name!r} is not wired "
                        f"(expects {' or '.join(t.value for t in port.types)})"
                    )
                if len(refs) > 1 and not port.variable:
                    raise PipelineError(f"node {name!r}: input {port.name!r} takes one dataset, got {len(refs)}")
                for ref in refs:
                    where = f"node {name!r} input {port.name!r}"
                    if ref.dataset is not None:
                        if self.ws.find_dataset(ref.dataset) is None:
                            raise PipelineError(f"{where}: no dataset named {ref.dataset!r}")
                    else:
                        if ref.node not in nodes:
                            raise PipelineError(f"{where}: no node named {ref.node!r}")
                        outs = nodes[ref.node].op_class.outputs
                        if ref.output and ref.output not in {o.name for o in outs}:
                            raise PipelineError(
                                f"{where}: node {ref.node!r} has no output {ref.output!r} "
                                f"(outputs: {', '.join(o.name for o in outs)})"
                            )
                    t = self.ref_type(nodes, ref)
                    if not port.accepts(t):
                        raise PipelineError(
                            f"{where}: {ref} is {t.value}, but the input expects "
                            f"{' or '.join(x.value for x in port.types)}"
                        )
            try:  # ops whose output type follows their inputs check them here (union: one type)
                op.check_wiring(node.parsed_params(), {p for p, refs in node.inputs.items() if refs})
                self.output_types(nodes, name)
            except PipelineError:
                raise
            except SelftrackError as e:
                raise PipelineError(f"node {name!r} ({op.name}): {e}") from None

    # -- YAML ----------------------------------------------------------------------------------------
    def to_yaml(self) -> str:
        nodes = self.nodes()
        doc = {"nodes": {name: node.to_yaml() for name, node in nodes.items()}}
        return yaml.safe_dump(doc, sort_keys=False)

    def load_yaml(self, source: str | Path, *, replace: bool = True) -> list[str]:
        """Create or update nodes from a YAML file (or text); validated as a whole before anything is saved."""
        text = (
            Path(source).read_text()
            if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and Path(source).exists())
            else str(source)
        )
        where = str(source) if isinstance(source, Path) else "pipeline YAML"
        try:
            doc = parse_yaml(text, where) or {}
        except SelftrackError as e:
            raise PipelineError(str(e)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), dict):
            raise PipelineError(f"{where}: expected a mapping with a 'nodes' mapping")
        existing = self.nodes()
        names = set(existing) | set(doc["nodes"])
        parsed: dict[str, Node] = {}
        for name, spec in doc["nodes"].items():
            if not isinstance(spec, dict) or "op" not in spec:
                raise PipelineError(f"{where}: node {name!r} needs an 'op'")
            unknown = set(spec) - {"op", "inputs", "params"}
            if unknown:
                raise PipelineError(f"{where}: node {name!r} has unknown fields {sorted(unknown)}")
            if not _NODE_NAME.match(str(name)):
                raise PipelineError(f"{where}: invalid node name {name!r}")
            if name in existing and not replace:
                raise PipelineError(f"{where}: a node named {name!r} already exists")
            try:
                get_op(spec["op"])
            except SelftrackError as e:
                raise PipelineError(f"{where}: node {name!r}: {e}") from None
            for key in ("inputs", "params"):
                if spec.get(key) is not None and not isinstance(spec[key], dict):
                    raise PipelineError(
                        f"{where}: node {name!r}: {key!r} must be a mapping of names to values, "
                        f"not {type(spec[key]).__name__} ({spec[key]!r:.40})"
                    )
            parsed[name] = Node(
                name=name,
                op=spec["op"],
                params=dict(spec.get("params") or {}),
                inputs=self._parse_inputs(name, spec.get("inputs") or {}, names),
            )
        merged = {**existing, **parsed}
        self._validate(merged, only=set(parsed))
        for node in parsed.values():
            self._save(node)
        return list(parsed)
