"""``selftrack gc``: delete computed datasets no node uses any more, then unreferenced files.

Everything happens under the workspace lock's exclusive side (see ``workspace/lock.py``). A computed dataset
is kept when it is a current output of a node (its params as they are now) or an output of a job that is
still running (the engine records each node's output datasets in its job's plan, under the lock's shared
side, before writing to them), so a run started with other params is never robbed of the dataset it is
filling. Files are then collected by :func:`selftrack.workspace.maintenance.gc_files`: unreferenced,
unvouched by a journal, and older than the grace period.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.graph import PipelineGraph
from selftrack.pipeline.jobs import JobState, JobStore
from selftrack.pipeline.planning import current_outputs
from selftrack.workspace.maintenance import DEFAULT_GRACE, GcReport, gc_files_locked
from selftrack.workspace.store import DatasetKind, Workspace


@dataclass
class GcResult:
    """What ``gc`` deleted (or, with ``dry_run``, would delete)."""

    datasets: list[str] = field(default_factory=list)
    files: GcReport = field(default_factory=GcReport)


def datasets_in_use(ws: Workspace) -> set[str]:
    """Current outputs of every node, and every output of a running job."""
    keep: set[str] = set()
    for name in PipelineGraph(ws).nodes():
        try:
            keep |= {ds for ds in current_outputs(ws, name).values() if ds}
        except SelftrackError:
            continue
    jobs = JobStore(ws)
    jobs.mark_interrupted()
    rows = ws.db.execute(
        "SELECT plan FROM jobs WHERE state IN (?, ?)", (JobState.RUNNING.value, JobState.QUEUED.value)
    ).fetchall()
    for row in rows:
        for step in json.loads(row["plan"] or "[]"):
            keep |= set((step.get("outputs") or {}).values())
    return keep


def garbage_collect(
    ws: Workspace, *, dry_run: bool = False, grace: float = DEFAULT_GRACE, timeout: float | None = 60.0
) -> GcResult:
    """Delete computed datasets nothing uses (old params, removed nodes), then unreferenced files older than
    ``grace`` seconds; waits up to ``timeout`` seconds for writers between placing and committing a file."""
    ws.check_writable("collect garbage")
    with ws.lock.exclusive(what="gc", timeout=timeout):
        keep = datasets_in_use(ws)
        doomed = [ds.name for ds in ws.datasets() if ds.kind == DatasetKind.COMPUTED and ds.name not in keep]
        if not dry_run:
            for name in doomed:
                ws.delete_dataset(name)
        return GcResult(doomed, gc_files_locked(ws, grace, dry_run))
