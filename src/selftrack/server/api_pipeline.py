"""``/api/ops``, ``/api/nodes``, ``/api/pipeline``: the ops catalogue, nodes (create, edit, rename, move,
delete, run) and the pipeline as YAML, the same YAML ``selftrack run`` reads."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field, model_validator
from pydantic import ValidationError as PydanticValidationError

from selftrack.core.errors import SelftrackError, problem_text, validation_message
from selftrack.pipeline import Pipeline, get_op, list_ops
from selftrack.pipeline.graph import Node
from selftrack.server import catalog
from selftrack.server.state import AppState, St

router = APIRouter(prefix="/api", tags=["pipeline"])


def capabilities() -> dict[str, bool]:
    """Optional parts of the install that some choices need (greyed out in the app, with the reason)."""
    try:
        from selftrack.detectors.person_wheel import find_person_model

        find_person_model()
        person = True
    except (FileNotFoundError, ImportError):
        person = False
    return {"ultralytics": importlib.util.find_spec("ultralytics") is not None, "person_model": person}


NEEDS = {"train_detector": "ultralytics", "bootstrap_detector": "ultralytics"}


def trackers() -> dict[str, Any]:
    """The classic trackers and their parameter schemas (the ``track`` op's ``tracker_params`` form)."""
    from selftrack.trackers import list_trackers

    out = {}
    for name, params in list_trackers().items():
        schema = params.model_json_schema()
        schema["x-defaults"] = params().model_dump(mode="json")
        out[name] = schema
    return out


def describe_op(name: str, caps: dict[str, bool]) -> dict[str, Any]:
    op = get_op(name)
    d = op.describe()
    try:  # the real defaults (a default_factory leaves no "default" in the JSON schema)
        d["defaults"] = op.Params().model_dump(mode="json")
    except PydanticValidationError:
        d["defaults"] = {}
    need = NEEDS.get(name)
    d["available"] = not need or caps.get(need, False)
    d["unavailable_reason"] = (
        None
        if d["available"]
        else "needs the optional ultralytics extra, installed in its own environment (see the README)"
    )
    if name == "track":  # its tracker is a plain string and its params a free dict: give the form their schemas
        props = d["params_schema"]["properties"]
        props["tracker"]["enum"] = sorted(trackers())
        props["tracker_params"]["x-schemas-by"] = "tracker"
    return d


@router.get("/ops", tags=["pipeline"])
def ops() -> dict[str, Any]:
    """Every op: title, category, typed inputs and outputs, and its parameters' JSON schema."""
    caps = capabilities()
    return {"ops": [describe_op(name, caps) for name in list_ops()], "capabilities": caps, "trackers": trackers()}


# ---------------------------------------------------------------------------------------------- nodes
def _node_json(pipe: Pipeline, nodes: dict[str, Node], node: Node, states: dict[str, Any]) -> dict[str, Any]:
    try:
        types = {k: v.value for k, v in pipe.output_types(nodes, node.name).items()}
    except SelftrackError:
        types = {p.name: p.types[0].value for p in node.op_class.outputs}
    op = node.op_class
    return {
        "name": node.name,
        "op": node.op,
        "title": op.title,
        "category": op.category,
        "per_item": op.per_item,
        "params": node.params,
        "inputs": {port: [r.to_yaml() for r in refs] for port, refs in node.inputs.items()},
        "output_types": types,
        "position": node.position or None,
        **states.get(node.name, {"state": "not computed", "outputs": {}}),
    }


@router.get("/nodes")
def list_nodes(st: St) -> dict[str, Any]:
    """The pipeline's nodes with their wiring, output types, output datasets and states."""
    pipe = st.pipeline
    nodes = pipe.nodes()
    states = catalog.node_states(st.ws, pipe, st.jobs)
    return {"nodes": [_node_json(pipe, nodes, n, states) for n in nodes.values()]}


def _get(st: AppState, name: str) -> Node:
    nodes = st.pipeline.nodes()
    if name not in nodes:
        raise HTTPException(404, f"no node named {name!r}")
    return nodes[name]


@router.get("/nodes/{name}")
def get_node(st: St, name: str) -> dict[str, Any]:
    _get(st, name)
    pipe = st.pipeline
    return _node_json(pipe, pipe.nodes(), pipe.nodes()[name], catalog.node_states(st.ws, pipe, st.jobs))


def check_params(op: str, params: dict[str, Any]) -> None:
    """Validate params against the op's model; 422 with one message per field, for the form to show inline."""
    model = get_op(op).Params
    try:
        model.model_validate(params)
    except PydanticValidationError as e:
        # the words the CLI uses (core.errors): the key, the value, what is allowed; never pydantic's own
        fields = model.model_fields
        errors = [{"loc": [str(x) for x in err["loc"]], "msg": problem_text(err, fields=fields)} for err in e.errors()]
        message = validation_message("parameters", e, fields=fields)
        raise HTTPException(422, {"message": message, "errors": errors}) from None


class NodeIn(BaseModel):
    name: str = Field(description="A letter, then letters, digits, '_' or '-'.")
    op: str
    inputs: dict[str, Any] = Field(
        default_factory=dict,
        description="Per input: a dataset name, {dataset: NAME}, {node: NAME[, output: NAME]}, or a list of them.",
    )
    params: dict[str, Any] = Field(default_factory=dict)


@router.post("/nodes", status_code=201)
def create_node(st: St, body: NodeIn) -> dict[str, Any]:
    """Add a node. It is validated as a whole (op, params, every input wired and of the right type)."""
    try:
        get_op(body.op)
    except SelftrackError as e:
        raise HTTPException(400, str(e)) from None
    check_params(body.op, body.params)
    st.pipeline.add_node(body.name, body.op, inputs=body.inputs, params=body.params)
    return get_node(st, body.name)


class NodePatch(BaseModel):
    name: str | None = Field(None, description="Rename the node.")
    params: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    position: dict[str, float] | None = Field(None, description="{x, y} in the graph view.")


@router.patch("/nodes/{name}")
def update_node(st: St, name: str, body: NodePatch) -> dict[str, Any]:
    """Change a node's params or wiring (validated), rename it, or move it in the graph view."""
    node = _get(st, name)
    pipe = st.pipeline
    if body.params is not None:
        check_params(node.op, body.params)
    if body.params is not None or body.inputs is not None:
        pipe.update_node(name, params=body.params, inputs=body.inputs)
    if body.position is not None:
        pipe.set_position(name, float(body.position.get("x", 0)), float(body.position.get("y", 0)))
    if body.name and body.name != name:
        pipe.rename_node(name, body.name)
        name = body.name
    return get_node(st, name)


@router.delete("/nodes/{name}")
def delete_node(st: St, name: str) -> dict[str, Any]:
    """Remove a node (refused while other nodes read its outputs). Its computed datasets stay until gc."""
    _get(st, name)
    st.pipeline.remove_node(name)
    return {"deleted": name}


class PartialIn(BaseModel):
    count: int | None = Field(None, ge=1, description="N random keys not computed yet.")
    keys: list[str] | None = Field(None, description="These keys.")
    dataset: str | None = Field(None, description="The keys of this dataset.")
    seed: int | None = None

    @model_validator(mode="after")
    def _one(self) -> PartialIn:
        if sum(x is not None for x in (self.count, self.keys, self.dataset)) != 1:
            raise ValueError("a partial run takes exactly one of: count, keys, dataset")
        return self


class RunIn(BaseModel):
    partial: PartialIn | None = None
    executor: Literal["local", "ray"] | None = None
    """Where the per-item tasks run (``None``: the server's ``--executor``)."""


@router.post("/nodes/{name}/run", status_code=202)
def run_node(st: St, name: str, body: RunIn | None = None) -> dict[str, Any]:
    """Run a node and its stale ancestors as a job in a worker process; returns the job id at once."""
    _get(st, name)
    st.pipeline.validate(name)  # mis-wired nodes are refused here, before any job exists
    states = catalog.node_states(st.ws, st.pipeline, st.jobs)
    order = st.pipeline.validate(name)
    busy = [(n, states[n]["job_id"]) for n in order if states.get(n, {}).get("state") in ("running", "queued")]
    if busy:
        n, job_id = busy[0]
        raise HTTPException(409, f"node {n!r} is already being computed by job {job_id}; wait for it or stop it")
    partial = body.partial.model_dump(exclude_none=True) if body and body.partial else None
    label = f"run {name}" + (" (partial)" if partial else "")
    executor = (body.executor if body else None) or st.config.executor
    address = st.config.ray_address if executor == "ray" else None
    spec = {"node": name, "partial": partial, "executor": executor, "address": address}
    job_id = st.runner.submit("run", label, name, spec)
    return {"job_id": job_id, "node": name}


# ---------------------------------------------------------------------------------------------- YAML
@router.get("/pipeline/yaml", response_class=PlainTextResponse)
def export_yaml(st: St) -> str:
    """The pipeline as YAML (``selftrack run FILE`` runs it on another workspace with the same datasets)."""
    return st.pipeline.to_yaml()


class YamlIn(BaseModel):
    yaml: str = Field(max_length=1_000_000)
    replace: bool = True


@router.post("/pipeline/yaml")
def import_yaml(st: St, body: YamlIn) -> dict[str, Any]:
    """Create or update nodes from YAML; validated as a whole before anything is saved."""
    if "\n" not in body.yaml and body.yaml.strip():
        body.yaml += "\n"  # one line is YAML text, never a file name on the server
    names = st.pipeline.load_yaml(body.yaml, replace=body.replace)
    return {"nodes": names}


@router.get("/capabilities")
def get_capabilities() -> dict[str, Any]:
    return capabilities()
