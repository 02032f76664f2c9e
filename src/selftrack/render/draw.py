"""Draw detections and tracks on frames.

Geometry, exactly: boxes are scaled from their ``Detections.canvas`` to the frame by
``frame_width / canvas_width`` and ``frame_height / canvas_height`` (no other offset), then each
coordinate is rounded to the nearest pixel edge. A box edge at pixel edge ``x`` with line thickness
``t`` covers the pixel columns ``x - t // 2`` to ``x - t // 2 + t - 1``: a 2-pixel line covers the
pixels on both sides of the edge, so a box of ``[x1, x2)`` pixels is outlined symmetrically.

Tracked boxes (``track_id >= 0``) get their track's colour (:func:`~selftrack.render.colors.track_color`)
and, with ``label=True``, the id written on a tab of that colour at the top-left corner. Untracked
boxes are drawn plainly: a 1-pixel light grey outline, no label. Trails are polylines through the
last centres of each track, in its colour.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.render.colors import UNTRACKED_COLOR, text_color, track_color

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def scale_boxes(xyxy: np.ndarray, canvas: tuple[int, int] | None, frame_size: tuple[int, int]) -> np.ndarray:
    """``xyxy`` moved from ``canvas`` to ``frame_size`` (both ``(width, height)``); ``None`` = already there."""
    boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    if canvas is None or tuple(canvas) == tuple(frame_size):
        return boxes
    sx = frame_size[0] / canvas[0]
    sy = frame_size[1] / canvas[1]
    return boxes * np.array([sx, sy, sx, sy])


def _fill(frame: np.ndarray, x1: int, y1: int, x2: int, y2: int, color: tuple[int, int, int]) -> None:
    """Fill pixels ``[x1, x2) x [y1, y2)``, clipped to the frame."""
    h, w = frame.shape[:2]
    x1, x2 = max(0, x1), min(w, x2)
    y1, y2 = max(0, y1), min(h, y2)
    if x1 < x2 and y1 < y2:
        frame[y1:y2, x1:x2] = color


def draw_box(frame: np.ndarray, box: np.ndarray, color: tuple[int, int, int], thickness: int) -> None:
    """Outline one box given in pixel edges (``int (4,)``) in place; see the module docstring."""
    x1, y1, x2, y2 = (int(v) for v in box)
    lo = thickness // 2
    _fill(frame, x1 - lo, y1 - lo, x2 - lo + thickness, y1 - lo + thickness, color)  # top
    _fill(frame, x1 - lo, y2 - lo, x2 - lo + thickness, y2 - lo + thickness, color)  # bottom
    _fill(frame, x1 - lo, y1 - lo, x1 - lo + thickness, y2 - lo + thickness, color)  # left
    _fill(frame, x2 - lo, y1 - lo, x2 - lo + thickness, y2 - lo + thickness, color)  # right


def draw_label(frame: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int]) -> None:
    """Write ``text`` on a tab of ``color`` just above ``(x, y)`` (below it if there is no room above)."""
    h = frame.shape[0]
    font_scale = max(0.35, h / 1400)
    weight = 1 if h < 900 else 2
    (tw, th), base = cv2.getTextSize(text, _FONT, font_scale, weight)
    pad = 2
    top = y - th - base - 2 * pad
    if top < 0:
        top = y
    _fill(frame, x, top, x + tw + 2 * pad, top + th + base + 2 * pad, color)
    cv2.putText(frame, text, (x + pad, top + pad + th), _FONT, font_scale, text_color(color), weight, cv2.LINE_AA)


def draw_detections(
    frame_rgb: np.ndarray,
    detections: Detections,
    *,
    trails: Mapping[int, np.ndarray] | None = None,
    label: bool = True,
    thickness: int = 2,
    copy: bool = True,
) -> np.ndarray:
    """Draw the boxes of one frame on ``frame_rgb`` (HxWx3 uint8) and return the frame.

    Args:
        frame_rgb: the frame; drawn on a copy unless ``copy=False``.
        detections: the boxes of this frame (all rows are drawn, whatever their ``frame``); scaled
            from ``detections.canvas`` to the frame (``None`` = already in frame pixels).
        trails: ``{track_id: (k, 2) centres in frame pixels}``, oldest first, drawn as polylines.
        label: write the track id on tracked boxes.
        thickness: line thickness of tracked boxes in pixels (untracked boxes use 1).
        copy: draw on a copy (the default) or in place.
    """
    frame = np.asarray(frame_rgb)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValidationError(
            f"draw_detections: the frame must be RGB uint8 (H, W, 3), got {frame.dtype} {frame.shape}"
        )
    if thickness < 1:
        raise ValidationError(f"draw_detections: thickness must be at least 1, got {thickness}")
    if copy:
        frame = frame.copy()
    h, w = frame.shape[:2]
    for track_id, points in (trails or {}).items():
        pts = np.round(np.asarray(points, dtype=np.float64).reshape(-1, 2)).astype(np.int32)
        if len(pts) >= 2:
            cv2.polylines(frame, [pts], False, track_color(int(track_id)), max(1, thickness // 2), cv2.LINE_8)
    if not len(detections):
        return frame
    boxes = np.round(scale_boxes(detections.xyxy, detections.canvas, (w, h))).astype(np.int64)
    tracked = detections.track_id >= 0
    for i in np.flatnonzero(~tracked):  # untracked first, so tracks are drawn on top
        draw_box(frame, boxes[i], UNTRACKED_COLOR, 1)
    for i in np.flatnonzero(tracked):
        tid = int(detections.track_id[i])
        color = track_color(tid)
        draw_box(frame, boxes[i], color, thickness)
        if label:
            lo = thickness // 2
            draw_label(frame, str(tid), int(boxes[i, 0]) - lo, int(boxes[i, 1]) - lo, color)
    return frame
