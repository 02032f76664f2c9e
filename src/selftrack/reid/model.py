"""The UNS20 network: a CNN appearance encoder, an appearance matcher and a recurrent box matcher.

Per ensemble member (UNS20 trains four and averages their logits):

- **Encoder**: six 3x3 stride-2 convolutions (64 -> 1 pixels), ReLU between them, the last one
  linear, giving a ``embed_dim`` appearance vector per crop. UNS20 uses 64 channels in every layer;
  the default here is narrower at the high-resolution end (16, 32, then 64), which is 10x cheaper
  on a CPU (see ``benchmarks/bench_reid.py``). ``widths`` sets it; ``[64] * 6`` is the original.
  Input is the uint8 crop divided by 255 (no mean/std), as in UNS20.
- **Appearance matcher** ("longim"): scores "same object?" between frame 0 and a frame ``k`` steps
  later; it never sees boxes. UNS20's is an MLP on the two crops' vectors,
  ``[a_i, b_j] -> 256 -> 1`` (``matcher="mlp"``; UNS20 also feeds it a 64-d hidden state that is
  always zero, which adds nothing and is left out). The default here is ``matcher="cosine"``:
  ``scale * cos(a_i, b_j) + bias`` with a learned scale and bias. It trains several times faster
  from scratch (the MLP sits on a plateau for hundreds of steps), gives embeddings a tracker can
  compare cheaply, and re-identifies better on PETS09 (``benchmarks/bench_reid.py``).
- **Spatial matcher** ("finesp"): an MLP on ``[hidden_i, box_i, box_j] -> 256 -> 128 -> 128 -> 1``
  with a second head ``128 -> hidden`` giving the next hidden state of the pair. It sees only box
  geometry (``cx, cy, w, h`` divided by the frame size) and is applied recurrently over every
  intermediate frame; it never sees pixels.
- **Terminal logit**: one learned scalar, the logit of the "no match" column.

The first layer of each MLP is split into a row part and a column part, so a full ``n x m`` pair
matrix costs ``(n + m)`` first-layer products plus a broadcast add, not ``n * m``.

Architecture settings are a plain dict (:class:`ReidArch`), saved in the model file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from selftrack.core.errors import ValidationError


@dataclass(frozen=True)
class ReidArch:
    """Architecture of a re-id model; saved with the weights and used to rebuild the network."""

    crop_size: int = 64
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


def _init_linear(layer: nn.Linear | nn.Conv2d) -> None:
    """UNS20's initialisation: truncated normal with std sqrt(2 / fan_in), zero bias."""
    fan_in = layer.weight[0].numel()
    nn.init.trunc_normal_(
        layer.weight, std=(2.0 / fan_in) ** 0.5, a=-2 * (2.0 / fan_in) ** 0.5, b=2 * (2.0 / fan_in) ** 0.5
    )
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class Encoder(nn.Module):
    """Strided 3x3 convolutions from a crop to one appearance vector."""

    def __init__(self, widths: tuple[int, ...], embed_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for i, w in enumerate(widths):
            out = embed_dim if i == len(widths) - 1 else w
            conv = nn.Conv2d(c, out, 3, stride=2, padding=1)
            _init_linear(conv)
            layers.append(conv)
            if i < len(widths) - 1:
                layers.append(nn.ReLU(inplace=True))
            c = out
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.net(x)
        return y.mean(dim=(2, 3))  # 1x1 for 64-pixel crops and six layers; pools otherwise


class AppearanceMatcher(nn.Module):
    """Logits ``(..., n, m)`` between vectors ``a (..., n, d)`` and ``b (..., m, d)`` (UNS20 "longim")."""

    def __init__(self, dim: int, width: int, kind: str) -> None:
        super().__init__()
        self.kind = kind
        if kind == "mlp":
            self.row = nn.Linear(dim, width)
            self.col = nn.Linear(dim, width, bias=False)
            self.out = nn.Linear(width, 1)
            first = nn.Linear(2 * dim, width)
            _init_linear(first)  # initialise as the unsplit layer would be
            with torch.no_grad():
                self.row.weight.copy_(first.weight[:, :dim])
                self.col.weight.copy_(first.weight[:, dim:])
                self.row.bias.zero_()
            _init_linear(self.out)
        else:
            self.scale = nn.Parameter(torch.tensor(10.0))
            self.bias = nn.Parameter(torch.tensor(-5.0))

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.kind == "mlp":
            h = torch.relu(self.row(a)[..., :, None, :] + self.col(b)[..., None, :, :])
            return self.out(h)[..., 0]
        an = nn.functional.normalize(a, dim=-1)
        bn = nn.functional.normalize(b, dim=-1)
        return self.scale * (an @ bn.transpose(-1, -2)) + self.bias


class SpatialMatcher(nn.Module):
    """Recurrent box-only matcher (UNS20 "finesp"): logits ``(..., n, m)`` and next hidden ``(..., n, m, h)``.

    Inputs: ``hidden (..., n, h)`` and ``prev_box (..., n, 4)`` per track, ``next_box (..., m, 4)``.
    """

    def __init__(self, hidden_dim: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        w1, w2, w3 = widths
        first = nn.Linear(hidden_dim + 8, w1)
        _init_linear(first)
        self.row = nn.Linear(hidden_dim + 4, w1)
        self.col = nn.Linear(4, w1, bias=False)
        with torch.no_grad():
            self.row.weight.copy_(first.weight[:, : hidden_dim + 4])
            self.col.weight.copy_(first.weight[:, hidden_dim + 4 :])
            self.row.bias.zero_()
        self.l2 = nn.Linear(w1, w2)
        self.l3 = nn.Linear(w2, w3)
        self.logit = nn.Linear(w3, 1)
        self.hidden = nn.Linear(w3, hidden_dim)
        for layer in (self.l2, self.l3, self.logit, self.hidden):
            _init_linear(layer)

    def forward(
        self, hidden: torch.Tensor, prev_box: torch.Tensor, next_box: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        row = self.row(torch.cat([hidden, prev_box], dim=-1))
        h = torch.relu(row[..., :, None, :] + self.col(next_box)[..., None, :, :])
        h = torch.relu(self.l3(torch.relu(self.l2(h))))
        logits = self.logit(h)[..., 0]
        return logits, self.hidden(h)


class Member(nn.Module):
    """One ensemble member: encoder, both matchers and the terminal logit."""

    def __init__(self, arch: ReidArch) -> None:
        super().__init__()
        self.encoder = Encoder(arch.widths, arch.embed_dim)
        self.appearance = AppearanceMatcher(arch.embed_dim, arch.matcher_width, arch.matcher)
        self.spatial = SpatialMatcher(arch.hidden_dim, arch.spatial_widths)
        self.terminal = nn.Parameter(torch.zeros(()))


class ReidNet(nn.Module):
    """The UNS20 model: an ensemble of :class:`Member` (see module doc)."""

    def __init__(self, arch: ReidArch) -> None:
        super().__init__()
        arch.check()
        self.arch = arch
        self.members = nn.ModuleList([Member(arch) for _ in range(arch.ensemble)])
        self.to(memory_format=torch.channels_last)

    @staticmethod
    def prepare(crops: torch.Tensor) -> torch.Tensor:
        """uint8 ``(b, s, s, 3)`` crops to float ``(b, 3, s, s)`` in [0, 1], channels-last for speed."""
        x = crops.permute(0, 3, 1, 2).float().div_(255.0)
        return x.contiguous(memory_format=torch.channels_last)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Appearance vectors ``(members, b, embed_dim)`` of prepared crops ``x``."""
        if x.shape[0] == 0:
            return x.new_zeros((len(self.members), 0, self.arch.embed_dim))
        return torch.stack([m.encoder(x) for m in self.members])


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
