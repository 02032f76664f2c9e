"""The scenes of the re-id benchmark: each a video, its detections (no labels) and, where there is one, ground truth.

Two groups, for the protocol "choose on one group, report on the other, and the reverse":

- group A: PETS09-S2L1 (public detections, scored on frames 1-400, 7 fps as its seqinfo.ini says)
  and the generated plaza (``selftrack.synth``; people leave and come back);
- group B: MOT17-09 (1080p, refined detections, every score 1), TUD-Stadtmitte and KITTI-17 (MOT15
  public detections);

group C, for the re-id tracker's motion part only (no video, so no model): MOT17-02/04/05/10
(refined detections, every score 1), MOT17-02/04 (public Faster R-CNN detections) and TUD-Campus
(MOT15 public detections). The motion defaults are chosen on A + C and reported on B;

plus MOT17-09 filmed by a moving camera (``mot17-09-cmc``: every frame panned and zoomed by a known
affine, boxes moved alike; the trackers get the affines, as they would get them from a camera-motion
estimate) and the tutorial's traffic camera (``highway``: motion-detector boxes, no ground truth).
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from selftrack.core.detections import Detections
from selftrack.formats.mot import read_mot

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))

GROUP_A = ("pets09", "plaza")
GROUP_B = ("mot17-09", "tud-stadtmitte", "kitti-17")
GROUP_C = (
    "mot17-02-refined",
    "mot17-04-refined",
    "mot17-05-refined",
    "mot17-10-refined",
    "mot17-02-frcnn",
    "mot17-04-frcnn",
    "tud-campus",
)


@dataclass
class Scene:
    """One benchmark scene, materialised (videos generated on first use under ``work``)."""

    key: str
    title: str
    video: Path | None  # None: a motion-only set (group C), detections and ground truth without the video
    det: Detections
    gt: Detections | None
    fps: float
    frames: tuple[int, int] | None = None  # scored frames, 0-based half-open (None: all)
    transforms: np.ndarray | None = None  # camera motion, (num_frames, 2, 3)
    detector: str = ""
    notes: list[str] = field(default_factory=list)


def _seqinfo_fps(folder: Path, video_fps: float | None = None) -> float:
    """``frameRate`` of the sequence's seqinfo.ini; the video's own rate where the file has none (TUD)."""
    ini = configparser.ConfigParser()
    ini.read(folder / "seqinfo.ini")
    if "frameRate" in ini["Sequence"] or video_fps is None:
        return float(ini["Sequence"]["frameRate"])
    return float(video_fps)


def _mot_scene(key: str, title: str, folder: Path, det_name: str, detector: str) -> Scene:
    from selftrack.video import probe

    video = folder / "video.mp4"
    info = probe(video)
    size = (info.width, info.height)
    det = read_mot(folder / "det" / det_name, canvas=size, num_frames=info.frame_count)
    gt = read_mot(folder / "gt" / "gt.txt", canvas=size, num_frames=info.frame_count)
    return Scene(key, title, video, det, gt, _seqinfo_fps(folder, float(info.fps)), detector=detector)


def _motion_set(key: str, folder: Path, det_name: str, detector: str) -> Scene:
    """A group-C set: detections and ground truth sized by seqinfo.ini, no video (motion only)."""
    ini = configparser.ConfigParser()
    ini.read(folder / "seqinfo.ini")
    seq = ini["Sequence"]
    size, n = (int(seq.get("imWidth", "640")), int(seq.get("imHeight", "480"))), int(seq["seqLength"])
    det = read_mot(folder / "det" / det_name, canvas=size, num_frames=n)
    gt = read_mot(folder / "gt" / "gt.txt", canvas=size, num_frames=n)
    fps = float(seq.get("frameRate", "25"))  # TUD-Campus gives none; its camera films at 25 fps
    return Scene(key, f"{folder.name}, {detector}", None, det, gt, fps, detector=detector)


def motion_sets() -> dict[str, Any]:
    """Loaders of group C (see module doc)."""
    mot17, refined, frcnn = DATA / "mot17", "refined detections (every score 1)", "public Faster R-CNN detections"
    out: dict[str, Any] = {}
    for seq in ("02", "04", "05", "10"):
        out[f"mot17-{seq}-refined"] = lambda s=seq: _motion_set(
            f"mot17-{s}-refined", mot17 / f"MOT17-{s}", "det_refined.txt", refined
        )
    for seq in ("02", "04"):
        out[f"mot17-{seq}-frcnn"] = lambda s=seq: _motion_set(
            f"mot17-{s}-frcnn", mot17 / f"MOT17-{s}", "det.txt", frcnn
        )
    out["tud-campus"] = lambda: _motion_set(
        "tud-campus", DATA / "mot15" / "TUD-Campus", "det.txt", "MOT15 public detections"
    )
    return out


def pets09() -> Scene:
    d = DATA / "pets09-s2l1"
    det = read_mot(d / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    gt = read_mot(d / "gt" / "gt.txt", canvas=(768, 576), num_frames=795)
    return Scene(
        "pets09",
        "PETS09-S2L1, public detections, frames 1-400",
        d / "video.avi",
        det,
        gt,
        _seqinfo_fps(d),
        (0, 400),
        detector="MOT15 public (Faster R-CNN, scores >= 0.5)",
    )


def plaza(work: Path, num_frames: int = 600, seed: int = 21) -> Scene:
    """The generated plaza: 10 people who cross, occlude each other, leave and come back."""
    from selftrack.synth import SceneConfig, generate_scene, render_scene_video

    scene = generate_scene(
        SceneConfig(width=640, height=360, num_frames=num_frames, fps=10, num_objects=10, kind="plaza", seed=seed)
    )
    gt = scene.ground_truth
    rng = np.random.default_rng(seed)
    keep = (gt.data["visibility"] >= 0.3) & (rng.random(len(gt)) > 0.1)
    jitter = rng.normal(0.0, 2.0, (len(gt), 4))
    score = np.clip(rng.normal(0.85, 0.1, len(gt)), 0.3, 1.0)
    boxes = gt.xyxy + jitter
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)  # a sliver at the frame edge stays a box
    det = Detections.create(gt.frame[keep], boxes[keep], score[keep], canvas=gt.canvas, num_frames=gt.num_frames)
    video = work / f"plaza-{num_frames}-{seed}.mp4"
    if not video.is_file():
        video.parent.mkdir(parents=True, exist_ok=True)
        render_scene_video(scene, video)
    return Scene(
        "plaza",
        "generated plaza (people leave and come back)",
        video,
        det,
        gt,
        float(scene.config.fps),
        detector="ground truth with jitter, misses, scores ~N(0.85, 0.1)",
    )


def mot17_09() -> Scene:
    return _mot_scene(
        "mot17-09",
        "MOT17-09 (1080p), refined detections",
        DATA / "mot17" / "MOT17-09",
        "det_refined.txt",
        "MOT17 refined (a strong tracker's boxes, every score 1)",
    )


def tud_stadtmitte() -> Scene:
    return _mot_scene(
        "tud-stadtmitte",
        "TUD-Stadtmitte, public detections",
        DATA / "mot15" / "TUD-Stadtmitte",
        "det.txt",
        "MOT15 public (scores >= 0.5)",
    )


def kitti_17() -> Scene:
    return _mot_scene(
        "kitti-17",
        "KITTI-17, public detections",
        DATA / "mot15" / "KITTI-17",
        "det.txt",
        "MOT15 public (scores >= 0.5)",
    )


# ---------------------------------------------------------------------------- camera motion
def camera_path(num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """Affines ``(num_frames, 2, 3)`` from the still frame to the moving camera's frame ``f``.

    A zoom about the centre between 1.05x and 1.35x (a 5 s cycle) and a pan that stays inside the
    zoomed view (no black border), swinging across it every 2 s: a hand-held camera looking around
    the street, moving up to about 20 pixels a frame at 1080p, far more than people walk.
    """
    w, h = size
    f = np.arange(num_frames, dtype=np.float64)
    s = 1.2 + 0.15 * np.sin(2 * np.pi * f / 150.0)
    room_x, room_y = (s - 1.0) * w / 2.0, (s - 1.0) * h / 2.0
    tx = 0.85 * room_x * np.sin(2 * np.pi * f / 60.0 + 0.3)
    ty = 0.6 * room_y * np.sin(2 * np.pi * f / 90.0 + 1.1)
    out = np.zeros((num_frames, 2, 3))
    out[:, 0, 0] = out[:, 1, 1] = s
    out[:, 0, 2] = (1.0 - s) * w / 2.0 + tx
    out[:, 1, 2] = (1.0 - s) * h / 2.0 + ty
    return out


def frame_to_frame(path: np.ndarray) -> np.ndarray:
    """``transforms[f]`` mapping frame ``f - 1`` to frame ``f`` (identity for frame 0) from absolute affines."""
    n = len(path)
    out = np.zeros((n, 2, 3))
    out[0, :, :2] = np.eye(2)
    full = np.concatenate([path, np.tile([[[0.0, 0.0, 1.0]]], (n, 1, 1))], axis=1)
    for f in range(1, n):
        out[f] = (full[f] @ np.linalg.inv(full[f - 1]))[:2]
    return out


def _warp_boxes(boxes: Detections, path: np.ndarray, size: tuple[int, int], min_visible: float) -> Detections:
    """Boxes moved by their frame's affine (zoom and pan keep them axis-aligned), clipped to the frame;
    those with less than ``min_visible`` of their area inside are dropped."""
    a = path[boxes.frame]
    xyxy = boxes.xyxy
    x = a[:, 0, 0] * xyxy[:, [0, 2]].T + a[:, 0, 2]
    y = a[:, 1, 1] * xyxy[:, [1, 3]].T + a[:, 1, 2]
    moved = np.stack([x[0], y[0], x[1], y[1]], axis=1)
    w, h = size
    clipped = np.clip(moved, 0, [w, h, w, h])
    area = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    inside = np.clip(clipped[:, 2] - clipped[:, 0], 0, None) * np.clip(clipped[:, 3] - clipped[:, 1], 0, None)
    keep = inside >= min_visible * np.maximum(area, 1e-9)
    return boxes.replace(xyxy=clipped)[np.flatnonzero(keep)]


def mot17_09_cmc(work: Path) -> Scene:
    """MOT17-09 filmed by a zooming and panning camera (generated once under ``work``)."""
    import cv2

    from selftrack.video import VideoReader, VideoWriter

    base = mot17_09()
    info_size = base.det.canvas
    assert info_size is not None
    n = base.det.num_frames or base.gt.num_frames  # type: ignore[union-attr]
    path = camera_path(int(n), info_size)
    video = work / "mot17-09-cmc-2.mp4"  # the number changes with camera_path
    if not video.is_file():
        video.parent.mkdir(parents=True, exist_ok=True)
        with VideoReader(base.video) as reader, VideoWriter(video, base.fps, info_size, crf=23) as writer:
            for f, frame in enumerate(reader.frames()):
                writer.write(cv2.warpAffine(frame, path[f], info_size, flags=cv2.INTER_LINEAR))
    assert base.gt is not None
    return Scene(
        "mot17-09-cmc",
        "MOT17-09 with a moving hand-held camera (zoom 1.05-1.35x and pan, known affines), refined detections",
        video,
        _warp_boxes(base.det, path, info_size, 0.5),
        _warp_boxes(base.gt, path, info_size, 0.25),
        base.fps,
        transforms=frame_to_frame(path),
        detector=base.detector,
    )


def highway() -> tuple[Path, float]:
    """The tutorial's traffic camera (no ground truth; detections come from ``detect --model motion``)."""
    return DATA / "videos" / "highway_overpass_cdnet.avi", 60.0


def load(key: str, work: Path) -> Scene:
    loaders = {
        "pets09": pets09,
        "plaza": lambda: plaza(work),
        "mot17-09": mot17_09,
        "tud-stadtmitte": tud_stadtmitte,
        "kitti-17": kitti_17,
        "mot17-09-cmc": lambda: mot17_09_cmc(work),
        **motion_sets(),
    }
    return loaders[key]()
