"""The re-id model's architecture settings and box features: what inference needs without torch.

:class:`ReidArch` is saved in every model file and rebuilds the network (:mod:`selftrack.reid.model`);
the tracker reads it, and :func:`box_features`, also when it runs the appearance network as an ONNX
twin (:mod:`selftrack.reid.inference`) without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from selftrack.core.errors import ValidationError


@dataclass(frozen=True)
class ReidArch:
    """Architecture of a re-id model; saved with the weights and used to rebuild the network."""

    crop_size: int = 64
    crop_stretch: bool = False  # crops fill the square (aspect ratio not kept); see reid.crops.crop_boxes
    widths: tuple[int, ...] = (16, 32, 64, 64, 64, 64)
    embed_dim: int = 64
    ensemble: int = 1
    hidden_dim: int = 64
    matcher: str = "cosine"
    matcher_width: int = 256
    spatial_widths: tuple[int, ...] = field(default=(256, 128, 128))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["widths"] = list(self.widths)
        d["spatial_widths"] = list(self.spatial_widths)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReidArch:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        for key in ("widths", "spatial_widths"):
            if key in known:
                known[key] = tuple(int(x) for x in known[key])
        arch = cls(**known)
        arch.check()
        return arch

    def check(self) -> None:
        if self.matcher not in ("mlp", "cosine"):
            raise ValidationError(f"re-id architecture: matcher must be 'mlp' or 'cosine', got {self.matcher!r}")
        if len(self.widths) < 1 or min(self.widths) < 1:
            raise ValidationError(f"re-id architecture: widths must be positive, got {list(self.widths)}")
        if self.ensemble < 1:
            raise ValidationError(f"re-id architecture: ensemble must be >= 1, got {self.ensemble}")
        if len(self.spatial_widths) != 3:
            raise ValidationError("re-id architecture: spatial_widths must have three layers")


def box_features(xyxy: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """``[cx / W, cy / H, w / W, h / H]`` (float32) of ``(..., 4)`` pixel boxes.

    UNS20 divided by a fixed 1920x1080 canvas (and left 640x480 MOT17-05 unscaled); dividing by each
    video's own frame size makes the box matcher independent of the resolution.
    """
    xyxy = np.asarray(xyxy, dtype=np.float64)
    w, h = float(frame_size[0]), float(frame_size[1])
    out = np.empty(xyxy.shape, dtype=np.float32)
    out[..., 0] = (xyxy[..., 0] + xyxy[..., 2]) / (2 * w)
    out[..., 1] = (xyxy[..., 1] + xyxy[..., 3]) / (2 * h)
    out[..., 2] = (xyxy[..., 2] - xyxy[..., 0]) / w
    out[..., 3] = (xyxy[..., 3] - xyxy[..., 1]) / h
    return out
