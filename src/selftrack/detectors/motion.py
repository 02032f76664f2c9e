"""A weight-free detector of moving objects for fixed cameras: background subtraction.

Each frame updates an OpenCV background model (MOG2 or KNN) and yields a foreground mask. From it:

1. shadows are dropped (both subtractors mark shadow pixels 127 and foreground 255);
2. morphological opening removes speckle noise, closing fills small holes;
3. fragments of one object (a car split by its windscreen, a person by a pole) are joined by
   dilating the mask by ``merge_distance`` pixels before labelling connected components, while
   each box is still the extent of the *undilated* foreground pixels of its component, so merging
   does not inflate boxes;
4. components with fewer than ``min_area`` foreground pixels are dropped, and so is every box of a
   frame where more than ``max_foreground`` of the frame is foreground (a lighting change or a
   camera shake, not objects).

The first ``warmup_frames`` only train the background model and yield no boxes: until it has seen
a few frames, everything that differs from the first frame (including the place where a moving
object stood in it) is foreground.

Score: the fill ratio of the box, foreground pixels / box area, in (0, 1]. A solid blob (a car seen
from above) scores high; a loose scatter of noise pixels that happened to pass the area test scores
low, so the usual score threshold of downstream steps removes it.

The detector is stateful: ``reset()`` (called by ``detect_video``) starts a new background model.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from selftrack.detectors.base import Detector, FrameBoxes, check_frames

SHADOW = 127
FOREGROUND = 255


class MotionParams(BaseModel):
    """Parameters of :class:`MotionDetector`."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["mog2", "knn"] = Field(
        "mog2", description="Background model: mog2 (Gaussian mixture per pixel) or knn (nearest samples)."
    )
    history: int = Field(500, ge=1, description="Frames the background model remembers.")
    var_threshold: float = Field(
        16.0,
        gt=0,
        description="mog2 sensitivity: squared distance (in variances) above which a pixel is foreground. "
        "Lower finds fainter objects and more noise.",
    )
    dist2_threshold: float = Field(
        400.0, gt=0, description="knn sensitivity: squared colour distance above which a pixel is foreground."
    )
    detect_shadows: bool = Field(
        True, description="Model shadows and drop them from the foreground (they would merge objects)."
    )
    learning_rate: float | None = Field(
        None,
        ge=0,
        le=1,
        description="How fast the background adapts (0 = frozen, 1 = only the last frame); empty = automatic "
        "(1 / frames seen, then 1 / history).",
    )
    warmup_frames: int = Field(10, ge=0, description="Frames that train the background model before any box is output.")
    open_size: int = Field(3, ge=0, description="Opening kernel size in pixels (removes speckles); 0 = off.")
    close_size: int = Field(5, ge=0, description="Closing kernel size in pixels (fills holes); 0 = off.")
    merge_distance: int = Field(
        3, ge=0, description="Foreground pieces closer than this many pixels are one object; 0 = no merging."
    )
    min_area: int = Field(
        80, ge=1, description="Minimum foreground pixels of an object (at the detector's frame size)."
    )
    max_foreground: float = Field(
        0.5,
        gt=0,
        le=1,
        description="If more than this fraction of the frame is foreground (lighting change, camera shake), "
        "output no boxes for that frame.",
    )


def _kernel(size: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def components_to_boxes(mask: np.ndarray, labels: np.ndarray, num_labels: int, min_area: int) -> FrameBoxes:
    """Boxes of the foreground pixels (``mask > 0``) of each label in ``labels`` (0 = background).

    A box spans whole pixels: ``x2 = last column + 1``. Score = foreground pixels / box area.
    """
    ys, xs = np.nonzero(mask)
    if not len(ys):
        return FrameBoxes.empty()
    lab = labels[ys, xs]
    count = np.bincount(lab, minlength=num_labels)
    x1 = np.full(num_labels, np.iinfo(np.int64).max)
    y1 = np.full(num_labels, np.iinfo(np.int64).max)
    x2 = np.full(num_labels, -1)
    y2 = np.full(num_labels, -1)
    np.minimum.at(x1, lab, xs)
    np.minimum.at(y1, lab, ys)
    np.maximum.at(x2, lab, xs)
    np.maximum.at(y2, lab, ys)
    keep = count >= min_area
    keep[0] = False
    idx = np.flatnonzero(keep)
    xyxy = np.stack([x1[idx], y1[idx], x2[idx] + 1, y2[idx] + 1], axis=1).astype(np.float64)
    box_area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    score = count[idx] / box_area
    return FrameBoxes.create(xyxy, score, np.zeros(len(idx), np.int32))


class MotionDetector(Detector):
    """Moving objects seen by a fixed camera (see the module docstring); one class, ``moving``."""

    def __init__(self, params: MotionParams | None = None) -> None:
        self.params = params or MotionParams()
        self.classes = {0: "moving"}
        self._subtractor: cv2.BackgroundSubtractor | None = None
        self._seen = 0

    def reset(self) -> None:
        self._subtractor = None
        self._seen = 0

    def _new_subtractor(self) -> cv2.BackgroundSubtractor:
        p = self.params
        if p.method == "knn":
            return cv2.createBackgroundSubtractorKNN(
                history=p.history, dist2Threshold=p.dist2_threshold, detectShadows=p.detect_shadows
            )
        return cv2.createBackgroundSubtractorMOG2(
            history=p.history, varThreshold=p.var_threshold, detectShadows=p.detect_shadows
        )

    def foreground_mask(self, frame: np.ndarray) -> np.ndarray:
        """Update the background model with ``frame`` and return its cleaned foreground mask (0/255)."""
        if self._subtractor is None:
            self._subtractor = self._new_subtractor()
        p = self.params
        rate = -1.0 if p.learning_rate is None else p.learning_rate
        raw = self._subtractor.apply(frame, learningRate=rate)
        self._seen += 1
        mask = np.where(raw == FOREGROUND, np.uint8(255), np.uint8(0))
        if p.open_size > 1:
            mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _kernel(p.open_size))
        if p.close_size > 1:
            mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _kernel(p.close_size))
        return mask

    def detect_frame(self, frame: np.ndarray) -> FrameBoxes:
        """Boxes of the moving objects in ``frame`` (HxWx3 uint8); updates the background model."""
        p = self.params
        mask = self.foreground_mask(frame)
        if self._seen <= p.warmup_frames:
            return FrameBoxes.empty()
        if np.count_nonzero(mask) > p.max_foreground * mask.size:
            return FrameBoxes.empty()
        joined = cv2.dilate(mask, _kernel(2 * p.merge_distance + 1)) if p.merge_distance > 0 else mask
        num_labels, labels = cv2.connectedComponents(joined, connectivity=8, ltype=cv2.CV_32S)
        return components_to_boxes(mask, labels, num_labels, p.min_area)

    def detect_batch(self, frames: np.ndarray) -> list[FrameBoxes]:
        """Frames must be given in video order: each one updates the background model."""
        frames = check_frames(frames, "MotionDetector")
        return [self.detect_frame(f) for f in frames]
