"""Executors: a task commits its outputs only while its job runs and its parent lives (issue 13, case 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from selftrack.core import Detections
from selftrack.pipeline import JobState, JobStore, LocalExecutor, Pipeline, executors, run_node
from selftrack.pipeline.executors import ItemTask, execute_item_task
from selftrack.workspace import DataType, Workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ws.create_dataset("dets", DataType.DETECTIONS)
    ws.put_detections(
        "dets", "a", Detections.create([0, 1], [[0, 0, 5, 5], [1, 0, 6, 5]], 0.9, canvas=(10, 10), num_frames=2)
    )
    ws.create_dataset("out", DataType.DETECTIONS, kind="computed")
    return ws


def task(ws: Workspace, job_id: int | None) -> ItemTask:
    return ItemTask(
        ws_root=str(ws.root),
        job_id=job_id,
        node="f",
        op="detection_filter",
        params={},
        key="a",
        inputs={"detections": [("dets", "a")]},
        variable={"detections": False},
        outputs={"detections": "out"},
        cache_key="k",
    )


def test_a_task_of_an_interrupted_job_commits_nothing(ws: Workspace):
    jobs = JobStore(ws)
    job_id = jobs.create("run f", "run", "f")
    jobs.start(job_id, [], 1)
    jobs.finish(job_id, JobState.INTERRUPTED, error="the process running this job ended")
    result = execute_item_task(task(ws, job_id))
    assert not result.ok and "job" in result.error and "interrupted" in result.error
    assert ws.keys("out") == []
    running = jobs.create("run f", "run", "f")
    jobs.start(running, [], 1)
    assert execute_item_task(task(ws, running)).ok and ws.keys("out") == ["a"]


def test_a_pool_worker_whose_parent_is_gone_commits_nothing(ws: Workspace, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(executors, "_PARENT_PID", -1)  # as if the parent died and this process was adopted
    result = execute_item_task(task(ws, None))
    assert not result.ok and "gone" in result.error and ws.keys("out") == []


def test_pool_workers_run_with_the_parent_watch(ws: Workspace):
    """Two workers (spawned, with the PR_SET_PDEATHSIG initializer) still run a node end to end."""
    for key in "bcd":
        ws.put_detections("dets", key, ws.item("dets", "a").load_detections())
    Pipeline(ws).add_node("f", "detection_filter", inputs={"detections": "dets"}, params={"min_score": 0.5})
    result = run_node(ws, "f", executor=LocalExecutor(2))
    assert result.state == JobState.DONE and sorted(result.computed["f"]) == ["a", "b", "c", "d"]
