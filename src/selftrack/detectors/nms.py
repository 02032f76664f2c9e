"""Greedy non-maximum suppression in numpy, class-aware or not.

Why it is written here: the usual implementation is ``torchvision.ops.nms``, but torchvision does
not import beside the CPU torch this project pins, and the ONNX inference path must not need torch
at all. Greedy NMS is sequential by nature (a box can only suppress others if it survived itself),
so the loop runs once per *kept* box (bounded by ``max_detections``), and each step compares the
kept box with all remaining candidates at once.

Class-aware NMS (boxes of different classes never suppress each other) uses the offset trick: each
class's boxes are shifted by ``class_id * (extent + 1)`` along both axes, so boxes of different
classes can never overlap, and one pass handles every class.
"""

from __future__ import annotations

import numpy as np

from selftrack.core.boxes import area
from selftrack.core.errors import ValidationError


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float, max_keep: int | None = None) -> np.ndarray:
    """Indices of the boxes greedy NMS keeps, highest score first.

    A box is dropped when its IoU with an already kept, higher-scored box is *above*
    ``iou_threshold``. Equal scores keep the earlier box (stable order).

    Args:
        xyxy: ``(n, 4)`` boxes.
        scores: ``(n,)`` scores.
        iou_threshold: in ``[0, 1]``.
        max_keep: stop after this many kept boxes (``None`` = no limit).
    """
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(scores) != len(boxes):
        raise ValidationError(f"nms: {len(boxes)} boxes but {len(scores)} scores")
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValidationError(f"nms: iou_threshold must be in [0, 1], got {iou_threshold}")
    limit = len(boxes) if max_keep is None else max(0, int(max_keep))
    order = np.argsort(-scores, kind="stable")
    areas = area(boxes)
    keep: list[int] = []
    while len(order) and len(keep) < limit:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if not len(rest):
            break
        ix1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        union = areas[i] + areas[rest] - inter
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = np.where(union > 0, inter / union, 0.0)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_threshold: float,
    max_keep: int | None = None,
) -> np.ndarray:
    """Class-aware NMS: like :func:`nms`, but only boxes of the same class suppress each other."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    class_ids = np.asarray(class_ids).reshape(-1)
    if len(class_ids) != len(boxes):
        raise ValidationError(f"batched_nms: {len(boxes)} boxes but {len(class_ids)} class ids")
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    # Shift each class into its own region of the plane; the extent covers every coordinate.
    lo = float(boxes.min())
    extent = float(boxes.max()) - lo + 1.0
    _, dense = np.unique(class_ids, return_inverse=True)
    shifted = boxes - lo + (dense.astype(np.float64) * (extent + 1.0))[:, None]
    return nms(shifted, scores, iou_threshold, max_keep)
