"""YOLO (Darknet / ultralytics) labels: one ``.txt`` per image, one box per line.

A line is ``class cx cy w h`` with the centre and size normalised by the image size (0..1), and an
optional 6th value, a score (ultralytics ``save_conf``). Class numbers are indices into a names
list: ``obj.names`` / ``classes.txt`` (one name per line) or ``data.yaml`` (``names:`` list or
``{index: name}``). An image without a label file has no boxes.

Because the labels are normalised, reading needs each image's size: pass ``{key: (w, h)}`` or the
image folder (sizes are read from PNG/JPEG headers). Keys are paths relative to the folder without
extension, so ``images/a/b.jpg`` pairs with ``labels/a/b.txt``.

Writing clips boxes to the image (YOLO cannot express a box outside it) and numbers the classes
0..K-1 in ``class_id`` order; the names file lists them in that order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from selftrack.core.boxes import clip_to_canvas
from selftrack.core.detections import Detections
from selftrack.core.errors import FormatError, ValidationError
from selftrack.formats._images import IMAGE_SUFFIXES, image_size
from selftrack.formats._text import PathLike, atomic_write_text, format_table, load_table, parse_yaml, read_text
from selftrack.formats.labelled import LabelledImages, image_detections, safe_key_path

NAMES_FILES = ("obj.names", "classes.txt", "data.yaml", "data.yml")
"""Where :func:`read_yolo` looks for class names (in the labels folder, then its parent) when not given."""

Names = Sequence[str] | Mapping[int, str] | PathLike


def read_yolo(
    labels_dir: PathLike,
    images: Mapping[str, tuple[int, int]] | PathLike,
    names: Names | None = None,
) -> LabelledImages:
    """Read a folder of YOLO label files.

    Args:
        labels_dir: folder of ``<key>.txt`` files (searched recursively).
        images: ``{key: (width, height)}``, or the folder of the images (searched recursively).
        names: class names: a list (index = class), ``{index: name}``, or a path to ``obj.names``,
            ``classes.txt`` or ``data.yaml``. ``None``: look for those files (see :data:`NAMES_FILES`);
            if there is none, class numbers are kept without names and not range-checked.

    Raises:
        FormatError: naming the file and line: not 5 or 6 values, a non-number, a class that is not
            a whole number in range, a normalised value outside [0, 1]; or a label file whose image
            size is unknown.
    """
    labels_dir = Path(labels_dir)
    if not labels_dir.is_dir():
        raise FormatError(f"{labels_dir}: not a folder of YOLO label files")
    classes = _resolve_names(names, labels_dir)
    sizes, file_names = _image_sizes(images)
    label_files = {
        str(p.relative_to(labels_dir).with_suffix("").as_posix()): p
        for p in sorted(labels_dir.rglob("*.txt"))
        if p.name not in NAMES_FILES
    }
    orphans = sorted(set(label_files) - set(sizes))
    if orphans:
        raise FormatError(
            f"{label_files[orphans[0]]}: no image size for {orphans[0]!r} "
            f"({len(orphans)} label file(s) without a matching image)"
        )
    out: dict[str, Detections] = {}
    for key, size in sizes.items():
        path = label_files.get(key)
        if path is None:
            out[key] = image_detections(np.zeros((0, 4)), np.zeros(0), size, classes=classes, source=key)
        else:
            out[key] = _read_label_file(path, size, classes)
    return LabelledImages(images=out, classes=classes, file_names=file_names, sizes=sizes)


def write_yolo(
    images: LabelledImages | Mapping[str, Detections],
    labels_dir: PathLike,
    *,
    classes: Mapping[int, str] | None = None,
    names_file: str | None = "obj.names",
    with_scores: bool = False,
) -> list[str]:
    """Write one ``<key>.txt`` per image (an empty file for an image without boxes) and the names file.

    Returns:
        The class names in YOLO index order (``class_id`` values sorted ascending).

    Raises:
        FormatError: an image with unknown size, a box without a class, a key that is not a safe
            relative path.
    """
    labels_dir = Path(labels_dir)
    labelled = LabelledImages.from_images(images, classes=classes)
    used: set[int] = set(labelled.classes)
    for key, det in labelled.images.items():
        if np.any(det.class_id < 0):
            raise FormatError(f"image {key!r}: YOLO needs a class for every box, some have class_id -1")
        used.update(np.unique(det.class_id).tolist())
    ids = sorted(used)
    index_of = {cid: i for i, cid in enumerate(ids)}
    lookup = np.zeros(max(ids, default=0) + 1, dtype=np.int64)
    lookup[ids] = np.arange(len(ids))
    for key, det in labelled.images.items():
        width, height = labelled.size_of(key)
        xyxy = clip_to_canvas(det.xyxy, width, height)
        norm = np.stack(
            [
                (xyxy[:, 0] + xyxy[:, 2]) / (2 * width),
                (xyxy[:, 1] + xyxy[:, 3]) / (2 * height),
                (xyxy[:, 2] - xyxy[:, 0]) / width,
                (xyxy[:, 3] - xyxy[:, 1]) / height,
            ],
            axis=1,
        )
        cols = [lookup[det.class_id], *norm.T] + ([det.score] if with_scores else [])
        ints = [True, False, False, False, False] + ([False] if with_scores else [])
        text = format_table(cols, ints, decimals=8, sep=" ")
        atomic_write_text(labels_dir / safe_key_path(key, ".txt"), text)
    names = [labelled.classes.get(cid, f"class{cid}") for cid in index_of]
    if names_file:
        atomic_write_text(labels_dir / names_file, "".join(f"{name}\n" for name in names))
    return names


def _read_label_file(path: Path, size: tuple[int, int], classes: dict[int, str]) -> Detections:
    table = load_table(path, allowed_columns=(5, 6), what="YOLO")
    if len(table) == 0:
        return image_detections(np.zeros((0, 4)), np.zeros(0), size, classes=classes, source=str(path))
    v = table.values
    table.check(v[:, 0] != np.round(v[:, 0]), "the class must be a whole number")
    table.check(v[:, 0] < 0, "the class must be >= 0")
    if classes:
        known = np.array(sorted(classes), dtype=np.float64)
        table.check(~np.isin(v[:, 0], known), f"class not among the {len(classes)} class names")
    table.check(((v[:, 1:5] < 0) | (v[:, 1:5] > 1)).any(axis=1), "normalised cx, cy, w, h must lie in [0, 1]")
    width, height = size
    cx, cy, w, h = v[:, 1] * width, v[:, 2] * height, v[:, 3] * width, v[:, 4] * height
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    score = v[:, 5] if table.num_columns == 6 else None
    try:
        return image_detections(xyxy, v[:, 0], size, score=score, classes=classes, source=str(path))
    except ValidationError as exc:  # pragma: no cover - normalised boxes always overlap the image
        raise FormatError(f"{path}: {exc}") from exc


def _image_sizes(images: Mapping[str, tuple[int, int]] | PathLike) -> tuple[dict[str, tuple[int, int]], dict[str, str]]:
    if isinstance(images, Mapping):
        return {str(k): (int(v[0]), int(v[1])) for k, v in images.items()}, {}
    folder = Path(images)
    if not folder.is_dir():
        raise FormatError(f"{folder}: not a folder of images")
    sizes: dict[str, tuple[int, int]] = {}
    file_names: dict[str, str] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() not in IMAGE_SUFFIXES or not p.is_file():
            continue
        rel = p.relative_to(folder)
        key = rel.with_suffix("").as_posix()
        if key in sizes:
            raise FormatError(f"{p}: {rel.as_posix()!r} and {file_names[key]!r} give the same image key {key!r}")
        sizes[key] = image_size(p)
        file_names[key] = rel.as_posix()
    return sizes, file_names


def _resolve_names(names: Names | None, labels_dir: Path) -> dict[int, str]:
    if names is None:
        for folder in (labels_dir, labels_dir.parent):
            for candidate in NAMES_FILES:
                if (folder / candidate).is_file():
                    return _resolve_names(folder / candidate, labels_dir)
        return {}
    if isinstance(names, Mapping):
        return {int(k): str(v) for k, v in names.items()}
    if isinstance(names, (str, Path)) or hasattr(names, "__fspath__"):
        return _names_file(Path(names))  # type: ignore[arg-type]
    return dict(enumerate(str(n) for n in names))


def _names_file(path: Path) -> dict[int, str]:
    text = read_text(path)
    if path.suffix.lower() not in (".yaml", ".yml"):
        return dict(enumerate(line.strip() for line in text.split("\n") if line.strip()))
    doc: Any = parse_yaml(text, str(path), plain=False)
    listed = doc.get("names") if isinstance(doc, dict) else None
    if isinstance(listed, list):
        return dict(enumerate(str(n) for n in listed))
    if isinstance(listed, dict):
        try:
            return {int(k): str(v) for k, v in listed.items()}
        except (TypeError, ValueError):
            raise FormatError(f"{path}: 'names' keys must be class numbers") from None
    raise FormatError(f"{path}: no 'names' list in the YAML file")
