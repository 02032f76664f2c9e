"""``selftrack demo``: the tutorial's workflow on a generated scene, with nothing to download.

Generate a fixed-camera road scene with exact ground truth, import it, then run the tutorial as a pipeline:
detect moving objects (no weights) -> track -> render -> evaluate against the ground truth. It grows with
the project: the self-supervised re-identification step joins the pipeline when it lands.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from selftrack.synth import SceneConfig, generate_scene, render_scene_video
from selftrack.workspace import DataType, Workspace, import_videos

VIDEOS = "demo-videos"
GROUND_TRUTH = "demo-ground-truth"

DEMO_PIPELINE = {
    "detect": {
        "op": "object_detection",
        "inputs": {"video": VIDEOS},
        "params": {"detector": "motion", "resize": {"mode": "keep"}, "motion": {"merge_distance": 1, "min_area": 60}},
    },
    "track": {
        "op": "track",
        "inputs": {"detections": "detect"},
        "params": {"tracker": "bytetrack", "tracker_params": {"track_thresh": 0.3, "frame_rate": 10}, "min_track_length": 5, "interpolate_max_gap": 10},
    },
    "render": {"op": "render", "inputs": {"video": VIDEOS, "detections": ["track"]}, "params": {"trail_length": 10}},
    "evaluate": {"op": "evaluate", "inputs": {"ground_truth": GROUND_TRUTH, "tracks": "track"}, "params": {"benchmark": "none"}},
}


def run_demo(root: Path, *, num_frames: int = 300, seed: int = 0, console: Console | None = None) -> Workspace:
    """Build (or refresh) the demo workspace at ``root``, run the pipeline and return the workspace."""
    import yaml

    from selftrack.pipeline import LocalExecutor, Pipeline, run_node

    console = console or Console()
    t0 = time.perf_counter()
    ws = Workspace.init(root)
    scene = generate_scene(SceneConfig(num_frames=num_frames, seed=seed))
    key = f"scene-{seed}"
    with tempfile.TemporaryDirectory(dir=ws.root / "tmp") as tmp:
        video_path = Path(tmp) / f"{key}.mp4"
        info = render_scene_video(scene, video_path)
        console.print(
            f"[bold]1. generated[/] a {info.width}x{info.height} scene, {info.frame_count} frames at "
            f"{float(info.fps):g} fps, {len(scene.ground_truth.track_ids)} objects ({time.perf_counter() - t0:.1f} s)"
        )
        import_videos(ws, VIDEOS, [video_path], overwrite=True)
    ws.create_dataset(GROUND_TRUTH, DataType.TRACKS, exist_ok=True)
    ws.put_detections(GROUND_TRUTH, key, scene.ground_truth, overwrite=True)
    console.print(f"[bold]2. imported[/] the video into [bold]{VIDEOS}[/] and its exact tracks into [bold]{GROUND_TRUTH}[/]")

    pipe = Pipeline(ws)
    pipe.load_yaml(yaml.safe_dump({"nodes": DEMO_PIPELINE}))
    console.print("[bold]3. pipeline[/] " + " -> ".join(DEMO_PIPELINE) + " (selftrack -w " + str(root) + " nodes)")
    executor = LocalExecutor(1)
    for target in ("render", "evaluate"):
        result = run_node(ws, target, executor=executor)
        for node, run in result.nodes.items():
            state = f"computed {len(run.computed)} item(s)" if run.computed else "up to date"
            console.print(f"   {node}: {state}")
    outputs = pipe.node("render").outputs()
    rendered = ws.item(outputs["video"], key)
    console.print(f"[bold]4. rendered[/] tracks: {rendered.path}")

    metrics = ws.item(pipe.node("evaluate").outputs()["metrics"], key).metadata["summary"]
    table = Table("metric", "moving-object detector + ByteTrack", title="5. evaluated against the exact ground truth")
    for name in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW"):
        value = metrics[name]
        table.add_row(name, str(value) if name == "IDSW" else f"{100 * value:.1f}")
    console.print(table)
    console.print(f"done in {time.perf_counter() - t0:.1f} s; workspace {ws.root}")
    return ws
