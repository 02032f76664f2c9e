"""Vectorised box geometry on ``(n, 4)`` arrays in ``x1, y1, x2, y2`` pixel coordinates.

Everything that compares boxes (trackers, metrics, filters, self-supervised pair mining) uses these
helpers, so there is exactly one definition of IoU in the project.
"""

from __future__ import annotations

import numpy as np


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """Convert ``left, top, width, height`` rows to ``x1, y1, x2, y2`` rows."""
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    out = xywh.copy()
    out[:, 2] = xywh[:, 0] + xywh[:, 2]
    out[:, 3] = xywh[:, 1] + xywh[:, 3]
    return out


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """Convert ``x1, y1, x2, y2`` rows to ``left, top, width, height`` rows."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = xyxy.copy()
    out[:, 2] = xyxy[:, 2] - xyxy[:, 0]
    out[:, 3] = xyxy[:, 3] - xyxy[:, 1]
    return out


def area(xyxy: np.ndarray) -> np.ndarray:
    """Area of each box; zero for degenerate boxes."""
    return _area(np.asarray(xyxy, dtype=np.float64).reshape(-1, 4))


def _area(xyxy: np.ndarray) -> np.ndarray:
    """:func:`area` of an ``(n, 4)`` float array, without the conversion (trackers call the helpers
    below every frame on a handful of boxes, where per-call overhead is most of the cost)."""
    # np.maximum rather than np.clip: the same values, without clip's Python overhead
    return np.maximum(xyxy[:, 2] - xyxy[:, 0], 0.0) * np.maximum(xyxy[:, 3] - xyxy[:, 1], 0.0)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union, shape ``(len(a), len(b))``.

    Pairs whose union is empty get IoU 0 (not NaN), so degenerate boxes never match anything.
    """
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    return _iou(_intersection(a, b), _area(a), _area(b))


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise intersection areas of two ``(n, 4)`` float arrays."""
    w = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    h = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.maximum(w, 0.0, out=w) * np.maximum(h, 0.0, out=h)


def _iou(inter: np.ndarray, area_a: np.ndarray, area_b: np.ndarray) -> np.ndarray:
    union = area_a[:, None] + area_b[None, :] - inter
    iou = np.zeros_like(inter)
    np.divide(inter, union, out=iou, where=union > 0)
    return iou


def clip_to_canvas(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """Clip boxes to the canvas ``[0, width] x [0, height]``."""
    out = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4).copy()
    out[:, [0, 2]] = np.clip(out[:, [0, 2]], 0, width)
    out[:, [1, 3]] = np.clip(out[:, [1, 3]], 0, height)
    return out


def covered_fraction(xyxy: np.ndarray) -> np.ndarray:
    """For boxes of one frame, the largest fraction of each box's area covered by one box in front of it.

    "In front" is the ground-plane rule of cameras looking down at a scene: the box whose bottom edge
    is lower in the image stands nearer the camera. A crop of a box half covered this way shows
    mostly someone else, while a box that only overlaps one *behind* it still shows its own object.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if len(xyxy) < 2:
        return np.zeros(len(xyxy))
    return _covered(_intersection(xyxy, xyxy), _area(xyxy), xyxy[:, 3])


def _covered(inter: np.ndarray, area: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    front = bottom[None, :] > bottom[:, None]
    return (inter * front).max(axis=1) / np.maximum(area, 1e-9)


class FrameOverlaps:
    """The pairwise intersections of one frame's boxes, computed once for the measures built on them.

    A tracker asks several questions of the same boxes every frame (which overlap another, which are
    covered by one in front); each function above would recompute the intersections. The measures
    here give exactly the same numbers as :func:`iou_matrix` and :func:`covered_fraction`.
    """

    def __init__(self, xyxy: np.ndarray) -> None:
        self.xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        self.inter = _intersection(self.xyxy, self.xyxy)
        self.area = _area(self.xyxy)

    def iou(self) -> np.ndarray:
        """``iou_matrix(xyxy, xyxy)``."""
        return _iou(self.inter, self.area, self.area)

    def covered_fraction(self, rows: np.ndarray) -> np.ndarray:
        """``covered_fraction(xyxy[rows])``: among the boxes ``rows`` (increasing indices) only."""
        if len(rows) < 2:
            return np.zeros(len(rows))
        if len(rows) == len(self.xyxy):  # every box (the usual case): no copies to make
            return _covered(self.inter, self.area, self.xyxy[:, 3])
        return _covered(self.inter[np.ix_(rows, rows)], self.area[rows], self.xyxy[rows, 3])
