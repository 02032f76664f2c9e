"""OpenCV's HOG + linear SVM pedestrian detector (Dalal & Triggs), weight-free apart from OpenCV.

``cv2.HOGDescriptor_getDefaultPeopleDetector()`` is trained on upright people in a 64x128 window
(the person about 96 pixels tall inside it), so it misses smaller people: ``upscale`` enlarges the
frame first (1.5 finds the ~70-100 pixel people of PETS09 at 768x576) and boxes are scaled back.

OpenCV's own grouping of overlapping windows (``useMeanshiftGrouping`` / ``groupRectangles``) is
replaced by this project's NMS on the raw windows, which keeps a box's score meaningful.

Score: the SVM decision value of the window (``hit_threshold`` or more; typically 0 to 3). It is not
a probability: ``score_scale`` maps it to ``1 - exp(-score / score_scale)`` when set, so that
thresholds written for detectors scoring in [0, 1] can be used.
"""

from __future__ import annotations

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from selftrack.detectors.base import Detector, FrameBoxes, check_frames
from selftrack.detectors.nms import nms

# The 64x128 training windows hold a person about 32x96 pixels with a 16-pixel margin on every side
# (Dalal & Triggs); measured on PETS09 the person spans x 0.23-0.73 and y 0.12-0.84 of the window.
_PERSON_LO = np.array([0.25, 0.125])
_PERSON_HI = np.array([0.75, 0.875])


class HogParams(BaseModel):
    """Parameters of :class:`HogPeopleDetector`."""

    model_config = ConfigDict(extra="forbid")

    win_stride: int = Field(8, ge=1, description="Step of the sliding window in pixels (smaller: slower, finer).")
    padding: int = Field(8, ge=0, description="Pixels of padding around the frame so people at the border are found.")
    scale: float = Field(
        1.05, gt=1.0, description="Ratio between successive pyramid levels (smaller: slower, more sizes)."
    )
    hit_threshold: float = Field(
        0.0, description="Minimum SVM decision value of a window; raise it to trade recall for precision."
    )
    upscale: float = Field(
        1.0,
        ge=0.25,
        le=4.0,
        description="Resize the frame by this factor before detection (people under ~100 px need > 1).",
    )
    tight_boxes: bool = Field(
        True,
        description="Report the person inside the detection window (its central 50% x 75%) rather than the "
        "whole window with its margin.",
    )
    nms_iou: float = Field(
        0.3, ge=0, le=1, description="Overlapping windows above this IoU are merged into the best one."
    )
    score_scale: float | None = Field(
        None, gt=0, description="If set, report 1 - exp(-svm / score_scale) in [0, 1) instead of the raw SVM value."
    )


class HogPeopleDetector(Detector):
    """Upright people, one class ``person`` (see the module docstring)."""

    def __init__(self, params: HogParams | None = None) -> None:
        self.params = params or HogParams()
        self.classes = {0: "person"}
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect_frame(self, frame: np.ndarray) -> FrameBoxes:
        p = self.params
        h, w = frame.shape[:2]
        img = frame
        if p.upscale != 1.0:
            size = (max(1, round(w * p.upscale)), max(1, round(h * p.upscale)))
            img = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
        # Color order does not matter to HOG (it takes the strongest gradient over channels).
        rects, weights = self._hog.detectMultiScale(
            img,
            hitThreshold=p.hit_threshold,
            winStride=(p.win_stride, p.win_stride),
            padding=(p.padding, p.padding),
            scale=p.scale,
            groupThreshold=0,  # no OpenCV grouping: raw windows, merged by NMS below
        )
        if len(rects) == 0:
            return FrameBoxes.empty()
        xywh = np.asarray(rects, dtype=np.float64).reshape(-1, 4)
        score = np.asarray(weights, dtype=np.float64).reshape(-1)
        lo, hi = (_PERSON_LO, _PERSON_HI) if p.tight_boxes else (np.zeros(2), np.ones(2))
        xyxy = np.concatenate([xywh[:, :2] + xywh[:, 2:] * lo, xywh[:, :2] + xywh[:, 2:] * hi], axis=1) / p.upscale
        keep = nms(xyxy, score, p.nms_iou)
        xyxy = xyxy[keep]
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        score = score[keep]
        if p.score_scale is not None:
            score = 1.0 - np.exp(-np.clip(score, 0, None) / p.score_scale)
        return FrameBoxes.create(xyxy, score, np.zeros(len(keep), np.int32))

    def detect_batch(self, frames: np.ndarray) -> list[FrameBoxes]:
        frames = check_frames(frames, "HogPeopleDetector")
        return [self.detect_frame(f) for f in frames]
