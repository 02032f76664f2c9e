"""The model's matchers as numpy functions, for the tracker's per-frame hot path.

A tracker step scores a few tracks against a few detections; in torch each such call costs tens
of microseconds of dispatch (and, with several threads on a busy machine, milliseconds of thread
hand-off). The pair MLPs are tiny, so the tracker evaluates them in numpy from weights copied out
of the model once. The first layer of each MLP is split in a row part and a column part: a
track's query vector (the row projection of a past crop's appearance vector) is computed once,
when the crop is added to the track's history, and reused at every later frame.
"""

from __future__ import annotations

import numpy as np
import torch

from selftrack.reid.model import AppearanceMatcher, ReidNet, SpatialMatcher


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float32).numpy().copy()


class _AppHead:
    def __init__(self, m: AppearanceMatcher) -> None:
        self.kind = m.kind
        if m.kind == "mlp":
            self.w_row, self.b_row = _np(m.row.weight).T, _np(m.row.bias)
            self.w_col = _np(m.col.weight).T
            self.w_out, self.b_out = _np(m.out.weight)[0], float(m.out.bias.detach()[0])
        else:
            self.scale, self.bias = float(m.scale.detach()), float(m.bias.detach())


class _SpatialHead:
    def __init__(self, m: SpatialMatcher) -> None:
        self.w_row, self.b_row = _np(m.row.weight).T, _np(m.row.bias)
        self.w_col = _np(m.col.weight).T
        self.w2, self.b2 = _np(m.l2.weight).T, _np(m.l2.bias)
        self.w3, self.b3 = _np(m.l3.weight).T, _np(m.l3.bias)
        self.w_logit, self.b_logit = _np(m.logit.weight)[0], float(m.logit.bias.detach()[0])
        self.w_hid, self.b_hid = _np(m.hidden.weight).T, _np(m.hidden.bias)


class NumpyHeads:
    """Appearance and spatial matchers of every ensemble member, evaluated with numpy.

    Vectors are ``(n, members, width)``: ``query`` vectors for tracks (from their past crops),
    ``target`` vectors for the current detections. Logits are averaged over members (UNS20's
    ``infer_op='mean'``).
    """

    def __init__(self, net: ReidNet) -> None:
        self.app = [_AppHead(m.appearance) for m in net.members]
        self.spatial = [_SpatialHead(m.spatial) for m in net.members]
        self.terminal = float(np.mean([float(m.terminal.detach()) for m in net.members]))
        self.members = len(self.app)
        self.hidden_dim = net.arch.hidden_dim
        self.kind = self.app[0].kind
        self.width = net.arch.matcher_width if self.kind == "mlp" else net.arch.embed_dim

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
