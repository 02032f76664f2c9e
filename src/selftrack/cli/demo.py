"""``selftrack demo``: the tutorial's workflow on a generated scene, with nothing to download.

It grows with the project. Today: generate a fixed-camera scene with exact ground truth, import the video
and the ground-truth tracks into a workspace, and print what is there.
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


def run_demo(root: Path, *, num_frames: int = 300, seed: int = 0, console: Console | None = None) -> Workspace:
    """Build (or refresh) the demo workspace at ``root`` and return it."""
    console = console or Console()
    t0 = time.perf_counter()
    ws = Workspace.init(root)
    config = SceneConfig(num_frames=num_frames, seed=seed)
    scene = generate_scene(config)
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

    table = Table("dataset", "type", "items", "content hash", title=f"workspace {ws.root}")
    for ds in ws.datasets():
        table.add_row(ds.name, ds.data_type.value, str(len(ws.keys(ds.name))), ds.content_hash[:12])
    console.print(table)
    gt = ws.item(GROUND_TRUTH, key).load_detections()
    console.print(
        f"ground truth: {len(gt)} boxes in {gt.frame_count} frames, {len(gt.track_ids)} tracks; "
        f"done in {time.perf_counter() - t0:.1f} s"
    )
    return ws
