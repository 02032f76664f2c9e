"""A YOLO dataset folder from training images: what the ultralytics trainer reads (no ultralytics needed here).

:func:`export_yolo_dataset` writes ``images/{train,val}``, ``labels/{train,val}`` and ``data.yaml`` from
:class:`TrainingImage` s (an image file, or pixels from a video frame, plus boxes), splitting off a
validation share by *group* so that neighbouring frames of a video do not land on both sides.
:func:`video_training_images` turns labelled frames of a video into training images, with unsure regions
painted out (:func:`mask_ignored`); class names are matched by name across items (:func:`class_names`).
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import yaml

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.formats.labelled import image_detections
from selftrack.formats.yolo import write_yolo
from selftrack.video import ResizeSpec, VideoReader

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""Image files ultralytics reads as they are; others are re-encoded as JPEG."""


@dataclass(frozen=True)
class TrainingImage:
    """One image of a training set and its boxes.

    Attributes:
        name: file name stem, unique in the set (``a/b`` style keys are flattened by :func:`safe_name`).
        boxes: ``float64 (n, 4)`` xyxy in pixels of the image.
        classes: ``int (n,)`` index of each box's class in the dataset's ``names``.
        image: RGB uint8 pixels, or ``None`` when ``path`` is given.
        path: an image file used as it is (linked or copied, never re-encoded if ultralytics reads it).
        size: ``(width, height)`` of the image.
        group: images of one group go to the same split (e.g. the frames of one stretch of video);
            empty = the image is its own group.
    """

    name: str
    boxes: np.ndarray
    classes: np.ndarray
    size: tuple[int, int]
    image: np.ndarray | None = None
    path: Path | None = None
    group: str = ""


@dataclass(frozen=True)
class YoloDataset:
    """A YOLO dataset folder written by :func:`export_yolo_dataset`."""

    root: Path
    data_yaml: Path
    names: list[str]
    train: list[str]
    val: list[str]
    num_boxes: int
    val_is_train: bool = False
    """True when there were too few images to hold any out: validation then runs on the training images."""


def safe_name(key: str) -> str:
    """A file-name stem for an item key (keys may hold spaces, dots or characters a file system dislikes)."""
    out = "".join(c if c.isalnum() or c in "-_." else "_" for c in key).strip(".")
    return out[:120] or "image"


def split_groups(groups: Sequence[str], val_percent: float, seed: int) -> np.ndarray:
    """``bool`` per image: in the validation split. Whole groups are drawn until ``val_percent`` of the images.

    At least one image is held out when ``val_percent > 0`` and there are two groups or more; at
    least one is kept for training.
    """
    n = len(groups)
    is_val = np.zeros(n, dtype=bool)
    if n < 2 or val_percent <= 0:
        return is_val
    unique = sorted(set(groups))
    if len(unique) < 2:
        return is_val
    random.Random(seed).shuffle(unique)
    target = max(1, round(n * val_percent / 100))
    arr = np.asarray(groups, dtype=object)
    for g in unique:
        candidate = is_val | (arr == g)
        if candidate.all():
            break
        is_val = candidate
        if is_val.sum() >= target:
            break
    return is_val


def export_yolo_dataset(
    images: Iterable[TrainingImage],
    out_dir: str | Path,
    names: Sequence[str],
    *,
    val_percent: float = 20.0,
    seed: int = 0,
) -> YoloDataset:
    """Write ``images`` as a YOLO dataset under ``out_dir`` (created; must be empty or absent).

    Pixels given as arrays are written as JPEG (quality 95). Boxes are clipped to their image and
    boxes left empty by clipping are dropped. The ``data.yaml`` holds an absolute ``path``, so the
    folder can be trained from anywhere.

    Raises:
        ValidationError: no images, duplicate names, a class index outside ``names``, an image
            without pixels or file, or a box array of the wrong shape (naming the image).
    """
    root = Path(out_dir).resolve()
    if root.exists() and any(root.iterdir()):
        raise ValidationError(f"{root}: the YOLO dataset folder must be empty")
    if not names:
        raise ValidationError("a YOLO dataset needs at least one class name")
    staged: list[TrainingImage] = []
    seen: set[str] = set()
    stage_dir = root / "images" / "all"
    stage_dir.mkdir(parents=True, exist_ok=True)
    for img in images:  # written as they come: a video's frames are never all held in memory
        if img.name in seen or safe_name(img.name) != img.name:
            raise ValidationError(f"training image name {img.name!r} is duplicated or not a safe file name")
        seen.add(img.name)
        boxes = np.asarray(img.boxes, dtype=np.float64).reshape(-1, 4)
        classes = np.asarray(img.classes, dtype=np.int64).reshape(-1)
        if len(classes) != len(boxes):
            raise ValidationError(f"training image {img.name!r}: {len(boxes)} boxes but {len(classes)} classes")
        if len(classes) and (classes.min() < 0 or classes.max() >= len(names)):
            raise ValidationError(f"training image {img.name!r}: class index outside 0..{len(names) - 1}")
        if img.image is not None:
            path = stage_dir / f"{img.name}.jpg"
            if not cv2.imwrite(str(path), cv2.cvtColor(img.image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95]):
                raise ValidationError(f"training image {img.name!r}: could not be written to {path}")
        elif img.path is not None:
            src = Path(img.path)
            if src.suffix.lower() in IMAGE_SUFFIXES:
                path = stage_dir / f"{img.name}{src.suffix.lower()}"
                _link_or_copy(src, path)
            else:
                pixels = cv2.imread(str(src), cv2.IMREAD_COLOR)
                if pixels is None:
                    raise ValidationError(f"training image {img.name!r}: {src} is not a readable image")
                path = stage_dir / f"{img.name}.jpg"
                cv2.imwrite(str(path), pixels, [cv2.IMWRITE_JPEG_QUALITY, 95])
        else:
            raise ValidationError(f"training image {img.name!r} has neither pixels nor a file")
        staged.append(TrainingImage(path.name, boxes, classes, img.size, None, path, img.group or img.name))
    if not staged:
        raise ValidationError("no training images")
    is_val = split_groups([img.group for img in staged], val_percent, seed)
    val_is_train = val_percent > 0 and not is_val.any()
    all_names = dict(enumerate(names))
    num_boxes = 0
    split_names: dict[str, list[str]] = {"train": [], "val": []}
    for img, val in zip(staged, is_val, strict=True):
        split = "val" if val else "train"
        assert img.path is not None
        target = root / "images" / split / img.path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(img.path, target)
        width, height = img.size
        xyxy = img.boxes.copy()
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
        ok = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        stem = Path(img.name).stem
        labels = image_detections(xyxy[ok], img.classes[ok], (width, height), classes=all_names, source=stem)
        write_yolo({stem: labels}, root / "labels" / split, classes=all_names, names_file=None)
        num_boxes += int(ok.sum())
        split_names[split].append(stem)
    stage_dir.rmdir()
    data = {
        "path": str(root),
        "train": "images/train",
        "val": "images/train" if (val_is_train or val_percent <= 0) else "images/val",
        "names": dict(enumerate(names)),
    }
    data_yaml = root / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))
    return YoloDataset(
        root,
        data_yaml,
        list(names),
        split_names["train"],
        split_names["val"],
        num_boxes,
        val_is_train or val_percent <= 0,
    )


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


IGNORE_FILL = 114
"""Grey of painted-out (ignored) regions: the letterbox grey ultralytics pads with, already "nothing" to YOLO."""


def mask_ignored(image: np.ndarray, ignored: np.ndarray, keep: np.ndarray, *, pad: int = 2) -> np.ndarray:
    """A copy of ``image`` with the ``ignored`` boxes (grown by ``pad`` px) painted grey, except inside ``keep`` boxes.

    Painting a region out tells the detector neither "an object here" nor "nothing here", which is
    what an unsure label should say. Labels win over ignored regions: a merged blob that overlaps a
    labelled car must not erase the car.
    """
    out = image.copy()
    if not len(ignored):
        return out
    h, w = image.shape[:2]
    painted = np.zeros((h, w), dtype=bool)
    for x1, y1, x2, y2 in np.round(np.asarray(ignored).reshape(-1, 4)).astype(np.int64):
        painted[max(0, y1 - pad) : min(h, y2 + pad), max(0, x1 - pad) : min(w, x2 + pad)] = True
    for x1, y1, x2, y2 in np.round(np.asarray(keep).reshape(-1, 4)).astype(np.int64):
        painted[max(0, y1) : min(h, y2), max(0, x1) : min(w, x2)] = False
    out[painted] = IGNORE_FILL
    return out


def video_training_images(
    path: str | Path,
    labels: Detections,
    frames: Iterable[int],
    names: Sequence[str],
    *,
    prefix: str,
    resize: ResizeSpec | None = None,
    fps: Fraction | float | None = None,
    ignore: Detections | None = None,
    group_frames: int = 50,
) -> Iterator[TrainingImage]:
    """Frames ``frames`` of the video at ``path`` with their boxes from ``labels``, decoded one at a time.

    Boxes are moved from ``labels.canvas`` (the video's own size if unset) to the decoded frame size
    (``resize``), frame indices count frames at ``fps`` (``None``: the video's own rate); boxes of classes
    not in ``names`` are dropped; ``ignore`` boxes (same canvas) are painted out. Frames are grouped
    in runs of ``group_frames`` for the train/validation split, so near-identical neighbours stay
    on one side.
    """
    with VideoReader(path, resize=resize, fps=fps) as reader:
        size = reader.output_size
        source = (reader.info.width, reader.info.height)
        labels = _on_canvas(labels, source, size)
        ignore = None if ignore is None else _on_canvas(ignore, source, size)
        index = class_indices(labels, names)
        for f in sorted(set(int(f) for f in frames)):
            if not 0 <= f < reader.frame_count:
                raise ValidationError(f"{path}: frame {f} is outside the video ({reader.frame_count} frames)")
            lo, hi = np.searchsorted(labels.frame, [f, f + 1])
            keep = index[lo:hi] >= 0
            boxes, classes = labels.xyxy[lo:hi][keep], index[lo:hi][keep]
            image = reader.read_frame(f)
            if ignore is not None:
                image = mask_ignored(image, ignore.at_frame(f).xyxy, boxes)
            yield TrainingImage(
                safe_name(f"{prefix}_{f:06d}"), boxes, classes, size, image, group=f"{prefix}:{f // group_frames}"
            )


def _on_canvas(det: Detections, source: tuple[int, int], size: tuple[int, int]) -> Detections:
    """``det`` in pixels of ``size``; boxes without a canvas are taken to be in the video's own pixels."""
    if det.canvas is None:
        det = det.replace(canvas=source)
    return det if tuple(det.canvas) == tuple(size) else det.rescale(size)


def class_names(detections: Iterable[Detections], keep: Sequence[str] | None = None) -> list[str]:
    """Class names of a set of labels, in order of first class id; only ``keep`` ones (in that order) if given.

    Classes are identified by name across items, so two items that number "car" differently still
    train one class.
    """
    if keep:
        return list(dict.fromkeys(keep))
    first: dict[str, int] = {}
    for det in detections:
        for cid in np.unique(det.class_id).tolist():
            name = label_name(det, cid)
            first[name] = min(first.get(name, cid), cid)
    return sorted(first, key=lambda n: (first[n], n))


def label_name(det: Detections, class_id: int) -> str:
    """The class name of ``class_id`` in ``det`` (``object`` for unknown classes, -1)."""
    return "object" if class_id < 0 else det.class_name(class_id)


def class_indices(det: Detections, names: Sequence[str]) -> np.ndarray:
    """Index in ``names`` of each box's class, -1 for classes not in ``names``."""
    index = {name: i for i, name in enumerate(names)}
    ids, inverse = np.unique(det.class_id, return_inverse=True)
    table = np.array([index.get(label_name(det, cid), -1) for cid in ids.tolist()], dtype=np.int64)
    return table[inverse].reshape(-1) if len(det) else np.zeros(0, np.int64)
