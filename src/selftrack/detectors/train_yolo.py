"""Train a YOLO detector with ultralytics (optional extra), offline, and export it to ONNX.

Three parts, only the last of which needs ultralytics:

1. :func:`configure_ultralytics_offline` sets up the environment ultralytics reads at import: no
   network (``YOLO_OFFLINE=1``: no update checks, no analytics), no ``pip install`` behind the
   user's back (``YOLO_AUTOINSTALL=0``), a settings folder of our own (``YOLO_CONFIG_DIR``), and the
   fonts its plots ask for (``Arial.ttf``, ``Arial.Unicode.ttf``) copied there from a TTF found on
   this machine, matplotlib's DejaVu Sans first (ultralytics depends on matplotlib, so it is always
   there), because ultralytics otherwise downloads them. The project sets these; a user never has to.
2. :func:`export_yolo_dataset` writes a YOLO dataset folder (``images/{train,val}``,
   ``labels/{train,val}``, ``data.yaml``) from :class:`TrainingImage` s (an image file, or pixels
   from a video frame, plus boxes), splitting off a validation share by *group* so that
   neighbouring frames of a video do not land on both sides.
3. :func:`train_yolo` builds the model (an architecture ``yaml`` of the ultralytics package, e.g.
   ``yolo11n.yaml``, a ``yaml`` the user gives, or ``.pt`` weights the user gives: nothing is ever
   downloaded, so "pretrained" means the user's own weights), trains it, reports each epoch's
   losses and metrics, and exports the best weights to ONNX for
   :class:`~selftrack.detectors.YoloOnnxDetector`, which runs without ultralytics or torch.

The parameters follow SkyhookML's YOLOv5 training node (model size ``Mode`` s/m/l/x, plus n;
``ValPercent`` 20; the image size; ``BatchSize`` 8 as its wizard sets) and otherwise keep
ultralytics' own defaults.
"""

from __future__ import annotations

import importlib.util
import math
import os
import random
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError, ValidationError
from selftrack.formats.labelled import image_detections
from selftrack.formats.yolo import write_yolo
from selftrack.video import ResizeSpec, VideoReader

EXTRA_INSTALL = "pip install 'selftrack[ultralytics]' (in an environment of its own: it installs a CUDA build of torch)"
INSTALL_HINT = f"training YOLO needs the ultralytics extra: {EXTRA_INSTALL}"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
"""Image files ultralytics reads as they are; others are re-encoded as JPEG."""
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")
"""The fonts ultralytics downloads on first use unless they are in its settings folder."""


# ---------------------------------------------------------------------------------------------- offline set-up
def find_font() -> Path:
    """A TrueType font on this machine: matplotlib's DejaVu Sans, else one from the system font folders.

    matplotlib is found without importing it (its import is slow and builds a font cache).

    Raises:
        SelftrackError: no ``.ttf`` anywhere, with the command that installs one.
    """
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.origin:
        bundled = Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if bundled.is_file():
            return bundled
    folders = [
        Path("/usr/share/fonts"),
        Path("/usr/local/share/fonts"),
        Path.home() / ".local/share/fonts",
        Path.home() / ".fonts",
    ]
    found = sorted(p for folder in folders if folder.is_dir() for p in folder.rglob("*.ttf"))
    for p in found:
        if p.name == "DejaVuSans.ttf":
            return p
    if found:
        return found[0]
    raise SelftrackError(
        "no TrueType font found (ultralytics needs one for its plots and would download it): "
        "pip install matplotlib, or apt-get install fonts-dejavu-core"
    )


def default_config_dir() -> Path:
    """Where selftrack keeps ultralytics' settings: ``$XDG_CACHE_HOME/selftrack/ultralytics`` (or ``~/.cache``)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "selftrack" / "ultralytics"


def configure_ultralytics_offline(config_dir: str | Path | None = None) -> Path:
    """Set the environment ultralytics needs to work offline; return its settings folder (fonts inside).

    Call before ``import ultralytics`` (:func:`import_ultralytics` does): ultralytics reads these
    variables once, at import. ``YOLO_OFFLINE`` and ``YOLO_AUTOINSTALL`` are always overwritten: a
    training job must never reach the network or install packages. ``YOLO_CONFIG_DIR`` keeps a
    value the user set; otherwise it is ``config_dir`` or :func:`default_config_dir`. If ultralytics
    was imported already, the fonts also go to the folder it settled on.
    """
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_AUTOINSTALL"] = "0"
    if config_dir is not None:
        os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    elif not os.environ.get("YOLO_CONFIG_DIR"):
        os.environ["YOLO_CONFIG_DIR"] = str(default_config_dir())
    settings = Path(os.environ["YOLO_CONFIG_DIR"]).expanduser() / "Ultralytics"
    folders = [settings]
    loaded = sys.modules.get("ultralytics.utils")
    if loaded is not None and getattr(loaded, "USER_CONFIG_DIR", None) is not None:
        folders.append(Path(loaded.USER_CONFIG_DIR))
    font: Path | None = None
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        for name in FONT_NAMES:
            target = folder / name
            if not target.is_file():
                font = font or find_font()
                fd, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
                os.close(fd)
                shutil.copyfile(font, tmp)
                os.replace(tmp, target)  # never a half-copied font for a concurrent job to read
    return settings


def ultralytics_available() -> bool:
    """Whether the ultralytics extra is installed (checked without importing it)."""
    return importlib.util.find_spec("ultralytics") is not None


def import_ultralytics(purpose: str = "training YOLO") -> Any:
    """The ``ultralytics`` module, set up for offline use; an ImportError with the install hint if missing.

    Every use of ultralytics in selftrack (training, loading ``.pt`` weights) imports it through
    here, so none can run without the offline set-up. ``purpose`` starts the error message (what
    needs the extra).
    """
    hint = f"{purpose} needs the ultralytics extra: {EXTRA_INSTALL}"
    if not ultralytics_available():
        raise ImportError(hint)
    configure_ultralytics_offline()
    try:
        import ultralytics
    except (ImportError, RuntimeError) as e:  # a torch/torchvision mismatch fails with a RuntimeError
        raise ImportError(f"{hint}; importing it failed: {e}") from e
    return ultralytics


# ---------------------------------------------------------------------------------------------- dataset export
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


# ---------------------------------------------------------------------------------------------- training
class YoloTrainParams(BaseModel):
    """How to train a YOLO model (SkyhookML's YOLOv5 training node, plus ultralytics' choices)."""

    model_config = ConfigDict(extra="forbid")

    architecture: Literal["yolo11", "yolov8"] = Field(
        "yolo11",
        description="Model family when no weights or yaml are given (built from the ultralytics package's yaml).",
    )
    model_size: Literal["n", "s", "m", "l", "x"] = Field(
        "n",
        description="Model size (SkyhookML's Mode s/m/l/x; n is the smallest): bigger is slower and needs more data.",
    )
    epochs: int = Field(30, ge=1, description="Training epochs.")
    image_size: int = Field(
        640, ge=32, description="Network input size in pixels (a multiple of 32); also the ONNX input size."
    )
    batch_size: int = Field(8, ge=1, description="Images per training batch.")
    validation_percent: float = Field(
        20, ge=0, lt=100, description="Share of the images held out for validation (SkyhookML's ValPercent)."
    )
    patience: int = Field(25, ge=1, description="Stop after this many epochs without a better validation score.")
    learning_rate: float | None = Field(None, gt=0, description="Initial learning rate; empty: ultralytics' default.")
    optimizer: Literal["auto", "SGD", "Adam", "AdamW"] = Field(
        "auto", description="Optimizer (auto: ultralytics' choice)."
    )
    mosaic: float = Field(1.0, ge=0, le=1, description="Probability of mosaic augmentation (4 images in one).")
    seed: int = Field(0, description="Random seed (data split and training).")
    device: str = Field("cpu", description="Training device: cpu, or a CUDA device such as 0.")
    workers: int = Field(0, ge=0, description="Data-loading worker processes (0: in the training process).")

    @field_validator("image_size")
    @classmethod
    def _multiple_of_32(cls, v: int) -> int:
        if v % 32:
            raise ValueError(f"image_size must be a multiple of 32, got {v}")
        return v


@dataclass
class EpochStats:
    """Losses and validation metrics after one epoch (losses are the sum of box, class and DFL losses)."""

    epoch: int
    epochs: int
    train_loss: float
    val_loss: float | None
    losses: dict[str, float] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class TrainedYolo:
    """What :func:`train_yolo` produced."""

    weights: Path
    onnx: Path
    names: list[str]
    image_size: int
    history: list[EpochStats]
    metrics: dict[str, float]
    """Validation metrics of the best weights (mAP50, mAP50-95, precision, recall)."""
    best_epoch: int


def model_source(params: YoloTrainParams, weights: str | Path | None) -> str:
    """What the ultralytics ``YOLO(...)`` is built from: the user's ``.pt``/``.yaml``, else the package yaml."""
    if weights is None:
        return f"{params.architecture}{params.model_size}.yaml"
    path = Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"YOLO starting model {path} does not exist (nothing is downloaded)")
    if path.suffix.lower() not in (".pt", ".yaml", ".yml"):
        raise ValidationError(f"{path}: a YOLO starting model must be ultralytics .pt weights or a model .yaml")
    return str(path)


def _short(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """``{"val/box_loss": x, "metrics/mAP50(B)": y}`` -> ``{"box_loss": x}`` for one prefix."""
    out = {}
    for key, value in metrics.items():
        if key.startswith(prefix):
            name = key[len(prefix) :].replace("(B)", "")
            out[name] = float(value)
    return out


def train_yolo(
    data_yaml: str | Path,
    work_dir: str | Path,
    params: YoloTrainParams | None = None,
    *,
    weights: str | Path | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    check_stop: Callable[[], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> TrainedYolo:
    """Train on the dataset of ``data_yaml`` and export the best weights to ONNX.

    Args:
        data_yaml: a YOLO ``data.yaml`` (e.g. :attr:`YoloDataset.data_yaml`).
        work_dir: ultralytics writes its run here (``work_dir/train``); the results are inside it.
        params: training parameters.
        weights: start from these ``.pt`` weights, or build the model from this ``.yaml``; ``None``
            builds ``params.architecture + params.model_size`` from scratch.
        on_epoch: called after each epoch's validation.
        check_stop: called after every batch; an exception it raises aborts training (and is re-raised).
        log: receives a line per epoch.

    Returns:
        The best weights, their ONNX export (input ``image_size`` square, no NMS inside), the class names,
        the per-epoch history and the best weights' validation metrics.
    """
    params = params or YoloTrainParams()
    source = model_source(params, weights)
    ultralytics = import_ultralytics()
    if importlib.util.find_spec("onnx") is None:
        raise ImportError(
            f"exporting the trained model to ONNX needs the onnx package: pip install onnx ({INSTALL_HINT})"
        )
    work = Path(work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    model = ultralytics.YOLO(source)
    history: list[EpochStats] = []
    state: dict[str, Any] = {"pending": None, "final": {}, "best_epoch": 0}

    def on_train_batch_end(trainer: Any) -> None:
        if check_stop is not None:
            check_stop()

    def on_train_epoch_end(trainer: Any) -> None:
        state["pending"] = ({k: float(v) for k, v in (trainer.tloss or {}).items()}, trainer.epoch + 1)

    def on_fit_epoch_end(trainer: Any) -> None:
        metrics = dict(trainer.metrics or {})
        if state["pending"] is None:  # the final validation of the best weights
            state["final"] = _short(metrics, "metrics/")
            return
        train_losses, epoch = state["pending"]
        state["pending"] = None
        val_losses = _short(metrics, "val/")
        stats = EpochStats(
            epoch=epoch,
            epochs=trainer.epochs,
            train_loss=float(sum(train_losses.values())),
            val_loss=float(sum(val_losses.values())) if val_losses else None,
            losses={
                **{f"train_{k}": v for k, v in train_losses.items()},
                **{f"val_{k}": v for k, v in val_losses.items()},
            },
            metrics=_short(metrics, "metrics/"),
        )
        history.append(stats)
        if log is not None:
            val = "-" if stats.val_loss is None else f"{stats.val_loss:.4f}"
            m = stats.metrics
            log(
                f"epoch {epoch}/{trainer.epochs}: train loss {stats.train_loss:.4f}, val loss {val}, "
                f"mAP50 {m.get('mAP50', float('nan')):.3f}, mAP50-95 {m.get('mAP50-95', float('nan')):.3f}"
            )
        if on_epoch is not None:
            on_epoch(stats)

    def on_model_save(trainer: Any) -> None:
        if trainer.best_fitness is not None and trainer.best_fitness == trainer.fitness:
            state["best_epoch"] = trainer.epoch + 1  # the checkpoint just written is also best.pt

    model.add_callback("on_train_batch_end", on_train_batch_end)
    model.add_callback("on_model_save", on_model_save)
    model.add_callback("on_train_epoch_end", on_train_epoch_end)
    model.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    train_args: dict[str, Any] = {
        "data": str(data_yaml),
        "epochs": params.epochs,
        "imgsz": params.image_size,
        "batch": params.batch_size,
        # One optimizer step per batch. ultralytics accumulates gradients up to a nominal 64 images,
        # which leaves a small dataset (the usual case here) a handful of steps per epoch.
        "nbs": params.batch_size,
        "patience": params.patience,
        "optimizer": params.optimizer,
        "mosaic": params.mosaic,
        "close_mosaic": min(10, max(0, params.epochs // 3)),
        "seed": params.seed,
        "device": params.device,
        "workers": params.workers,
        "project": str(work),
        "name": "train",
        "exist_ok": True,
        "plots": False,  # plots need fonts and time; the job streams the losses instead
        "amp": params.device != "cpu",
        "verbose": False,
        "val": True,
    }
    if params.learning_rate is not None:
        train_args["lr0"] = params.learning_rate
    if source.endswith((".yaml", ".yml")):
        train_args["pretrained"] = False  # nothing to load, and nothing may be downloaded
    model.train(**train_args)
    trainer = model.trainer
    best = Path(trainer.best) if Path(trainer.best).is_file() else Path(trainer.last)
    if not best.is_file():
        raise SelftrackError(f"YOLO training in {work} wrote no weights")
    trained = ultralytics.YOLO(str(best))
    onnx_path = Path(
        trained.export(
            format="onnx",
            imgsz=params.image_size,
            dynamic=False,
            simplify=False,
            nms=False,
            device="cpu",
            verbose=False,
        )
    )
    names_attr = trained.names
    names = (
        [str(v) for _, v in sorted(names_attr.items())]
        if isinstance(names_attr, dict)
        else [str(v) for v in names_attr]
    )
    best_epoch = int(state["best_epoch"]) or len(history)
    final = state["final"] or (history[best_epoch - 1].metrics if history else {})
    metrics = {k: v for k, v in final.items() if math.isfinite(v)}
    return TrainedYolo(best, onnx_path, names, params.image_size, history, metrics, best_epoch)
