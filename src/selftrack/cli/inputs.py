"""What commands read from the user, shared by the command modules: ``--param`` pairs, parameter models, detections files.

Below the command modules (they import it; it imports none of them).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError, validation_message

if TYPE_CHECKING:
    from pydantic import BaseModel

    from selftrack.video import VideoInfo


def _split(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SelftrackError(f"--param takes KEY=VALUE, got {pair!r}")
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``--param KEY=VALUE`` pairs with YAML-typed values, for every tracker and for training alike.

    ``0.5`` arrives as a number, ``none`` (or ``null``) as None, ``[1, 2, 4]`` as a list and ``true`` as a bool, so the
    parameter model sees what a YAML pipeline would give it (plain words stay strings).
    """
    import yaml

    out: dict[str, Any] = {}
    for key, raw in _split(pairs).items():
        if raw.lower() == "none":  # what people type for "no value" (YAML spells it null)
            out[key] = None
            continue
        try:
            value = yaml.safe_load(raw) if raw else raw
        except yaml.YAMLError:
            value = raw
        out[key] = value
    return out


def validate_params(
    model: type[BaseModel],
    values: dict[str, Any],
    what: str,
    *,
    flags: dict[str, str] | None = None,
    hint: str | None = "see --show-params",
) -> Any:
    """``model(**values)``; its errors one line per problem: the key (or ``flags``' flag for it), the value, what is allowed."""
    import pydantic

    try:
        return model(**values)
    except pydantic.ValidationError as exc:
        message = validation_message(f"{what} parameters", exc, fields=model.model_fields, flags=flags)
        if hint:
            message += f"\n({hint})" if "\n" in message else f" ({hint})"
        raise SelftrackError(message) from None


def tracker_names() -> list[str]:
    """Every ``--tracker`` choice: the motion trackers and ``reid``."""
    from selftrack.trackers import list_trackers

    return [*list_trackers(), "reid"]


def check_tracker(name: str) -> None:
    if name not in tracker_names():
        raise SelftrackError(f"unknown tracker {name!r}; choose one of: {', '.join(tracker_names())}")


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


def read_detections_file(
    path: Path, *, canvas: tuple[int, int] | None = None, num_frames: int | None = None
) -> Detections:
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
