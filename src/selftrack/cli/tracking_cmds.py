"""Tracking commands on plain files: ``track`` and ``eval`` (the same code as the ops).

``track`` runs a classic motion tracker (IoU, SORT, ByteTrack, OC-SORT: detections only) or, with
``--tracker reid``, the re-identification tracker (a model from ``selftrack train-reid``, the video
and its detections), the code of the ``track`` and ``reid_tracker`` ops.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from selftrack.cli.app import DEFAULT_WORKSPACE, WorkspaceOpt, app, console, dataset_name, progress_bar
from selftrack.cli.inputs import (
    check_tracker,
    params_table,
    parse_params,
    read_detections_file,
    read_for_video,
    validate_params,
)
from selftrack.cli.summaries import track_summary
from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError

if TYPE_CHECKING:
    import numpy as np

    from selftrack.video import VideoInfo


@app.command()
def track(
    detections: Annotated[
        Path | None, typer.Option(help="Detections file (MOTChallenge, SkyhookML JSON, UA-DETRAC XML).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output tracks file (.txt: MOTChallenge results, .json: SkyhookML).")
    ] = None,
    tracker: Annotated[
        str, typer.Option(help="iou, sort, bytetrack, ocsort, or reid (the re-id tracker: needs --model and --video).")
    ] = "bytetrack",
    video: Annotated[
        Path | None,
        typer.Option(
            help="The video: gives the frame size, frame count and frame rate (trackers with frame_rate use it; needed by --tracker reid)."
        ),
    ] = None,
    model: Annotated[
        Path | None, typer.Option(help="Re-id model file from `selftrack train-reid` (--tracker reid).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option(help="Tracker parameter KEY=VALUE (repeatable), e.g. track_thresh=0.5.")
    ] = None,
    gmc: Annotated[
        Path | None, typer.Option(help="Camera motion file (gmc.txt: frame index and a 2x3 affine per line).")
    ] = None,
    cmc: Annotated[
        str,
        typer.Option(
            help="Camera-motion compensation: none, file (--gmc), video (measured from --video, cached), or auto: "
            "--gmc if given, else measured from --video and used only when the camera moves."
        ),
    ] = "auto",
    fps: Annotated[
        float | None,
        typer.Option(
            help="The video's frame rate (frames per second) for the trackers' limits in time; default: the rate "
            "--video's container gives (some AVI headers are wrong: PETS09-S2L1 says 10, MOTChallenge 7)."
        ),
    ] = None,
    min_track_length: Annotated[
        int, typer.Option(help="Drop tracks shorter than this many boxes (reid: sets its min_track_length).")
    ] = 0,
    interpolate: Annotated[
        int, typer.Option(help="Fill gaps up to this many frames (reid: sets its max_interpolation_gap).")
    ] = 0,
    show_params: Annotated[bool, typer.Option(help="List the tracker's parameters with defaults and exit.")] = False,
) -> None:
    """Track a detections file with a motion tracker or the re-id tracker, and write the tracks."""
    check_tracker(tracker)
    if tracker == "reid":
        _track_reid(
            detections, out, video, model, param or [], gmc, min_track_length, interpolate, show_params, cmc, fps
        )
        return
    from selftrack.formats import write_detections
    from selftrack.ops.track import TrackParams, run_tracker
    from selftrack.trackers import list_trackers

    if show_params:
        console.print(params_table(list_trackers()[tracker]))
        return
    if model is not None:
        raise SelftrackError(f"--model is for --tracker reid; {tracker} uses no model")
    detections, out = _required(detections, out)
    tracker_params = parse_params(param or [])
    validate_params(list_trackers()[tracker], tracker_params, tracker)  # typed values; unknown names listed
    settings = {"tracker": tracker, "tracker_params": tracker_params}
    settings |= {"min_track_length": min_track_length, "interpolate_max_gap": interpolate}
    flags = {"min_track_length": "--min-track-length", "interpolate_max_gap": "--interpolate"}
    params = validate_params(TrackParams, settings, "track", flags=flags)
    rate: float | Fraction | None = _check_fps(fps)
    info = None
    if video is not None:
        from selftrack.video import probe

        info = probe(video)  # one pass over the file: size, length, and the rate trackers with frame_rate take
        dets = read_for_video(detections, video, info)
        rate = rate or info.fps
    else:
        dets = read_detections_file(detections)
    transforms = _camera_motion(cmc, gmc, dets, video, info, detections)
    chosen: list[str] = []
    with progress_bar(f"track ({tracker})", "frames") as progress:
        stats: dict[str, int] = {}
        tracks = run_tracker(
            dets,
            params,
            transforms=transforms,
            progress=lambda d, t: progress(d, t, ""),
            fps=rate,
            stats=stats,
            report=chosen.append,
        )
    write_detections(tracks, out)
    lines = track_summary(
        dets, tracks, out, tracker=tracker, video=video, stats=stats, min_track_length=min_track_length,
        interpolate=interpolate,
    )  # fmt: skip
    console.print("\n".join(lines + [f"  {line}" for line in chosen]), highlight=False, markup=False)


def _check_fps(fps: float | None) -> float | None:
    if fps is not None and not (fps > 0 and math.isfinite(fps)):
        raise SelftrackError(f"--fps must be a positive number of frames per second, got {fps}")
    return fps


def _camera_motion(
    cmc: str, gmc: Path | None, dets: Detections, video: Path | None, info: VideoInfo | None, what: Path
) -> np.ndarray | None:
    """``--cmc`` / ``--gmc``: the transforms for the tracker (measured ones cached per video file)."""
    from selftrack.formats import read_gmc
    from selftrack.ops._camera_motion import CMC_MODES, plain_file_estimate, resolve_cmc

    if cmc not in CMC_MODES:
        raise SelftrackError(f"--cmc must be one of {', '.join(CMC_MODES)}, got {cmc!r}")
    if gmc is not None and cmc in ("none", "video"):
        raise SelftrackError(f"--gmc is a camera-motion file: use it with --cmc file or auto, not --cmc {cmc}")
    if cmc == "file" and gmc is None:
        raise SelftrackError("--cmc file needs --gmc FILE (a gmc.txt: frame index and a 2x3 affine per line)")
    if cmc == "video" and video is None:
        raise SelftrackError("--cmc video needs --video (camera motion is measured from its frames)")
    if gmc is not None and not gmc.is_file():
        raise SelftrackError(f"{gmc}: no such camera-motion file")
    if cmc == "auto" and gmc is None and video is None:
        return None  # nothing to measure from and nothing given: no compensation, nothing to say
    frames = info.frame_count if info is not None else dets.frame_count
    with progress_bar("camera motion") as progress:
        result = resolve_cmc(
            cmc,
            dets,
            read_file=None if gmc is None else (lambda: read_gmc(gmc, num_frames=frames)),
            estimate=None
            if video is None
            else plain_file_estimate(video, dets, progress=lambda d, t: progress(d, t, "frames")),
            video_size=info.size if info is not None else None,
            what=str(what),
        )
    console.print(result.note, highlight=False)
    return result.transforms


def _required(detections: Path | None, out: Path | None) -> tuple[Path, Path]:
    missing = [name for name, v in (("--detections", detections), ("--out", out)) if v is None]
    if missing:
        raise SelftrackError(f"track needs {' and '.join(missing)}")
    assert detections is not None and out is not None
    return detections, out


def _track_reid(
    detections: Path | None,
    out: Path | None,
    video: Path | None,
    model: Path | None,
    param: list[str],
    gmc: Path | None,
    min_track_length: int,
    interpolate: int,
    show_params: bool,
    cmc: str,
    fps: float | None,
) -> None:
    """``track --tracker reid``: :func:`selftrack.reid.track_with_reid`, as the ``reid_tracker`` op runs it."""
    from selftrack.formats import write_detections
    from selftrack.reid import ReidTrackerParams, track_with_reid

    if show_params:
        console.print(params_table(ReidTrackerParams))
        return
    missing = [name for name, v in (("--model", model), ("--video", video)) if v is None]
    if missing:
        raise SelftrackError(
            f"--tracker reid needs {' and '.join(missing)}: the re-id model (from `selftrack train-reid`) and "
            "the video the detections belong to"
        )
    assert model is not None and video is not None
    detections, out = _required(detections, out)
    values = parse_params(param)
    flags = {}
    if min_track_length and "min_track_length" not in values:
        values["min_track_length"], flags["min_track_length"] = min_track_length, "--min-track-length"
    if interpolate and "max_interpolation_gap" not in values:
        values["max_interpolation_gap"], flags["max_interpolation_gap"] = interpolate, "--interpolate"
    params = validate_params(ReidTrackerParams, values, "re-id tracker", flags=flags)
    if not model.is_file():
        raise SelftrackError(f"{model}: no such re-id model file")
    from selftrack.video import probe

    rate = _check_fps(fps)
    info = probe(video)
    dets = read_for_video(detections, video, info)
    transforms = _camera_motion(cmc, gmc, dets, video, info, detections)
    settings: list[str] = []
    with progress_bar("track (reid)", "frames") as progress:
        tracks = track_with_reid(
            model,
            video,
            dets,
            params,
            transforms=transforms,
            fps=rate,
            progress=lambda d, t: progress(d, t),
            report=settings.append,
        )
    write_detections(tracks, out)
    for line in settings:
        console.print(f"re-id tracker: {line}", highlight=False)
    lines = track_summary(
        dets, tracks, out, tracker="the re-id tracker", video=video, min_track_length=params.min_track_length,
        interpolate=params.max_interpolation_gap,
    )  # fmt: skip
    console.print("\n".join(lines), highlight=False, markup=False)


def _load_pairs(gt: str, tracks: str, workspace: Path) -> dict[str, tuple[Detections, Detections]]:
    """``{name: (gt, tracks)}`` from two files, or from two datasets of a workspace (matched by key)."""
    if Path(gt).exists() and Path(tracks).exists():
        name = Path(tracks).stem if Path(tracks).stem not in ("gt", "det", "tracks") else Path(gt).parent.parent.name
        return {name or "sequence": (read_detections_file(Path(gt)), read_detections_file(Path(tracks)))}
    from selftrack.workspace import Workspace

    try:
        ws = Workspace(workspace)
    except SelftrackError:
        missing = gt if not Path(gt).exists() else tracks
        raise SelftrackError(
            f"{missing}: no such file (and no workspace at {workspace} to find a dataset of that name)"
        ) from None
    gt, tracks = dataset_name(ws, gt), dataset_name(ws, tracks)
    keys = sorted(set(ws.keys(gt)) & set(ws.keys(tracks)))
    if not keys:
        raise SelftrackError(f"datasets {gt!r} and {tracks!r} have no key in common")
    return {k: (ws.item(gt, k).load_detections(), ws.item(tracks, k).load_detections()) for k in keys}


@app.command("eval")
def eval_(
    gt: Annotated[
        str, typer.Option(help="Ground-truth file (MOTChallenge gt.txt...), or a dataset or node of a workspace.")
    ],
    tracks: Annotated[
        str, typer.Option(help="Tracker output file, or a dataset or node (e.g. tracks) of a workspace.")
    ],
    frames: Annotated[
        str | None, typer.Option(help="Score only these frames, MOT numbering, e.g. 1-400 or 401-795.")
    ] = None,
    benchmark: Annotated[str, typer.Option(help="auto, mot17, mot15 or none (preprocessing rules).")] = "auto",
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")] = False,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Score tracks against ground truth: HOTA, MOTA, IDF1 (equal to TrackEval's)."""
    from selftrack.metrics import SequenceResult, evaluate, parse_frame_range
    from selftrack.metrics.results import COUNT_FIELDS

    span = parse_frame_range(frames) if frames else None
    pairs = _load_pairs(gt, tracks, workspace)
    results = {name: evaluate(g, t, frames=span, benchmark=benchmark, name=name) for name, (g, t) in pairs.items()}
    rows = dict(results)
    if len(results) > 1:
        rows["COMBINED"] = SequenceResult.combine(list(results.values()))
    if json_out:
        print(json.dumps({name: r.to_dict() for name, r in rows.items()}, indent=1))
        return
    first = next(iter(rows.values()))
    title = f"benchmark {first.benchmark}" + (f", frames {frames}" if frames else "")
    # metrics as rows, sequences as columns: fits a terminal for any number of metrics
    table = Table("metric", *rows, title=title)
    summaries = {name: r.summary() for name, r in rows.items()}
    for field in first.summary():
        cells = [str(s[field]) if field in COUNT_FIELDS else f"{100 * s[field]:.2f}" for s in summaries.values()]
        table.add_row(field, *cells)
    console.print(table)
