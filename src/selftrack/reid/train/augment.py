"""Photometric and flip augmentation of appearance crops (stage 1, ``augment=True``).

Crops are pasted top-left into a zero canvas (:func:`~selftrack.reid.crops.crop_boxes`), so a flip
must mirror only the pasted part and jitter must leave the padding at zero, as at inference.
"""

from __future__ import annotations

import numpy as np
import torch


def content_widths(boxes: np.ndarray, frame_size: tuple[int, int], crop_size: int) -> np.ndarray:
    """Width of the pasted (non-padding) part of each crop, as :func:`crop_boxes` makes it."""
    w, h = frame_size
    x1 = np.clip(np.floor(boxes[:, 0]), 0, w)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, h)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, w)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, h)
    bw, bh = x2 - x1, y2 - y1
    scale = crop_size / np.maximum(np.maximum(bw, bh), 1)
    return np.clip(np.rint(bw * scale), 1, crop_size).astype(np.int64)


def augment_crops(x: torch.Tensor, widths: np.ndarray, gen: np.random.Generator) -> torch.Tensor:
    """Random horizontal flip of each crop's content and photometric jitter, in place-free ops.

    Flips mirror only the pasted part (``widths[i]`` columns) so the zero padding stays on the
    right, as at inference. Jitter: brightness +-0.1, contrast x[0.75, 1.25], per-channel gain
    x[0.9, 1.1]; padding stays zero.
    """
    b, _, _, s = x.shape
    if b == 0:
        return x
    dev = x.device
    w = torch.as_tensor(widths, device=dev).view(b, 1)
    cols = torch.arange(s, device=dev).view(1, s)
    flip = torch.as_tensor(gen.random(b) < 0.5, device=dev).view(b, 1)
    src = torch.where(flip & (cols < w), w - 1 - cols, cols)  # (b, s)
    x = torch.gather(x, 3, src.view(b, 1, 1, s).expand_as(x))
    inside = (cols < w).view(b, 1, 1, s).to(x.dtype)
    bright = torch.as_tensor(gen.uniform(-0.1, 0.1, (b, 1, 1, 1)), dtype=x.dtype, device=dev)
    contrast = torch.as_tensor(gen.uniform(0.75, 1.25, (b, 1, 1, 1)), dtype=x.dtype, device=dev)
    gain = torch.as_tensor(gen.uniform(0.9, 1.1, (b, 3, 1, 1)), dtype=x.dtype, device=dev)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    y = ((x - mean) * contrast + mean + bright) * gain
    y = y.clamp(0.0, 1.0) * inside
    return y.contiguous(memory_format=torch.channels_last)
