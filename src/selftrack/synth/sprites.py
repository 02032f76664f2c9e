"""Object sprites for the synthetic scene: cars (side view) and people, one fixed look per object.

Why sprites are drawn once and never change: re-identification learns that an object looks the
same every time it is seen, so each object's colours and markings are fixed for the whole video
(only mirrored when it moves the other way). All sprites of a kind share one shape family and
differ in colour, stripes and markings; :func:`make_sprites` makes some pairs share a body colour
on purpose, so telling them apart needs the small details, as with real look-alike cars.

Every sprite has a one-pixel dark outline: whatever the background under it, the outermost
pixels differ from it, so the ground-truth box (the sprite's tight extent) is exactly what a
background-subtraction detector can see.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

OUTLINE = (24, 24, 28)

# Body colours keep clear of asphalt grey and paving beige so a background subtractor sees them.
CAR_COLOURS = [
    (200, 32, 36),
    (34, 70, 190),
    (236, 200, 40),
    (40, 150, 70),
    (238, 238, 236),
    (40, 40, 46),
    (240, 128, 24),
    (24, 150, 156),
    (130, 52, 160),
    (120, 30, 40),
    (150, 200, 236),
    (96, 120, 30),
]
SHIRT_COLOURS = [
    (210, 40, 40),
    (40, 80, 200),
    (240, 210, 50),
    (40, 160, 80),
    (245, 245, 245),
    (30, 30, 36),
    (235, 120, 30),
    (150, 60, 170),
    (20, 150, 160),
    (230, 110, 170),
]
TROUSER_COLOURS = [(40, 50, 90), (30, 30, 34), (100, 70, 40), (70, 80, 60), (60, 60, 110)]
SKIN_COLOURS = [(236, 196, 160), (200, 150, 110), (140, 96, 64), (96, 64, 44)]
HAIR_COLOURS = [(30, 24, 20), (90, 60, 30), (200, 170, 90), (120, 120, 120)]
ACCENT_COLOURS = [(250, 250, 250), (20, 20, 20), (230, 40, 40), (40, 90, 220), (250, 200, 30), (30, 170, 90)]


@dataclass(frozen=True)
class Sprite:
    """One object's look: ``rgb`` ``uint8 (h, w, 3)`` and ``alpha`` ``bool (h, w)``, facing right.

    ``alpha`` touches all four sides (sprites are cropped tight), so the sprite's rectangle is its
    exact bounding box. ``flipped`` is the same object facing left.
    """

    rgb: np.ndarray
    alpha: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    def flipped(self) -> Sprite:
        return Sprite(np.ascontiguousarray(self.rgb[:, ::-1]), np.ascontiguousarray(self.alpha[:, ::-1]))


RGB = tuple[int, int, int]


def _pick(rng: np.random.Generator, colours: list[RGB], avoid: RGB | None = None) -> RGB:
    choices = [c for c in colours if c != avoid]
    return choices[int(rng.integers(len(choices)))]


def _finish(rgb: np.ndarray, alpha: np.ndarray) -> Sprite:
    """Shade from top (lit) to bottom, outline the silhouette and crop it tight."""
    h = rgb.shape[0]
    shade = np.linspace(1.08, 0.88, h, dtype=np.float32)[:, None, None]
    rgb = np.clip(rgb.astype(np.float32) * shade, 0, 255).astype(np.uint8)
    inner = cv2.erode(alpha.astype(np.uint8), np.ones((3, 3), np.uint8), borderValue=0).astype(bool)
    rgb[alpha & ~inner] = OUTLINE
    rgb[~alpha] = 0
    rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
    sl = np.s_[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Sprite(np.ascontiguousarray(rgb[sl]), np.ascontiguousarray(alpha[sl]))


def _poly(img: np.ndarray, points: list[tuple[float, float]], colour: tuple[int, ...]) -> None:
    cv2.fillPoly(img, [np.round(np.asarray(points)).astype(np.int32)], colour, lineType=cv2.LINE_8)


def car_sprite(rng: np.random.Generator, scale: float, body: tuple[int, int, int]) -> Sprite:
    """A side-view car facing right: body, cabin with windows, wheels, lights and optional markings."""
    length, height = round(rng.uniform(70, 92) * scale), round(rng.uniform(30, 36) * scale)
    L, H = length - 1, height - 1
    rgb = np.zeros((height, length, 3), np.uint8)
    mask = np.zeros((height, length), np.uint8)
    style = int(rng.integers(3))  # 0 sedan, 1 hatchback, 2 van
    cabin_back, cabin_front = [(0.2, 0.72), (0.16, 0.55), (0.03, 0.72)][style]
    cabin = [
        (cabin_back * L, 0.45 * H),
        ((cabin_back + 0.1) * L, 0),
        ((cabin_front - 0.06) * L, 0),
        (cabin_front * L, 0.45 * H),
    ]
    body_poly = [(0, 0.5 * H), (0.05 * L, 0.38 * H), (0.95 * L, 0.38 * H), (L, 0.52 * H), (L, 0.84 * H), (0, 0.84 * H)]
    for img, colour in ((mask, (1,)), (rgb, body)):
        _poly(img, cabin, colour)
        _poly(img, body_poly, colour)
    # Windows, with a pillar; glass tint is part of the identity.
    glass = _pick(rng, [(150, 190, 210), (60, 80, 100), (110, 140, 150)])
    inset = 0.06 * L
    _poly(rgb, [(p[0] + (inset if i < 2 else -inset), p[1] + 0.12 * H) for i, p in enumerate(cabin)], glass)
    pillar_x = round((cabin_back + cabin_front) / 2 * L)
    rgb[: round(0.45 * H), pillar_x - 1 : pillar_x + 1] = body
    # Markings: stripe along the body, a door panel, a roof sign (any combination, or none).
    accent = _pick(rng, ACCENT_COLOURS, avoid=body)
    if rng.random() < 0.5:
        y0 = round(rng.uniform(0.5, 0.62) * H)
        rgb[y0 : y0 + max(2, round(0.09 * H)), 2:-2] = accent
    if rng.random() < 0.4:
        x0 = round(rng.uniform(0.35, 0.5) * L)
        rgb[round(0.5 * H) : round(0.76 * H), x0 : x0 + round(0.14 * L)] = _pick(rng, ACCENT_COLOURS, avoid=body)
    if rng.random() < 0.3:
        mid = (cabin_back + cabin_front) / 2 * L
        rgb[0 : round(0.1 * H), round(mid - 0.06 * L) : round(mid + 0.06 * L)] = accent
    rgb[round(0.46 * H) : round(0.56 * H), -4:] = (250, 240, 180)  # headlight (front = right)
    rgb[round(0.46 * H) : round(0.56 * H), :3] = (200, 20, 20)  # tail light
    radius = round(0.17 * H)
    for cx in (round(0.2 * L), round(0.8 * L)):
        centre = (cx, H - radius)
        cv2.circle(mask, centre, radius, 1, -1, lineType=cv2.LINE_8)
        cv2.circle(rgb, centre, radius, (34, 34, 36), -1, lineType=cv2.LINE_8)
        cv2.circle(rgb, centre, max(1, radius // 2), (150, 150, 156), -1, lineType=cv2.LINE_8)
    return _finish(rgb, mask.astype(bool))


def person_sprite(rng: np.random.Generator, scale: float, shirt: tuple[int, int, int]) -> Sprite:
    """A standing person facing right: head, hair, shirt with optional pattern, trousers, bag."""
    height = round(rng.uniform(48, 60) * scale)
    width = round(height * rng.uniform(0.36, 0.44))
    W, H = width - 1, height - 1
    rgb = np.zeros((height, width, 3), np.uint8)
    mask = np.zeros((height, width), np.uint8)
    skin, hair = _pick(rng, SKIN_COLOURS), _pick(rng, HAIR_COLOURS)
    trousers = _pick(rng, TROUSER_COLOURS)
    head_r = max(3, round(0.1 * H))
    head_c = (round(0.55 * W), head_r)
    for img, c in ((mask, 1), (rgb, skin)):
        cv2.circle(img, head_c, head_r, c, -1, lineType=cv2.LINE_8)
    rgb[: head_r // 2 + 1] = hair
    torso = np.s_[round(0.2 * H) : round(0.58 * H), round(0.1 * W) : round(0.9 * W) + 1]
    arms = np.s_[round(0.22 * H) : round(0.52 * H), :]
    legs = [
        np.s_[round(0.58 * H) :, round(0.18 * W) : round(0.47 * W) + 1],
        np.s_[round(0.58 * H) :, round(0.53 * W) : round(0.82 * W) + 1],
    ]
    for sl, colour in [(arms, _pick(rng, [shirt, skin])), (torso, shirt), *((leg, trousers) for leg in legs)]:
        mask[sl] = 1
        rgb[sl] = colour
    rgb[round(0.95 * H) :] = (28, 28, 30)  # shoes
    accent = _pick(rng, ACCENT_COLOURS, avoid=shirt)
    pattern = int(rng.integers(4))  # 0 plain, 1 horizontal stripes, 2 vertical stripe, 3 chest logo
    ty0, ty1, tx0, tx1 = torso[0].start, torso[0].stop, torso[1].start, torso[1].stop
    if pattern == 1:
        step = max(2, round(0.05 * H))
        for y in range(ty0 + step, ty1 - 1, 2 * step):
            rgb[y : y + step, tx0:tx1] = accent
    elif pattern == 2:
        xm = (tx0 + tx1) // 2
        rgb[ty0:ty1, xm - max(1, W // 10) : xm + max(1, W // 10)] = accent
    elif pattern == 3:
        rgb[ty0 + (ty1 - ty0) // 4 : ty0 + (ty1 - ty0) // 2, tx0 + 2 : tx1 - 2] = accent
    if rng.random() < 0.4:  # bag on the back
        bag = np.s_[round(0.24 * H) : round(0.5 * H), 0 : max(2, round(0.22 * W))]
        mask[bag] = 1
        rgb[bag] = _pick(rng, [(110, 70, 40), (200, 40, 40), (30, 30, 30), (40, 100, 60)])
    return _finish(rgb, mask.astype(bool))


def make_sprites(kind: str, count: int, scale: float, rng: np.random.Generator) -> list[Sprite]:
    """One sprite per object; in the first half, every odd object copies its neighbour's main colour.

    Those look-alike pairs are what makes the re-identification non-trivial.
    """
    palette = CAR_COLOURS if kind == "road" else SHIRT_COLOURS
    order = rng.permutation(len(palette))
    sprites = []
    for k in range(count):
        colour = palette[int(order[k % len(palette)])]
        if k % 2 == 1 and k < count // 2 + 1:
            colour = palette[int(order[(k - 1) % len(palette)])]
        make = car_sprite if kind == "road" else person_sprite
        sprites.append(make(rng, scale, colour))
    return sprites
