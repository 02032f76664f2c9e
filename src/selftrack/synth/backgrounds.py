"""Static backgrounds of the synthetic scene: a road seen from the kerb, or a paved plaza.

Why textured: a flat background makes background subtraction trivial and teaches nothing about
the real thing. These have low-frequency blotches, fine grain, lane markings, a zebra crossing,
paving joints and facade windows, all static, so a detector must model the background rather
than threshold a colour. Drawn once per scene; frames only copy it.
"""

from __future__ import annotations

import cv2
import numpy as np

# Lanes of the road: (bottom edge of a car as a fraction of the frame height, direction of travel).
# Lanes of one direction are more than a car height apart, so overtaking cars stay apart; the
# two middle lanes (opposite directions) are much closer, as seen from a low camera: oncoming
# cars there pass in front of / behind each other, briefly hiding much of the far one.
ROAD_LANES: tuple[tuple[float, int], ...] = ((0.50, -1), (0.625, -1), (0.665, 1), (0.79, 1))
ROAD_TOP, ROAD_BOTTOM = 0.34, 0.83


def _blotches(rng: np.random.Generator, width: int, height: int, amplitude: float, cell: int) -> np.ndarray:
    """Smooth random field in ``[-amplitude, amplitude]`` (cubic upsampling of coarse noise)."""
    coarse = rng.uniform(-1, 1, (max(2, height // cell + 2), max(2, width // cell + 2))).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC) * np.float32(amplitude)


def _texture(img: np.ndarray, rng: np.random.Generator, blotch: float, grain: float) -> np.ndarray:
    h, w = img.shape[:2]
    out = img.astype(np.float32)
    out += _blotches(rng, w, h, blotch, 24)[..., None]
    out += rng.uniform(-grain, grain, (h, w, 1)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _facades(img: np.ndarray, rng: np.random.Generator, y1: int, scale: float) -> None:
    """Buildings along the top: blocks of muted colours with a grid of windows."""
    w = img.shape[1]
    x = 0
    while x < w:
        bw = round(rng.uniform(60, 140) * scale)
        img[:y1, x : x + bw] = rng.integers(90, 190, 3)
        win = tuple(int(v) for v in rng.integers(40, 90, 3))
        step = max(6, round(rng.uniform(14, 22) * scale))
        for wy in range(round(6 * scale), y1 - step // 2, step):
            for wx in range(x + step // 2, x + bw - step // 2, step):
                cv2.rectangle(img, (wx, wy), (wx + step // 2, wy + step // 2), win, -1)
        x += bw


def _paving(img: np.ndarray, y0: int, y1: int, tile: int, shade: int) -> None:
    img[y0:y1] = shade
    img[y0:y1, ::tile] = shade - 30
    img[y0 : y1 : max(2, tile // 2)] = shade - 30


def road_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Facades, sidewalk, a four-lane road with markings and a zebra crossing, near sidewalk."""
    scale = height / 360
    img = np.zeros((height, width, 3), np.uint8)
    top, bottom = round(ROAD_TOP * height), round(ROAD_BOTTOM * height)
    walk = round(0.30 * height)
    _facades(img, rng, walk, scale)
    _paving(img, walk, top, max(8, round(24 * scale)), 170)
    _paving(img, bottom, height, max(8, round(30 * scale)), 165)
    img[top:bottom] = (104, 104, 108)
    t = max(2, round(2 * scale))
    img[top : top + t] = img[bottom - t : bottom] = (215, 215, 215)  # kerbs
    # Zebra crossing, drawn before the lane lines, which stop at it.
    zx = round(rng.uniform(0.55, 0.75) * width)
    zw = round(40 * scale)
    for y in range(top + 3 * t, bottom - 3 * t, 5 * t):
        img[y : y + 3 * t, zx : zx + zw] = (200, 200, 196)
    lane_y = [round(f * height) for f, _ in ROAD_LANES]
    median = (lane_y[1] + lane_y[2]) // 2 - t
    img[median - t : median] = img[median + t : median + 2 * t] = (210, 180, 40)
    dash, gap = round(30 * scale), round(24 * scale)
    for y in (lane_y[0] + 2 * t, lane_y[3] - round(0.1 * height)):
        for x in range(int(rng.integers(gap)), width, dash + gap):
            if not (zx - dash < x < zx + zw):
                img[y : y + t, x : x + dash] = (220, 220, 220)
    for _ in range(3):  # manhole covers and patches: static clutter
        c = (int(rng.integers(width)), int(rng.integers(top + 10, bottom - 10)))
        cv2.circle(img, c, round(rng.uniform(6, 12) * scale), (80, 80, 84), -1)
    return _texture(img, rng, blotch=10, grain=4)


def plaza_background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """Two-tone paving with joints, a fountain, planters and benches."""
    scale = height / 360
    img = np.zeros((height, width, 3), np.uint8)
    tile = max(8, round(40 * scale))
    ys, xs = np.mgrid[0:height, 0:width]
    checker = ((ys // tile + xs // tile) % 2).astype(bool)
    img[:] = (172, 162, 146)
    img[checker] = (150, 146, 138)
    img[::tile] = img[:, ::tile] = (120, 114, 104)
    centre = (round(rng.uniform(0.3, 0.7) * width), round(rng.uniform(0.35, 0.65) * height))
    cv2.circle(img, centre, round(48 * scale), (190, 190, 186), -1)
    cv2.circle(img, centre, round(40 * scale), (80, 130, 170), -1)
    for _ in range(4):
        x, y = int(rng.integers(width)), int(rng.integers(height))
        if rng.random() < 0.5:  # planter
            cv2.rectangle(img, (x, y), (x + round(30 * scale), y + round(30 * scale)), (80, 125, 60), -1)
        else:  # bench
            cv2.rectangle(img, (x, y), (x + round(50 * scale), y + round(10 * scale)), (130, 90, 60), -1)
    return _texture(img, rng, blotch=8, grain=4)


def make_background(kind: str, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """The clean (noise- and flicker-free) background, ``uint8 (height, width, 3)`` RGB."""
    return road_background(width, height, rng) if kind == "road" else plaza_background(width, height, rng)
