"""Job progress by stage: each stage its own unit and fixed total, ``done`` and the job's fraction only rise."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from selftrack.pipeline import JobState, JobStore, LocalExecutor, Pipeline, run_node
from selftrack.pipeline.progress import StageReporter, read_stages
from selftrack.workspace import Workspace, import_videos


@pytest.fixture(scope="module")
def short_videos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory, first_frames) -> list[Path]:
    """The first 30 frames of two real videos."""
    names = ("highway_cctv.avi", "parking_lot_top_down.mp4")
    return first_frames([shared_data / "videos" / n for n in names], tmp_path_factory.mktemp("videos"), 30)


def test_a_run_reports_each_node_as_a_stage_in_its_own_unit(tmp_path: Path, short_videos: list[Path]):
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", short_videos)
    pipe = Pipeline(ws)
    pipe.add_node("half", "resample", inputs={"input": "videos"}, params={"fraction": "1/2"})
    pipe.add_node("clips", "video_sample", inputs={"video": "half"}, params={"count": 3, "length": 2, "seed": 1})
    seen = []
    result = run_node(ws, "clips", executor=LocalExecutor(1), on_progress=lambda p: seen.append(p.to_dict()))
    assert result.state == JobState.DONE
    progress = JobStore(ws).progress(result.job_id)
    stages = progress.stages
    assert [(s.node, s.unit, s.total, s.done, s.state) for s in stages] == [
        ("half", "frames", 60, 60, "done"),  # 2 videos x 30 frames, from their metadata, before any item ran
        ("clips", "clips", 3, 3, "done"),  # a whole-dataset op without stages of its own: its progress_unit
    ]
    assert progress.fraction == 1.0 and progress.nodes_done == progress.nodes_total == 2
    assert all(s.rate() and s.rate() > 0 for s in stages) and all(s.eta_seconds() == 0 for s in stages)
    fractions = [p["fraction"] for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    for p in seen:  # a stage's total never changes and its done never goes down
        for s in p["stages"]:
            first = next(q for q in seen for t in q["stages"] if t["started_at"] == s["started_at"])
            assert s["total"] == next(t["total"] for t in first["stages"] if t["started_at"] == s["started_at"])
    # the JSON the web app reads: the documented keys
    data = json.loads(json.dumps(progress.to_dict()))
    assert set(data) == {
        "state", "elapsed", "fraction", "items_done", "items_total", "current", "nodes_done", "nodes_total",
        "eta_seconds", "stage", "stages",
    }  # fmt: skip
    assert set(data["stage"]) == {
        "node", "name", "unit", "done", "total", "part", "parts", "state", "fraction", "elapsed", "rate",
        "eta_seconds", "started_at", "finished_at",
    }  # fmt: skip


def test_stage_reporter_keeps_totals_fixed_and_done_rising(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    jobs = JobStore(ws)
    job = jobs.create("train", "run", "reid")
    jobs.start(job, [{"node": "reid", "op": "unsupervised_reid", "state": "running"}], 1)
    stages = StageReporter(ws, job, "reid")
    stages.stage("crops", "frames", 200, part=1, parts=3)
    stages.progress(150, 200)
    stages.progress(120, 200)  # a late, lower report does not move it back
    stages.progress(200, 200)
    first = read_stages(ws, job)
    assert [(s.name, s.unit, s.done, s.total) for s in first] == [("crops", "frames", 200, 200)]
    stages.stage("appearance", "steps", 2000, part=2, parts=3)
    stages.progress(500, 2000)
    stages.flush()  # writes are throttled to twice a second
    progress = jobs.progress(job)
    assert [s.state for s in progress.stages] == ["done", "running"]
    assert progress.stage is not None and progress.stage.name == "appearance"
    assert progress.fraction == pytest.approx((1 + 500 / 2000) / 3)
    stages.progress(3, 7)  # a different total is a new stage, never a changed one
    after = read_stages(ws, job)
    assert [(s.name, s.total) for s in after] == [("crops", 200), ("appearance", 2000), ("reid (3)", 7)]
    assert after[1].state == "done" and after[1].done == 500
    time.sleep(0.01)
    jobs.finish(job, JobState.STOPPED)
    assert [s.state for s in read_stages(ws, job)] == ["done", "done", "stopped"]
