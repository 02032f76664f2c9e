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
import re
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
        text = str(exc)
        if isinstance(exc, pickle.UnpicklingError) and ("Unsupported global" in text or "GLOBAL" in text):
            found = re.search(r"GLOBAL:? ?([\w.]+)", text)
            what = f" ({found.group(1)})" if found else ""
            raise ValidationError(
                f"{path}: not a selftrack re-id model: it holds Python objects other than tensors and numbers"
                f"{what}, which are refused (loading them could run code)"
            ) from None
        if not zipfile.is_zipfile(path):
            raise ValidationError(f"{path}: not a readable re-id model file (not a PyTorch file)") from exc
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValidationError(f"{path}: not a readable re-id model file ({first})") from exc
    arch, state = _validated(payload, path)
    net = ReidNet(arch)
    try:
        net.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValidationError(f"{path}: weights do not match the architecture ({first})") from None
    net.to(device)
    net.eval()
    return ReidModel(
        net=net,
        arch=arch,
        stages=list(payload["stages"]),
        params=dict(payload.get("params") or {}),
        provenance=dict(payload.get("provenance") or {}),
        training=dict(payload.get("training") or {}),
        path=str(path),
    )


MAX_PARAMETERS = 50_000_000
"""A re-id model file declaring more weights than this is refused before anything is allocated (the default
model has well under a million; a hostile file declaring ``hidden_dim=2e6`` would ask for terabytes)."""

_ARCH_LIMITS: dict[str, tuple[int, int]] = {
    "crop_size": (8, 1024),
    "embed_dim": (1, 8192),
    "ensemble": (1, 64),
    "hidden_dim": (1, 8192),
    "matcher_width": (1, 8192),
}


def _validated(payload: Any, path: Path) -> tuple[ReidArch, dict[str, torch.Tensor]]:
    """Check a loaded payload's structure, sizes and values before building anything from it.

    Every malformed file (a list, missing keys, wrong types, absurd sizes, NaN weights) gets one line
    naming the file and the problem, never a traceback or a multi-gigabyte allocation.
    """
    if not isinstance(payload, dict):
        raise ValidationError(f"{path}: not a selftrack re-id model (the file holds a {type(payload).__name__})")
    if payload.get("format") != FORMAT:
        raise ValidationError(f"{path}: not a selftrack re-id model (format {payload.get('format')!r})")
    version = payload.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValidationError(f"{path}: re-id model file has no valid version ({version!r})")
    if version > VERSION:
        raise ValidationError(f"{path}: model file version {version} is newer than this selftrack ({VERSION})")
    missing = [k for k in ("architecture", "state_dict", "stages") if k not in payload]
    if missing:
        raise ValidationError(f"{path}: re-id model file lacks {', '.join(missing)}")
    for key, kind in (("architecture", dict), ("state_dict", dict), ("stages", list)):
        if not isinstance(payload[key], kind):
            raise ValidationError(f"{path}: '{key}' must be a {kind.__name__}, got {type(payload[key]).__name__}")
    for key in ("params", "provenance", "training"):
        if payload.get(key) is not None and not isinstance(payload[key], dict):
            raise ValidationError(f"{path}: '{key}' must be a dict, got {type(payload[key]).__name__}")
    if not all(isinstance(s, str) for s in payload["stages"]) or "appearance" not in payload["stages"]:
        raise ValidationError(f"{path}: 'stages' must list the trained parts, with 'appearance'")
    arch = _arch(payload["architecture"], path)
    state = payload["state_dict"]
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValidationError(f"{path}: 'state_dict' entry {bad[0]!r} is not a named tensor")
    with torch.device("meta"):  # shapes of the declared architecture, without allocating it
        expected = {k: tuple(v.shape) for k, v in ReidNet(arch).state_dict().items()}
    count = sum(int(torch.Size(s).numel()) for s in expected.values())
    if count > MAX_PARAMETERS:
        raise ValidationError(
            f"{path}: the architecture declares {count:,} weights, more than the {MAX_PARAMETERS:,} allowed"
        )
    wrong = sorted(set(expected) ^ set(state)) or [k for k in expected if tuple(state[k].shape) != expected[k]]
    if wrong:
        raise ValidationError(f"{path}: weights do not match the architecture (first mismatch: {wrong[0]!r})")
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValidationError(
                f"{path}: weight {name!r} holds NaN or infinite values (a diverged training?); refusing to track "
                "with it"
            )
    return arch, state


def _arch(raw: dict[str, Any], path: Path) -> ReidArch:
    for key, (lo, hi) in _ARCH_LIMITS.items():
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi):
            raise ValidationError(f"{path}: architecture {key} must be a whole number in [{lo}, {hi}], got {value!r}")
    for key in ("widths", "spatial_widths"):
        value = raw.get(key)
        if value is None:
            continue
        ok = isinstance(value, (list, tuple)) and 1 <= len(value) <= 16
        if not ok or not all(isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= 8192 for w in value):
            raise ValidationError(f"{path}: architecture {key} must list 1-16 widths in [1, 8192], got {value!r}")
    if "matcher" in raw and not isinstance(raw["matcher"], str):
        raise ValidationError(f"{path}: architecture matcher must be a name, got {raw['matcher']!r}")
    try:
        return ReidArch.from_dict(raw)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{path}: invalid re-id architecture ({exc})") from None


def resolve_device(device: str) -> torch.device:
    """``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"`` (refused when absent)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValidationError("device 'cuda' was asked for but torch sees no CUDA device; use 'auto' or 'cpu'")
    if device not in ("cpu", "cuda"):
        raise ValidationError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return torch.device(device)
