"""Camera-motion compensation for the tracking ops and commands: the ``cmc`` choice and its cache.

``cmc`` says where the trackers' per-frame camera motion comes from:

- ``none``: no compensation (a fixed camera);
- ``file``: a ``gmc.txt`` file (BoT-SORT's format, :func:`selftrack.formats.read_gmc`);
- ``video``: measured from the video's frames (:mod:`selftrack.video.camera_motion`), always used;
- ``auto`` (default): a given file is used as ``file``; otherwise the motion is measured from the
  video and compensation is turned on only when the camera moves
  (:func:`selftrack.video.camera_motion.camera_moves`: at least 10 % of the frames move the image
  by more than 0.2 % of the frame diagonal). Without a video, nothing.

Estimates are cached, so tracking the same video again (another tracker, other parameters) does
not decode it again: in a workspace under ``cache/camera_motion/``, keyed by the video item's
content hash; for plain files under the user's cache folder (``selftrack.core.paths``), keyed by
the file's sha256. Both keys also cover the masked detections and the estimator's version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError
from selftrack.core.paths import user_cache_dir
from selftrack.trackers.cmc import rescale_transforms
from selftrack.video.camera_motion import CameraMotion, cached_camera_motion, camera_moves, frame_displacement

if TYPE_CHECKING:  # the track command imports this module; the workspace and pipeline are not needed there
    from selftrack.pipeline.op import ItemContext
    from selftrack.workspace.store import Item

CmcMode = Literal["none", "file", "video", "auto"]
CMC_MODES: tuple[str, ...] = ("none", "file", "video", "auto")

CMC_HELP = (
    "Camera-motion compensation: none; file (a gmc.txt file); video (measured from the frames); auto "
    "(default: a given file, else measured from the video and used only when the camera moves)."
)


@dataclass(frozen=True)
class CmcResult:
    """The transforms a tracker gets (``None``: no compensation) and one line saying why."""

    transforms: np.ndarray | None
    note: str


def _summary(motion: CameraMotion, cached: bool) -> str:
    d = frame_displacement(motion.transforms[1:], motion.frame_size) if len(motion.transforms) > 1 else np.zeros(1)
    where = "from the cache" if cached else "measured"
    failed = f", {motion.failed} frames without a reliable estimate" if motion.failed else ""
    return (
        f"camera motion {where}: median {np.median(d):.2f} px/frame, 90th percentile {np.percentile(d, 90):.2f}{failed}"
    )


def resolve_cmc(
    mode: str,
    detections: Detections,
    *,
    read_file: Callable[[], np.ndarray] | None,
    estimate: Callable[[], tuple[CameraMotion, bool]] | None,
    video_size: tuple[int, int] | None,
    what: str,
) -> CmcResult:
    """Per ``mode``, the camera motion for ``detections`` in their canvas's pixels (see the module doc).

    ``read_file`` reads a gmc file (``None``: no file given), in pixels of ``video_size`` frames;
    ``estimate`` measures (or loads from the cache) the motion from the video (``None``: no video).
    ``what`` names the item in errors.
    """
    if mode not in CMC_MODES:
        raise SelftrackError(f"{what}: cmc must be one of {', '.join(CMC_MODES)}, got {mode!r}")
    canvas = detections.canvas

    def to_canvas(transforms: np.ndarray) -> np.ndarray:
        if canvas is None or video_size is None:
            return transforms
        return rescale_transforms(transforms, video_size, canvas)

    if mode == "none":
        return CmcResult(None, "camera-motion compensation off (cmc=none)")
    if mode == "file" or (mode == "auto" and read_file is not None):
        if read_file is None:
            raise SelftrackError(f"{what}: cmc=file needs a camera-motion file (gmc.txt)")
        return CmcResult(to_canvas(read_file()), "camera motion from the gmc file")
    if estimate is None:
        if mode == "video":
            raise SelftrackError(f"{what}: cmc=video needs the video the detections belong to")
        return CmcResult(None, "camera-motion compensation off (cmc=auto without a video)")
    motion, cached = estimate()
    note = _summary(motion, cached)
    if mode == "auto" and not camera_moves(motion.transforms, motion.frame_size):
        return CmcResult(None, f"{note}; the camera does not move: compensation off (cmc=auto)")
    transforms = (
        motion.transforms if canvas is None else rescale_transforms(motion.transforms, motion.frame_size, canvas)
    )
    return CmcResult(transforms, f"{note}; compensation on")


def plain_file_estimate(
    video: Path,
    detections: Detections,
    *,
    fps: Fraction | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Callable[[], tuple[CameraMotion, bool]]:
    """``estimate`` for :func:`resolve_cmc` on a plain video file (cached under the user's cache folder)."""
    return lambda: cached_camera_motion(video, detections, user_cache_dir("camera_motion"), fps=fps, progress=progress)


def item_estimate(
    ctx: ItemContext, video: Item, detections: Detections, progress: Callable[[int, int], None] | None = None
) -> Callable[[], tuple[CameraMotion, bool]]:
    """``estimate`` for :func:`resolve_cmc` on a workspace video item (cached in the workspace, by content)."""
    from selftrack.ops._video import decode_settings

    decode = decode_settings(video)
    fps = Fraction(decode["fps"]) if decode.get("fps") else None
    return lambda: cached_camera_motion(
        video.path,
        detections,
        ctx.cache_dir("camera_motion"),
        video_digest=video.sha256,
        fps=fps,
        progress=progress,
        should_stop=ctx.reporter.stop_requested,
    )


def item_gmc_reader(item: Item | None, num_frames: int | None) -> Callable[[], np.ndarray] | None:
    """``read_file`` for :func:`resolve_cmc` from a ``file`` item holding a gmc.txt (``None`` if not wired)."""
    from selftrack.formats.mot import read_gmc

    if item is None:
        return None
    return lambda: read_gmc(item.path, num_frames=num_frames)
