"""``selftrack gc``: delete computed datasets no node uses any more, then unreferenced files.

Everything happens under the workspace lock's exclusive side (see ``workspace/lock.py``). A computed dataset
is kept when it is a current output of a node (its params as they are now) or an output of a job that is
still running (the engine records each node's output datasets in its job's plan, under the lock's shared
side, before writing to them), so a run started with other params is never robbed of the dataset it is
filling. Files are then collected by :func:`selftrack.workspace.maintenance.gc_files`: unreferenced,
unvouched by a journal, and older than the grace period. Last, the training caches of runs nothing keeps:
``cache/reid/<run>`` holds one re-id training run's crops, resume state and stage-2 vectors (hundreds of MB
for a long video), named by the run's identity; it goes once no kept dataset is an output of that run and
nothing in it changed for the grace period (a stopped run's resume state stays while its node's output does).

Deleting one dataset by hand (:func:`delete_dataset`, the app's delete button) follows the same rules under
the same lock: it is refused while a queued or running job writes or reads the dataset, and, for an imported
dataset, while a node reads it.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from selftrack.core.errors import InUseError, SelftrackError
from selftrack.pipeline.graph import PipelineGraph
from selftrack.pipeline.jobs import Job, JobState, JobStore
from selftrack.pipeline.planning import current_outputs
from selftrack.workspace.maintenance import DEFAULT_GRACE, GcReport, gc_files_locked
from selftrack.workspace.store import DatasetKind, Workspace


@dataclass
class GcResult:
    """What ``gc`` deleted (or, with ``dry_run``, would delete)."""

    datasets: list[str] = field(default_factory=list)
    files: GcReport = field(default_factory=GcReport)
    caches: list[Path] = field(default_factory=list)
    cache_bytes: int = 0


TRAINING_CACHE = "reid"
"""``cache/<TRAINING_CACHE>/<identity[:16]>``: one training run's folder (``ops/unsupervised_reid.py``)."""


def stale_training_caches(ws: Workspace, keep: set[str], grace: float) -> list[Path]:
    """Training-run folders whose run has no kept output dataset and that nothing touched for ``grace`` s."""
    folder = ws.root / "cache" / TRAINING_CACHE
    if not folder.is_dir():
        return []
    kept_ids = {ds.id for ds in ws.datasets() if ds.name in keep}
    live = {
        str(row["config_hash"])[:16]
        for row in ws.db.execute("SELECT config_hash, dataset_id FROM node_outputs")
        if row["dataset_id"] in kept_ids
    }
    now, stale = time.time(), []
    for run in sorted(p for p in folder.iterdir() if p.is_dir() and p.name not in live):
        newest = max((f.stat().st_mtime for f in run.rglob("*")), default=run.stat().st_mtime)
        if now - newest >= grace:
            stale.append(run)
    return stale


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


def jobs_using(ws: Workspace, dataset: str) -> list[Job]:
    """Queued and running jobs that write or read ``dataset``: a run whose plan claims it as a node's output
    (the nodes it runs read their parents' outputs from the same plan) or runs a node wired to it, an import
    or generated scene into it, or a browser copy of one of its videos."""
    jobs = JobStore(ws)
    jobs.mark_interrupted()
    rows = ws.db.execute(
        "SELECT id FROM jobs WHERE state IN (?, ?) ORDER BY id", (JobState.RUNNING.value, JobState.QUEUED.value)
    ).fetchall()
    nodes = PipelineGraph(ws).nodes()
    users = []
    for row in rows:
        job = jobs.get(row["id"])
        outputs = {ds for step in job.plan for ds in (step.get("outputs") or {}).values()}
        planned = [nodes[s["node"]] for s in job.plan if s.get("node") in nodes]
        reads = {r.dataset for n in planned for refs in n.inputs.values() for r in refs if r.dataset}
        target = job.target or ""
        if (
            dataset in outputs | reads
            or (job.kind in ("import", "generate") and target == dataset)
            or (job.kind == "proxy" and target.startswith(dataset + "/"))
        ):
            users.append(job)
    return users


def delete_dataset(ws: Workspace, name: str, *, timeout: float | None = 10.0) -> None:
    """Delete a dataset and its files, unless a job or a node uses it (:class:`InUseError` says which).

    Runs under the workspace lock's exclusive side, as ``gc`` does: a job claims its output datasets under
    the shared side before writing to them, so either the claim is seen here and the delete refused, or the
    job finds the dataset gone and creates it again; never a job that fails half-way for a missing dataset.
    """
    ws.check_writable(f"delete dataset {name!r}")
    with ws.lock.exclusive(what=f"delete dataset {name!r}", timeout=timeout):
        ds = ws.dataset(name)
        users = jobs_using(ws, name)
        if users:
            listed = ", ".join(f"job {j.id} ({j.name}, {j.state.value})" for j in users)
            raise InUseError(f"dataset {name!r} is in use by {listed}; stop the job or wait for it to finish first")
        if ds.kind == DatasetKind.SOURCE:
            readers = sorted(
                {
                    n.name
                    for n in PipelineGraph(ws).nodes().values()
                    for refs in n.inputs.values()
                    for r in refs
                    if r.dataset == name
                }
            )
            if readers:
                raise InUseError(f"dataset {name!r} feeds node(s) {', '.join(readers)}; rewire them first")
        ws.delete_dataset(name)


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
        result = GcResult(doomed, gc_files_locked(ws, grace, dry_run))
        for run in stale_training_caches(ws, keep, grace):
            result.cache_bytes += sum(f.stat().st_size for f in run.rglob("*") if f.is_file())
            result.caches.append(run)
            if not dry_run:
                shutil.rmtree(run, ignore_errors=True)
        return result
