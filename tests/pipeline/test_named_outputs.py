"""A node's current output answers to the node's name; a param change keeps the earlier outputs until gc."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from selftrack.pipeline import (
    JobState,
    LocalExecutor,
    Pipeline,
    PipelineError,
    current_outputs,
    garbage_collect,
    resolve_dataset,
)
from selftrack.workspace import Workspace, import_videos

CLI = str(Path(sys.executable).with_name("selftrack"))


@pytest.fixture
def ws(tmp_path: Path, shared_data: Path, first_frames) -> Workspace:
    """Two real videos cut to 12 frames, and a two-node pipeline: half (resample) -> small (cropresize)."""
    paths = first_frames(
        [shared_data / "videos" / n for n in ("highway_cctv.avi", "parking_lot_top_down.mp4")], tmp_path, 12
    )
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", paths)
    pipe = Pipeline(ws)
    pipe.add_node("half", "resample", inputs={"input": "videos"}, params={"fraction": "1/2"})
    pipe.add_node(
        "small", "cropresize", inputs={"video": "half"}, params={"resize": {"mode": "fixed", "width": 64, "height": 48}}
    )
    return ws


def test_a_param_change_keeps_the_earlier_outputs_until_gc(ws: Workspace):
    pipe = Pipeline(ws)
    assert pipe.node("small").run(executor=LocalExecutor(1)).state == JobState.DONE
    first = {"half": current_outputs(ws, "half")["output"], "small": current_outputs(ws, "small")["video"]}
    first_items = {name: {it.key: it.sha256 for it in ws.items(ds)} for name, ds in first.items()}
    pipe.update_node("half", params={"fraction": "1/3"})
    second = pipe.node("small").run(executor=LocalExecutor(1))
    assert second.state == JobState.DONE and second.nodes["small"].computed  # recomputed from the new frames
    now = {"half": current_outputs(ws, "half")["output"], "small": current_outputs(ws, "small")["video"]}
    # the changed node and the node below it write new datasets; the earlier ones are still there, unchanged
    assert now["half"] != first["half"] and now["small"] != first["small"]
    for name, ds in first.items():
        assert ws.dataset(ds).done
        assert {it.key: it.sha256 for it in ws.items(ds)} == first_items[name]
    assert ws.item(now["small"], "highway_cctv").video_info.frame_count == 4  # 12 frames at a third
    assert ws.item(first["small"], "highway_cctv").video_info.frame_count == 6  # at a half: kept
    # going back to the earlier settings finds the earlier outputs: nothing to compute
    pipe.update_node("half", params={"fraction": "1/2"})
    back = pipe.node("small").run(executor=LocalExecutor(1))
    assert not back.nodes["half"].computed and not back.nodes["small"].computed
    assert current_outputs(ws, "small")["video"] == first["small"]
    # gc removes what no node's current settings use
    assert sorted(garbage_collect(ws, dry_run=True).datasets) == sorted(now.values())
    garbage_collect(ws)
    assert {ds.name for ds in ws.datasets()} == {"videos", *first.values()}


def test_names_people_gave_resolve_to_the_current_output(ws: Workspace, tmp_path: Path):
    pipe = Pipeline(ws)
    with pytest.raises(PipelineError, match="node 'small' has no 'video' output for its current settings yet"):
        resolve_dataset(ws, "small")
    pipe.node("small").run(executor=LocalExecutor(1))
    small = current_outputs(ws, "small")["video"]
    assert small.startswith("small.video@")
    assert resolve_dataset(ws, "small") == resolve_dataset(ws, "small.video") == resolve_dataset(ws, small) == small
    assert resolve_dataset(ws, "videos") == "videos"
    with pytest.raises(PipelineError, match="node 'small' has no output 'nope'; its outputs: video"):
        resolve_dataset(ws, "small.nope")
    with pytest.raises(
        PipelineError, match=r"no dataset or node named 'render' \(nodes: half, small; datasets: videos\)"
    ):
        resolve_dataset(ws, "render")
    # every command that takes a dataset takes the node's name
    env = {"COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    out = tmp_path / "out"
    proc = subprocess.run(
        [CLI, "-w", str(ws.root), "export", "small", str(out)], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == ["highway_cctv.mp4", "parking_lot_top_down.mp4"]
    proc = subprocess.run([CLI, "-w", str(ws.root), "items", "half.output"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "6 frames" in proc.stdout, proc.stderr
    proc = subprocess.run([CLI, "-w", str(ws.root), "datasets"], capture_output=True, text=True, env=env)
    assert proc.returncode == 0 and "node small" in proc.stdout and "node half" in proc.stdout
