"""Tracking commands on plain files: ``track`` and ``eval`` (the same code as the ops).

``track`` runs a classic motion tracker (IoU, SORT, ByteTrack, OC-SORT: detections only) or, with
``--tracker reid``, the re-identification tracker (a model from ``selftrack train-reid``, the video
and its detections), the code of the ``track`` and ``reid_tracker`` ops.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from selftrack.cli.main import DEFAULT_WORKSPACE, WorkspaceOpt, app, console, progress_bar
from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from selftrack.video import VideoInfo


def _parse_params(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SelftrackError(f"--param takes KEY=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_typed_params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs with YAML-typed values, so ``none``, ``[1, 2, 4]`` or ``true`` reach the model typed.

    (Plain numbers and words would pass either way; lists and nulls need it.)
    """
    import yaml

    out: dict[str, Any] = {}
    for key, raw in _parse_params(pairs).items():
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        out[key] = value
    return out


def validate_params(model: type[BaseModel], values: dict[str, Any], what: str) -> Any:
    """``model(**values)``, with pydantic's errors as one line naming each bad parameter."""
    import pydantic

    try:
        return model(**values)
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors())
        raise SelftrackError(f"invalid {what} parameters: {problems} (see --show-params)") from None


def params_table(model: type[BaseModel]) -> Table:
    """A table of a parameter model's fields: name, default and help text (``--show-params``)."""
    from pydantic import BaseModel

    table = Table("parameter", "default", "description")

    def rows(m: type[BaseModel], prefix: str) -> None:
        for name, f in m.model_fields.items():
            default = f.default_factory() if f.default_factory is not None else f.default  # type: ignore[call-arg]
            if isinstance(default, BaseModel):  # a group of parameters (the re-id tracker's): one row per field
                rows(type(default), f"{prefix}{name}.")
            else:
                table.add_row(f"{prefix}{name}", repr(default), f.description or "")

    rows(model, "")
    return table


def _read(path: Path, *, canvas: tuple[int, int] | None = None, num_frames: int | None = None) -> Detections:
    from selftrack.formats import read_detections

    if not path.is_file():
        raise SelftrackError(f"{path}: no such file")
    kw = {}
    if canvas is not None:
        kw["canvas"] = canvas
    if num_frames is not None:
        kw["num_frames"] = num_frames
    return read_detections(path, **kw)


def read_for_video(path: Path, video: Path, info: VideoInfo | None = None) -> Detections:
    """Read ``path`` (MOTChallenge, SkyhookML JSON or UA-DETRAC XML) as the detections of ``video``.

    MOT and XML files carry no frame size or length, so the video's are used (a box past its last
    frame is refused with the file's line); a SkyhookML file lists its frames, and that count must be
    the video's. Every problem is one error naming the file.
    """
    from selftrack.formats import detect_format, read_detections
    from selftrack.video import probe

    info = info or probe(video)
    if not path.exists():
        raise SelftrackError(f"{path}: no such detections file")
    if path.is_dir():
        raise SelftrackError(f"{path}: a folder, not a detections file")
    try:
        fmt = detect_format(path)
        if fmt == "skyhook-json":
            dets = read_detections(path, format=fmt)
        elif fmt in ("mot", "detrac-xml"):
            dets = read_detections(path, format=fmt, canvas=info.size, num_frames=info.frame_count)
        else:
            raise SelftrackError(
                f"{path}: a {fmt} file; expected one video's detections (MOTChallenge or SkyhookML JSON)"
            )
    except SelftrackError:
        raise
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise SelftrackError(f"{path}: cannot read these detections ({exc})") from None
    if len(dets) and int(dets.frame.max()) >= info.frame_count:
        raise SelftrackError(
            f"{path}: boxes reach frame {int(dets.frame.max()) + 1} but {video} has {info.frame_count} frames "
            "(mismatched frame counts)"
        )
    if dets.num_frames is not None and dets.num_frames != info.frame_count:
        raise SelftrackError(
            f"{path}: {dets.num_frames} frames of detections but {video} has {info.frame_count} frames "
            "(mismatched frame counts)"
        )
    return dets.replace(canvas=dets.canvas or info.size, num_frames=info.frame_count)


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
    min_track_length: Annotated[
        int, typer.Option(help="Drop tracks shorter than this many boxes (reid: sets its min_track_length).")
    ] = 0,
    interpolate: Annotated[
        int, typer.Option(help="Fill gaps up to this many frames (reid: sets its max_interpolation_gap).")
    ] = 0,
    show_params: Annotated[bool, typer.Option(help="List the tracker's parameters with defaults and exit.")] = False,
) -> None:
    """Track a detections file with a motion tracker or the re-id tracker, and write the tracks."""
    if tracker == "reid":
        _track_reid(detections, out, video, model, param or [], gmc, min_track_length, interpolate, show_params)
        return
    from selftrack.formats import read_gmc, write_detections
    from selftrack.ops.track import TrackParams, run_tracker
    from selftrack.trackers import list_trackers

    if show_params:
        known = list_trackers()
        if tracker not in known:
            raise SelftrackError(f"unknown tracker {tracker!r}; choose one of {', '.join(known)}, reid")
        console.print(params_table(known[tracker]))
        return
    if model is not None:
        raise SelftrackError(f"--model is for --tracker reid; {tracker} uses no model")
    detections, out = _required(detections, out)
    try:
        params = TrackParams(
            tracker=tracker,
            tracker_params=_parse_params(param or []),
            min_track_length=min_track_length,
            interpolate_max_gap=interpolate,
        )
    except ValueError as e:
        raise SelftrackError(f"invalid tracker settings: {e}") from None
    fps = None
    if video is not None:
        from selftrack.video import probe

        info = probe(video)  # one pass over the file: size, length, and the rate trackers with frame_rate take
        dets, fps = read_for_video(detections, video, info), info.fps
    else:
        dets = _read(detections)
    transforms = read_gmc(gmc, num_frames=dets.frame_count) if gmc is not None else None
    with progress_bar(f"track ({tracker})") as progress:
        tracks = run_tracker(dets, params, transforms=transforms, progress=lambda d, t: progress(d, t, ""), fps=fps)
    write_detections(tracks, out)
    console.print(f"{len(tracks.track_ids)} tracks, {len(tracks)} boxes over {tracks.frame_count} frames -> {out}")


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
    if gmc is not None:
        raise SelftrackError("--gmc is not supported by --tracker reid (a fixed-camera Kalman model)")
    values = parse_typed_params(param)
    if min_track_length:
        values.setdefault("min_track_length", min_track_length)
    if interpolate:
        values.setdefault("max_interpolation_gap", interpolate)
    params = validate_params(ReidTrackerParams, values, "re-id tracker")
    if not model.is_file():
        raise SelftrackError(f"{model}: no such re-id model file")
    dets = read_for_video(detections, video)
    with progress_bar("track (reid)") as progress:
        tracks = track_with_reid(model, video, dets, params, progress=lambda d, t: progress(d, t, "frames"))
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
        raise SelftrackError(
            f"{missing}: no such file (and no workspace at {workspace} to find a dataset of that name)"
        ) from None
    keys = sorted(set(ws.keys(gt)) & set(ws.keys(tracks)))
    if not keys:
        raise SelftrackError(f"datasets {gt!r} and {tracks!r} have no key in common")
    return {k: (ws.item(gt, k).load_detections(), ws.item(tracks, k).load_detections()) for k in keys}


@app.command("eval")
def eval_(
    gt: Annotated[str, typer.Option(help="Ground-truth file (MOTChallenge gt.txt...) or a tracks dataset name.")],
    tracks: Annotated[str, typer.Option(help="Tracker output file or a tracks dataset name.")],
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
