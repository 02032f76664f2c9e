"""The Ray executor on a multi-node cluster on this machine (``ray.cluster_utils.Cluster``).

A head node with no CPUs (the driver's: it holds the job channel, runs nothing) and two worker nodes
of one CPU each. A worker process killed mid-task, then a whole worker node removed mid-task: Ray
retries the task on what is left and the job finishes with the same outputs as the local executor.
The command line reaches the same cluster with ``--executor ray --address``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from ray_helpers import OBJECT_STORE, computed_items, drop_outputs, wait_for

from selftrack.cli.demo import demo_pipeline
from selftrack.pipeline import JobState, JobStore, LocalExecutor, Pipeline, run_node
from selftrack.workspace import Workspace, import_videos

ray = pytest.importorskip("ray", reason="the Ray tests need the selftrack[ray] extra")
from selftrack.pipeline.ray_executor import RayExecutor  # noqa: E402 - needs the extra checked above

NODES = {"detect", "track-bytetrack"}
CLI = str(Path(sys.executable).parent / "selftrack")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False, "object_store_memory": OBJECT_STORE},
    )
    workers = [cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE) for _ in range(2)]
    try:
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="warning")
        yield cluster, workers
    finally:
        ray.shutdown()
        cluster.shutdown()


@pytest.fixture(scope="module")
def two_videos(tmp_path_factory: pytest.TempPathFactory, scene_video) -> tuple[Path, dict[str, dict[str, str]]]:
    """Two 200-frame scenes through the demo's detect and ByteTrack nodes, run by the local executor."""
    root = tmp_path_factory.mktemp("cluster") / "ws"
    ws = Workspace.init(root)
    import_videos(ws, "demo-videos", [scene_video(200, 1), scene_video(200, 2)])
    nodes = demo_pipeline()
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": {n: nodes[n] for n in ("detect", "track-bytetrack")}}))
    assert run_node(ws, "track-bytetrack", executor=LocalExecutor(2)).state == JobState.DONE
    return root, computed_items(ws)


def _run_and_strike(ws: Workspace, strike) -> tuple[object, list[dict]]:
    """Run the two nodes on the cluster; ``strike(placement event)`` once the first item is under way."""
    jobs = JobStore(ws)
    job = jobs.create("run track-bytetrack", "run", "track-bytetrack")

    def watch() -> None:
        def first_running() -> dict | None:
            placed = jobs.events(job, "placement")
            items = {(it["node"], it["key"]): it for it in jobs.items(job)}
            for event in placed:
                item = items.get((event["node"], event["key"]))
                if item and item["pid"] == event["pid"] and item["state"] == "running" and item["frames_done"] > 0:
                    return event
            return None

        strike(wait_for(first_running))

    watcher = threading.Thread(target=watch)
    watcher.start()
    result = run_node(ws, "track-bytetrack", executor=RayExecutor(), job_id=job, raise_on_error=False)
    watcher.join()
    return result, jobs.events(job, "placement")


def test_a_killed_worker_process_is_retried_and_the_output_is_complete(cluster, two_videos):
    root, local = two_videos
    ws = Workspace(root)
    drop_outputs(ws, NODES)
    killed: list[dict] = []

    def kill_worker(event: dict) -> None:
        killed.append(event)
        os.kill(event["pid"], signal.SIGKILL)

    result, placed = _run_and_strike(ws, kill_worker)
    assert result.state == JobState.DONE, result.error
    assert computed_items(ws) == local
    (victim,) = killed
    attempts = [e for e in placed if (e["node"], e["key"]) == (victim["node"], victim["key"])]
    assert len(attempts) == 2 and attempts[1]["pid"] != victim["pid"]  # started again in another process


def test_a_lost_worker_node_is_retried_on_the_other_and_the_output_is_complete(cluster, two_videos):
    c, workers = cluster
    root, local = two_videos
    ws = Workspace(root)
    drop_outputs(ws, NODES)
    lost: list[dict] = []

    def remove_node(event: dict) -> None:
        lost.append(event)
        (node,) = [w for w in workers if w.node_id == event["ray_node"]]
        c.remove_node(node, allow_graceful=False)  # the machine is gone: raylet, workers and all

    result, placed = _run_and_strike(ws, remove_node)
    assert result.state == JobState.DONE, result.error
    assert computed_items(ws) == local
    (gone,) = lost
    retried = [e for e in placed if (e["node"], e["key"]) == (gone["node"], gone["key"])][1:]
    assert retried and all(e["ray_node"] != gone["ray_node"] for e in retried)  # finished on the surviving node
    assert all(e["ray_node"] != gone["ray_node"] for e in placed[placed.index(retried[0]) :])


def test_cli_runs_a_node_on_the_cluster_by_address(cluster, two_videos):
    c, _ = cluster
    root, local = two_videos
    ws = Workspace(root)
    drop_outputs(ws, NODES)
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run(
        [CLI, "-w", str(root), "run", "track-bytetrack", "--executor", "ray", "--address", c.address],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "detect: computed 2" in proc.stdout and "track-bytetrack: computed 2" in proc.stdout
    assert computed_items(Workspace(root)) == local
    bad = subprocess.run(
        [CLI, "-w", str(root), "run", "track-bytetrack", "--executor", "dask"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 1 and "unknown executor 'dask'; choose one of local, ray" in bad.stderr
