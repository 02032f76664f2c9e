"""Camera motion measured from the frames: one similarity transform per frame (BoT-SORT's GMC idea).

A panning, zooming or shaking camera moves every object in the image by the same motion; trackers
that know it move their predictions with it (``selftrack.trackers.cmc``). BoT-SORT ships such
motion as precomputed ``gmc.txt`` files, which users never have; this module measures it.

How, for each pair of consecutive frames (grey, shrunk so that the longer side is at most
``max_side`` pixels, which is what makes it cheap on 1080p):

1. Shi-Tomasi corners of frame ``f - 1``, outside its detections (each box grown by
   ``box_margin`` of its size) and outside a thin border band: people and cars move on their own
   and would pull the fit towards their motion.
2. Pyramidal Lucas-Kanade optical flow of those corners into frame ``f`` (optionally also back: with
   ``max_round_trip`` set, a corner whose round trip lands farther than that from where it started is
   dropped; off by default, RANSAC already rejects such points).
3. A 4-degree-of-freedom similarity (translation, rotation, one scale: what a camera that pans,
   tilts, rolls and zooms does to a distant scene) fitted by RANSAC (``cv2.estimateAffinePartial2D``)
   on the surviving pairs, in full-resolution pixel coordinates.

When fewer than ``min_inliers`` pairs agree (a cut, a blank or blurred frame, a frame filled by one
moving object), the frame gets the identity and is counted in ``CameraMotion.failed``.

Convention (the one of ``gmc.txt`` and :mod:`selftrack.trackers.cmc`): ``transforms[f]`` maps pixel
coordinates of frame ``f - 1`` to frame ``f``; ``transforms[0]`` is the identity. Coordinates are
continuous pixel coordinates of the full-resolution frame (pixel ``i`` covers ``[i, i + 1)``, as box
corners do), whatever size the analysis ran at.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.video.probe import PathLike
from selftrack.video.reader import VideoReader
from selftrack.video.resize import ResizeSpec

ESTIMATOR_VERSION = 2
"""Bumped whenever the estimate for the same frames changes, so cached estimates are not reused."""


class CameraMotionSettings(BaseModel):
    """Settings of the estimator (the defaults are the ones the accuracy benchmark reports)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_side: int = Field(640, ge=64, description="Frames are shrunk so that the longer side is at most this (px).")
    max_corners: int = Field(400, ge=8, description="Most corners tracked per frame pair.")
    min_distance: int = Field(6, ge=1, description="Least distance between two corners (px of the shrunk frame).")
    quality: float = Field(0.005, gt=0, lt=1, description="Shi-Tomasi quality level (fraction of the best corner).")
    box_margin: float = Field(0.1, ge=0, description="Detections are masked grown by this fraction of their size.")
    border: int = Field(4, ge=0, description="Corners this close to the frame edge are ignored (px, shrunk frame).")
    max_round_trip: float | None = Field(
        None,
        gt=0,
        description="Forward-backward flow error allowed (px, shrunk frame); None (default): no backward pass "
        "(RANSAC already rejects such points; BENCHMARKS.md compares both).",
    )
    ransac_threshold: float = Field(1.0, gt=0, description="RANSAC inlier distance (px of the shrunk frame).")
    min_inliers: int = Field(12, ge=3, description="Fewer inliers than this: identity for that frame.")

    def key(self) -> str:
        """A stable text naming the estimator and these settings (for cache keys)."""
        fields = ",".join(f"{k}={v}" for k, v in sorted(self.model_dump().items()))
        return f"v{ESTIMATOR_VERSION}:{fields}"


@dataclass(frozen=True)
class CameraMotion:
    """Per-frame camera motion of one video and how well each frame's estimate is supported.

    Attributes:
        transforms: ``float64 (n, 2, 3)``, ``transforms[f]`` maps frame ``f - 1`` to frame ``f``.
        inliers: ``int32 (n,)`` pairs of points that agreed with each frame's transform (0 for frame 0
            and for frames where the estimate failed).
        frame_size: ``(width, height)`` of the frames the coordinates refer to.
    """

    transforms: np.ndarray
    inliers: np.ndarray
    frame_size: tuple[int, int]

    @property
    def failed(self) -> int:
        """Frames (after the first) where too few points agreed and the identity was used."""
        return int(np.count_nonzero(self.inliers[1:] == 0))


# ------------------------------------------------------------------------------------------ measures
def frame_displacement(transforms: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """How far each transform moves the image: RMS over a 5x5 grid of points covering the frame (px)."""
    w, h = frame_size
    gx, gy = np.meshgrid(np.linspace(0, w, 5), np.linspace(0, h, 5))
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    arr = np.asarray(transforms, dtype=np.float64).reshape(-1, 2, 3)
    moved = np.einsum("fij,pj->fpi", arr[:, :, :2], pts) + arr[:, None, :, 2]
    return np.sqrt(((moved - pts[None]) ** 2).sum(axis=2).mean(axis=1))


def displacement_error(estimated: np.ndarray, true: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """Per frame, the RMS distance (px) between where the two transforms put a 5x5 grid over the frame."""
    est = np.asarray(estimated, dtype=np.float64).reshape(-1, 2, 3)
    ref = np.asarray(true, dtype=np.float64).reshape(-1, 2, 3)
    diff = est - ref
    diff[:, :, :2] += np.eye(2)  # frame_displacement measures |A p - p|: give it (est - true) + identity
    return frame_displacement(diff, frame_size)


MOVING_DISPLACEMENT = 0.002
"""A frame shows camera motion when its transform moves the image by more than this fraction of the
frame's diagonal (2.2 px on 1080p, 0.8 px on 320x240): well above the estimator's noise on the fixed
cameras of the benchmark, well below what a hand-held or panning camera does in one frame."""

MOVING_FRACTION = 0.1
"""The camera "moves" when at least this fraction of the frames shows camera motion."""


def camera_moves(transforms: np.ndarray, frame_size: tuple[int, int]) -> bool:
    """Whether the camera moves enough for motion compensation to be worth turning on (``cmc=auto``).

    The criterion: at least :data:`MOVING_FRACTION` of the frames move the image by more than
    :data:`MOVING_DISPLACEMENT` of the frame diagonal. A fixed camera's estimates are small noise
    (then compensating would only add that noise); a moving camera's frames exceed it.
    """
    arr = np.asarray(transforms, dtype=np.float64).reshape(-1, 2, 3)
    if len(arr) < 2:
        return False
    diagonal = float(np.hypot(*frame_size))
    moving = frame_displacement(arr[1:], frame_size) > MOVING_DISPLACEMENT * diagonal
    return bool(moving.mean() >= MOVING_FRACTION)


# ------------------------------------------------------------------------------------------ estimator
class CameraMotionEstimator:
    """Streaming estimator: feed grey shrunk frames in order with their boxes, get one transform each.

    ``frame_size`` is the full-resolution ``(width, height)``; frames given to :meth:`update` are the
    shrunk grey frames (any size; the scale back to full resolution is taken from their shape).
    """

    def __init__(self, frame_size: tuple[int, int], settings: CameraMotionSettings | None = None) -> None:
        self.frame_size = (int(frame_size[0]), int(frame_size[1]))
        self.settings = settings or CameraMotionSettings()
        self._prev: np.ndarray | None = None
        self._prev_mask: np.ndarray | None = None

    def reset(self) -> None:
        self._prev = None
        self._prev_mask = None

    def _mask(self, shape: tuple[int, int], boxes: np.ndarray | None) -> np.ndarray:
        """255 where corners may be taken: inside the border band, outside the (grown) boxes."""
        h, w = shape
        s = self.settings
        mask = np.zeros((h, w), dtype=np.uint8)
        b = min(s.border, (min(h, w) - 1) // 2)
        mask[b : h - b, b : w - b] = 255
        if boxes is not None and len(boxes):
            sx, sy = w / self.frame_size[0], h / self.frame_size[1]
            xyxy = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            grow = (xyxy[:, 2:] - xyxy[:, :2]) * s.box_margin
            lo = np.floor((xyxy[:, :2] - grow) * (sx, sy)).astype(np.int64)
            hi = np.ceil((xyxy[:, 2:] + grow) * (sx, sy)).astype(np.int64)
            lo = np.clip(lo, 0, (w, h))
            hi = np.clip(hi, 0, (w, h))
            for (x1, y1), (x2, y2) in zip(lo, hi, strict=True):
                mask[y1:y2, x1:x2] = 0
        return mask

    def update(self, gray: np.ndarray, boxes: np.ndarray | None = None) -> tuple[np.ndarray, int]:
        """Transform from the previous frame to ``gray`` (identity for the first) and its inlier count.

        ``boxes``: this frame's detections in full-resolution pixels (masked when it serves as the
        previous frame of the next pair).
        """
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValidationError(f"camera motion: frames must be 2-D uint8 grey images, got {gray.dtype} {gray.shape}")
        prev, prev_mask = self._prev, self._prev_mask
        self._prev, self._prev_mask = gray, self._mask(gray.shape, boxes)
        if prev is None or prev.shape != gray.shape:
            return np.eye(2, 3), 0
        return self._estimate(prev, prev_mask, gray)

    def _estimate(self, prev: np.ndarray, mask: np.ndarray | None, cur: np.ndarray) -> tuple[np.ndarray, int]:
        s = self.settings
        identity = np.eye(2, 3)
        corners = cv2.goodFeaturesToTrack(
            prev, maxCorners=s.max_corners, qualityLevel=s.quality, minDistance=s.min_distance, mask=mask, blockSize=3
        )
        if corners is None or len(corners) < s.min_inliers:
            return identity, 0
        lk = {
            "winSize": (21, 21),
            "maxLevel": 3,
            "criteria": (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30, 0.01),
        }
        moved, ok, _ = cv2.calcOpticalFlowPyrLK(prev, cur, corners, None, **lk)
        keep = ok.ravel() == 1
        if s.max_round_trip is not None:
            back, ok_back, _ = cv2.calcOpticalFlowPyrLK(cur, prev, moved, None, **lk)
            round_trip = np.linalg.norm((back - corners).reshape(-1, 2), axis=1)
            keep &= (ok_back.ravel() == 1) & (round_trip <= s.max_round_trip)
        if np.count_nonzero(keep) < s.min_inliers:
            return identity, 0
        h, w = prev.shape
        scale = np.array([self.frame_size[0] / w, self.frame_size[1] / h])
        # pixel-index coordinates of the shrunk frame -> continuous coordinates of the full frame
        src = (corners.reshape(-1, 2)[keep] + 0.5) * scale
        dst = (moved.reshape(-1, 2)[keep] + 0.5) * scale
        affine, inliers = cv2.estimateAffinePartial2D(
            src,
            dst,
            method=cv2.RANSAC,
            ransacReprojThreshold=s.ransac_threshold * float(scale.mean()),
            maxIters=2000,
            confidence=0.995,
            refineIters=10,
        )
        count = 0 if inliers is None else int(inliers.sum())
        if affine is None or count < s.min_inliers or not np.isfinite(affine).all():
            return identity, 0
        return affine.astype(np.float64), count


def estimate_camera_motion(
    path: PathLike,
    detections: Detections | None = None,
    *,
    settings: CameraMotionSettings | None = None,
    fps: Fraction | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> CameraMotion:
    """Camera motion of every frame of the video at ``path`` (see the module doc).

    ``detections`` (optional, on any canvas) are masked out of the frames they belong to. ``fps``:
    the rate the video is decoded at (a resampled video item's; ``None`` = its own), so that frame
    ``f`` here is frame ``f`` of the detections.

    Raises:
        VideoError: the video cannot be read.
        InterruptedError: ``should_stop()`` turned true.
    """
    settings = settings or CameraMotionSettings()
    reader = VideoReader(path, fps=fps, resize=ResizeSpec(mode="scale-down", max_dimension=settings.max_side))
    size = (reader.info.width, reader.info.height)
    n = reader.frame_count
    boxes, bounds = None, None
    if detections is not None and len(detections):
        boxes = detections.xyxy
        if detections.canvas is not None and tuple(detections.canvas) != tuple(size):
            sx, sy = size[0] / detections.canvas[0], size[1] / detections.canvas[1]
            boxes = boxes * np.array([sx, sy, sx, sy])
        bounds = np.searchsorted(detections.frame, np.arange(n + 1), side="left")
    estimator = CameraMotionEstimator(size, settings)
    transforms = np.tile(np.eye(2, 3), (n, 1, 1))
    inliers = np.zeros(n, dtype=np.int32)
    every = max(1, n // 100)
    with reader:
        for f, rgb in enumerate(reader.frames()):
            if should_stop is not None and f % 16 == 0 and should_stop():
                raise InterruptedError("camera-motion estimation stopped")
            frame_boxes = None if bounds is None else boxes[bounds[f] : bounds[f + 1]]
            transforms[f], inliers[f] = estimator.update(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), frame_boxes)
            if progress is not None and ((f + 1) % every == 0 or f + 1 == n):
                progress(f + 1, n)
    return CameraMotion(transforms=transforms, inliers=inliers, frame_size=size)


# ------------------------------------------------------------------------------------------ cache
def _boxes_digest(detections: Detections | None) -> str:
    """What the estimate depends on besides the frames: the masked boxes (frames, corners, canvas)."""
    if detections is None or len(detections) == 0:
        return "none"
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(detections.frame, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(detections.xyxy, dtype=np.float64).tobytes())
    h.update(repr(detections.canvas).encode())
    return h.hexdigest()


def file_digest(path: PathLike, memo_dir: PathLike | None = None) -> str:
    """sha256 of a file's bytes (what a plain video file's cache entries are keyed by).

    With ``memo_dir`` the digest is remembered there with the file's size, modification time and
    inode, and reused while they are unchanged, so a second run does not read the whole video again.
    """
    st = os.stat(path)
    ident = [st.st_size, st.st_mtime_ns, st.st_ino]
    memo = None
    if memo_dir is not None:
        name = hashlib.sha256(os.path.abspath(os.fspath(path)).encode()).hexdigest()[:32]
        memo = Path(memo_dir) / f"digest-{name}.json"
        try:
            saved = json.loads(memo.read_text())
            if saved.get("stat") == ident:
                return str(saved["sha256"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    if memo is not None:
        memo.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=memo.parent, prefix=".digest-", suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump({"stat": ident, "sha256": digest}, f)
        os.replace(tmp, memo)
    return digest


def cached_camera_motion(
    path: PathLike,
    detections: Detections | None,
    cache_dir: PathLike,
    *,
    video_digest: str | None = None,
    settings: CameraMotionSettings | None = None,
    fps: Fraction | None = None,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[CameraMotion, bool]:
    """:func:`estimate_camera_motion`, kept in ``cache_dir`` and reused: ``(motion, came from the cache)``.

    The entry is keyed by the video's content (``video_digest``, e.g. a workspace item's sha256; the
    file is hashed when not given), the masked boxes and the estimator's settings and version, so an
    edited video, other detections or a newer estimator never reuse a stale estimate. Entries are
    written atomically; an unreadable one is recomputed.
    """
    settings = settings or CameraMotionSettings()
    digest = video_digest or file_digest(path, memo_dir=cache_dir)
    ident = f"{digest}|{_boxes_digest(detections)}|{settings.key()}|fps={fps}"
    key = hashlib.sha256(ident.encode()).hexdigest()[:32]
    folder = Path(cache_dir)
    entry = folder / f"camera-motion-{key}.npz"
    if entry.is_file():
        try:
            with np.load(entry, allow_pickle=False) as z:
                motion = CameraMotion(
                    transforms=z["transforms"].astype(np.float64),
                    inliers=z["inliers"].astype(np.int32),
                    frame_size=(int(z["frame_size"][0]), int(z["frame_size"][1])),
                )
            if motion.transforms.ndim == 3 and motion.transforms.shape[1:] == (2, 3):
                return motion, True
        except (OSError, ValueError, KeyError):
            pass  # unreadable (a crash of another writer cannot cause this: writes are atomic); recompute
    motion = estimate_camera_motion(
        path, detections, settings=settings, fps=fps, progress=progress, should_stop=should_stop
    )
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".camera-motion-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, transforms=motion.transforms, inliers=motion.inliers, frame_size=np.array(motion.frame_size))
        os.replace(tmp, entry)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return motion, False
