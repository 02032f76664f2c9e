"""Middle layer: ops, nodes, pipelines, the execution engine and jobs.

Imports ``workspace`` and the bottom layer; never ``cli`` or ``server``.
"""

from selftrack.pipeline.choose import EXECUTORS, make_executor
from selftrack.pipeline.engine import Partial, RunResult, run_node
from selftrack.pipeline.executors import Executor, ItemTask, LocalExecutor
from selftrack.pipeline.gc import delete_dataset, garbage_collect
from selftrack.pipeline.graph import InputRef, Node, PipelineError, PipelineGraph
from selftrack.pipeline.handle import NodeHandle, Pipeline, resolve_dataset
from selftrack.pipeline.jobs import Job, JobProgress, JobState, JobStore
from selftrack.pipeline.op import DatasetContext, ItemContext, Op, OpParams, Port, get_op, list_ops
from selftrack.pipeline.planning import current_outputs

__all__ = [
    "EXECUTORS",
    "DatasetContext",
    "Executor",
    "InputRef",
    "ItemContext",
    "ItemTask",
    "Job",
    "JobProgress",
    "JobState",
    "JobStore",
    "LocalExecutor",
    "Node",
    "NodeHandle",
    "Op",
    "OpParams",
    "Partial",
    "Pipeline",
    "PipelineError",
    "PipelineGraph",
    "Port",
    "RunResult",
    "current_outputs",
    "delete_dataset",
    "garbage_collect",
    "get_op",
    "list_ops",
    "make_executor",
    "resolve_dataset",
    "run_node",
]
