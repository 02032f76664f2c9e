"""Tracking commands on plain files: ``track`` and ``eval`` (the same code as the ops)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from selftrack.cli.main import DEFAULT_WORKSPACE, WorkspaceOpt, app, console, progress_bar
from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError


def _parse_params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SelftrackError(f"--param takes KEY=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _read(path: Path, *, canvas: tuple[int, int] | None = None, num_frames: int | None = None) -> Detections:
    from selftrack.formats import read_detections

    kw = {}
    if canvas is not None:
        kw["canvas"] = canvas
    if num_frames is not None:
        kw["num_frames"] = num_frames
    return read_detections(path, **kw)


@app.command()
def track(
    detections: Annotated[Path, typer.Option(help="Detections file (MOTChallenge, SkyhookML JSON, UA-DETRAC XML).")],
    out: Annotated[Path, typer.Option(help="Output tracks file (.txt: MOTChallenge results, .json: SkyhookML).")],
    tracker: Annotated[str, typer.Option(help="iou, sort, bytetrack or ocsort.")] = "bytetrack",
    video: Annotated[Path | None, typer.Option(help="The video: gives the frame size and frame count.")] = None,
    param: Annotated[list[str] | None, typer.Option(help="Tracker parameter KEY=VALUE (repeatable), e.g. track_thresh=0.5.")] = None,
    gmc: Annotated[Path | None, typer.Option(help="Camera motion file (gmc.txt: frame index and a 2x3 affine per line).")] = None,
    min_track_length: Annotated[int, typer.Option(help="Drop tracks shorter than this many boxes.")] = 0,
    interpolate: Annotated[int, typer.Option(help="Fill gaps up to this many frames.")] = 0,
    show_params: Annotated[bool, typer.Option(help="List the tracker's parameters with defaults and exit.")] = False,
) -> None:
    """Track a detections file with a motion tracker and write the tracks."""
    from selftrack.formats import read_gmc, write_detections
    from selftrack.ops.track import TrackParams, run_tracker
    from selftrack.trackers import list_trackers

    if show_params:
        model = list_trackers().get(tracker)
        if model is None:
            raise SelftrackError(f"unknown tracker {tracker!r}; choose one of {', '.join(list_trackers())}")
        table = Table("parameter", "default", "description")
        for name, f in model.model_fields.items():
            table.add_row(name, repr(f.default), f.description or "")
        console.print(table)
        return
    try:
        params = TrackParams(tracker=tracker, tracker_params=_parse_params(param or []), min_track_length=min_track_length, interpolate_max_gap=interpolate)
    except ValueError as e:
        raise SelftrackError(f"invalid tracker settings: {e}") from None
    canvas = num_frames = None
    if video is not None:
        from selftrack.video import probe

        info = probe(video)
        canvas, num_frames = info.size, info.frame_count
    dets = _read(detections, canvas=canvas, num_frames=num_frames)
    transforms = read_gmc(gmc, num_frames=dets.frame_count) if gmc is not None else None
    with progress_bar(f"track ({tracker})") as progress:
        tracks = run_tracker(dets, params, transforms=transforms, progress=lambda d, t: progress(d, t, ""))
    write_detections(tracks, out)
    console.print(f"{len(tracks.track_ids)} tracks, {len(tracks)} boxes over {tracks.frame_count} frames -> {out}")


def _load_pairs(gt: str, tracks: str, workspace: Path) -> dict[str, tuple[Detections, Detections]]:
    """``{name: (gt, tracks)}`` from two files, or from two datasets of a workspace (matched by key)."""
    if Path(gt).exists() and Path(tracks).exists():
        name = Path(tracks).stem if Path(tracks).stem not in ("gt", "det", "tracks") else Path(gt).parent.parent.name
        return {name or "sequence": (_read(Path(gt)), _read(Path(tracks)))}
    from selftrack.workspace import Workspace

    try:
        ws = Workspace(workspace)
    except SelftrackError:
        missing = gt if not Path(gt).exists() else tracks
        raise SelftrackError(f"{missing}: no such file (and no workspace at {workspace} to find a dataset of that name)") from None
    keys = sorted(set(ws.keys(gt)) & set(ws.keys(tracks)))
    if not keys:
        raise SelftrackError(f"datasets {gt!r} and {tracks!r} have no key in common")
    return {k: (ws.item(gt, k).load_detections(), ws.item(tracks, k).load_detections()) for k in keys}


@app.command("eval")
def eval_(
    gt: Annotated[str, typer.Option(help="Ground-truth file (MOTChallenge gt.txt...) or a tracks dataset name.")],
    tracks: Annotated[str, typer.Option(help="Tracker output file or a tracks dataset name.")],
    frames: Annotated[str | None, typer.Option(help="Score only these frames, MOT numbering, e.g. 1-400 or 401-795.")] = None,
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
