"""Deleting a dataset a job uses is refused with the job's name (409), under the workspace lock as gc is;
and job errors speak the person's words, never a Python class name."""

from __future__ import annotations

import threading
import time

from server_helpers import wait_job
from test_api import scene_workspace

from selftrack.pipeline import JobState, LocalExecutor, Pipeline, run_node
from selftrack.workspace import Workspace


def wait_plan_outputs(client, job_id: int, node: str, timeout: float = 120) -> dict:
    """The job once it runs ``node`` with its output datasets claimed in its plan."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        job = client.get(f"/api/jobs/{job_id}").json()["job"]
        assert job["state"] in ("queued", "running"), job
        step = next((s for s in job["plan"] if s["node"] == node), None)
        if step and step.get("outputs"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not claim the outputs of {node} within {timeout} s")


def test_a_dataset_a_running_job_uses_is_not_deleted(client, ws):
    scene_workspace(ws, frames=40)
    motion = {"detector": "motion", "resize": {"mode": "keep"}}
    client.post(
        "/api/nodes", json={"name": "detect", "op": "object_detection", "inputs": {"video": "videos"}, "params": motion}
    )
    assert wait_job(client, client.post("/api/nodes/detect/run", json={}).json()["job_id"])["state"] == "done"
    client.post(
        "/api/nodes",
        json={
            "name": "train-long",
            "op": "unsupervised_reid",
            "inputs": {"video": "videos", "detections": "detect"},
            "params": {"stage1_steps": 100_000},
        },
    )
    job_id = client.post("/api/nodes/train-long/run", json={}).json()["job_id"]
    job = wait_plan_outputs(client, job_id, "train-long")
    outputs = {s["node"]: s["outputs"] for s in job["plan"]}
    model, detections = outputs["train-long"]["model"], outputs["detect"]["detections"]
    for name in (model, detections):  # what it writes, and what it reads
        r = client.delete(f"/api/datasets/{name}")
        assert r.status_code == 409, r.json()
        assert r.json()["detail"] == (
            f"dataset {name!r} is in use by job {job_id} (run train-long, running); "
            "stop the job or wait for it to finish first"
        )
        assert client.get(f"/api/datasets/{name}").status_code == 200
    r = client.delete("/api/datasets/videos")
    assert r.status_code == 409 and "in use by job" in r.json()["detail"]

    client.post(f"/api/jobs/{job_id}/stop")
    assert wait_job(client, job_id)["state"] == "stopped"
    assert client.delete(f"/api/datasets/{model}").status_code == 200  # a stopped job's output may go
    r = client.delete("/api/datasets/videos")
    assert (
        r.status_code == 409
        and r.json()["detail"] == "dataset 'videos' feeds node(s) detect, train-long; rewire them first"
    )


def test_a_delete_waits_for_a_writer_between_placing_a_file_and_committing_it(client, ws):
    """The delete takes the workspace lock's exclusive side, as gc: it never runs while a writer holds it."""
    scene_workspace(ws, frames=10)
    writer = Workspace(ws.root)
    answers: list[int] = []
    with writer.lock.shared(what="import"):
        deleting = threading.Thread(target=lambda: answers.append(client.delete("/api/datasets/videos").status_code))
        deleting.start()
        deleting.join(1.0)
        assert deleting.is_alive() and writer.find_dataset("videos") is not None  # waits for the writer
    deleting.join(30)
    assert answers == [200] and writer.find_dataset("videos") is None
    writer.close()


def test_an_item_error_in_a_job_is_the_plain_message(ws):
    """The item's own error, as the CLI prints it: no ``StoreError:`` / ``VideoError:`` before it."""
    scene_workspace(ws, frames=10)
    item = ws.item("videos", "plaza-1")
    item.path.chmod(0o644)
    item.path.write_bytes(item.path.read_bytes()[:2000])  # a truncated video: the detector cannot decode it
    Pipeline(ws).add_node("detect", "object_detection", inputs={"video": "videos"}, params={"detector": "motion"})
    result = run_node(ws, "detect", executor=LocalExecutor(1), raise_on_error=False)
    assert result.state == JobState.FAILED
    assert result.error.startswith("node 'detect', item 'plaza-1': ") and "plaza-1" in result.error
    assert "Error:" not in result.error, result.error
