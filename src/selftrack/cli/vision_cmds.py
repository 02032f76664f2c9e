"""Detection and rendering on plain files: ``detect`` and ``render`` (the same code as the ops)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from selftrack.cli.app import app, console, progress_bar
from selftrack.cli.progress import clock
from selftrack.core.errors import SelftrackError


def check_output_file(out: Path) -> None:
    """``--out`` names a file to write: a folder there is one clear error, not an IsADirectoryError."""
    if out.is_dir():
        raise SelftrackError(f"{out}: is a folder; --out names the file to write (e.g. {out / 'out.txt'})")


@app.command()
def detect(
    video: Annotated[Path, typer.Option(help="Video file.")],
    model: Annotated[
        str, typer.Option(help="A YOLO .onnx (or ultralytics .pt) file, or a built-in detector: motion, hog, person.")
    ],
    out: Annotated[Path, typer.Option(help="Output detections (.txt: MOTChallenge, .json: SkyhookML).")],
    max_dimension: Annotated[
        int, typer.Option(help="Scale frames down so the larger side is at most this (0: keep the size).")
    ] = 640,
    multiple: Annotated[int, typer.Option(help="Round each side to the nearest multiple of this.")] = 32,
    conf: Annotated[float, typer.Option(help="Confidence threshold (YOLO).")] = 0.1,
    iou: Annotated[float, typer.Option(help="NMS IoU threshold (YOLO).")] = 0.5,
    classes: Annotated[str | None, typer.Option(help="Comma-separated class names to keep, e.g. car,truck.")] = None,
    batch_size: Annotated[int, typer.Option(help="Frames per batch.")] = 8,
) -> None:
    """Detect objects in every frame of a video and write the boxes."""
    from selftrack.cli.tracking_cmds import validate_params
    from selftrack.detectors import detect_video
    from selftrack.formats import write_detections
    from selftrack.ops.object_detection import ObjectDetectionParams, build_detector
    from selftrack.video import ResizeSpec
    from selftrack.workspace.store import Item

    check_output_file(out)
    sizes = {"mode": "scale-down", "max_dimension": max_dimension} if max_dimension else {"mode": "keep"}
    flags = {"max_dimension": "--max-dimension", "multiple": "--multiple"}
    resize = validate_params(ResizeSpec, {**sizes, "multiple": multiple}, "resize", flags=flags, hint=None)
    builtin = model in ("motion", "hog", "person")
    settings = {
        "detector": model if builtin else "yolo",
        "resize": resize,
        "confidence_threshold": conf,
        "nms_iou_threshold": iou,
        "classes": [c.strip() for c in classes.split(",")] if classes else [],
        "batch_size": batch_size,
    }
    flags = {
        "confidence_threshold": "--conf",
        "nms_iou_threshold": "--iou",
        "batch_size": "--batch-size",
        "classes": "--classes",
    }
    params = validate_params(ObjectDetectionParams, settings, "detection", flags=flags, hint=None)
    model_item = None
    if not builtin:
        path = Path(model)
        if not path.is_file():
            raise SelftrackError(f"{model}: no such model file (or use one of: motion, hog, person)")
        model_item = Item("files", path.stem, path.suffix.lstrip(".").lower(), {}, path, path.stat().st_size, "")
    detector = build_detector(params, model_item)
    started = time.perf_counter()
    with progress_bar(f"detect ({model if builtin else Path(model).name})", "frames", estimate=True) as progress:
        dets = detect_video(
            detector,
            video,
            resize=resize,
            batch_size=batch_size,
            classes=params.classes or None,
            progress=lambda d, t: progress(d, t, ""),
        )
    if out.suffix.lower() != ".json":
        # MOTChallenge files hold full-resolution pixel coordinates and no canvas: scale back to the video
        from selftrack.video import probe

        dets = dets.rescale(probe(video).size)
    write_detections(dets, out)
    seconds = time.perf_counter() - started
    frames = dets.num_frames or dets.frame_count
    console.print(
        f"{len(dets)} boxes in {frames} frames (canvas {dets.canvas[0]}x{dets.canvas[1]}) -> {out}\n"
        f"  took {clock(seconds)} ({frames / max(seconds, 1e-6):.1f} frames/s)",
        highlight=False,
    )


@app.command()
def render(
    video: Annotated[Path, typer.Option(help="Video file.")],
    out: Annotated[Path, typer.Option(help="Output MP4 (H.264, plays in browsers).")],
    tracks: Annotated[list[Path] | None, typer.Option(help="Tracks or detections files to draw (repeatable).")] = None,
    trail: Annotated[int, typer.Option(help="Frames of trail behind each track.")] = 10,
    canvas: Annotated[
        str | None, typer.Option(help="WxH the boxes refer to, when the file does not say (default: the video's size).")
    ] = None,
) -> None:
    """Draw tracks on a video: a stable colour and the id per track, optional trails."""
    from selftrack.formats import read_detections
    from selftrack.render import render_video
    from selftrack.video import probe

    check_output_file(out)
    info = probe(video)
    size = info.size
    if canvas:
        try:
            w, h = (int(x) for x in canvas.lower().split("x"))
        except ValueError:
            raise SelftrackError(f"--canvas takes WIDTHxHEIGHT, got {canvas!r}") from None
        size = (w, h)
    layers = []
    for path in tracks or []:
        dets = read_detections(path)
        layers.append(dets if dets.canvas else dets.replace(canvas=size))
    with progress_bar("render", "frames") as progress:
        result = render_video(video, layers, out, trail_length=trail, progress=lambda d, t: progress(d, t, ""))
    console.print(f"{result.frame_count} frames {result.width}x{result.height} -> {out}")
