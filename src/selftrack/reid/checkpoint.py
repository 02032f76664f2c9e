"""The re-id model file: weights plus architecture, training parameters and provenance.

The file is written with ``torch.save`` and holds only tensors and plain dicts, lists, strings and
numbers, so it loads with ``torch.load(path, weights_only=True)``: opening a model someone sent
runs no pickled code. Layout::

    {"format": "selftrack-reid", "version": 1,
     "architecture": {...ReidArch...},
     "state_dict": {name: tensor},
     "stages": ["appearance"] or ["appearance", "spatial"],   # which parts are trained
     "params": {...ReidTrainParams...},
     "provenance": {"videos": [...], "created": ..., "torch": ..., "device": ..., "seed": ...},
     "training": {"stage1": {...}, "stage2": {...}, "history": [...]}}

Files are written to a temporary name and renamed, so a crash never leaves a truncated model.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from selftrack.core.errors import ValidationError
from selftrack.reid.model import ReidArch, ReidNet

FORMAT = "selftrack-reid"
VERSION = 1


def atomic_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to ``path`` through a temporary file in the same folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def cpu_state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A detached CPU copy of the module's weights (contiguous, so the file is portable)."""
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in net.state_dict().items()}


@dataclass
class ReidModel:
    """A loaded re-id model: the network (in eval mode) and what the file says about it."""

    net: ReidNet
    arch: ReidArch
    stages: list[str]
    params: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def device(self) -> torch.device:
        return next(self.net.parameters()).device

    @property
    def has_spatial(self) -> bool:
        """Whether the recurrent box matcher was trained (stage 2 ran)."""
        return "spatial" in self.stages


def model_payload(
    net: ReidNet,
    *,
    stages: list[str],
    params: dict[str, Any],
    provenance: dict[str, Any],
    training: dict[str, Any],
    state: dict[str, torch.Tensor] | None = None,
) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "architecture": net.arch.to_dict(),
        "state_dict": state if state is not None else cpu_state(net),
        "stages": list(stages),
        "params": params,
        "provenance": provenance,
        "training": training,
    }


def load_reid_model(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> ReidModel:
    """Load a model file written by :func:`~selftrack.reid.train.train_reid` (``weights_only``).

    Raises:
        ValidationError: the file is missing, is not a selftrack re-id model, or its weights do not
            fit its declared architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: re-id model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a bad file
        # torch's message for a file that is not weights-only safe runs to paragraphs and suggests
        # weights_only=False, which we never do for a file from elsewhere: say it in one line.
        if isinstance(exc, pickle.UnpicklingError) and "Unsupported global" in str(exc):
            raise ValidationError(
                f"{path}: not a selftrack re-id model: it holds Python objects other than tensors and numbers, "
                "which are refused (loading them could run code)"
            ) from exc
        if not zipfile.is_zipfile(path):
            raise ValidationError(f"{path}: not a readable re-id model file (not a PyTorch file)") from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"{path}: not a readable re-id model file ({first})") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValidationError(f"{path}: not a selftrack re-id model (format {payload.get('format')!r})")
    if int(payload.get("version", 0)) > VERSION:
        raise ValidationError(
            f"{path}: model file version {payload['version']} is newer than this selftrack ({VERSION})"
        )
    arch = ReidArch.from_dict(payload["architecture"])
    net = ReidNet(arch)
    try:
        net.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ValidationError(f"{path}: weights do not match the architecture ({exc})") from exc
    net.to(device)
    net.eval()
    return ReidModel(
        net=net,
        arch=arch,
        stages=list(payload.get("stages", [])),
        params=dict(payload.get("params", {})),
        provenance=dict(payload.get("provenance", {})),
        training=dict(payload.get("training", {})),
        path=str(path),
    )


def resolve_device(device: str) -> torch.device:
    """``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"`` (refused when absent)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device 'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    if device not in ("cpu", "cuda"):
        raise ValidationError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return torch.device(device)
