"""A weight-free colour look of each detection: HSV histograms of three horizontal stripes of its crop.

Why a hand-made descriptor next to a learned network: the self-supervised model needs a long
clip with many clean crossings to learn anything, and on short, crowded clips it learns little
(BENCHMARKS.md, "what association could still gain"): there a colour histogram out-ranks it. The
re-id tracker uses these looks for its offline decisions (:mod:`.tracker.colour`) when the
learned model is not trusted for them. They need no training and cost a colour conversion and
three small histograms per crop.

The stripes (upper body, middle, legs, of the central 60 % of the box's width, where the object
is rather than the background) keep where the colours are: a red top and blue trousers differ from
the reverse. Each stripe's histogram is square-rooted (the Hellinger map, so cosine similarity is
the Bhattacharyya coefficient) and the whole vector has unit length. Crops come from the same
pass as the learned model's (:mod:`.crops`): ``sizes`` gives the part of each crop the box fills.
"""

from __future__ import annotations

import cv2
import numpy as np

STRIPES = 3
HUE_BINS, SATURATION_BINS, VALUE_BINS = 12, 4, 4
COLOUR_DIM = STRIPES * HUE_BINS * SATURATION_BINS * VALUE_BINS
"""Length of one colour look."""
_BODY = (0.1, 0.95)  # vertical span of the box the stripes cover (a box's top and bottom rows are often background)
_WIDTH = (0.2, 0.8)  # horizontal span: the object is in the middle of its box


def _bin_table() -> np.ndarray:
    """``cv2.LUT`` table: an HSV pixel's three channels to their parts of its histogram bin (summed after)."""
    values = np.arange(256)
    hue = np.minimum(values * HUE_BINS // 180, HUE_BINS - 1) * (SATURATION_BINS * VALUE_BINS)  # OpenCV hue: 0-179
    saturation = values * SATURATION_BINS // 256 * VALUE_BINS
    value = values * VALUE_BINS // 256
    return np.stack([hue, saturation, value], axis=1).astype(np.uint8).reshape(256, 1, 3)


_BIN_TABLE = _bin_table()


def colour_descriptors(crops: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
    """Colour looks ``(n, COLOUR_DIM)`` float32 (unit length; zeros for an empty crop) of RGB crops ``(n, s, s, 3)``.

    ``sizes`` ``(n, 2)`` is the (width, height) of each crop's top-left part that shows the box (crops
    that keep the box's aspect ratio are padded); unset: the whole crop. Per crop: one colour
    conversion of the part measured, one table look-up for the bins, one count (about 25 us).
    """
    n = len(crops)
    out = np.zeros((n, COLOUR_DIM), dtype=np.float32)
    s = crops.shape[1] if n else 0
    part = HUE_BINS * SATURATION_BINS * VALUE_BINS
    for i in range(n):
        w, h = (s, s) if sizes is None else (int(sizes[i][0]), int(sizes[i][1]))
        x1, x2 = int(w * _WIDTH[0]), max(int(w * _WIDTH[1]), int(w * _WIDTH[0]) + 1)
        y1, y2 = int(h * _BODY[0]), max(int(h * _BODY[1]), int(h * _BODY[0]) + STRIPES)
        region = np.ascontiguousarray(crops[i, y1 : min(y2, h), x1 : min(x2, w)])
        if region.size == 0:
            continue
        bins = cv2.LUT(cv2.cvtColor(region, cv2.COLOR_RGB2HSV), _BIN_TABLE).astype(np.int32)
        rows = np.arange(len(region))
        stripe = sum((rows >= len(region) * k // STRIPES).astype(np.int32) for k in range(1, STRIPES))
        code = bins[..., 0] + bins[..., 1] + bins[..., 2] + (stripe * part)[:, None]
        counts = np.bincount(code.ravel(), minlength=COLOUR_DIM).reshape(STRIPES, part)
        totals = np.maximum(counts.sum(axis=1, keepdims=True), 1)
        out[i] = np.sqrt(counts / totals).ravel()
    norm = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norm, out=out, where=norm > 0)
