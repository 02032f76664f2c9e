"""Camera-motion compensation from a per-frame affine (BoT-SORT's ``gmc.txt`` files).

A moving camera shifts every object between frames by the same image motion; a constant-velocity
prediction does not know that and misses. Given the affine that maps pixel coordinates of frame
``f - 1`` to frame ``f`` (``transforms[f]``, shape ``(2, 3)``), the trackers move their predicted
boxes by it before associating them with frame ``f``'s detections.

The affine is ``[[a, b, tx], [c, d, ty]]``: ``p' = M p + t`` with ``M = [[a, b], [c, d]]``. Boxes
stay axis-aligned: their centre moves by the full affine and their width and height are scaled by
the lengths of ``M``'s columns (the scale along x and y; camera roll between two frames is tiny).
"""

from __future__ import annotations

import numpy as np

from selftrack.core.errors import ValidationError


def check_affine(affine: np.ndarray, what: str) -> np.ndarray:
    """``affine`` as a finite float64 ``(2, 3)`` array, or a :class:`ValidationError` naming ``what``."""
    arr = np.asarray(affine, dtype=np.float64)
    if arr.shape != (2, 3):
        raise ValidationError(f"{what} must be a (2, 3) affine, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValidationError(f"{what} has NaN or infinite values")
    return arr


def check_transforms(transforms: np.ndarray, num_frames: int, source: str | None = None) -> np.ndarray:
    """Per-frame affines for a video of ``num_frames`` frames, as float64 ``(n, 2, 3)``.

    More affines than frames are allowed (detections may stop before the video does).
    """
    arr = np.asarray(transforms, dtype=np.float64)
    where = f" for {source}" if source else ""
    if arr.ndim != 3 or arr.shape[1:] != (2, 3):
        raise ValidationError(f"camera-motion transforms{where} must have shape (num_frames, 2, 3), got {arr.shape}")
    if len(arr) < num_frames:
        raise ValidationError(f"camera-motion transforms{where} cover {len(arr)} frames but the video has {num_frames}")
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=(1, 2)))
    if len(bad):
        raise ValidationError(f"camera-motion transform{where} of frame {int(bad[0])} has NaN or infinite values")
    return arr


def axis_scales(affine: np.ndarray) -> tuple[float, float]:
    """Scale of the affine along x and along y (lengths of the columns of its linear part)."""
    return float(np.hypot(affine[0, 0], affine[1, 0])), float(np.hypot(affine[0, 1], affine[1, 1]))


def warp_points(points: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Apply the affine to ``(..., 2)`` points."""
    return points @ affine[:, :2].T + affine[:, 2]


def warp_boxes(xyxy: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Move ``(n, 4)`` boxes by the affine: centre warped, width and height scaled (see module doc)."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    centre = warp_points((xyxy[:, :2] + xyxy[:, 2:]) / 2.0, affine)
    sx, sy = axis_scales(affine)
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2.0 * np.array([sx, sy])
    return np.concatenate([centre - half, centre + half], axis=1)


def camera_path(transforms: np.ndarray, num_frames: int) -> np.ndarray:
    """``(num_frames, 3, 3)``: frame 0's coordinates to frame ``f``'s, accumulated from the frame-to-frame
    affines (``transforms[0]`` maps nothing: there is no frame before the first)."""
    t = np.asarray(transforms, dtype=np.float64)
    if t.ndim != 3 or t.shape[1:] != (2, 3) or len(t) < num_frames:
        raise ValidationError(f"camera motion must be (at least {num_frames} frames, 2, 3) affines, got {t.shape}")
    out = np.zeros((num_frames, 3, 3))
    out[:, 2, 2] = 1.0
    out[0, :2, :2] = np.eye(2)
    step = np.eye(3)
    for f in range(1, num_frames):
        step[:2] = t[f]
        out[f] = step @ out[f - 1]
    return out


def move_boxes(xyxy: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Each of ``(n, 4)`` boxes moved by its own affine (``(n, 2, 3)`` or ``(n, 3, 3)``), as :func:`warp_boxes`
    moves them: centre warped, width and height scaled by the affine's axis scales."""
    m = np.asarray(affines, dtype=np.float64)[:, :2, :]
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2.0
    moved = np.einsum("nij,nj->ni", m[:, :, :2], centre) + m[:, :, 2]
    scales = np.stack([np.hypot(m[:, 0, 0], m[:, 1, 0]), np.hypot(m[:, 0, 1], m[:, 1, 1])], axis=1)
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2.0 * scales
    return np.concatenate([moved - half, moved + half], axis=1)


def rescale_transforms(transforms: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """Camera motion measured on ``from_size`` frames, expressed in pixels of a ``to_size`` canvas.

    Detections made at another size (a detector run at 960x544 on a 1080p video) need the motion in
    their own coordinates: ``D A D^-1`` with ``D = diag(to / from)`` (the linear part keeps its
    rotation and zoom when the scale is the same along both axes; the shift is scaled).
    """
    arr = np.asarray(transforms, dtype=np.float64)
    if tuple(from_size) == tuple(to_size):
        return arr
    d = np.array([to_size[0] / from_size[0], to_size[1] / from_size[1]])
    out = arr.copy()
    out[..., :, :2] = arr[..., :, :2] * d[:, None] / d[None, :]
    out[..., :, 2] = arr[..., :, 2] * d
    return out
