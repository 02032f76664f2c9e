"""The pipeline as users drive it: :class:`Pipeline` hands out nodes that can ``run`` and list their ``outputs``.

It sits above both the graph (:mod:`selftrack.pipeline.graph`, what nodes there are and how they are
wired) and the engine (:mod:`selftrack.pipeline.engine`, which reads the graph to run it), so neither of
those imports the other's caller.
"""

from __future__ import annotations

from typing import Any

from selftrack.pipeline.engine import RunResult, run_node
from selftrack.pipeline.graph import Node, PipelineError, PipelineGraph
from selftrack.pipeline.planning import current_outputs
from selftrack.workspace.store import Workspace


class NodeHandle:
    """A node of a pipeline with the actions users take on it: ``run``, ``outputs``."""

    def __init__(self, pipeline: PipelineGraph, node: Node) -> None:
        self.pipeline = pipeline
        self.node = node

    @property
    def name(self) -> str:
        return self.node.name

    def __repr__(self) -> str:
        return f"<node {self.node.name}: {self.node.op}>"

    def run(self, **kwargs: Any) -> RunResult:
        """Run this node and whatever of its ancestors is not up to date (see :func:`selftrack.pipeline.engine.run_node`)."""
        return run_node(self.pipeline.ws, self.node.name, **kwargs)

    def outputs(self) -> dict[str, str | None]:
        """Name of the dataset currently holding each output (``None``: not computed for these params)."""
        return current_outputs(self.pipeline.ws, self.node.name)


class Pipeline(PipelineGraph):
    """The nodes of a workspace, with validation, YAML round trip, and ``node(name).run()``."""

    def node(self, name: str) -> NodeHandle:  # type: ignore[override]
        return NodeHandle(self, super().node(name))

    def add_node(self, name: str, op: str, **kwargs: Any) -> NodeHandle:  # type: ignore[override]
        """Add (or with ``replace``, redefine) a node; see :meth:`PipelineGraph.add_node`."""
        return NodeHandle(self, super().add_node(name, op, **kwargs))

    def update_node(self, name: str, **kwargs: Any) -> NodeHandle:  # type: ignore[override]
        """Change a node's params or inputs; see :meth:`PipelineGraph.update_node`."""
        return NodeHandle(self, super().update_node(name, **kwargs))


def resolve_dataset(ws: Workspace, name: str) -> str:
    """The dataset a person means by ``name``: a node (its first output), ``NODE.OUTPUT``, or a dataset's own name.

    A node's name points at its current output, the one its current params and inputs give; the hashed
    names (``render.video@430bdcd5``) stay valid for every version until ``selftrack gc``. As in pipeline
    YAML, a node's name wins over a dataset of the same name.
    """
    graph = PipelineGraph(ws)
    nodes = graph.nodes()
    node_name, _, output = name.partition(".")
    if node_name in nodes:
        ports = [p.name for p in nodes[node_name].op_class.outputs]
        if not output or output in ports:
            output = output or ports[0]
            dataset = current_outputs(ws, node_name)[output]
            if dataset is None:
                raise PipelineError(
                    f"node {node_name!r} has no {output!r} output for its current settings yet; "
                    f"`selftrack run {node_name}` computes it"
                )
            return dataset
        if output and "@" not in output:
            raise PipelineError(f"node {node_name!r} has no output {output!r}; its outputs: {', '.join(ports)}")
    if ws.find_dataset(name) is not None:
        return name
    known = [ds.name for ds in ws.datasets() if "@" not in ds.name]
    raise PipelineError(
        f"no dataset or node named {name!r} (nodes: {', '.join(nodes) or 'none'}; datasets: {', '.join(known) or 'none'})"
    )
