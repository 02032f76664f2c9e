"""Tracking without torch: the appearance network as an ONNX twin run by onnxruntime.

Importing torch alone takes about two seconds, longer than the whole start-up the tracking command
is allowed, and its CPU kernels are slower than onnxruntime's on the model's small convolutions.
So the first time a model file is used for tracking it is loaded with torch (and validated, by
:func:`~selftrack.reid.checkpoint.load_reid_model`) and a *twin* is written to a cache folder:

- ``<key>.onnx``: the CNN encoder(s), uint8 crops ``(n, s, s, 3)`` in, appearance vectors
  ``(n, members, dim)`` out (the ``/ 255`` preprocessing inside the graph). The graph is built
  layer by layer from the network's own modules (3x3 strided convolutions, ReLU, mean pool), not
  traced, so it needs only the ``onnx`` package and takes milliseconds;
- ``<key>.npz``: the matchers' weights (what :class:`~selftrack.reid.heads.NumpyHeads` uses) and the
  model file's metadata (architecture, stages, training parameters, provenance, training record).

``key`` is the model file's sha256 (and :data:`TWIN_VERSION`), so an edited or retrained model never
reuses a stale twin. Later runs load the twin alone: no torch. The twin gives the same vectors as
torch to float32 rounding (checked by the tests). Where a network cannot be exported (a layer type
this builder does not know) or ``onnx`` is missing, tracking falls back to the torch model.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from selftrack.core.errors import ValidationError
from selftrack.core.paths import user_cache_dir
from selftrack.reid.arch import ReidArch
from selftrack.reid.heads import NumpyHeads

if TYPE_CHECKING:
    import onnxruntime

    from selftrack.reid.checkpoint import ReidModel

logger = logging.getLogger(__name__)

TWIN_VERSION = 1
"""Bumped when the twin's layout or graph changes, so older twins are rebuilt."""


@dataclass
class InferenceModel:
    """A re-id model ready for tracking without torch (see the module doc).

    Offers what the tracker and :mod:`selftrack.reid.embed` use of a torch
    :class:`~selftrack.reid.checkpoint.ReidModel`: ``arch``, ``stages``, ``has_spatial``, ``path``,
    the numpy ``heads`` and :meth:`embed`.
    """

    arch: ReidArch
    stages: list[str]
    heads: NumpyHeads
    session: onnxruntime.InferenceSession
    params: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    path: str | None = None

    @property
    def has_spatial(self) -> bool:
        """Whether the recurrent box matcher was trained (stage 2 ran)."""
        return "spatial" in self.stages

    def embed(self, crops: np.ndarray) -> np.ndarray:
        """Appearance vectors ``(n, members, dim)`` float32 of uint8 crops ``(n, s, s, 3)``."""
        if len(crops) == 0:
            return np.zeros((0, self.arch.ensemble, self.arch.embed_dim), dtype=np.float32)
        (out,) = self.session.run(None, {"crops": np.ascontiguousarray(crops, dtype=np.uint8)})
        return out


# --------------------------------------------------------------------------------------- export
def _onnx_graph(model: ReidModel) -> bytes:
    """The encoder(s) of ``model`` as a serialized ONNX model (raises ``ValueError`` for unknown layers)."""
    import onnx
    import torch
    from onnx import TensorProto, helper, numpy_helper

    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    nodes.append(helper.make_node("Cast", ["crops"], ["crops_f"], to=TensorProto.FLOAT))
    inits.append(numpy_helper.from_array(np.array(255.0, dtype=np.float32), "c255"))
    nodes.append(helper.make_node("Div", ["crops_f", "c255"], ["scaled"]))
    nodes.append(helper.make_node("Transpose", ["scaled"], ["x"], perm=[0, 3, 1, 2]))
    inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "axis1"))
    outputs = []
    for k, member in enumerate(model.net.members):
        cur = "x"
        for j, layer in enumerate(member.encoder.net):
            name = f"m{k}_l{j}"
            if isinstance(layer, torch.nn.Conv2d):
                if layer.groups != 1 or layer.padding_mode != "zeros" or isinstance(layer.padding, str):
                    raise ValueError(f"cannot export {layer}")
                w = layer.weight.detach().to("cpu", torch.float32).numpy()
                inputs = [cur, f"{name}_w"]
                inits.append(numpy_helper.from_array(w, f"{name}_w"))
                if layer.bias is not None:
                    inits.append(
                        numpy_helper.from_array(layer.bias.detach().to("cpu", torch.float32).numpy(), f"{name}_b")
                    )
                    inputs.append(f"{name}_b")
                ph, pw = layer.padding
                nodes.append(
                    helper.make_node(
                        "Conv",
                        inputs,
                        [name],
                        kernel_shape=list(layer.kernel_size),
                        strides=list(layer.stride),
                        pads=[ph, pw, ph, pw],
                        dilations=list(layer.dilation),
                    )
                )
            elif isinstance(layer, torch.nn.ReLU):
                nodes.append(helper.make_node("Relu", [cur], [name]))
            else:
                raise ValueError(f"cannot export a {type(layer).__name__} layer")
            cur = name
        # Encoder.forward: mean over the spatial dimensions, then (n, 1, dim) per member
        nodes.append(helper.make_node("ReduceMean", [cur], [f"m{k}_pool"], axes=[2, 3], keepdims=0))
        nodes.append(helper.make_node("Unsqueeze", [f"m{k}_pool", "axis1"], [f"m{k}_out"]))
        outputs.append(f"m{k}_out")
    if len(outputs) == 1:
        nodes.append(helper.make_node("Identity", outputs, ["vectors"]))
    else:
        nodes.append(helper.make_node("Concat", outputs, ["vectors"], axis=1))
    size, arch = model.arch.crop_size, model.arch
    graph = helper.make_graph(
        nodes,
        "selftrack-reid-encoder",
        [helper.make_tensor_value_info("crops", TensorProto.UINT8, ["n", size, size, 3])],
        [helper.make_tensor_value_info("vectors", TensorProto.FLOAT, ["n", arch.ensemble, arch.embed_dim])],
        inits,
    )
    # opset 17 (ReduceMean takes axes as an attribute up to 17); IR version for onnxruntime 1.x
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(onnx_model)
    return onnx_model.SerializeToString()


def _meta(model: ReidModel) -> dict[str, Any]:
    return {
        "twin_version": TWIN_VERSION,
        "architecture": model.arch.to_dict(),
        "stages": list(model.stages),
        "params": model.params,
        "provenance": model.provenance,
        "training": model.training,
    }


def write_twin(model: ReidModel, onnx_path: Path, npz_path: Path) -> None:
    """Write the twin of a loaded torch model (both files atomically; the ``.npz`` last, as the marker)."""
    from selftrack.reid.heads import head_weights

    graph = _onnx_graph(model)
    weights = head_weights(model.net)
    meta = json.dumps(_meta(model), default=str)
    folder = onnx_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    for path, write in (
        (onnx_path, lambda f: f.write(graph)),
        (npz_path, lambda f: np.savez(f, __meta__=np.array(meta), **weights)),
    ):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


def read_twin(onnx_path: Path, npz_path: Path, *, threads: int = 1, source: str | None = None) -> InferenceModel:
    """Load a twin written by :func:`write_twin` (no torch)."""
    import onnxruntime

    with np.load(npz_path, allow_pickle=False) as z:
        meta = json.loads(str(z["__meta__"]))
        weights = {k: z[k] for k in z.files if k != "__meta__"}
    if meta.get("twin_version") != TWIN_VERSION:
        raise ValidationError(f"{npz_path}: twin version {meta.get('twin_version')}, expected {TWIN_VERSION}")
    arch = ReidArch.from_dict(meta["architecture"])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return InferenceModel(
        arch=arch,
        stages=list(meta.get("stages", [])),
        heads=NumpyHeads(weights, arch),
        session=session,
        params=dict(meta.get("params") or {}),
        provenance=dict(meta.get("provenance") or {}),
        training=dict(meta.get("training") or {}),
        path=source,
    )


# --------------------------------------------------------------------------------------- loading
def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _cuda_possible(device: str) -> bool:
    """Whether ``device`` may mean a GPU, decided without importing torch when that is safe.

    ``auto`` only needs torch where an NVIDIA driver is present (or torch is already imported).
    """
    if device == "cpu":
        return False
    if device != "auto":
        return True
    import sys

    if "torch" in sys.modules:
        return bool(sys.modules["torch"].cuda.is_available())
    if not (os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia")):
        return False
    import torch

    return bool(torch.cuda.is_available())


def load_tracking_model(
    path: str | os.PathLike[str],
    *,
    device: str = "auto",
    cache_dir: str | os.PathLike[str] | None = None,
    threads: int = 1,
) -> InferenceModel | ReidModel:
    """The model at ``path`` for tracking: its ONNX twin on a CPU, the torch model on a GPU.

    ``cache_dir`` holds the twins (default: the user's cache folder, ``selftrack.core.paths``);
    ``threads`` is onnxruntime's thread count (1: the other core decodes the video).

    Raises:
        ValidationError: the file is missing or is not a valid re-id model.
    """
    path = Path(path)
    if not path.is_file():
        raise ValidationError(f"{path}: re-id model file not found")
    if _cuda_possible(device):
        from selftrack.reid.checkpoint import load_reid_model, resolve_device

        dev = resolve_device(device)
        if dev.type == "cuda":
            return load_reid_model(path, dev)
    folder = Path(cache_dir) if cache_dir is not None else user_cache_dir("reid_onnx")
    key = f"reid-{_sha256(path)[:32]}-v{TWIN_VERSION}"
    onnx_path, npz_path = folder / f"{key}.onnx", folder / f"{key}.npz"
    if onnx_path.is_file() and npz_path.is_file():
        try:
            return read_twin(onnx_path, npz_path, threads=threads, source=str(path))
        except Exception as exc:  # a damaged twin is rebuilt from the model file, never trusted
            logger.warning("%s: re-id model twin unreadable (%s); rebuilding it", npz_path, exc)
    from selftrack.reid.checkpoint import load_reid_model

    model = load_reid_model(path, "cpu")
    try:
        write_twin(model, onnx_path, npz_path)
        return read_twin(onnx_path, npz_path, threads=threads, source=str(path))
    except (ImportError, ValueError, OSError) as exc:
        logger.warning("%s: no ONNX twin (%s); tracking with torch", path, exc)
        return model
