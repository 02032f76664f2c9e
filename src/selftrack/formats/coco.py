"""COCO object-detection JSON (``images``, ``annotations``, ``categories``) for labelled images.

- Image key = ``file_name`` without its extension (folders kept, ``/``-separated); the file name
  itself is kept in ``LabelledImages.file_names`` and written back unchanged.
- ``class_id`` = COCO ``category_id`` (not re-numbered), ``classes`` = ``{id: name}``.
- ``bbox`` is ``[left, top, width, height]`` in pixels. ``iscrowd`` is kept per box in
  ``data["iscrowd"]`` (int8; crowd boxes are not dropped: evaluation decides what to do with them).
  A detection-results ``score`` is read when present (else 1). Segmentations are not read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import FormatError, ValidationError
from selftrack.formats._text import PathLike, atomic_write_text, load_json
from selftrack.formats.labelled import LabelledImages, image_detections


def read_coco(path: PathLike) -> LabelledImages:
    """Read a COCO JSON file into one 1-frame :class:`Detections` per image.

    Raises:
        FormatError: naming the file and the image/annotation/category (by list index and id):
            missing keys, a bbox that is not 4 numbers or has a negative size, an unknown image or
            category id, duplicate ids or image keys.
    """
    obj = load_json(path)
    if not isinstance(obj, dict) or not isinstance(obj.get("images"), list):
        raise FormatError(f"{path}: not a COCO file (no 'images' list)")
    classes = _categories(obj.get("categories") or [], path)

    keys: list[str] = []
    sizes: dict[str, tuple[int, int]] = {}
    file_names: dict[str, str] = {}
    index_of_id: dict[int, int] = {}
    for i, image in enumerate(obj["images"]):
        where = f"{path}: images[{i}]"
        try:
            image_id, file_name = _whole(image["id"]), image["file_name"]
            size = (_whole(image["width"]), _whole(image["height"]))
        except (KeyError, TypeError) as exc:
            raise FormatError(f"{where}: needs 'id', 'file_name', 'width' and 'height' ({exc})") from None
        except ValueError as exc:
            raise FormatError(f"{where}: {exc}") from None
        if not isinstance(file_name, str) or not file_name:
            raise FormatError(f"{where}: 'file_name' must be a non-empty string")
        if size[0] <= 0 or size[1] <= 0:
            raise FormatError(f"{where} ({file_name}): width and height must be positive, got {size}")
        if image_id in index_of_id:
            raise FormatError(f"{where} ({file_name}): image id {image_id} is used twice")
        key = str(PurePosixPath(file_name.replace("\\", "/")).with_suffix(""))
        if key in sizes:
            raise FormatError(f"{where}: {file_name!r} and {file_names[key]!r} give the same image key {key!r}")
        index_of_id[image_id] = i
        keys.append(key)
        sizes[key] = size
        file_names[key] = file_name

    annotations = obj.get("annotations") or []
    if not isinstance(annotations, list):
        raise FormatError(f"{path}: 'annotations' must be a list")
    n = len(annotations)
    image_index = np.empty(n, dtype=np.int64)
    bbox = np.empty((n, 4), dtype=np.float64)
    category = np.empty(n, dtype=np.int32)
    iscrowd = np.zeros(n, dtype=np.int8)
    score = np.ones(n, dtype=np.float32)
    for j, ann in enumerate(annotations):
        where = f"{path}: annotations[{j}]" + (f" (id {ann.get('id')})" if isinstance(ann, dict) else "")
        try:
            image_index[j] = index_of_id[_whole(ann["image_id"])]
            box = ann["bbox"]
            if not isinstance(box, list) or len(box) != 4:
                raise FormatError(f"{where}: 'bbox' must be [x, y, width, height], got {box!r}")
            bbox[j] = [_finite(v) for v in box]
            category[j] = _whole(ann["category_id"], 2**31 - 1)
            iscrowd[j] = _whole(ann.get("iscrowd", 0), 1)
            score[j] = _finite(ann.get("score", 1.0))
        except KeyError as exc:
            missing = exc.args[0]
            if missing in ("image_id", "bbox", "category_id"):
                raise FormatError(f"{where}: missing {missing!r}") from None
            raise FormatError(f"{where}: image_id {missing!r} is not in 'images'") from None
        except (TypeError, ValueError) as exc:
            raise FormatError(f"{where}: {exc}") from None
        if bbox[j, 2] < 0 or bbox[j, 3] < 0:
            raise FormatError(f"{where}: negative width or height in bbox {box!r}")
        if classes and int(category[j]) not in classes:
            raise FormatError(f"{where}: category_id {int(category[j])} is not in 'categories'")

    xyxy = bbox.copy()
    xyxy[:, 2:] += xyxy[:, :2]
    order = np.argsort(image_index, kind="stable")
    bounds = np.searchsorted(image_index[order], np.arange(len(keys) + 1))
    images: dict[str, Detections] = {}
    for i, key in enumerate(keys):
        rows = order[bounds[i] : bounds[i + 1]]
        try:
            images[key] = image_detections(
                xyxy[rows],
                category[rows],
                sizes[key],
                score=score[rows],
                classes=classes,
                data={"iscrowd": iscrowd[rows]},
                source=f"{path}:{file_names[key]}",
            )
        except ValidationError as exc:
            raise FormatError(f"{path}: image {file_names[key]!r}: {exc}") from exc
    return LabelledImages(images=images, classes=classes, file_names=file_names, sizes=sizes)


def write_coco(
    images: LabelledImages | Mapping[str, Detections],
    path: PathLike,
    *,
    classes: Mapping[int, str] | None = None,
    file_names: Mapping[str, str] | None = None,
    with_scores: bool | None = None,
) -> None:
    """Write COCO JSON atomically: image ids 1..N in key order, annotation ids 1..M.

    Args:
        images: the labelled set, or ``{key: Detections}`` (each with a canvas).
        classes: ``{class_id: name}`` added to the set's; a class without a name becomes ``classN``.
        file_names: ``{key: file name}``; an image without one is written as its key.
        with_scores: write each box's ``score`` (detection results); default: only if some score is not 1.

    Raises:
        FormatError: an image without a known size, or a box without a class (``class_id`` -1).
    """
    labelled = LabelledImages.from_images(images, classes=classes, file_names=file_names)
    if with_scores is None:
        with_scores = any(bool(np.any(d.score != 1)) for d in labelled.images.values())
    used: set[int] = set()
    out_images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for image_id, (key, det) in enumerate(labelled.images.items(), start=1):
        width, height = labelled.size_of(key)
        out_images.append(
            {"id": image_id, "file_name": labelled.file_names.get(key, key), "width": width, "height": height}
        )
        if np.any(det.class_id < 0):
            raise FormatError(f"image {key!r}: COCO needs a category for every box, some have class_id -1")
        xywh = np.round(det.xywh, 6) + 0.0
        crowd = det.data.get("iscrowd", np.zeros(len(det), dtype=np.int8))
        for box, cid, is_crowd, sc in zip(
            xywh.tolist(), det.class_id.tolist(), np.asarray(crowd).tolist(), det.score.tolist(), strict=True
        ):
            ann: dict[str, Any] = {
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": cid,
                "bbox": box,
                "area": round(box[2] * box[3], 6),
                "iscrowd": int(is_crowd),
            }
            if with_scores:
                ann["score"] = round(sc, 6)
            annotations.append(ann)
            used.add(cid)
    ids = sorted(used | set(labelled.classes))
    categories = [{"id": i, "name": labelled.classes.get(i, f"class{i}")} for i in ids]
    doc = {"images": out_images, "annotations": annotations, "categories": categories}
    atomic_write_text(Path(path), json.dumps(doc, separators=(",", ":")) + "\n")


def _categories(categories: Any, path: PathLike) -> dict[int, str]:
    if not isinstance(categories, list):
        raise FormatError(f"{path}: 'categories' must be a list")
    classes: dict[int, str] = {}
    for k, cat in enumerate(categories):
        try:
            cid, name = _whole(cat["id"], 2**31 - 1), str(cat["name"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{path}: categories[{k}] needs an integer 'id' and a 'name' ({exc})") from None
        if cid in classes:
            raise FormatError(f"{path}: categories[{k}]: category id {cid} is used twice")
        classes[cid] = name
    return classes


def _finite(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    return float(value)


def _whole(value: Any, limit: float = 2**53) -> int:
    """A whole number in ``[-limit, limit]`` (ids, sizes, flags); anything else is a ValueError naming it."""
    number = _finite(value)
    if number != int(number) or abs(number) > limit:
        raise ValueError(f"expected a whole number up to {limit:.0f}, got {value!r}")
    return int(number)
