"""A moving-camera test sequence made from a fixed-camera one, with exact camera motion.

Real footage with a moving camera and exact per-frame camera motion does not exist (``gmc.txt``
files are themselves estimates). So a *virtual camera* films a real fixed-camera video: every frame
is cut from the source by a window that pans, tilts, zooms (and, optionally, rolls) along a smooth
path, and resampled to the output size. The people keep their own real motion; the camera's
motion, and so every box's, is known exactly:

- ``cameras[f]`` (``2 x 3``) maps source pixel coordinates of frame ``f`` to output coordinates
  (``p_out = k_f R(roll_f) (p_src - centre_f) + out_centre``);
- the camera motion in the convention of ``gmc.txt`` / :mod:`selftrack.trackers.cmc` is
  ``transforms[f] = cameras[f] o cameras[f - 1]^-1`` (:func:`frame_transforms`);
- ground truth and detections are moved by ``cameras[f]`` (:func:`move_boxes`), clipped to the
  frame, and a box with less than ``min_visible`` of its area in view is dropped.

The window always stays inside the source frame (zoom and pan are bounded together), so no frame
shows borders. :func:`make_camera_motion_sequence` writes a MOTChallenge-style folder (``video.mp4``,
``gt/gt.txt``, ``det/det.txt``, ``gmc.txt`` with the exact motion); the camera-motion benchmark and
the re-id tracker's "at least as good as motion-only under camera motion" check use it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.formats.mot import write_gmc, write_mot
from selftrack.video import VideoReader, VideoWriter


@dataclass(frozen=True)
class CameraPathSpec:
    """How the virtual camera moves (all motions smooth; periods in seconds).

    ``zoom`` is the range of the magnification relative to fitting the whole source width into the
    output (1 = the whole width visible; larger = closer). Pan and tilt sweep the window across
    the part of the source its zoom leaves free, ``pan_period`` / ``tilt_period`` seconds per back
    and forth; ``zoom_period`` likewise. ``roll_degrees`` is the largest roll. ``shake_px`` adds a
    hand-held tremble (output pixels, smoothed random walk).
    """

    zoom: tuple[float, float] = (1.15, 1.6)
    pan_period: float = 7.0
    tilt_period: float = 11.0
    zoom_period: float = 9.0
    roll_degrees: float = 0.0
    roll_period: float = 5.0
    shake_px: float = 0.0
    seed: int = 0


def camera_path(
    num_frames: int,
    source_size: tuple[int, int],
    out_size: tuple[int, int],
    fps: float,
    spec: CameraPathSpec | None = None,
) -> np.ndarray:
    """``(num_frames, 2, 3)`` affines from source to output coordinates along a smooth camera path."""
    spec = spec or CameraPathSpec()
    if not (1.0 <= spec.zoom[0] <= spec.zoom[1]):
        raise ValidationError(f"camera path: zoom range must satisfy 1 <= min <= max, got {spec.zoom}")
    sw, sh = source_size
    ow, oh = out_size
    rng = np.random.default_rng(spec.seed)
    phase = rng.uniform(0, 2 * np.pi, size=4)
    t = np.arange(num_frames) / float(fps)
    z0, z1 = spec.zoom
    zoom = z0 + (z1 - z0) * 0.5 * (1 - np.cos(2 * np.pi * t / spec.zoom_period + phase[0]))
    roll = np.deg2rad(spec.roll_degrees) * np.sin(2 * np.pi * t / spec.roll_period + phase[1])
    k = zoom * max(ow / sw, oh / sh)  # output pixels per source pixel
    c, s = np.cos(roll), np.sin(roll)
    # half extent, in source pixels, of the (rolled) window's bounding box
    half_x = (ow * np.abs(c) + oh * np.abs(s)) / (2 * k)
    half_y = (ow * np.abs(s) + oh * np.abs(c)) / (2 * k)
    free_x = np.maximum(sw / 2 - half_x, 0.0)
    free_y = np.maximum(sh / 2 - half_y, 0.0)
    if np.any(sw / 2 - half_x < -1e-9) or np.any(sh / 2 - half_y < -1e-9):
        raise ValidationError(
            f"camera path: a {ow}x{oh} window at zoom {z0} (roll {spec.roll_degrees} deg) does not fit in "
            f"the {sw}x{sh} source; raise the zoom"
        )
    u = np.sin(2 * np.pi * t / spec.pan_period + phase[2])
    v = np.sin(2 * np.pi * t / spec.tilt_period + phase[3])
    shake = np.zeros((num_frames, 2))
    if spec.shake_px > 0:
        # a smoothed random walk of the window centre (given in output pixels, applied in source pixels)
        steps = rng.normal(0, 1, size=(num_frames, 2))
        kernel = np.hanning(9) / np.hanning(9).sum()
        shake = np.stack([np.convolve(steps[:, i], kernel, mode="same") for i in range(2)], axis=1)
        shake *= spec.shake_px / max(float(np.abs(shake).max()), 1e-9) / k[:, None]
    # the window's centre stays where the whole (rolled) window lies inside the source
    cx = np.clip(sw / 2 + u * free_x + shake[:, 0], sw / 2 - free_x, sw / 2 + free_x)
    cy = np.clip(sh / 2 + v * free_y + shake[:, 1], sh / 2 - free_y, sh / 2 + free_y)
    cameras = np.zeros((num_frames, 2, 3))
    cameras[:, 0, 0], cameras[:, 0, 1] = k * c, -k * s
    cameras[:, 1, 0], cameras[:, 1, 1] = k * s, k * c
    cameras[:, 0, 2] = ow / 2 - (cameras[:, 0, 0] * cx + cameras[:, 0, 1] * cy)
    cameras[:, 1, 2] = oh / 2 - (cameras[:, 1, 0] * cx + cameras[:, 1, 1] * cy)
    return cameras


def _inverse(affine: np.ndarray) -> np.ndarray:
    lin = np.linalg.inv(affine[..., :2])
    return np.concatenate([lin, -(lin @ affine[..., 2:])], axis=-1)


def frame_transforms(cameras: np.ndarray) -> np.ndarray:
    """Camera motion between consecutive output frames: ``cameras[f] o cameras[f - 1]^-1`` (identity at 0)."""
    cameras = np.asarray(cameras, dtype=np.float64)
    out = np.tile(np.eye(2, 3), (len(cameras), 1, 1))
    if len(cameras) > 1:
        inv = _inverse(cameras[:-1])
        lin = cameras[1:, :, :2] @ inv[:, :, :2]
        out[1:, :, :2] = lin
        out[1:, :, 2] = (cameras[1:, :, :2] @ inv[:, :, 2:])[..., 0] + cameras[1:, :, 2]
    return out


def warp_frame(frame: np.ndarray, camera: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """The output frame the camera sees: ``frame`` resampled by ``camera`` (continuous coordinates)."""
    # OpenCV maps pixel centres (index coordinates); continuous = index + 0.5 on both sides
    m = np.asarray(camera, dtype=np.float64).copy()
    m[:, 2] += m[:, :2] @ np.array([0.5, 0.5]) - 0.5
    flags = cv2.INTER_AREA if abs(np.linalg.det(m[:, :2])) < 1 else cv2.INTER_LINEAR
    if flags == cv2.INTER_AREA:  # warpAffine has no area filter: pre-blur against aliasing instead
        sigma = 0.5 * (1.0 / np.sqrt(abs(np.linalg.det(m[:, :2]))) - 1.0) + 1e-3
        frame = cv2.GaussianBlur(frame, (0, 0), sigma)
        flags = cv2.INTER_LINEAR
    return cv2.warpAffine(frame, m, out_size, flags=flags, borderMode=cv2.BORDER_REFLECT)


def move_boxes(
    detections: Detections, cameras: np.ndarray, out_size: tuple[int, int], *, min_visible: float = 0.5
) -> Detections:
    """The boxes as the moving camera sees them (bounding box of the moved corners, clipped to the frame).

    Boxes with less than ``min_visible`` of their moved area inside the frame are dropped; the other
    columns (ids, scores, classes, visibility...) are kept.
    """
    if len(detections) == 0:
        return detections.replace(canvas=tuple(out_size))
    cam = np.asarray(cameras, dtype=np.float64)[detections.frame]
    x1, y1, x2, y2 = detections.xyxy.T
    corners = np.stack([np.stack([x1, y1], 1), np.stack([x2, y1], 1), np.stack([x1, y2], 1), np.stack([x2, y2], 1)], 1)
    moved = np.einsum("nij,nkj->nki", cam[:, :, :2], corners) + cam[:, None, :, 2]
    lo, hi = moved.min(axis=1), moved.max(axis=1)
    full = np.prod(hi - lo, axis=1)
    clo = np.clip(lo, 0, out_size)
    chi = np.clip(hi, 0, out_size)
    inside = np.prod(np.maximum(chi - clo, 0), axis=1)
    keep = np.flatnonzero(inside >= min_visible * np.maximum(full, 1e-9))
    kept = detections[keep]
    return kept.replace(xyxy=np.concatenate([clo[keep], chi[keep]], axis=1), canvas=tuple(out_size))


def make_camera_motion_sequence(
    video: str | Path,
    out_dir: str | Path,
    *,
    gt: Detections | None = None,
    detections: Detections | None = None,
    out_size: tuple[int, int] = (1280, 720),
    spec: CameraPathSpec | None = None,
    num_frames: int | None = None,
    crf: int = 20,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Path]:
    """Film ``video`` with a moving virtual camera; write ``video.mp4``, ``gmc.txt`` and moved boxes.

    Writes into ``out_dir``: ``video.mp4`` (H.264), ``gmc.txt`` (the exact camera motion, one line per
    frame: 0-based frame index and the row-major 2x3 affine, as BoT-SORT's files), ``cameras.npy``
    (the source-to-output affines), ``gt/gt.txt`` and ``det/det.txt`` when ``gt`` / ``detections`` are
    given (their boxes in the source's pixels), and ``sequence.json`` (sizes, frame rate, path spec).
    Returns the paths written, by name.
    """
    spec = spec or CameraPathSpec()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with VideoReader(video) as reader:
        n = reader.frame_count if num_frames is None else min(num_frames, reader.frame_count)
        fps = reader.output_fps
        cameras = camera_path(n, reader.output_size, out_size, float(fps), spec)
        with VideoWriter(out_dir / "video.mp4", fps, out_size, crf=crf) as writer:
            for f, frame in enumerate(reader.frames(0, n)):
                writer.write(warp_frame(frame, cameras[f], out_size))
                if progress is not None:
                    progress(f + 1, n)
        source_size = reader.output_size
    written["video"] = out_dir / "video.mp4"
    write_gmc(frame_transforms(cameras), out_dir / "gmc.txt")
    written["gmc"] = out_dir / "gmc.txt"
    np.save(out_dir / "cameras.npy", cameras)
    written["cameras"] = out_dir / "cameras.npy"
    for name, boxes, kind in (("gt", gt, "gt"), ("det", detections, "det")):
        if boxes is None:
            continue
        if boxes.canvas is not None and tuple(boxes.canvas) != tuple(source_size):
            raise ValidationError(f"{name} boxes are on a {boxes.canvas} canvas but the video is {source_size}")
        within = boxes[np.flatnonzero(boxes.frame < n)]
        moved = move_boxes(within.replace(num_frames=n), cameras, out_size)
        path = out_dir / name / f"{name}.txt"
        write_mot(moved, path, kind=kind)
        written[name] = path
    meta = {
        "source": str(video),
        "source_size": list(source_size),
        "out_size": list(out_size),
        "fps": str(fps),
        "frames": n,
        "spec": {k: getattr(spec, k) for k in spec.__dataclass_fields__},
    }
    (out_dir / "sequence.json").write_text(json.dumps(meta, indent=1) + "\n")
    written["meta"] = out_dir / "sequence.json"
    return written
