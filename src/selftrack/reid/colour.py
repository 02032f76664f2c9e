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


def colour_descriptors(crops: np.ndarray, sizes: np.ndarray | None = None) -> np.ndarray:
    """Colour looks ``(n, COLOUR_DIM)`` float32 (unit length; zeros for an empty crop) of RGB crops ``(n, s, s, 3)``.

    ``sizes`` ``(n, 2)`` is the (width, height) of each crop's top-left part that shows the box (crops
    that keep the box's aspect ratio are padded); unset: the whole crop.
    """
    n = len(crops)
    out = np.zeros((n, COLOUR_DIM), dtype=np.float32)
    s = crops.shape[1] if n else 0
    bins = [HUE_BINS, SATURATION_BINS, VALUE_BINS]
    ranges = [0, 180, 0, 256, 0, 256]
    part = HUE_BINS * SATURATION_BINS * VALUE_BINS
    for i in range(n):
        w, h = (s, s) if sizes is None else (int(sizes[i][0]), int(sizes[i][1]))
        x1, x2 = int(w * _WIDTH[0]), max(int(w * _WIDTH[1]), int(w * _WIDTH[0]) + 1)
        y1, y2 = int(h * _BODY[0]), max(int(h * _BODY[1]), int(h * _BODY[0]) + STRIPES)
        region = crops[i, y1 : min(y2, h), x1 : min(x2, w)]
        if region.size == 0:
            continue
        hsv = cv2.cvtColor(np.ascontiguousarray(region), cv2.COLOR_RGB2HSV)
        rows = hsv.shape[0]
        for k in range(STRIPES):
            stripe = hsv[rows * k // STRIPES : rows * (k + 1) // STRIPES]
            if stripe.size == 0:
                continue
            hist = cv2.calcHist([stripe], [0, 1, 2], None, bins, ranges).ravel()
            out[i, k * part : (k + 1) * part] = np.sqrt(hist / max(float(hist.sum()), 1.0))
        norm = float(np.linalg.norm(out[i]))
        if norm > 0:
            out[i] /= norm
    return out
