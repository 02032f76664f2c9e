"""Train a YOLO detector with ultralytics (optional extra), offline, and export it to ONNX.

Three modules, only the last of which needs ultralytics:

1. :mod:`selftrack.detectors.ultralytics_setup`: the environment ultralytics needs to stay offline (no
   network, no ``pip install``, its own settings folder and fonts); every import of ultralytics goes
   through :func:`~selftrack.detectors.ultralytics_setup.import_ultralytics`.
2. :mod:`selftrack.detectors.yolo_dataset`: the YOLO dataset folder (``images``, ``labels``,
   ``data.yaml``) from images or video frames and their boxes, split by group.
3. This module: :func:`train_yolo` builds the model (an architecture ``yaml`` of the ultralytics package,
   e.g. ``yolo11n.yaml``, a ``yaml`` the user gives, or ``.pt`` weights the user gives: nothing is ever
   downloaded, so "pretrained" means the user's own weights), trains it, reports each epoch's losses and
   metrics, and exports the best weights to ONNX for :class:`~selftrack.detectors.YoloOnnxDetector`,
   which runs without ultralytics or torch.

The parameters follow SkyhookML's YOLOv5 training node (model size ``Mode`` s/m/l/x, plus n;
``ValPercent`` 20; the image size; ``BatchSize`` 8 as its wizard sets) and otherwise keep
ultralytics' own defaults.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from selftrack.core.errors import SelftrackError, ValidationError
from selftrack.detectors.ultralytics_setup import INSTALL_HINT, import_ultralytics


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
        data_yaml: a YOLO ``data.yaml`` (e.g. :attr:`~selftrack.detectors.yolo_dataset.YoloDataset.data_yaml`).
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
