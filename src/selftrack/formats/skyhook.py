"""SkyhookML ``detection`` data: JSON, one list of boxes per frame.

A SkyhookML detection item is ``[[{"Left", "Top", "Right", "Bottom", "Category"?, "TrackID"?,
"Score"?, "Metadata"?}, ...], ...]`` (one inner list per frame; an image is a 1-frame sequence;
``null`` for an empty frame is accepted). Coordinates are integer pixels of ``CanvasDims``. The
item metadata ``{"CanvasDims": [w, h], "Categories": [...]}`` is stored apart in SkyhookML (in the
item/dataset record); here it can be passed as ``metadata=`` or come in a self-contained wrapper
``{"Detections": [...], "Metadata": {...}}``, which :func:`write_skyhook_json` writes by default.

Differences from SkyhookML, on purpose:

- SkyhookML's Go struct uses ``omitempty``, which silently drops ``TrackID`` 0 and ``Score`` 0. We
  always write ``Score``, and ``TrackID`` for every box that has a track (``track_id >= 0``,
  including 0). On reading, a missing ``TrackID`` means no track (-1).
- A missing ``Score`` reads as 1: in SkyhookML it marks an annotation (no detector score), since
  its detectors never emit a score of exactly 0.
- ``class_id`` is the index of ``Category`` in ``Categories``; a name not listed there is appended
  (so the file still reads); a box without ``Category`` gets -1.
- Per-box ``Metadata`` (a string map) is not kept.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import FormatError, ValidationError
from selftrack.formats._text import PathLike, atomic_write_text, load_json

_COORDS = ("Left", "Top", "Right", "Bottom")


def read_skyhook_json(
    source: PathLike | list[Any] | Mapping[str, Any],
    *,
    metadata: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> Detections:
    """Read SkyhookML detection JSON (a file path, or the already-parsed list or wrapper).

    Args:
        source: path of a ``.json`` file, a per-frame list, or ``{"Detections": [...], "Metadata": {...}}``.
        metadata: item metadata (``CanvasDims``, ``Categories``); overrides the wrapper's keys.
        name: how to name the item in errors and ``Detections.source`` (defaults to the path).

    Raises:
        FormatError: naming the item, the frame and the box: a box without integer/number
            coordinates, an inverted box, a bad ``TrackID`` or ``Score``, bad ``CanvasDims``.
    """
    if isinstance(source, (str, os.PathLike)):
        name = name or str(source)
        obj: Any = load_json(source)
    else:
        obj = source
    where = name or "SkyhookML detections"
    meta: dict[str, Any] = {}
    if isinstance(obj, Mapping):
        if "Detections" not in obj:
            raise FormatError(f"{where}: a JSON object must be {{'Detections': [...], 'Metadata': {{...}}}}")
        wrapped_meta = obj.get("Metadata") or {}
        if not isinstance(wrapped_meta, Mapping):
            raise FormatError(f"{where}: 'Metadata' must be an object")
        meta.update(wrapped_meta)
        obj = obj["Detections"]
    if metadata:
        meta.update(metadata)
    if obj is None:
        obj = []
    if not isinstance(obj, list):
        raise FormatError(f"{where}: expected a list with one list of boxes per frame, got {type(obj).__name__}")

    canvas = _canvas(meta.get("CanvasDims"), where)
    categories = meta.get("Categories") or []
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise FormatError(f"{where}: 'Categories' must be a list of names")
    classes = dict(enumerate(categories))
    class_of: dict[str, int] = {}
    for i, category_name in enumerate(categories):
        class_of.setdefault(category_name, i)

    frames: list[int] = []
    coords: list[Any] = []
    scores: list[Any] = []
    tracks: list[Any] = []
    class_ids: list[int] = []
    for f, boxes in enumerate(obj):
        if boxes is None:
            continue
        if not isinstance(boxes, list):
            raise FormatError(f"{where}, frame {f}: expected a list of boxes, got {type(boxes).__name__}")
        for j, box in enumerate(boxes):
            if not isinstance(box, Mapping):
                raise FormatError(f"{where}, frame {f}, box {j}: expected an object, got {type(box).__name__}")
            try:
                coords.append([_number(box[k]) for k in _COORDS])
                scores.append(_number(box.get("Score", 1.0)))
                tracks.append(_integer(box.get("TrackID", -1)))
            except KeyError as exc:
                raise FormatError(f"{where}, frame {f}, box {j}: missing {exc.args[0]!r}") from None
            except (TypeError, ValueError) as exc:
                raise FormatError(f"{where}, frame {f}, box {j}: {exc}: {json.dumps(box, default=str)}") from None
            category = box.get("Category")
            if category in (None, ""):
                class_ids.append(-1)
            elif not isinstance(category, str):
                raise FormatError(f"{where}, frame {f}, box {j}: 'Category' must be a string, got {category!r}")
            else:
                if category not in class_of:
                    class_of[category] = len(classes)
                    classes[len(classes)] = category
                class_ids.append(class_of[category])
            frames.append(f)

    xyxy = np.asarray(coords, dtype=np.float64).reshape(-1, 4)
    track_id = np.asarray(tracks, dtype=np.int64)
    frame = np.asarray(frames, dtype=np.int64)
    bad = np.flatnonzero((xyxy[:, 2] < xyxy[:, 0]) | (xyxy[:, 3] < xyxy[:, 1]) | (track_id < -1))
    if len(bad):
        i = int(bad[0])
        f, j = int(frame[i]), i - int(np.searchsorted(frame, frame[i]))
        problem = "TrackID below -1" if track_id[i] < -1 else "Right < Left or Bottom < Top"
        raise FormatError(f"{where}, frame {f}, box {j}: {problem}: {json.dumps(obj[f][j], default=str)}")
    try:
        return Detections.create(
            frame,
            xyxy,
            np.asarray(scores, dtype=np.float32),
            np.asarray(class_ids, dtype=np.int32),
            track_id,
            canvas=canvas,
            num_frames=len(obj),
            classes=classes,
            source=name,
        )
    except ValidationError as exc:
        raise FormatError(f"{where}: {exc}") from exc


def to_skyhook_json(
    detections: Detections, *, integer_coords: bool = True
) -> tuple[list[list[dict[str, Any]]], dict[str, Any]]:
    """SkyhookML's ``(per-frame lists, item metadata)`` for one video's boxes.

    ``integer_coords`` rounds coordinates to whole pixels, as SkyhookML's Go ``int`` fields
    require; pass False to keep sub-pixel floats (readable here, not by SkyhookML).
    There is one inner list per frame of ``detections.frame_count``, empty frames included.
    ``Categories`` lists names so that each ``class_id`` is its index in the list.
    """
    n_frames = detections.frame_count
    frames: list[list[dict[str, Any]]] = [[] for _ in range(n_frames)]
    xyxy = np.rint(detections.xyxy).astype(np.int64) if integer_coords else detections.xyxy
    used = np.unique(detections.class_id[detections.class_id >= 0]).tolist()
    top = max([*used, *(k for k in detections.classes if k >= 0)], default=-1)
    categories = [detections.class_name(i) for i in range(top + 1)]
    for f, box, score, tid, cid in zip(
        detections.frame.tolist(),
        xyxy.tolist(),
        detections.score.tolist(),
        detections.track_id.tolist(),
        detections.class_id.tolist(),
        strict=True,
    ):
        item: dict[str, Any] = {"Left": box[0], "Top": box[1], "Right": box[2], "Bottom": box[3]}
        if cid >= 0:
            item["Category"] = categories[cid]
        if tid >= 0:
            item["TrackID"] = tid
        item["Score"] = score
        frames[f].append(item)
    metadata: dict[str, Any] = {}
    if detections.canvas is not None:
        metadata["CanvasDims"] = list(detections.canvas)
    if categories:
        metadata["Categories"] = categories
    return frames, metadata


def write_skyhook_json(
    detections: Detections, path: PathLike, *, wrapper: bool = True, integer_coords: bool = True
) -> None:
    """Write SkyhookML detection JSON atomically.

    With ``wrapper`` (default) the file is ``{"Detections": [...], "Metadata": {...}}`` so the canvas
    and categories travel with the boxes; without it the file is the bare per-frame list, exactly a
    SkyhookML item file, and the caller keeps the metadata (see :func:`to_skyhook_json`).
    """
    frames, metadata = to_skyhook_json(detections, integer_coords=integer_coords)
    obj: Any = {"Detections": frames, "Metadata": metadata} if wrapper else frames
    atomic_write_text(Path(path), json.dumps(obj, separators=(",", ":")) + "\n")


def _canvas(value: Any, where: str) -> tuple[int, int] | None:
    if value is None:
        return None
    ok = isinstance(value, (list, tuple)) and len(value) == 2
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)
    if not ok or any(float(v) != int(v) for v in value):
        raise FormatError(f"{where}: 'CanvasDims' must be [width, height] in whole pixels, got {value!r}")
    return int(value[0]), int(value[1])


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if not np.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _integer(value: Any) -> int:
    number = _number(value)
    if number != int(number):
        raise ValueError(f"TrackID must be a whole number, got {value!r}")
    return int(number)
