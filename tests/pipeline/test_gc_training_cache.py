"""``gc`` removes the re-id training caches of runs nothing keeps (crops, resume state, stage-2 vectors)."""

from __future__ import annotations

from pathlib import Path

from selftrack.core import Detections
from selftrack.pipeline import Pipeline, garbage_collect, run_node
from selftrack.synth import generate_scene, render_scene_video
from selftrack.workspace import DataType, Workspace, import_videos


def test_gc_removes_the_training_cache_of_a_run_whose_model_it_deleted(tmp_path: Path):
    scene = generate_scene(width=160, height=120, num_frames=60, num_objects=4, seed=1, fps=10)
    render_scene_video(scene, tmp_path / "clip.mp4")
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [tmp_path / "clip.mp4"])
    gt = scene.ground_truth
    ws.create_dataset("dets", DataType.DETECTIONS)
    ws.put_detections("dets", "clip", Detections.create(gt.frame, gt.xyxy, gt.score, canvas=gt.canvas))
    params = {"stage1_steps": 4, "stage2_steps": 2, "eval_every": 2, "device": "cpu", "track_duration": 1.0}
    pipe = Pipeline(ws)
    pipe.add_node("train", "unsupervised_reid", inputs={"video": "videos", "detections": "dets"}, params=params)
    run_node(ws, "train")
    runs = ws.root / "cache" / "reid"
    (first,) = list(runs.iterdir())
    assert any(first.rglob("*")), "a training run fills its cache folder"

    pipe.update_node("train", params={**params, "seed": 1})  # a new run: the first one's model is old
    run_node(ws, "train")
    second = next(p for p in runs.iterdir() if p != first)

    # nothing is removed before the grace period, or while the run's model is kept
    assert garbage_collect(ws, dry_run=True).caches == []
    preview = garbage_collect(ws, dry_run=True, grace=0)
    assert preview.caches == [first] and first.exists() and preview.cache_bytes > 0
    result = garbage_collect(ws, grace=0)
    assert result.caches == [first] and not first.exists() and second.exists()
    assert ws.item(Pipeline(ws).node("train").outputs()["model"], "model").path.exists()
