"""The pipeline engine on real videos: caching, incremental and partial runs, validation, jobs."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from selftrack.core import Detections
from selftrack.pipeline import (
    JobState,
    JobStore,
    LocalExecutor,
    Op,
    OpParams,
    Partial,
    Pipeline,
    PipelineError,
    Port,
    garbage_collect,
    run_node,
)
from selftrack.workspace import DataType, Workspace, import_videos

SMALL_VIDEOS = ("highway_cctv.avi", "parking_lot_top_down.mp4", "street_8_frames.mp4")


@pytest.fixture(scope="module")
def short_videos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The first 40 frames of three real videos (the full files make these tests slow, not better)."""
    from selftrack.video import VideoReader, VideoWriter

    out = tmp_path_factory.mktemp("videos")
    paths = []
    for name in SMALL_VIDEOS:
        target = out / (Path(name).stem + ".mp4")
        with VideoReader(shared_data / "videos" / name) as reader, VideoWriter(target, reader.output_fps) as writer:
            for frame in reader.frames(0, min(40, reader.frame_count)):
                writer.write(frame)
        paths.append(target)
    return paths


@pytest.fixture
def ws(tmp_path: Path, short_videos: list[Path]) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", short_videos)
    return ws


def three_nodes(ws: Workspace, max_dimension: int = 96) -> Pipeline:
    pipe = Pipeline(ws)
    pipe.add_node("half", "resample", inputs={"input": "videos"}, params={"fraction": "1/2"})
    pipe.add_node(
        "small",
        "cropresize",
        inputs={"video": "half"},
        params={"resize": {"mode": "scale-down", "max_dimension": max_dimension, "multiple": 16}},
    )
    pipe.add_node("clips", "video_sample", inputs={"video": "small"}, params={"count": 3, "length": 2, "seed": 1})
    return pipe


KEYS = sorted(Path(v).stem for v in SMALL_VIDEOS)


def test_three_node_pipeline_runs_then_is_cached(ws: Workspace):
    pipe = three_nodes(ws)
    first = pipe.node("clips").run(executor=LocalExecutor(2))
    assert first.state == JobState.DONE
    assert sorted(first.computed["half"]) == KEYS and sorted(first.computed["small"]) == KEYS
    assert first.computed["clips"] == ["*"]
    small = first.outputs("small")["video"]
    for key in KEYS:
        item = ws.item(small, key)
        video = item.metadata["video"]
        assert max(video["width"], video["height"]) <= 96 and video["width"] % 16 == 0
        src_frames = ws.item("videos", key).metadata["video"]["frame_count"]
        assert video["frame_count"] == -(-src_frames // 2)  # every other frame
        assert ws.dataset(small).done
    assert len(ws.keys(first.outputs("clips")["samples"])) == 3

    second = pipe.node("clips").run()
    assert second.state == JobState.DONE
    assert second.computed == {"half": [], "small": [], "clips": []}


def test_param_edit_recomputes_only_what_depends_on_it(ws: Workspace):
    pipe = three_nodes(ws)
    pipe.node("clips").run(executor=LocalExecutor(2))
    old_small = pipe.node("small").outputs()["video"]
    pipe.update_node("small", params={"resize": {"mode": "scale-down", "max_dimension": 64, "multiple": 16}})
    result = pipe.node("clips").run(executor=LocalExecutor(2))
    assert result.computed["half"] == []
    assert sorted(result.computed["small"]) == KEYS
    assert result.computed["clips"] == ["*"]
    # the old output is kept until garbage collection, then removed
    assert ws.find_dataset(old_small) is not None
    deleted = garbage_collect(ws).datasets
    assert old_small in deleted and ws.find_dataset(old_small) is None
    assert ws.find_dataset(pipe.node("small").outputs()["video"]) is not None


def test_adding_an_item_computes_only_that_item(ws: Workspace, shared_data: Path):
    pipe = Pipeline(ws)
    pipe.add_node("half", "resample", inputs={"input": "videos"}, params={"fraction": "1/2"})
    pipe.add_node(
        "small", "cropresize", inputs={"video": "half"}, params={"resize": {"mode": "fixed", "width": 64, "height": 48}}
    )
    pipe.node("small").run()
    before = {k: ws.item(pipe.node("small").outputs()["video"], k).sha256 for k in KEYS}
    import_videos(ws, "videos", [shared_data / "videos" / "highway_overpass_cdnet.avi"])
    result = pipe.node("small").run()
    assert result.computed == {"half": ["highway_overpass_cdnet"], "small": ["highway_overpass_cdnet"]}
    after = {k: ws.item(pipe.node("small").outputs()["video"], k).sha256 for k in KEYS}
    assert after == before


def test_partial_run_computes_the_chosen_keys_only(ws: Workspace):
    pipe = three_nodes(ws)
    result = pipe.node("small").run(partial=Partial(count=2, seed=3))
    assert len(result.computed["half"]) == 2 and sorted(result.computed["small"]) == sorted(result.computed["half"])
    out = pipe.node("small").outputs()["video"]
    assert len(ws.keys(out)) == 2 and not ws.dataset(out).done
    first = set(result.computed["small"])
    explicit = pipe.node("small").run(partial=Partial(keys=("street_8_frames",)))
    # a key computed by the first partial run is up to date; otherwise exactly that key is computed
    assert explicit.computed["small"] == ([] if "street_8_frames" in first else ["street_8_frames"])
    rest = pipe.node("small").run()  # the full run finishes the remaining key only
    assert set(rest.computed["small"]) == set(KEYS) - first - {"street_8_frames"}
    assert ws.dataset(out).done


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            {"name": "f", "op": "detection_filter", "inputs": {"detections": "videos"}},
            "node 'f' input 'detections': dataset 'videos' is video",
        ),
        (
            {"name": "f", "op": "resample", "inputs": {"input": "nope"}},
            "node 'f' input 'input': no dataset named 'nope'",
        ),
        ({"name": "f", "op": "resample", "inputs": {}}, "node 'f' (resample): input 'input' is not wired"),
        (
            {"name": "f", "op": "resample", "inputs": {"input": "videos"}, "params": {"fractoin": "1/2"}},
            "node 'f' (resample): invalid params: unknown parameter 'fractoin'; valid parameters: fps, fraction",
        ),
        (
            {"name": "f", "op": "resample", "inputs": {"input": "videos", "video": "videos"}},
            "node 'f' (resample) has no input 'video'",
        ),
        ({"name": "f", "op": "no_such_op", "inputs": {}}, "unknown op 'no_such_op'"),
    ],
)
def test_miswired_nodes_are_refused_with_the_node_and_input_named(ws: Workspace, node: dict, message: str):
    pipe = Pipeline(ws)
    with pytest.raises(PipelineError if node["op"] != "no_such_op" else Exception, match=re.escape(message)):
        pipe.add_node(node["name"], node["op"], inputs=node.get("inputs"), params=node.get("params"))
    assert "f" not in pipe.nodes()
    assert JobStore(ws).list() == []  # nothing ran


def test_cycles_are_refused(ws: Workspace):
    text = textwrap.dedent(
        """
        nodes:
          a: {op: resample, inputs: {input: {node: b}}, params: {fraction: 1/2}}
          b: {op: resample, inputs: {input: {node: a}}, params: {fraction: 1/2}}
        """
    )
    with pytest.raises(PipelineError, match=r"cycle: (a -> b -> a|b -> a -> b)"):
        Pipeline(ws).load_yaml(text)
    assert Pipeline(ws).nodes() == {}


def test_yaml_round_trip_and_cli_run(ws: Workspace, tmp_path: Path):
    pipe = three_nodes(ws)
    text = pipe.to_yaml()
    other = Workspace.init(tmp_path / "other")
    shutil.copytree(ws.root / "items", other.root / "items", dirs_exist_ok=True)
    for item in ws.items("videos"):
        other.create_dataset("videos", DataType.VIDEO, exist_ok=True)
        other.put_file("videos", item.key, item.path, metadata=item.metadata)
    yaml_path = tmp_path / "pipeline.yaml"
    yaml_path.write_text(text)
    cli = Path(sys.executable).with_name("selftrack")
    proc = subprocess.run(
        [str(cli), "-w", str(other.root), "run", str(yaml_path), "--workers", "1"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert "running clips" in proc.stdout and "done" in proc.stdout
    assert Pipeline(other).to_yaml() == text
    assert len(other.keys(Pipeline(other).node("clips").outputs()["samples"])) == 3


def test_killed_worker_leaves_nothing_marked_done_and_rerun_resumes(tmp_path: Path, shared_data: Path):
    root = tmp_path / "ws"
    ws = Workspace.init(root)
    videos = [
        "highway_cctv.avi",
        "highway_overpass_cdnet.avi",
        "indoor_people_one_by_one.mp4",
        "parking_lot_top_down.mp4",
    ]
    import_videos(ws, "videos", [shared_data / "videos" / v for v in videos])
    Pipeline(ws).add_node("copy", "cropresize", inputs={"video": "videos"}, params={"crf": 30})
    script = f"from selftrack.pipeline import run_node, LocalExecutor\nrun_node(__import__('selftrack.workspace', fromlist=['Workspace']).Workspace({str(root)!r}), 'copy', executor=LocalExecutor(2))"
    proc = subprocess.Popen([sys.executable, "-c", script], stderr=subprocess.PIPE, text=True)
    jobs = JobStore(ws)
    victim = None
    deadline = time.time() + 120
    while time.time() < deadline and victim is None:
        time.sleep(0.2)
        for row in jobs.ws.db.execute("SELECT * FROM job_items WHERE state = 'running'").fetchall():
            done = jobs.ws.db.execute("SELECT COUNT(*) FROM job_items WHERE state = 'done'").fetchone()[0]
            if done >= 1 and row["pid"] != proc.pid:
                victim = row["pid"]
                break
    assert victim is not None, "no worker got to run while another item was done"
    os.kill(victim, signal.SIGKILL)
    proc.wait(timeout=120)
    assert proc.returncode != 0
    job = jobs.list()[0]
    assert job.state == JobState.FAILED and "worker process died" in (job.error or "")
    out = ws.dataset(Pipeline(ws).node("copy").outputs()["video"])
    finished = set(ws.keys(out.name))
    assert not out.done and 1 <= len(finished) < 4
    for item in ws.items(out.name):  # every visible item is whole
        from selftrack.video import probe

        assert probe(item.path).frame_count == ws.item("videos", item.key).metadata["video"]["frame_count"]
    rerun = run_node(ws, "copy", executor=LocalExecutor(2))
    assert rerun.state == JobState.DONE
    assert set(rerun.computed["copy"]) == {Path(v).stem for v in videos} - finished
    assert ws.dataset(out.name).done


def test_stop_request_stops_the_job_and_keeps_finished_items(ws: Workspace, shared_data: Path):
    import_videos(ws, "videos", [shared_data / "videos" / "indoor_people_one_by_one.mp4"])  # a long one, to stop
    Pipeline(ws).add_node("copy", "cropresize", inputs={"video": "videos"}, params={"crf": 30})
    jobs = JobStore(ws)

    def stopper() -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            rows = Workspace(ws.root).db.execute("SELECT id FROM jobs WHERE state = 'running'").fetchall()
            if rows:
                time.sleep(0.5)
                JobStore(Workspace(ws.root)).request_stop(rows[0][0])
                return
            time.sleep(0.05)

    t = threading.Thread(target=stopper)
    t.start()
    result = run_node(ws, "copy", executor=LocalExecutor(1))
    t.join()
    assert result.state == JobState.STOPPED
    out = Pipeline(ws).node("copy").outputs()["video"]
    assert not ws.dataset(out).done
    assert jobs.get(result.job_id).state == JobState.STOPPED
    again = run_node(ws, "copy", executor=LocalExecutor(1))
    assert again.state == JobState.DONE and ws.dataset(out).done
    assert set(again.computed["copy"]) | set(result.computed["copy"]) == set(ws.keys("videos"))


def test_jobs_of_a_dead_process_are_marked_interrupted(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    jobs = JobStore(ws)
    job_id = jobs.create("run x", "run", "x")
    jobs.start(job_id, [], 1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with ws.transaction() as db:
        db.execute("UPDATE jobs SET pid = ? WHERE id = ?", (dead.pid, job_id))
    assert jobs.mark_interrupted() == [job_id]
    assert jobs.get(job_id).state == JobState.INTERRUPTED


# ---------------------------------------------------------------------------------------------- join and lengths
class _CountBoxes(Op):
    """Test op with two joined inputs (runs in-process: workers=1)."""

    name = "test_count_boxes"
    title = "count"
    inputs = (Port("video", (DataType.VIDEO,)), Port("detections", (DataType.DETECTIONS,)))
    outputs = (Port("detections", (DataType.DETECTIONS,)),)
    Params = OpParams

    def run_item(self, ctx):
        ctx.put_detections("detections", ctx.item("detections").load_detections())


def test_missing_keys_are_reported_and_length_mismatch_is_an_error(ws: Workspace):
    ws.create_dataset("dets", DataType.DETECTIONS)
    n = ws.item("videos", "street_8_frames").metadata["video"]["frame_count"]
    ws.put_detections("dets", "street_8_frames", Detections.create([0], [[0, 0, 5, 5]], num_frames=n))
    ws.put_detections("dets", "only_here", Detections.create([0], [[0, 0, 5, 5]], num_frames=3))
    pipe = Pipeline(ws)
    pipe.add_node("count", "test_count_boxes", inputs={"video": "videos", "detections": "dets"})
    result = run_node(ws, "count", executor=LocalExecutor(1))
    assert result.computed["count"] == ["street_8_frames"]
    missing = result.nodes["count"].missing_keys
    assert missing["detections (dets)"] == ["only_here"]
    assert sorted(missing["video (videos)"]) == ["highway_cctv", "parking_lot_top_down"]
    events = JobStore(ws).events(result.job_id, "missing_keys")
    assert {e["input"] for e in events} == {"detections (dets)", "video (videos)"}

    ws.put_detections("dets", "highway_cctv", Detections.create([0], [[0, 0, 5, 5]], num_frames=10))
    failed = run_node(ws, "count", executor=LocalExecutor(1), raise_on_error=False)
    assert failed.state == JobState.FAILED
    assert "highway_cctv" in failed.error and "different lengths" in failed.error and "40 frames" in failed.error
    job = JobStore(ws).get(failed.job_id)
    assert job.traceback and "different lengths" in job.traceback
    out = pipe.node("count").outputs()["detections"]
    assert not ws.dataset(out).done and ws.keys(out) == ["street_8_frames"]


def test_detection_filter_op(ws: Workspace):
    ws.create_dataset("dets", DataType.DETECTIONS)
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 200, (50, 2))
    wh = rng.uniform(1, 40, (50, 2))
    dets = Detections.create(
        np.arange(50) % 8,
        np.hstack([xy, xy + wh]),
        score=rng.uniform(0, 1, 50),
        class_id=np.arange(50) % 2,
        classes={0: "car", 1: "person"},
        num_frames=8,
    )
    ws.put_detections("dets", "street_8_frames", dets)
    pipe = Pipeline(ws)
    pipe.add_node(
        "f",
        "detection_filter",
        inputs={"detections": "dets"},
        params={"categories": ["car"], "min_score": 0.0, "min_width": 10},
    )
    run_node(ws, "f", executor=LocalExecutor(1))
    out = ws.item(pipe.node("f").outputs()["detections"], "street_8_frames").load_detections()
    expected = (dets.class_id == 0) & (dets.xyxy[:, 2] - dets.xyxy[:, 0] >= 10)
    assert len(out) == int(expected.sum()) and set(out.class_id.tolist()) == {0}
    pipe.update_node("f", params={"categories": ["bus"]})
    with pytest.raises(Exception, match="categories \\['bus'\\] not in dets/street_8_frames"):
        run_node(ws, "f", executor=LocalExecutor(1))
