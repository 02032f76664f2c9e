"""MOTChallenge text files: detections, ground truth, tracker results, ``seqinfo.ini`` and GMC.

Layouts (one box per line, frames counted from 1, pixels of the full-resolution frame):

- 10 values ``frame,id,left,top,width,height,conf,x,y,z`` (MOT15 det/gt, det_refined, results);
  ``x,y,z`` are world coordinates, ``-1`` when unknown.
- 9 values ``frame,id,left,top,width,height,consider,class,visibility`` (MOT16/17/20 gt).
- 7 values ``frame,id,left,top,width,height,conf`` (MOT17 public ``det.txt``), 6 without ``conf``.

Mapping to :class:`~selftrack.core.Detections` (others rely on it):

- ``frame`` = MOT frame - 1 (0-based); ``xyxy`` from ``ltwh``; ``track_id`` = id (``-1`` in det files);
- ``score`` = column 7: the detector score, or for ground truth the consider flag (also kept as
  ``data["consider"]`` int8, so metrics can ignore boxes marked 0);
- ``class_id`` = column 8 of 9-value files (MOT17 classes, see :data:`MOT17_CLASSES`), else ``-1``
  (unknown; the metrics treat it as pedestrian); ``data["visibility"]`` float32 = column 9;
- ``data["world"]`` ``(n, 3)`` float64 = ``x,y,z`` only when some of them are not ``-1``.

``write_mot`` writes rows sorted by frame (stable: the file's order within a frame is kept), so a
gt file ordered by track is rewritten in frame order; numbers keep up to 6 decimals.
"""

from __future__ import annotations

import configparser
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np

from selftrack.core.detections import MAX_COORDINATE, MAX_FRAMES, Detections
from selftrack.core.errors import FormatError, ValidationError
from selftrack.formats._text import PathLike, Table, atomic_write_text, load_table, table_chunks

MotKind = Literal["auto", "det", "gt", "results"]

MOT17_CLASSES: dict[int, str] = {
    1: "pedestrian",
    2: "person_on_vehicle",
    3: "car",
    4: "bicycle",
    5: "motorbike",
    6: "non_mot_vehicle",
    7: "static_person",
    8: "distractor",
    9: "occluder",
    10: "occluder_on_ground",
    11: "occluder_full",
    12: "reflection",
    13: "crowd",
}
"""Class numbers of MOT16/17/20 ground truth (column 8). Only 1 is scored; 2, 7, 8, 12 are distractors."""

_MOT_COLUMNS = (6, 7, 9, 10)
_KINDS = ("auto", "det", "gt", "results")


def read_mot(
    path: PathLike,
    *,
    kind: MotKind = "auto",
    canvas: tuple[int, int] | None = None,
    num_frames: int | None = None,
    classes: Mapping[int, str] | None = None,
) -> Detections:
    """Read a MOTChallenge det, gt or results file into one video's :class:`Detections`.

    Args:
        path: the text file (commas or whitespace; blank lines, ``#`` comments, trailing separators ok).
        kind: ``"gt"`` reads column 7 as the consider flag (0/1) into ``data["consider"]``; ``"det"``
            and ``"results"`` read it as a score. ``"auto"`` picks ``"gt"`` for a file named ``gt.txt``
            or inside a ``gt`` folder or with 9 values per line, ``"det"`` when every id is -1, else
            ``"results"``.
        canvas: ``(width, height)`` of the video (see :func:`parse_seqinfo`); boxes lying wholly
            outside it are refused.
        num_frames: frame count of the video; a box past it is refused.
        classes: ``{class_id: name}``; defaults to :data:`MOT17_CLASSES` for 9-value files.

    Raises:
        FormatError: naming the file and line: wrong number of values, non-numbers, non-integer
            frame or id, frame < 1, negative width or height, a box past ``num_frames`` or outside
            ``canvas``, the same id twice in a frame, a consider flag other than 0/1.
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    table = load_table(path, allowed_columns=_MOT_COLUMNS, what="MOTChallenge")
    source = str(path)
    if len(table) == 0:
        return Detections.empty(canvas=canvas, num_frames=num_frames, classes=classes, source=source)
    v = table.values
    ncol = table.num_columns
    # ranges before any cast to integers: 1e20 must not wrap around to a negative frame
    table.check(v[:, 0] > MAX_FRAMES, f"frame number past {MAX_FRAMES}, the most supported (a typo?)")
    table.check(v[:, 0] < 1, "MOTChallenge frame numbers start at 1")
    table.check(np.abs(v[:, 1]) > 2**53, "id too large (at most 2^53)")
    table.check((np.abs(v[:, 2:6]) > MAX_COORDINATE).any(axis=1), f"coordinate beyond ±{MAX_COORDINATE:.0e} pixels")
    frame = _integer_column(table, 0, "frame number")
    track_id = _integer_column(table, 1, "id")
    table.check(track_id < -1, "an id must be -1 (no track) or >= 0")
    table.check(v[:, 4] < 0, "negative width")
    table.check(v[:, 5] < 0, "negative height")
    if ncol == 9:
        table.check(np.abs(v[:, 7]) > 2**31 - 1, "class number out of range")
    if kind == "auto":
        kind = _guess_kind(Path(path), ncol, track_id)

    data: dict[str, np.ndarray] = {}
    score = v[:, 6].astype(np.float32) if ncol >= 7 else np.ones(len(v), dtype=np.float32)
    if kind == "gt" and ncol >= 7:
        table.check((v[:, 6] != 0) & (v[:, 6] != 1), "column 7 of a ground-truth file is the consider flag, 0 or 1")
        data["consider"] = v[:, 6].astype(np.int8)
    class_id = np.full(len(v), -1, dtype=np.int32)
    if ncol == 9:
        class_id = _integer_column(table, 7, "class").astype(np.int32)
        data["visibility"] = v[:, 8].astype(np.float32)
        if classes is None:
            classes = MOT17_CLASSES
    elif ncol == 10 and not np.all(v[:, 7:10] == -1):
        data["world"] = v[:, 7:10].copy()

    xyxy = v[:, 2:6].copy()
    xyxy[:, 2] += xyxy[:, 0]
    xyxy[:, 3] += xyxy[:, 1]
    frame -= 1
    if num_frames is not None:
        table.check(frame >= num_frames, f"frame past the video's {num_frames} frames")
    if canvas is not None:
        w, h = canvas
        outside = (xyxy[:, 0] > w) | (xyxy[:, 1] > h)
        table.check(outside, f"box starts past the right or bottom edge of the {w}x{h} frame (wrong frame size?)")
    _check_unique_ids(table, frame, track_id)
    try:
        return Detections.create(
            frame,
            xyxy,
            score,
            class_id,
            track_id,
            canvas=canvas,
            num_frames=num_frames,
            classes=classes,
            data=data,
            source=source,
        )
    except ValidationError as exc:  # pragma: no cover - the checks above catch these with a line number
        raise FormatError(f"{path}: {exc}") from exc


def write_mot(
    detections: Detections,
    path: PathLike,
    *,
    kind: MotKind = "auto",
    columns: int | None = None,
) -> None:
    """Write a MOTChallenge text file (frames 1-based), atomically.

    Args:
        detections: boxes of one video.
        path: file to (over)write; folders are created.
        kind: ``"gt"`` writes ``data["consider"]`` (1 where missing) in column 7; ``"det"`` and
            ``"results"`` write the score. ``"auto"``: gt if ``data`` has ``consider``, results if
            boxes have tracks, else det.
        columns: values per line, 6, 7, 9 or 10. Default: 9 for ground truth with classes or
            visibility (MOT17 layout; class -1 is written as 1, pedestrian, because MOTChallenge
            gt has no "unknown"; missing visibility as -1), else 10 (world coordinates from
            ``data["world"]``, or -1).
    """
    if kind not in _KINDS:
        raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
    if kind == "auto":
        kind = "gt" if "consider" in detections.data else ("results" if detections.has_tracks else "det")
    n = len(detections)
    if columns is None:
        mot17_gt = kind == "gt" and "world" not in detections.data
        mot17_gt = mot17_gt and ("visibility" in detections.data or bool(np.any(detections.class_id >= 0)))
        columns = 9 if mot17_gt else 10
    if columns not in _MOT_COLUMNS:
        raise ValueError(f"columns must be one of {_MOT_COLUMNS}, got {columns}")

    xywh = detections.xywh
    cols: list[np.ndarray] = [detections.frame + 1, detections.track_id, *xywh.T]
    ints = [True, True, False, False, False, False]
    if columns >= 7:
        if kind == "gt":
            cols.append(np.asarray(detections.data.get("consider", np.ones(n)), dtype=np.int64))
            ints.append(True)
        else:
            cols.append(detections.score)
            ints.append(False)
    if columns == 9:
        cols.append(np.where(detections.class_id >= 0, detections.class_id, 1))
        cols.append(np.asarray(detections.data.get("visibility", np.full(n, -1.0)), dtype=np.float64))
        ints += [True, False]
    elif columns == 10:
        world = detections.data.get("world")
        world = np.full((n, 3), -1.0) if world is None else np.asarray(world, dtype=np.float64).reshape(n, 3)
        cols += list(world.T)
        ints += [False, False, False]
    atomic_write_text(path, table_chunks(cols, ints))


def parse_seqinfo(path: PathLike) -> dict[str, str | int | float]:
    """Read a MOTChallenge ``seqinfo.ini`` (or the one inside a sequence folder).

    Returns the ``[Sequence]`` keys with their original spelling; ``imWidth``, ``imHeight`` and
    ``seqLength`` as ints, ``frameRate`` as int (or float when fractional). Other keys stay strings.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "seqinfo.ini"
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep imWidth, not imwidth
    try:
        with open(path, encoding="utf-8-sig") as fh:
            parser.read_file(fh)
    except configparser.Error as exc:
        raise FormatError(f"{path}: not a valid seqinfo.ini ({exc})") from exc
    if not parser.has_section("Sequence"):
        raise FormatError(f"{path}: no [Sequence] section")
    info: dict[str, str | int | float] = dict(parser.items("Sequence"))
    for key in ("imWidth", "imHeight", "seqLength", "frameRate"):
        if key not in info:
            continue
        raw = str(info[key]).strip()
        try:
            number = float(raw)
        except ValueError:
            raise FormatError(f"{path}: {key}={raw!r} is not a number") from None
        if number.is_integer():
            info[key] = int(number)
        elif key == "frameRate":
            info[key] = number
        else:
            raise FormatError(f"{path}: {key}={raw!r} must be a whole number")
    return info


def read_gmc(path: PathLike, *, num_frames: int | None = None) -> np.ndarray:
    """Camera motion per frame from a GMC file, as ``(num_frames, 2, 3)`` affine matrices.

    Each line is a frame index then the 2x3 affine row-major (tab separated, as BoT-SORT writes
    it). The index is **0-based**: BoT-SORT numbers frames from 0, and the MOT17 files here have
    indices ``0 .. seqLength-1`` (e.g. 600 lines 0..599 for MOT17-02). So ``result[f]`` is the
    motion for 0-based frame ``f``. Frames missing from the file get the identity. ``num_frames``
    defaults to the last index + 1.
    """
    if num_frames is not None and not 0 <= num_frames <= MAX_FRAMES:
        raise ValidationError(f"{path}: num_frames must be in [0, {MAX_FRAMES}], got {num_frames}")
    table = load_table(path, allowed_columns=(7,), what="GMC")
    if len(table) == 0:
        count = num_frames or 0
        return np.tile(np.eye(2, 3), (count, 1, 1))
    table.check(table.values[:, 0] >= MAX_FRAMES, f"frame index past {MAX_FRAMES}, the most supported")
    table.check(table.values[:, 0] < 0, "frame index must be >= 0 (GMC files count frames from 0)")
    index = _integer_column(table, 0, "frame index")
    order = np.argsort(index, kind="stable")
    repeated = np.zeros(len(index), dtype=bool)
    repeated[order[1:]] = index[order[1:]] == index[order[:-1]]
    table.check(repeated, "frame index repeated")
    count = int(index.max()) + 1 if num_frames is None else int(num_frames)
    table.check(index >= count, f"frame index past the video's {count} frames")
    if count > 2 * len(table) + 1000:  # the array is sized by frames: refuse before allocating it
        raise FormatError(
            f"{path}: a GMC file has a line per frame, but this one has {len(table)} lines for {count} frames "
            "(a file for another video?)"
        )
    out = np.tile(np.eye(2, 3), (count, 1, 1))
    out[index] = table.values[:, 1:7].reshape(-1, 2, 3)
    return out


def _integer_column(table: Table, col: int, name: str) -> np.ndarray:
    values = table.values[:, col]
    table.check(values != np.round(values), f"the {name} must be a whole number")
    return values.astype(np.int64)


def _guess_kind(path: Path, ncol: int, track_id: np.ndarray) -> MotKind:
    if path.name == "gt.txt" or path.parent.name == "gt" or ncol == 9:
        return "gt"
    if np.all(track_id == -1):
        return "det"
    return "results"


def _check_unique_ids(table: Table, frame: np.ndarray, track_id: np.ndarray) -> None:
    """A track is at most once per frame; name both lines when it is not."""
    rows = np.flatnonzero(track_id >= 0)
    if len(rows) < 2:
        return
    order = rows[np.lexsort((rows, track_id[rows], frame[rows]))]
    same = (frame[order[1:]] == frame[order[:-1]]) & (track_id[order[1:]] == track_id[order[:-1]])
    if same.any():
        k = int(np.flatnonzero(same)[0])
        first, second = int(order[k]), int(order[k + 1])
        first_line = int(table.line_numbers()[first])
        raise table.error(
            second,
            f"id {int(track_id[second])} appears twice in frame {int(frame[second]) + 1} (also on line {first_line})",
        )
