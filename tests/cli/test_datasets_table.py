"""``selftrack datasets`` in an 80-column terminal: every dataset name whole on one line, so it can be copied."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from selftrack.pipeline import LocalExecutor, Pipeline, run_node
from selftrack.synth import SceneConfig, generate_scene, render_scene_video
from selftrack.workspace import Workspace, import_videos

CLI = str(Path(sys.executable).with_name("selftrack"))


def test_hashed_dataset_names_stay_whole_at_80_columns(tmp_path: Path):
    """The demo's node names: ``evaluate-bytetrack.metrics@<hash>`` is 35 characters. A wide terminal names
    each dataset's node too (``node track-bytetrack``); at 80 columns the name says it."""
    ws = Workspace.init(tmp_path / "ws")
    scene = generate_scene(SceneConfig(width=320, height=192, fps=10, num_frames=20, num_objects=3, seed=1))
    render_scene_video(scene, tmp_path / "plaza-1.mp4")
    import_videos(ws, "videos", [tmp_path / "plaza-1.mp4"])
    ws.create_dataset("ground-truth", "tracks")
    ws.put_detections("ground-truth", "plaza-1", scene.ground_truth)
    pipe = Pipeline(ws)
    motion = {"detector": "motion", "resize": {"mode": "keep"}}
    pipe.add_node("detect", "object_detection", inputs={"video": "videos"}, params=motion)
    pipe.add_node("track-bytetrack", "track", inputs={"detections": "detect", "video": "videos"})
    pipe.add_node(
        "evaluate-bytetrack", "evaluate", inputs={"ground_truth": "ground-truth", "tracks": "track-bytetrack"}
    )
    assert run_node(ws, "evaluate-bytetrack", executor=LocalExecutor(1)).state.value == "done"
    old_tracks = {d.name for d in ws.datasets() if d.name.startswith("track-bytetrack.")}
    pipe.update_node("track-bytetrack", params={"min_track_length": 2})  # its earlier output becomes old
    assert run_node(ws, "track-bytetrack", executor=LocalExecutor(1)).state.value == "done"
    ws.close()

    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run([CLI, "-w", str(tmp_path / "ws"), "datasets"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines), out.stdout
    ws = Workspace(tmp_path / "ws")
    names = [d.name for d in ws.datasets()]
    assert max(len(n) for n in names) >= 35 and len(names) == 6
    for name in names:  # each on one line, as a whole cell
        row = next((line for line in lines if f" {name} " in line), None)
        assert row is not None, f"{name} is not whole on one line:\n{out.stdout}"
        (old,) = old_tracks
        kind = "source" if name in ("videos", "ground-truth") else "old (gc)" if name == old else "node"
        assert f" {kind} " in row, row
