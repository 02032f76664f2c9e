"""A deterministic synthetic video with exact ground-truth tracks: the demo input and test fixture.

A fixed camera looks at a road (cars, ``kind="road"``) or a plaza (people, ``kind="plaza"``).
Objects follow paths (lanes with lane changes, curves across the plaza) at different speeds,
pass in front of one another (the one lower in the frame is nearer, so drawn on top), leave the
view and come back later as the same object. Everything is derived from ``SceneConfig.seed``:
the same config gives byte-identical frames and ground truth on every run.

Ground truth conventions (MOT-like, documented here because evaluation relies on them):

* one box per object per frame in which any of its pixels lies inside the frame; objects wholly
  outside the frame have no box (so a track has gaps while its object is away);
* the box is the tight extent of the object's pixels that lie inside the frame, in pixel-edge
  coordinates (a box over pixel columns 10..19 is ``x1=10, x2=20``); it is *not* shrunk by
  occlusion from other objects;
* ``data["visibility"]`` (float32) is the fraction of the object's pixels that are seen: neither
  outside the frame nor behind a nearer object;
* ``data["consider"]`` (int8, as MOT files give it) is 0 when visibility is below
  ``SceneConfig.min_visibility`` (0.25), else 1: the box is kept so evaluation can ignore it
  rather than count it as missed.

Frames are rendered on demand from the precomputed background and sprites, then get a global
illumination gain (slow flicker plus jitter) and sensor noise (a window of precomputed noise
fields), both chosen by a generator seeded with the frame index, so ``frame(i)`` equals the i-th
frame of ``frames()`` and frames can be drawn in any order.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError, validation_message
from selftrack.core.video_info import VideoInfo
from selftrack.synth.backgrounds import ROAD_LANES, make_background
from selftrack.synth.sprites import Sprite, make_sprites

CLASSES = {"road": {0: "car"}, "plaza": {0: "person"}}
# Object speeds in pixels per second at width 640; spread over the range so speeds differ.
SPEEDS = {"road": (45.0, 130.0), "plaza": (25.0, 65.0)}
_NOISE_PAD = 16


class SceneConfig(BaseModel):
    """Everything that determines a synthetic scene; equal configs give identical videos."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Even sides: H.264 in 4:2:0 needs them, and an encoder that pads would change the canvas.
    width: int = Field(640, ge=64, le=3840, multiple_of=2, description="Frame width in pixels (even).")
    height: int = Field(
        360, ge=64, le=2160, multiple_of=2, description="Frame height in pixels (even); object sizes scale with it."
    )
    fps: int = Field(10, ge=1, le=120, description="Frames per second; object speeds are per second.")
    num_frames: int = Field(300, ge=1, le=100_000, description="Number of frames of the video.")
    num_objects: int = Field(
        8,
        ge=1,
        le=64,
        description="Number of distinct objects (track ids 1..num_objects). On the road, a car waits off "
        "screen until a lane is clear, so past ~15 cars not all of them appear.",
    )
    seed: int = Field(0, ge=0, description="Seed of every random choice: background, looks, paths, noise.")
    noise: float = Field(
        2.0, ge=0.0, le=50.0, description="Standard deviation of per-pixel sensor noise, in grey levels."
    )
    flicker: float = Field(
        0.02, ge=0.0, le=0.3, description="Amplitude of the global illumination flicker, as a fraction of brightness."
    )
    kind: Literal["road", "plaza"] = Field("road", description="'road': cars in lanes; 'plaza': people walking across.")
    min_visibility: float = Field(
        0.25, ge=0.0, le=1.0, description="Boxes less visible than this get data['consider'] = 0."
    )


@dataclass(frozen=True)
class _Layout:
    """Where each object's sprite is in each frame: top-left corner and facing (valid where ``on_path``)."""

    x0: np.ndarray  # int64 (num_objects, num_frames)
    y0: np.ndarray  # int64 (num_objects, num_frames)
    flip: np.ndarray  # bool (num_objects, num_frames): facing left
    on_path: np.ndarray  # bool (num_objects, num_frames)


@dataclass(frozen=True, eq=False)
class Scene:
    """A generated scene: its config, exact ground truth, and frames rendered on demand.

    ``background`` is the clean (noise- and flicker-free) background, read-only; ``sprites`` are
    the objects' looks, ``sprites[track_id - 1]`` facing right.
    """

    config: SceneConfig
    ground_truth: Detections
    background: np.ndarray = field(repr=False)
    sprites: tuple[Sprite, ...] = field(repr=False)
    _layout: _Layout = field(repr=False)
    _flipped: tuple[Sprite, ...] = field(repr=False)
    _noise: tuple[np.ndarray, np.ndarray] | None = field(repr=False)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames."""
        return self.config.width, self.config.height

    @property
    def num_frames(self) -> int:
        return self.config.num_frames

    def frames(self) -> Iterator[np.ndarray]:
        """Yield every frame, RGB ``uint8 (height, width, 3)``, generated one at a time."""
        for i in range(self.config.num_frames):
            yield self.frame(i)

    def frame(self, i: int) -> np.ndarray:
        """Frame ``i`` (0-based), RGB ``uint8 (height, width, 3)``; a new array on every call."""
        cfg = self.config
        if not 0 <= i < cfg.num_frames:
            raise ValidationError(f"frame {i} is outside the synthetic scene's {cfg.num_frames} frames")
        img = self.background.copy()
        for k, x0, y0, flip in self._objects_at(i):
            sprite = self._flipped[k] if flip else self.sprites[k]
            dst, src = _clip(x0, y0, sprite, cfg.width, cfg.height)
            np.copyto(img[dst], sprite.rgb[src], where=sprite.alpha[src][..., None])
        rng = np.random.default_rng([cfg.seed, 7, i])
        gain = 1.0 + cfg.flicker * (0.7 * math.sin(2 * math.pi * i / (3.1 * cfg.fps)) + 0.3 * rng.uniform(-1, 1))
        lut = np.clip(np.round(np.arange(256) * gain), 0, 255).astype(np.uint8)
        img = cv2.LUT(img, lut)
        if self._noise is not None:
            # A window of a precomputed noise field at a random offset: as good as fresh noise
            # for a detector, and ~10x cheaper than drawing 700k normals per frame.
            pos, neg = self._noise
            j, dy, dx = rng.integers(len(pos)), rng.integers(2 * _NOISE_PAD + 1), rng.integers(2 * _NOISE_PAD + 1)
            window = np.s_[j, dy : dy + cfg.height, dx : dx + cfg.width]
            cv2.add(img, pos[window], dst=img)
            cv2.subtract(img, neg[window], dst=img)
        return img

    def _objects_at(self, i: int) -> list[tuple[int, int, int, bool]]:
        """``(object, x0, y0, facing_left)`` of objects overlapping frame ``i``, far to near."""
        lay, (w, h) = self._layout, self.size
        found = []
        for k in np.flatnonzero(lay.on_path[:, i]):
            sw, sh = self.sprites[k].size
            x0, y0 = int(lay.x0[k, i]), int(lay.y0[k, i])
            if x0 < w and y0 < h and x0 + sw > 0 and y0 + sh > 0:
                found.append((int(k), x0, y0, bool(lay.flip[k, i])))
        # Nearer objects stand lower in the frame: draw by bottom edge, ties by object index.
        return sorted(found, key=lambda o: (o[2] + self.sprites[o[0]].size[1], o[0]))


def _clip(x0: int, y0: int, sprite: Sprite, width: int, height: int) -> tuple[Any, Any]:
    """Slices of the frame and of the sprite where a sprite at ``(x0, y0)`` overlaps the frame."""
    sw, sh = sprite.size
    fx0, fy0, fx1, fy1 = max(x0, 0), max(y0, 0), min(x0 + sw, width), min(y0 + sh, height)
    return np.s_[fy0:fy1, fx0:fx1], np.s_[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]


# ---------------------------------------------------------------------------------------- paths
@dataclass(frozen=True)
class _Pass:
    """One trip of an object across the view: a polyline of bottom-centre points, walked at ``speed``."""

    points: np.ndarray
    start: float  # frame at which the object is at points[0] (just outside the view)
    speed: float  # pixels per frame
    left: bool  # facing left
    cum: np.ndarray = field(init=False, repr=False)  # path length up to each point

    def __post_init__(self) -> None:
        steps = np.hypot(*np.diff(self.points, axis=0).T)
        object.__setattr__(self, "cum", np.concatenate([[0.0], np.cumsum(steps)]))

    @property
    def length(self) -> float:
        return float(self.cum[-1])


def _road_pass(
    cfg: SceneConfig, sprite: Sprite, rng: np.random.Generator, start: float, speed: float, lanes: dict[int, _Pass]
) -> _Pass | None:
    """A lane from one side to the other, with a lane change half the time; ``None`` if no lane is free.

    A lane is free when the car that last entered it is far enough ahead and, if slower, leaves
    the view before this one catches up: cars do not drive through one another in their lane.
    """
    w, h = cfg.width, cfg.height
    sw = sprite.size[0]
    headway = 150 * cfg.height / 360

    def is_free(lane: int) -> bool:
        prev = lanes.get(lane)
        if prev is None:
            return True
        ahead = (start - prev.start) * prev.speed
        caught = (prev.start + prev.length / prev.speed - start) * speed > prev.length - headway
        return ahead >= headway and not (speed > prev.speed and caught)

    free = [lane for lane in range(len(ROAD_LANES)) if is_free(lane)]
    if not free:
        return None
    lane = free[int(rng.integers(len(free)))]
    direction = ROAD_LANES[lane][1]
    y_from = y_to = ROAD_LANES[lane][0] * h
    change = rng.random() < 0.5 and is_free(lane ^ 1)
    if change:  # to the other lane of the same direction, both lanes being clear
        y_to = ROAD_LANES[lane ^ 1][0] * h
    begin, end = -sw / 2 - 2, w + sw / 2 + 2
    x = np.linspace(begin, end, 256) if direction > 0 else np.linspace(end, begin, 256)
    centre, span = rng.uniform(0.25, 0.75) * w, rng.uniform(0.15, 0.35) * w
    t = np.clip((x - centre) / span * direction + 0.5, 0, 1)
    y = y_from + (y_to - y_from) * t * t * (3 - 2 * t)  # smoothstep lane change
    trip = _Pass(np.stack([x, y], axis=1), start, speed, direction < 0)
    lanes[lane] = trip
    if change:
        lanes[lane ^ 1] = trip
    return trip


def _plaza_pass(
    cfg: SceneConfig, sprite: Sprite, rng: np.random.Generator, start: float, speed: float, lanes: dict[int, _Pass]
) -> _Pass:
    """A curve (quadratic Bezier) from one edge through the plaza to another edge."""
    w, h = cfg.width, cfg.height
    sw, sh = sprite.size

    def edge_point(edge: int) -> tuple[float, float]:
        if edge == 0:
            return -sw / 2 - 2, rng.uniform(0.2, 1.0) * h
        if edge == 1:
            return w + sw / 2 + 2, rng.uniform(0.2, 1.0) * h
        if edge == 2:
            return rng.uniform(0.1, 0.9) * w, -2.0
        return rng.uniform(0.1, 0.9) * w, h + sh + 2

    e0 = int(rng.integers(4))
    e1 = (e0 + 1 + int(rng.integers(3))) % 4
    p0, p2 = np.array(edge_point(e0)), np.array(edge_point(e1))
    p1 = np.array([rng.uniform(0.2, 0.8) * w, rng.uniform(0.3, 0.85) * h])
    t = np.linspace(0, 1, 256)[:, None]
    curve = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
    return _Pass(curve, start, speed, bool(p2[0] < p0[0]))


def _layout(cfg: SceneConfig, sprites: list[Sprite], rng: np.random.Generator) -> _Layout:
    """Send objects on successive passes, in time order; between passes each is away >= 5 frames."""
    n, nf = cfg.num_objects, cfg.num_frames
    x0 = np.zeros((n, nf), np.int64)
    y0 = np.zeros((n, nf), np.int64)
    flip = np.zeros((n, nf), bool)
    on_path = np.zeros((n, nf), bool)
    lo, hi = SPEEDS[cfg.kind]
    speeds = np.linspace(lo, hi, n) * rng.uniform(0.9, 1.1, n) * cfg.width / 640 / cfg.fps
    speeds = speeds[rng.permutation(n)]
    make_pass = _road_pass if cfg.kind == "road" else _plaza_pass
    frames = np.arange(nf, dtype=np.float64)
    # The first pass may have begun before the video did, so the view starts populated.
    queue = [(float(rng.uniform(-0.8, 0.4) * cfg.width / speeds[k]), k) for k in range(n)]
    heapq.heapify(queue)
    lanes: dict[int, _Pass] = {}
    while queue:
        start, k = heapq.heappop(queue)
        if start >= nf:
            continue
        sprite = sprites[k]
        trip = make_pass(cfg, sprite, rng, start, speeds[k] * rng.uniform(0.9, 1.1), lanes)
        if trip is None:  # every lane busy: wait a little
            heapq.heappush(queue, (start + 2.0, k))
            continue
        points, cum, length = trip.points, trip.cum, trip.length
        s = (frames - start) * trip.speed
        on = (s >= 0) & (s <= length)
        sw, sh = sprite.size
        x0[k, on] = np.round(np.interp(s[on], cum, points[:, 0]) - sw / 2).astype(np.int64)
        y0[k, on] = np.round(np.interp(s[on], cum, points[:, 1]) - sh).astype(np.int64)
        flip[k, on] = trip.left
        on_path[k, on] = True
        away = rng.uniform(max(5.0, 0.8 * cfg.fps), max(8.0, 4.0 * cfg.fps))
        heapq.heappush(queue, (start + length / trip.speed + away, k))
    return _Layout(x0, y0, flip, on_path)


# ---------------------------------------------------------------------------------- ground truth
def _ground_truth(scene: Scene) -> Detections:
    """Exact boxes, visibility and consider flags, from the same drawing order the frames use."""
    cfg = scene.config
    owner = np.full((cfg.height, cfg.width), -1, np.int16)
    totals = [int(s.alpha.sum()) for s in scene.sprites]
    rows: list[tuple[int, int, int, int, int, int, float]] = []
    for i in range(cfg.num_frames):
        objects = scene._objects_at(i)
        placed = []
        for k, x, y, flip in objects:
            sprite = scene._flipped[k] if flip else scene.sprites[k]
            dst, src = _clip(x, y, sprite, cfg.width, cfg.height)
            alpha = sprite.alpha[src]
            owner[dst][alpha] = k
            placed.append((k, dst, alpha))
        for k, dst, alpha in placed:
            r, c = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
            if not len(r):
                continue
            seen = np.count_nonzero(owner[dst][alpha] == k)
            fy, fx = dst[0].start, dst[1].start
            rows.append((i, k + 1, fx + c[0], fy + r[0], fx + c[-1] + 1, fy + r[-1] + 1, seen / totals[k]))
        for _, dst, _ in placed:
            owner[dst] = -1
    table = np.array(rows, dtype=np.float64).reshape(-1, 7)
    visibility = table[:, 6].astype(np.float32)
    return Detections.create(
        table[:, 0].astype(np.int64),
        table[:, 2:6],
        score=1.0,
        class_id=0,
        track_id=table[:, 1].astype(np.int64),
        canvas=scene.size,
        num_frames=cfg.num_frames,
        classes=CLASSES[cfg.kind],
        data={"visibility": visibility, "consider": (visibility >= cfg.min_visibility).astype(np.int8)},
        source=f"synthetic {cfg.kind} scene (seed {cfg.seed})",
    )


def generate_scene(config: SceneConfig | None = None, **overrides: Any) -> Scene:
    """Build a scene from ``config`` (default :class:`SceneConfig`) with some fields overridden.

    Cheap: only the background, sprites, paths and ground truth are computed; frames are drawn
    when asked for. Raises :class:`ValidationError` naming the bad field.
    """
    try:
        if config is None:
            config = SceneConfig(**overrides)
        elif overrides:
            config = SceneConfig.model_validate({**config.model_dump(), **overrides})
    except pydantic.ValidationError as e:
        raise ValidationError(validation_message("synthetic scene config", e, fields=SceneConfig.model_fields)) from e
    root = np.random.SeedSequence(config.seed)
    bg_rng, look_rng, path_rng, noise_rng = (np.random.default_rng(s) for s in root.spawn(4))
    background = make_background(config.kind, config.width, config.height, bg_rng)
    background.setflags(write=False)
    sprites = make_sprites(config.kind, config.num_objects, config.height / 360, look_rng)
    layout = _layout(config, sprites, path_rng)
    noise = _noise_fields(config, noise_rng) if config.noise > 0 else None
    empty = Detections.empty(canvas=(config.width, config.height), num_frames=config.num_frames)
    scene = Scene(config, empty, background, tuple(sprites), layout, tuple(s.flipped() for s in sprites), noise)
    return replace(scene, ground_truth=_ground_truth(scene))


def _noise_fields(cfg: SceneConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Integer Gaussian noise fields, a little larger than a frame, split in positive and negative parts."""
    shape = (3, cfg.height + 2 * _NOISE_PAD, cfg.width + 2 * _NOISE_PAD, 3)
    noise = np.round(rng.standard_normal(shape, dtype=np.float32) * np.float32(cfg.noise))
    return np.clip(noise, 0, 255).astype(np.uint8), np.clip(-noise, 0, 255).astype(np.uint8)


def render_scene_video(scene: Scene, path: str | Path) -> VideoInfo:
    """Write the scene's frames as an H.264 mp4 at ``path`` and return the written file's info."""
    from selftrack.video import write_video

    return write_video(path, scene.frames(), scene.config.fps, size=scene.size)
