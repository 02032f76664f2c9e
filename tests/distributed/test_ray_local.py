"""The Ray executor on a real local Ray (2 CPUs): the demo pipeline gives the local executor's outputs.

Also: the pieces of a split item run as nested Ray tasks with the same result as the local pool, job
progress and logs arrive from the workers, Stop cancels the running tasks, a worker's error fails the
job with its message, and a task whose worker keeps dying fails after the bounded retries.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest
import yaml
from ray_helpers import OBJECT_STORE, computed_items, drop_outputs, wait_for
from rich.console import Console

from selftrack.pipeline import JobState, JobStore, LocalExecutor, Pipeline, run_node
from selftrack.workspace import Workspace, import_videos

ray = pytest.importorskip("ray", reason="the Ray tests need the selftrack[ray] extra")
from selftrack.pipeline.ray_executor import RayExecutor  # noqa: E402 - needs the extra checked above

PER_ITEM = {"detect", "track-reid", "track-bytetrack", "render", "evaluate-reid", "evaluate-bytetrack"}
TARGETS = ("render", "evaluate-reid", "evaluate-bytetrack")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE, logging_level="warning")
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, str]]]:
    """The demo (100 frames, 20 training steps) run by the local executor, and its computed items."""
    from selftrack.cli.demo import run_demo

    root = tmp_path_factory.mktemp("ray") / "demo"
    run_demo(root, num_frames=100, train_steps=20, console=Console(quiet=True))
    return root, computed_items(Workspace(root))


def test_demo_pipeline_on_ray_gives_the_local_executors_outputs(local_ray, demo):
    root, local = demo
    ws = Workspace(root)
    drop_outputs(ws, PER_ITEM)
    results = [run_node(ws, target, executor=RayExecutor()) for target in TARGETS]
    assert all(r.state == JobState.DONE for r in results)
    # every per-item node ran on Ray, and the training (whose input detections came back identical) stayed cached
    assert results[0].computed == {
        "detect": ["plaza-0"],
        "train-reid": [],
        "track-reid": ["plaza-0"],
        "render": ["plaza-0"],
    }
    assert computed_items(ws) == local  # byte-identical items: same hashes for every output of every node
    # the job reads as a local one: placement, per-item progress to the last frame, log lines from the workers
    jobs = JobStore(ws)
    job = results[0].job_id
    items = {it["node"]: it for it in jobs.items(job)}
    assert (
        items["detect"]["state"] == "done" and items["detect"]["frames_done"] == items["detect"]["frames_total"] == 100
    )
    assert items["detect"]["pid"] != os.getpid()  # the worker's process, reported through the channel
    placed = jobs.events(job, "placement")
    assert {e["node"] for e in placed} == {"detect", "track-reid", "render"}
    assert any("item plaza-0 started on" in line for line in jobs.log_tail(job, 50))
    assert not list((root / "tmp").glob("*.staged"))  # every staged output was committed, the folder removed


def test_split_items_run_as_nested_ray_tasks_with_the_local_pools_result(local_ray, demo):
    root, _ = demo
    ws = Workspace(root)
    nodes = {
        "detect-ranges": {
            "op": "object_detection",
            "inputs": {"video": "demo-videos"},
            "params": {
                "detector": "motion",
                "resize": {"mode": "keep"},
                "motion": {"merge_distance": 1, "min_area": 60, "history": 20},
                "chunk_frames": 30,
            },
        },
        "track-reid-chunks": {
            "op": "reid_tracker",
            "inputs": {"model": "train-reid", "video": "demo-videos", "detections": "detect-ranges"},
            "params": {"high_score": 0.5, "chunk_frames": 40, "overlap_frames": 20},
        },
    }
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": nodes}))
    local = run_node(ws, "track-reid-chunks", executor=LocalExecutor(1))
    assert local.state == JobState.DONE
    expected = computed_items(ws, set(nodes))
    drop_outputs(ws, set(nodes))
    on_ray = run_node(ws, "track-reid-chunks", executor=RayExecutor())
    assert on_ray.computed["detect-ranges"] == on_ray.computed["track-reid-chunks"] == ["plaza-0"]
    assert computed_items(ws, set(nodes)) == expected
    log = JobStore(ws).log_tail(on_ray.job_id, 50)
    assert any("4 frame ranges of up to 32 frames detected and joined" in line for line in log)
    assert any("3 chunks stitched" in line for line in log)


def test_stop_cancels_the_running_task_and_its_pieces(local_ray, demo, scene_video):
    root, _ = demo
    ws = Workspace(root)
    import_videos(ws, "long-videos", [scene_video(400, 7)])
    node = {
        "op": "object_detection",
        "inputs": {"video": "long-videos"},
        "params": {"detector": "motion", "resize": {"mode": "keep"}, "motion": {"history": 20}, "chunk_frames": 16},
    }
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": {"detect-long": node}}))
    jobs = JobStore(ws)
    job = jobs.create("run detect-long", "run", "detect-long")

    def stop_after_first_piece() -> None:
        wait_for(lambda: any(it["frames_done"] > 0 for it in jobs.items(job)))
        jobs.request_stop(job)  # what `selftrack stop` and the app's Stop button do

    stopper = threading.Thread(target=stop_after_first_piece)
    stopper.start()
    result = run_node(ws, "detect-long", executor=RayExecutor(stop_grace_seconds=0), job_id=job, raise_on_error=False)
    stopper.join()
    assert result.state == JobState.STOPPED
    (item,) = jobs.items(job)
    assert item["state"] == "stopped" and 0 < item["frames_done"] < item["frames_total"] == 400
    (out,) = result.outputs("detect-long").values()
    assert ws.keys(out) == [] and not ws.dataset(out).done  # nothing committed, nothing marked done
    # the parent task and its 25 pieces are gone: the cluster's CPUs come back free
    wait_for(lambda: ray.available_resources().get("CPU", 0) == 2, timeout=30)


def test_a_workers_error_fails_the_job_with_its_message_and_no_retry(local_ray, demo, scene_video, tmp_path):
    root, _ = demo
    ws = Workspace(root)
    import_videos(ws, "broken-videos", [scene_video(100, 8)])
    (video,) = ws.items("broken-videos")
    video.path.write_bytes(b"\0" * 4096)  # the file went bad after import (disk, another program)
    node = {"op": "object_detection", "inputs": {"video": "broken-videos"}, "params": {"detector": "motion"}}
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": {"detect-broken": node}}))
    result = run_node(ws, "detect-broken", executor=RayExecutor(), raise_on_error=False)
    assert result.state == JobState.FAILED
    assert "item 'plaza-8-100'" in result.error and "not a readable video file" in result.error
    job = JobStore(ws).get(result.job_id)
    assert job.traceback and "VideoError" in job.traceback  # the worker's traceback, not the driver's
    assert len(JobStore(ws).events(result.job_id, "placement")) == 1  # a bad input is not retried


def test_a_task_whose_worker_dies_fails_after_the_bounded_retries(local_ray, demo, scene_video):
    root, _ = demo
    ws = Workspace(root)
    import_videos(ws, "kill-videos", [scene_video(400, 9)])
    node = {"op": "object_detection", "inputs": {"video": "kill-videos"}, "params": {"detector": "motion"}}
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": {"detect-killed": node}}))
    jobs = JobStore(ws)
    job = jobs.create("run detect-killed", "run", "detect-killed")

    def kill_each_attempt() -> None:
        for attempt in (1, 2):  # max_retries=1: the first try and one retry, each killed mid-video

            def running(n: int = attempt) -> int | None:
                placed, items = jobs.events(job, "placement"), jobs.items(job)
                if len(placed) >= n and items and items[0]["pid"] == placed[n - 1]["pid"] and items[0]["frames_done"]:
                    return placed[n - 1]["pid"]
                return None

            os.kill(wait_for(running), signal.SIGKILL)

    killer = threading.Thread(target=kill_each_attempt)
    killer.start()
    result = run_node(ws, "detect-killed", executor=RayExecutor(max_retries=1), job_id=job, raise_on_error=False)
    killer.join()
    assert result.state == JobState.FAILED
    assert "item 'plaza-9-400'" in result.error and "died 2 times" in result.error
    (out,) = result.outputs("detect-killed").values()
    assert ws.keys(out) == [] and not ws.dataset(out).done


def test_a_rerun_after_the_driver_died_commits_finished_work_without_computing_it_again(local_ray, demo):
    root, local = demo
    ws = Workspace(root)
    drop_outputs(ws, {"track-bytetrack"})

    class DriverDiesAfterTheTask(RayExecutor):
        def _result(self, ref, task):
            super()._result(ref, task)  # the task finished and staged its outputs...
            raise RuntimeError("the driver died before committing them")

    crashed = run_node(ws, "track-bytetrack", executor=DriverDiesAfterTheTask(), raise_on_error=False)
    assert crashed.state == JobState.FAILED
    (out,) = crashed.outputs("track-bytetrack").values()
    assert ws.keys(out) == []  # nothing reached the catalog
    rerun = run_node(ws, "track-bytetrack", executor=RayExecutor())
    assert rerun.computed["track-bytetrack"] == ["plaza-0"]
    jobs = JobStore(ws)
    assert any("outputs of an earlier attempt reused" in line for line in jobs.log_tail(rerun.job_id, 50))
    assert jobs.events(rerun.job_id, "placement") == []  # the op did not run again
    assert computed_items(ws, {"track-bytetrack"}) == {
        k: v for k, v in local.items() if k.startswith("track-bytetrack.")
    }


def test_reid_training_data_parallel_on_ray_train_reports_to_the_job(local_ray, demo):
    """unsupervised_reid with workers=2: Ray Train + torch DDP (gloo); the workers end with equal weights
    (checked inside, else the job fails), the loss falls, and loss events reach the job live."""
    from selftrack.reid.checkpoint import load_reid_model

    root, _ = demo
    ws = Workspace(root)
    params = {"track_duration": 4.0, "stage1_steps": 40, "stage2_steps": 8, "eval_every": 20, "workers": 2}
    node = {"op": "unsupervised_reid", "inputs": {"video": "demo-videos", "detections": "detect"}, "params": params}
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": {"train-reid-ddp": node}}))
    result = run_node(ws, "train-reid-ddp", executor=RayExecutor())
    assert result.computed["train-reid-ddp"] == ["*"]
    model = ws.item(result.outputs("train-reid-ddp")["model"], "model")
    loaded = load_reid_model(model.path)
    assert loaded.stages == ["appearance", "spatial"]
    jobs = JobStore(ws)
    assert len(jobs.events(result.job_id, "loss")) >= 4  # steps of both stages, from rank 0 through the driver
    # the 100-frame video holds no validation block: checkpoints score the smoothed training loss, which falls
    checked = [e["loss"] for e in jobs.events(result.job_id, "val_loss") if e["stage"] == 1 and "loss" in e]
    assert len(checked) == 2 and checked[1] < checked[0]  # at steps 20 and 40
    assert any("2 data-parallel Ray Train worker(s)" in line for line in jobs.log_tail(result.job_id, 50))


def test_the_web_apps_run_sends_the_job_to_ray(local_ray, demo):
    """POST /api/nodes/NAME/run with executor ray (or `selftrack serve --executor ray`): the job's worker process
    joins the cluster at the server's --address and the items run there, with the local executor's outputs."""
    from fastapi.testclient import TestClient

    from selftrack.server import ServerConfig, create_app

    root, local = demo
    ws = Workspace(root)
    drop_outputs(ws, {"track-bytetrack"})
    address = ray.get_runtime_context().gcs_address
    config = ServerConfig(workspace=root, token="t0k3n-for-tests", port=8765, ray_address=address)
    client = TestClient(create_app(config), base_url="http://127.0.0.1:8765", raise_server_exceptions=False)
    client.headers["Authorization"] = "Bearer t0k3n-for-tests"
    assert client.post("/api/nodes/track-bytetrack/run", json={"executor": "dask"}).status_code == 422
    job_id = client.post("/api/nodes/track-bytetrack/run", json={"executor": "ray"}).json()["job_id"]
    job = wait_for(lambda: (j := JobStore(ws).get(job_id)).state.finished and j, timeout=120)
    assert job.state == JobState.DONE, job.error
    assert [e["key"] for e in JobStore(ws).events(job_id, "placement")] == ["plaza-0"]  # a Ray task ran it
    expected = {k: v for k, v in local.items() if k.startswith("track-bytetrack.")}
    assert computed_items(ws, {"track-bytetrack"}) == expected
