"""``selftrack demo``: the whole tutorial on a generated scene, with nothing to download and no labels used.

A fixed camera looks at a plaza where people walk across, pass in front of each other and leave and
come back (``selftrack.synth``, ``kind="plaza"``), so telling people apart by their look matters. The
video and its exact ground truth are imported into a workspace, then the tutorial runs as a real
pipeline (``selftrack -w selftrack-demo nodes`` lists it; a re-run reuses every cached result):

1. ``detect``: the weight-free moving-object detector (background subtraction);
2. ``train-reid``: self-supervised re-identification training (UNS20) from the video and those
   detections only, with a small step budget so it fits in about a minute on 2 CPU cores;
3. ``track-reid``: the re-id tracker (appearance + Kalman motion, re-linking and stitching of
   fragments) with its default settings, the first-stage score lowered for the motion detector;
4. ``track-bytetrack``: ByteTrack on the same detections with the same post-processing, the
   strongest motion-only baseline of the tutorial;
5. ``render``: the re-id tracks drawn on the video;
6. ``evaluate-reid`` / ``evaluate-bytetrack``: both scored against the generated ground truth,
   printed side by side.

The ground truth is used only to score; nothing is trained or tuned on it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from selftrack.synth import SceneConfig, generate_scene, render_scene_video
from selftrack.workspace import DataType, Workspace, import_videos

VIDEOS = "demo-videos"
GROUND_TRUTH = "demo-ground-truth"
TRAIN_STEPS = 300
"""Stage-1 steps of the demo's re-id training (stage 2 gets a sixth): small, so the demo takes minutes."""

# The re-id tracker with its defaults: score thresholds from the detections' own scores, appearance
# weighted by how far the model can be trusted, on-line re-linking and border-aware offline stitching,
# tracks under 4 boxes dropped and gaps up to 2 s filled (20 frames at the demo's 10 fps).
REID_TRACKER: dict[str, Any] = {}
# Motion-only baseline: ByteTrack at the video's frame rate, the re-id tracker's post-processing at 10 fps.
BYTETRACK = {
    "tracker": "bytetrack",
    "tracker_params": {"track_thresh": 0.3},  # frame_rate: the video's (wired below)
    "min_track_length": 4,
    "interpolate_max_gap": 20,
}
METRICS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")
COLUMNS = {"evaluate-reid": "re-id tracker (self-supervised)", "evaluate-bytetrack": "ByteTrack (motion only)"}


def scene_config(num_frames: int, seed: int) -> SceneConfig:
    """The demo's scene: 640x360 at 10 fps, ten people on a plaza."""
    return SceneConfig(width=640, height=360, fps=10, num_frames=num_frames, num_objects=10, kind="plaza", seed=seed)


def demo_pipeline(train_steps: int = TRAIN_STEPS) -> dict[str, Any]:
    """The demo's nodes, as ``selftrack run`` reads them from YAML (``{"nodes": ...}``)."""
    return {
        "detect": {
            "op": "object_detection",
            "inputs": {"video": VIDEOS},
            "params": {
                "detector": "motion",
                "resize": {"mode": "keep"},
                "motion": {"merge_distance": 1, "min_area": 60},
            },
        },
        "train-reid": {
            "op": "unsupervised_reid",
            "inputs": {"video": VIDEOS, "detections": "detect"},
            "params": {
                "track_duration": 4.0,
                "stage1_steps": train_steps,
                "stage2_steps": max(train_steps // 6, 1),
                "eval_every": 100,
                "max_minutes": 3.0,  # a cap for slow machines; the steps end first on 2 cores
            },
        },
        "track-reid": {
            "op": "reid_tracker",
            "inputs": {"model": "train-reid", "video": VIDEOS, "detections": "detect"},
            "params": REID_TRACKER,
        },
        "track-bytetrack": {"op": "track", "inputs": {"detections": "detect", "video": VIDEOS}, "params": BYTETRACK},
        "render": {
            "op": "render",
            "inputs": {"video": VIDEOS, "detections": ["track-reid"]},
            "params": {"trail_length": 10},
        },
        "evaluate-reid": {
            "op": "evaluate",
            "inputs": {"ground_truth": GROUND_TRUTH, "tracks": "track-reid"},
            "params": {"benchmark": "none"},
        },
        "evaluate-bytetrack": {
            "op": "evaluate",
            "inputs": {"ground_truth": GROUND_TRUTH, "tracks": "track-bytetrack"},
            "params": {"benchmark": "none"},
        },
    }


def _run_targets(ws: Workspace, targets: list[str], console: Console) -> None:
    """Run each target node (and its stale ancestors) as a job, with live progress rows; one line per node."""
    from selftrack.cli.progress import Display, job_rows
    from selftrack.pipeline import LocalExecutor, run_node

    executor = LocalExecutor(1)
    reported: set[str] = set()
    for target in targets:
        latest: list[Any] = []

        def keep(p: Any, latest: list[Any] = latest) -> None:
            latest[:] = [p]

        def rows(latest: list[Any] = latest) -> list[Any]:
            return job_rows(latest[-1]) if latest else []

        started = time.perf_counter()
        # live rows on a terminal; off one, a progress line every 10 s on stderr, the lines below on stdout
        display = Display(
            console if console.is_terminal else Console(stderr=True, soft_wrap=True), rows, transient=True
        )
        with display:
            result = run_node(ws, target, executor=executor, on_progress=keep)
        for node, run in result.nodes.items():
            if node in reported:
                continue
            reported.add(node)
            state = f"computed {len(run.computed)} item(s)" if run.computed else "up to date (cached)"
            console.print(f"   {node}: {state}")
        if any(run.computed for run in result.nodes.values()):
            console.print(f"   ({target} ready after {time.perf_counter() - started:.1f} s)", style="dim")


def run_demo(
    root: Path,
    *,
    num_frames: int = 300,
    seed: int = 0,
    train_steps: int = TRAIN_STEPS,
    console: Console | None = None,
) -> dict[str, dict[str, float]]:
    """Build (or refresh) the demo workspace at ``root``, run the pipeline and return both trackers' metrics.

    The result is ``{"reid": {metric: value}, "bytetrack": {...}}`` with the summary of the
    ``evaluate`` op (fractions in [0, 1], IDSW a count).
    """
    import yaml

    from selftrack.pipeline import Pipeline

    console = console or Console()
    t0 = time.perf_counter()
    ws = Workspace.init(root)
    scene = generate_scene(scene_config(num_frames, seed))
    key = f"plaza-{seed}"
    with ws.staging_dir("demo-") as tmp:
        video_path = Path(tmp) / f"{key}.mp4"
        info = render_scene_video(scene, video_path)
        console.print(
            f"[bold]1. generated[/] a {info.width}x{info.height} plaza scene, {info.frame_count} frames at "
            f"{float(info.fps):g} fps, {len(scene.ground_truth.track_ids)} people ({time.perf_counter() - t0:.1f} s)"
        )
        # The same scene encodes to the same bytes, so re-importing it keeps every cached result valid.
        import_videos(ws, VIDEOS, [video_path], overwrite=True)
    ws.create_dataset(GROUND_TRUTH, DataType.TRACKS, exist_ok=True)
    ws.put_detections(GROUND_TRUTH, key, scene.ground_truth, overwrite=True)
    console.print(
        f"[bold]2. imported[/] the video into [bold]{VIDEOS}[/] and its exact tracks into [bold]{GROUND_TRUTH}[/] "
        "(used only to score)"
    )

    nodes = demo_pipeline(train_steps)
    pipe = Pipeline(ws)
    pipe.load_yaml(yaml.safe_dump({"nodes": nodes}, sort_keys=False))
    console.print(f"[bold]3. pipeline[/] {' -> '.join(nodes)} (selftrack -w {root} nodes)")
    _run_targets(ws, ["render", *COLUMNS], console)

    model = ws.item(pipe.node("train-reid").outputs()["model"], "model")
    console.print(f"[bold]4. trained[/] a re-id model from the video and its detections alone: {model.path}")
    rendered = ws.item(pipe.node("render").outputs()["video"], key)
    console.print(f"[bold]5. rendered[/] the re-id tracks: {rendered.path}")

    results = {
        node.removeprefix("evaluate-"): ws.item(pipe.node(node).outputs()["metrics"], key).metadata["summary"]
        for node in COLUMNS
    }
    table = Table("metric", *COLUMNS.values(), title="6. evaluated against the exact ground truth")
    for name in METRICS:
        table.add_row(name, *(_cell(name, results[n.removeprefix("evaluate-")][name]) for n in COLUMNS))
    console.print(table)
    console.print(f"done in {time.perf_counter() - t0:.1f} s; workspace {ws.root}")
    return {name: {m: float(r[m]) for m in METRICS} for name, r in results.items()}


def _cell(metric: str, value: float) -> str:
    return str(int(value)) if metric == "IDSW" else f"{100 * value:.1f}"
