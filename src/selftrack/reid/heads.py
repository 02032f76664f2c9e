"""The model's matchers as numpy functions, for the tracker's per-frame hot path.

A tracker step scores a few tracks against a few detections; in torch each such call costs tens
of microseconds of dispatch (and, with several threads on a busy machine, milliseconds of thread
hand-off). The pair MLPs are tiny, so the tracker evaluates them in numpy from weights copied out
of the model once. The first layer of each MLP is split in a row part and a column part: a
track's query vector (the row projection of a past crop's appearance vector) is computed once,
when the crop is added to the track's history, and reused at every later frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from selftrack.core.errors import ValidationError
from selftrack.reid.arch import ReidArch

if TYPE_CHECKING:
    from selftrack.reid.model import ReidNet

HEAD_PREFIXES = ("appearance.", "spatial.", "terminal")
"""Parts of a member's weights the numpy heads use (everything but the CNN encoder)."""


def head_weights(net: ReidNet) -> dict[str, np.ndarray]:
    """The matcher weights of a torch network as float32 numpy arrays, by state-dict name."""
    out: dict[str, np.ndarray] = {}
    for name, tensor in net.state_dict().items():
        member_part = name.split(".", 2)[-1] if name.startswith("members.") else ""
        if member_part.startswith(HEAD_PREFIXES):
            out[name] = tensor.detach().to("cpu").float().numpy().copy()
    return out


class _Weights:
    """One member's weights by their name inside the member (``appearance.row.weight``...)."""

    def __init__(self, weights: Mapping[str, np.ndarray], member: int) -> None:
        self.weights, self.prefix = weights, f"members.{member}."

    def __call__(self, name: str) -> np.ndarray:
        key = self.prefix + name
        if key not in self.weights:
            raise ValidationError(f"re-id model weights lack {key}")
        return np.asarray(self.weights[key], dtype=np.float32)


class _AppHead:
    def __init__(self, w: _Weights, kind: str) -> None:
        self.kind = kind
        if kind == "mlp":
            self.w_row, self.b_row = w("appearance.row.weight").T.copy(), w("appearance.row.bias")
            self.w_col = w("appearance.col.weight").T.copy()
            self.w_out, self.b_out = w("appearance.out.weight")[0], float(w("appearance.out.bias")[0])
        else:
            self.scale, self.bias = float(w("appearance.scale")), float(w("appearance.bias"))


class _SpatialHead:
    def __init__(self, w: _Weights) -> None:
        self.w_row, self.b_row = w("spatial.row.weight").T.copy(), w("spatial.row.bias")
        self.w_col = w("spatial.col.weight").T.copy()
        self.w2, self.b2 = w("spatial.l2.weight").T.copy(), w("spatial.l2.bias")
        self.w3, self.b3 = w("spatial.l3.weight").T.copy(), w("spatial.l3.bias")
        self.w_logit, self.b_logit = w("spatial.logit.weight")[0], float(w("spatial.logit.bias")[0])
        self.w_hid, self.b_hid = w("spatial.hidden.weight").T.copy(), w("spatial.hidden.bias")


class NumpyHeads:
    """Appearance and spatial matchers of every ensemble member, evaluated with numpy.

    Vectors are ``(n, members, width)``: ``query`` vectors for tracks (from their past crops),
    ``target`` vectors for the current detections. Logits are averaged over members (UNS20's
    ``infer_op='mean'``). Built from the matcher weights by state-dict name (:func:`head_weights`),
    so it needs no torch: :meth:`of` gives them for a torch model or an ONNX twin alike.
    """

    def __init__(self, weights: Mapping[str, np.ndarray], arch: ReidArch) -> None:
        members = [_Weights(weights, k) for k in range(arch.ensemble)]
        self.app = [_AppHead(w, arch.matcher) for w in members]
        self.spatial = [_SpatialHead(w) for w in members]
        self.terminal = float(np.mean([float(w("terminal")) for w in members]))
        self.members = len(self.app)
        self.hidden_dim = arch.hidden_dim
        self.kind = arch.matcher
        self.width = arch.matcher_width if self.kind == "mlp" else arch.embed_dim

    @classmethod
    def from_net(cls, net: ReidNet) -> NumpyHeads:
        """The heads of a torch :class:`~selftrack.reid.model.ReidNet`."""
        return cls(head_weights(net), net.arch)

    @classmethod
    def of(cls, model: Any) -> NumpyHeads:
        """The heads of a loaded model: a :class:`~selftrack.reid.inference.InferenceModel` carries
        them; a torch :class:`~selftrack.reid.checkpoint.ReidModel` has them copied out of its net."""
        heads = getattr(model, "heads", None)
        return heads if isinstance(heads, NumpyHeads) else cls.from_net(model.net)

    def query(self, feats: np.ndarray) -> np.ndarray:
        """Query vectors ``(n, members, width)`` of appearance vectors ``(n, members, dim)``."""
        out = np.empty((len(feats), self.members, self.width), dtype=np.float32)
        for k, h in enumerate(self.app):
            if h.kind == "mlp":
                out[:, k] = feats[:, k] @ h.w_row + h.b_row
            else:
                out[:, k] = feats[:, k] / (np.linalg.norm(feats[:, k], axis=1, keepdims=True) + 1e-12)
        return out

    def target(self, feats: np.ndarray) -> np.ndarray:
        """Target vectors ``(n, members, width)`` of appearance vectors ``(n, members, dim)``."""
        out = np.empty((len(feats), self.members, self.width), dtype=np.float32)
        for k, h in enumerate(self.app):
            if h.kind == "mlp":
                out[:, k] = feats[:, k] @ h.w_col
            else:
                out[:, k] = feats[:, k] / (np.linalg.norm(feats[:, k], axis=1, keepdims=True) + 1e-12)
        return out

    def query_target(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`query` and :meth:`target` of the same vectors, for the tracker's every frame.

        The cosine matcher's query and target vectors are the same normalised vectors: they are
        computed once and the one array is returned for both (neither is written to).
        """
        if self.kind == "cosine":
            vectors = self.target(feats)
            return vectors, vectors
        return self.query(feats), self.target(feats)

    def logits(self, queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Member-averaged appearance logits ``(nq, nt)``."""
        out = np.zeros((len(queries), len(targets)), dtype=np.float32)
        if len(queries) == 0 or len(targets) == 0:
            return out
        for k, h in enumerate(self.app):
            if h.kind == "mlp":
                hid = queries[:, None, k, :] + targets[None, :, k, :]
                np.maximum(hid, 0.0, out=hid)
                out += hid @ h.w_out + h.b_out
            else:
                out += h.scale * (queries[:, k] @ targets[:, k].T) + h.bias
        return out / self.members

    def spatial_step(
        self, hidden: np.ndarray, prev_box: np.ndarray, next_box: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Box matcher: logits ``(n, m)`` (member mean) and next hidden ``(n, m, members, hidden)``.

        ``hidden`` is ``(n, members, hidden)``; boxes are ``box_features`` (zeros for "none").
        """
        n, m = len(prev_box), len(next_box)
        logits = np.zeros((n, m), dtype=np.float32)
        new_hidden = np.zeros((n, m, self.members, self.hidden_dim), dtype=np.float32)
        for k, h in enumerate(self.spatial):
            row = np.concatenate([hidden[:, k], prev_box], axis=1) @ h.w_row + h.b_row
            x = np.maximum(row[:, None, :] + (next_box @ h.w_col)[None, :, :], 0.0)
            x = np.maximum(x @ h.w2 + h.b2, 0.0)
            x = np.maximum(x @ h.w3 + h.b3, 0.0)
            logits += x @ h.w_logit + h.b_logit
            new_hidden[:, :, k] = x @ h.w_hid + h.b_hid
        return logits / self.members, new_hidden


def min_softmax(logits: np.ndarray) -> np.ndarray:
    """``min(softmax over rows, softmax over columns)`` of a 2-D logit matrix (numpy)."""
    if logits.size == 0:
        return logits.astype(np.float32)
    a = np.exp(logits - logits.max(axis=0, keepdims=True))
    a /= a.sum(axis=0, keepdims=True)
    b = np.exp(logits - logits.max(axis=1, keepdims=True))
    b /= b.sum(axis=1, keepdims=True)
    return np.minimum(a, b)
