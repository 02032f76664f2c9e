"""Optional: run an ultralytics ``.pt`` model (YOLOv5u/v8/11) with the ultralytics package itself.

Behind the ``selftrack[ultralytics]`` extra, because ultralytics pulls a CUDA build of torch and
torchvision that cannot share an environment with the CPU torch selftrack pins. The core path for
YOLO models is ONNX (:mod:`selftrack.detectors.yolo_onnx`): export a ``.pt`` with
``yolo export model=best.pt format=onnx`` and use :class:`~selftrack.detectors.yolo_onnx.YoloOnnxDetector`.

ultralytics does its own letterboxing, decoding and NMS; boxes come back in pixels of the frames
given, like every other detector here. It treats numpy images as BGR, so frames are flipped from RGB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from selftrack.core.errors import ValidationError
from selftrack.detectors.base import Detector, FrameBoxes, check_frames, resolve_class_ids


def _import_yolo() -> Any:
    """ultralytics' ``YOLO`` class, imported with the project's offline set-up (the one training uses).

    :func:`~selftrack.detectors.ultralytics_setup.import_ultralytics` sets ``YOLO_OFFLINE=1`` and
    ``YOLO_AUTOINSTALL=0`` (overwriting the user's values: loading weights must never reach the
    network or pip-install a package), a settings folder of selftrack's own, and the fonts ultralytics
    would otherwise download. Imported here, not at module level: ``train_yolo`` is only needed once
    a ``.pt`` model is actually loaded.
    """
    from selftrack.detectors.ultralytics_setup import import_ultralytics

    return import_ultralytics("loading ultralytics .pt weights").YOLO


class UltralyticsDetector(Detector):
    """An ultralytics ``.pt`` detection model.

    Args:
        weights: the ``.pt`` file (it is never downloaded: a missing file is an error).
        conf_threshold: keep boxes above this score (SkyhookML's default 0.1).
        iou_threshold: NMS IoU threshold.
        max_detections: at most this many boxes per frame.
        classes: keep only these class names.
        imgsz: network input size (the longer side), as ultralytics' ``imgsz``.
        device: ``"cpu"``, ``"cuda:0"``...
    """

    def __init__(
        self,
        weights: str | Path,
        *,
        conf_threshold: float = 0.1,
        iou_threshold: float = 0.5,
        max_detections: int = 300,
        classes: list[str] | None = None,
        imgsz: int = 640,
        device: str = "cpu",
    ) -> None:
        self.weights = Path(weights)
        if not self.weights.is_file():
            raise FileNotFoundError(f"ultralytics weights {self.weights} do not exist (nothing is downloaded)")
        yolo = _import_yolo()
        self.model = yolo(str(self.weights))
        names = self.model.names
        self.classes = {int(k): str(v) for k, v in (names.items() if isinstance(names, dict) else enumerate(names))}
        self.conf_threshold = conf_threshold
        self.iou_threshold = iou_threshold
        self.max_detections = max_detections
        self.imgsz = imgsz
        self.device = device
        self._keep = None if classes is None else resolve_class_ids(classes, self.classes, str(self.weights))
        if not 0 <= conf_threshold <= 1 or not 0 <= iou_threshold <= 1:
            raise ValidationError(f"{self.weights}: conf_threshold and iou_threshold must be in [0, 1]")

    def detect_batch(self, frames: np.ndarray) -> list[FrameBoxes]:
        frames = check_frames(frames, str(self.weights))
        images = [np.ascontiguousarray(f[:, :, ::-1]) for f in frames]  # ultralytics expects BGR arrays
        results = self.model.predict(
            images,
            conf=self.conf_threshold,
            iou=self.iou_threshold,
            max_det=self.max_detections,
            imgsz=self.imgsz,
            device=self.device,
            classes=None if self._keep is None else self._keep.tolist(),
            verbose=False,
        )
        out = []
        for res in results:
            boxes = res.boxes
            out.append(
                FrameBoxes.create(
                    boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy().astype(np.int32)
                )
            )
        return out
