"""Stable, distinct colours for any number of track ids.

SkyhookML colours a track ``Colors[track_id % 19]``: tracks 1 and 20 share a colour, which is what a
viewer looking for identity switches must not see. Here colour ``i`` is point ``i`` of a
three-dimensional low-discrepancy sequence (Roberts' R3, the 3-D analogue of golden-ratio hue
stepping) mapped to hue, saturation and value. Every new id lands in the largest remaining gap of
the colour space, so

- consecutive ids differ a lot (the hue moves by about 0.82 of a turn each step);
- the first 200 ids are at least ~20 RGB units apart (golden-ratio hue alone falls to ~10);
- the colour of an id never depends on which other ids exist (stable across frames and videos).

Saturation stays at or above 0.5 and value at or above 0.65, so no track colour is close to the
grey/white used for untracked boxes, or too dark to see on video.
"""

from __future__ import annotations

import colorsys
from functools import lru_cache

import numpy as np

# Roberts' R3 sequence: alpha_k = 1 / g**k where g is the unique positive root of x**4 = x + 1.
_G = 1.2207440846057596
_ALPHA = (1 / _G, 1 / _G**2, 1 / _G**3)
_MIN_SATURATION = 0.5
_MIN_VALUE = 0.65

UNTRACKED_COLOR = (220, 220, 220)
"""Light grey: boxes that belong to no track."""


@lru_cache(maxsize=4096)
def track_color(track_id: int) -> tuple[int, int, int]:
    """RGB colour (0-255 each) of ``track_id``; the same id always gets the same colour."""
    i = int(track_id)
    h, s, v = ((0.5 + i * a) % 1.0 for a in _ALPHA)
    r, g, b = colorsys.hsv_to_rgb(h, _MIN_SATURATION + (1 - _MIN_SATURATION) * s, _MIN_VALUE + (1 - _MIN_VALUE) * v)
    return (round(r * 255), round(g * 255), round(b * 255))


def track_colors(track_ids: np.ndarray) -> np.ndarray:
    """``uint8 (n, 3)`` colours of an array of track ids (``-1`` gets :data:`UNTRACKED_COLOR`)."""
    ids = np.asarray(track_ids).reshape(-1)
    out = np.empty((len(ids), 3), dtype=np.uint8)
    for k, t in enumerate(ids.tolist()):
        out[k] = UNTRACKED_COLOR if t < 0 else track_color(t)
    return out


def text_color(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white, whichever reads better on ``background`` (by perceived luminance)."""
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)
