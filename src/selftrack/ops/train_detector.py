"""``train_detector``: train a YOLO detector on labelled images (or labelled video frames), offline.

Needs the optional ``selftrack[ultralytics]`` extra (in an environment of its own: it installs a CUDA
torch); the op is listed, described and wired without it, and running it without the extra fails
at once with the install command. The labels are any detections dataset keyed like the images:
COCO or YOLO imports (one 1-frame ``Detections`` per image), boxes drawn or computed in the
workspace, or the detections/tracks of videos (then ``frames_per_video`` frames are sampled).

Outputs two model datasets with one item each (key ``model``): ``model``, the ONNX export that
``object_detection`` runs without ultralytics, and ``weights``, the ultralytics ``.pt`` to train on
from or run with the extra. Each epoch's losses and validation metrics are streamed to the job as
``loss`` events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from pydantic import Field

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError, ValidationError
from selftrack.detectors.train_yolo import EpochStats, TrainedYolo, YoloTrainParams, train_yolo
from selftrack.detectors.yolo_dataset import (
    TrainingImage,
    class_indices,
    class_names,
    export_yolo_dataset,
    safe_name,
    video_training_images,
)
from selftrack.ops._video import decode_fps
from selftrack.pipeline.op import DatasetContext, Op, OpParams, Port
from selftrack.video import ResizeSpec
from selftrack.workspace.store import DataType, Item

MODEL_KEY = "model"


class TrainDetectorParams(OpParams, YoloTrainParams):
    """YOLO training parameters (see :class:`~selftrack.detectors.train_yolo.YoloTrainParams`) and how labels are read."""

    classes: list[str] = Field(
        default_factory=list, description="Train only these class names; empty: every class in the labels."
    )
    min_score: float = Field(
        0.0, ge=0, le=1, description="Ignore label boxes scoring below this (for labels that come from a detector)."
    )
    frames_per_video: int = Field(
        100, ge=1, description="Videos: frames sampled per video, evenly over the frames that have boxes."
    )
    skip_empty_frames: bool = Field(
        True, description="Videos: sample only frames with boxes (frames without any may simply be unlabelled)."
    )
    resize: ResizeSpec = Field(
        default_factory=lambda: ResizeSpec(mode="scale-down", max_dimension=640),
        description="Videos: size the sampled frames are decoded at (labels are moved to it). Images are used as they are.",
    )


def require_ultralytics() -> None:
    """Fail before any work, with the install command, when the ultralytics extra is missing."""
    from selftrack.detectors.ultralytics_setup import import_ultralytics

    try:
        import_ultralytics()
    except ImportError as e:
        raise SelftrackError(str(e)) from e


def train_params(params: YoloTrainParams) -> YoloTrainParams:
    """The training part of an op's params."""
    return YoloTrainParams.model_validate(params.model_dump(include=set(YoloTrainParams.model_fields)))


def starting_model(ctx: DatasetContext) -> Path | None:
    """The optional ``model`` input: one ``.pt`` or ``.yaml`` item (the one keyed ``model`` if there are several)."""
    items = list(ctx.input_items("model"))
    if not items:
        return None
    if len(items) > 1:
        items = [it for it in items if it.key == MODEL_KEY] or items
        if len(items) > 1:
            raise SelftrackError(f"input 'model' holds {len(items)} items; give one (or one keyed {MODEL_KEY!r})")
    item = items[0]
    if item.format not in ("pt", "yaml", "yml"):
        raise SelftrackError(
            f"input 'model' item {item.dataset}/{item.key} is a .{item.format} file; expected ultralytics .pt weights or a model .yaml"
        )
    return item.path


def epoch_reporter(ctx: DatasetContext, *, part: int = 1, parts: int = 1) -> Callable[[EpochStats], None]:
    """``on_epoch`` for the trainer: the first epoch opens the job's ``training`` stage (counted in epochs)."""
    opened = False

    def on_epoch(stats: EpochStats) -> None:
        nonlocal opened
        if not opened:
            ctx.stage("training", "epochs", stats.epochs, part=part, parts=parts)
            opened = True
        emit_epoch(ctx, stats)

    return on_epoch


def emit_epoch(ctx: DatasetContext, stats: EpochStats) -> None:
    """Stream one epoch to the job: a ``loss`` event and the progress."""
    ctx.event(
        "loss",
        step=stats.epoch,
        epoch=stats.epoch,
        epochs=stats.epochs,
        train_loss=stats.train_loss,
        val_loss=stats.val_loss,
        losses=stats.losses,
        metrics=stats.metrics,
    )
    ctx.progress(stats.epoch, stats.epochs)


def put_models(ctx: DatasetContext, trained: TrainedYolo, extra: dict[str, Any]) -> None:
    """Write the ONNX export to output ``model`` and the ``.pt`` to ``weights``, both keyed ``model``."""
    meta = {
        "names": trained.names,
        "image_size": trained.image_size,
        "best_epoch": trained.best_epoch,
        "epochs_run": len(trained.history),
        "metrics": trained.metrics,
        **extra,
    }
    ctx.put_file("model", MODEL_KEY, trained.onnx, metadata={**meta, "framework": "onnx"}, format="onnx")
    ctx.put_file("weights", MODEL_KEY, trained.weights, metadata={**meta, "framework": "ultralytics"}, format="pt")


def _image_size(item: Item) -> tuple[int, int]:
    w, h = item.metadata.get("width"), item.metadata.get("height")
    if w and h:
        return int(w), int(h)
    img = cv2.imread(str(item.path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise ValidationError(f"{item.dataset}/{item.key}: not a readable image")
    return int(img.shape[1]), int(img.shape[0])


def image_training_image(item: Item, det: Detections, names: list[str], *, name: str | None = None) -> TrainingImage:
    """One image item and its 1-frame labels (moved to the image's size if their canvas differs)."""
    if len(det) and np.any(det.frame != 0):
        raise ValidationError(
            f"labels {det.source}: boxes of frame {int(det.frame.max())} for image {item.dataset}/{item.key}; "
            "labels of an image are a single frame 0"
        )
    size = _image_size(item)
    if det.canvas is not None and tuple(det.canvas) != size:
        det = det.rescale(size)
    index = class_indices(det, names)
    keep = index >= 0
    return TrainingImage(name or safe_name(item.key), det.xyxy[keep], index[keep], size, path=item.path)


def sample_frames(det: Detections, count: int, skip_empty: bool, num_frames: int) -> np.ndarray:
    """At most ``count`` frames spread evenly over the frames with boxes (or over all frames)."""
    candidates = np.unique(det.frame) if skip_empty else np.arange(num_frames)
    if len(candidates) > count:
        candidates = candidates[np.unique(np.linspace(0, len(candidates) - 1, count).round().astype(np.int64))]
    return candidates


class TrainDetector(Op):
    name = "train_detector"
    title = "Train Detector (YOLO)"
    category = "Model"
    description = (
        "Train a YOLO detector (ultralytics, optional extra) on labelled images or video frames; outputs the ONNX "
        "model for Object Detection and the .pt weights."
    )
    inputs = (
        Port("images", (DataType.IMAGE, DataType.VIDEO), "Images, or videos whose labelled frames are sampled."),
        Port(
            "labels",
            (DataType.DETECTIONS,),
            "Boxes keyed like the images: one frame per image (COCO/YOLO imports), or per video.",
        ),
        Port(
            "model",
            (DataType.MODEL, DataType.FILE),
            "Optional starting point: ultralytics .pt weights or a model .yaml (default: the architecture/size params).",
            optional=True,
            joined=False,
        ),
    )
    outputs = (
        Port("model", (DataType.MODEL,), "The trained detector exported to ONNX (one item, key 'model')."),
        Port("weights", (DataType.MODEL,), "The best ultralytics .pt weights (one item, key 'model')."),
    )
    Params = TrainDetectorParams
    per_item = False
    version = "1"

    def run(self, ctx: DatasetContext) -> None:
        p: TrainDetectorParams = self.params  # type: ignore[assignment]
        images = {it.key: it for it in ctx.input_items("images")}
        labels = {it.key: it for it in ctx.input_items("labels")}
        keys = sorted(images.keys() & labels.keys())
        unlabelled = sorted(images.keys() - labels.keys())
        if unlabelled:
            ctx.log(f"{len(unlabelled)} item(s) without labels are not used, e.g. {unlabelled[:3]}")
        if not keys:
            raise SelftrackError(
                f"no item of {ctx.inputs.get('images')} has labels in {ctx.inputs.get('labels')} (keys must match)"
            )
        dets = {k: labels[k].load_detections() for k in keys}
        if p.min_score > 0:
            dets = {k: d[d.score >= p.min_score] for k, d in dets.items()}
        present = class_names(dets.values())
        unknown = sorted(set(p.classes) - set(present))
        if unknown:
            raise SelftrackError(
                f"classes {unknown} are not in the labels; their classes are: {', '.join(present) or 'none'}"
            )
        names = class_names(dets.values(), p.classes or None)
        if not names:
            raise SelftrackError(f"the labels in {ctx.inputs.get('labels')} hold no boxes")
        ctx.log(f"{len(keys)} labelled item(s), classes: {', '.join(names)}")
        weights = starting_model(ctx)
        require_ultralytics()  # after the checks of the inputs, which need no ultralytics
        tp = train_params(p)
        with ctx.ws.staging_dir("train_detector-") as tmp:
            dataset = export_yolo_dataset(
                self._training_images(ctx, images, dets, keys, names),
                Path(tmp) / "dataset",
                names,
                val_percent=tp.validation_percent,
                seed=tp.seed,
            )
            if dataset.num_boxes == 0:
                raise SelftrackError(f"no box of the classes {names} in the training images")
            ctx.log(
                f"dataset: {len(dataset.train)} training, {len(dataset.val)} validation images, {dataset.num_boxes} boxes"
                + (
                    " (too few images to hold any out: validating on the training images)"
                    if dataset.val_is_train
                    else ""
                )
            )
            trained = train_yolo(
                dataset.data_yaml,
                Path(tmp) / "run",
                tp,
                weights=weights,
                on_epoch=epoch_reporter(ctx),
                check_stop=ctx.check_stop,
                log=ctx.log,
            )
            put_models(
                ctx,
                trained,
                {"train_images": len(dataset.train), "val_images": len(dataset.val), "boxes": dataset.num_boxes},
            )

    def _training_images(
        self,
        ctx: DatasetContext,
        images: dict[str, Item],
        dets: dict[str, Detections],
        keys: list[str],
        names: list[str],
    ) -> Iterator[TrainingImage]:
        p: TrainDetectorParams = self.params  # type: ignore[assignment]
        for i, key in enumerate(keys):
            ctx.check_stop()
            item, det = images[key], dets[key]
            if "video" in item.metadata:
                fps = decode_fps(item)
                num_frames = det.num_frames or item.video_info.frame_count
                frames = sample_frames(det, p.frames_per_video, p.skip_empty_frames, num_frames)
                yield from video_training_images(item.path, det, frames, names, prefix=key, resize=p.resize, fps=fps)
            else:
                yield image_training_image(item, det, names, name=f"{i:06d}_{safe_name(key)}")
            if (i + 1) % 100 == 0:
                ctx.log(f"prepared {i + 1}/{len(keys)} items")
