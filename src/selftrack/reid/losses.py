"""UNS20's assignment matrix and losses, on single or padded batches of matrices.

Notation: rows ``i`` are the ``n`` objects of the first frame, columns ``j`` the ``m`` detections of
a later frame plus a last "terminal" column (the object left, or was missed).

- :func:`assignment_matrix`: ``P = min(softmax over rows, softmax over columns)`` of the logits,
  element-wise: a cheap soft one-to-one constraint (a column cannot be claimed by two rows).
- :func:`terminal_reweight`: scales the terminal column by ``min(1 / (sum_i P_i0 + 0.01), n)``
  and clips each terminal entry to what the row has left (``1 - sum_j P_ij``). About one row's
  worth of terminal mass is rewarded per example, which removes the trivial optimum where every
  row picks the terminal column.
- :func:`pair_loss`: ``-mean_i log(sum_j TR(P)_ij TR(Q)_ij M_ij + eps)``. With ``Q = P`` it is the
  self-sharpening stage-1 loss (largest when each row is one-hot on an allowed candidate); with
  ``Q`` the frozen appearance matrix it is the stage-2 cross-input consistency loss.

Batches: every function takes ``(..., n, m)`` matrices. Examples of different sizes are padded to
a common ``n`` and ``m``; ``row_valid (..., n)`` and ``col_valid (..., m)`` (booleans, terminal
column excluded from ``col_valid``: it is always valid and always last) say which entries are
real. Padded entries get no probability and do not count in any mean.
"""

from __future__ import annotations

import torch

EPSILON = 1e-8
SELF_LOGIT = -50.0
"""Logit forced on the pairs (i, i) of the same-frame negatives: a box is not its own negative."""
_PAD_LOGIT = -1e4


def _valid(
    shape: torch.Size, device: torch.device, row_valid: torch.Tensor | None, col_valid: torch.Tensor | None
) -> torch.Tensor | None:
    """``(..., n, m)`` validity of every entry, terminal column (last) included; ``None`` if all valid."""
    if row_valid is None and col_valid is None:
        return None
    n, m = shape[-2], shape[-1]
    rows = row_valid if row_valid is not None else torch.ones((*shape[:-2], n), dtype=torch.bool, device=device)
    if col_valid is not None:
        term = torch.ones((*col_valid.shape[:-1], 1), dtype=torch.bool, device=device)
        cols = torch.cat([col_valid, term], dim=-1)
    else:
        cols = torch.ones((*shape[:-2], m), dtype=torch.bool, device=device)
    return rows[..., :, None] & cols[..., None, :]


def assignment_matrix(
    logits: torch.Tensor, row_valid: torch.Tensor | None = None, col_valid: torch.Tensor | None = None
) -> torch.Tensor:
    """``min(softmax over rows, softmax over columns)`` of ``(..., n, m + 1)`` logits (terminal last)."""
    if logits.shape[-2] == 0 or logits.shape[-1] == 0:
        return logits
    valid = _valid(logits.shape, logits.device, row_valid, col_valid)
    if valid is not None:
        logits = logits.masked_fill(~valid, _PAD_LOGIT)
    p = torch.minimum(torch.softmax(logits, dim=-2), torch.softmax(logits, dim=-1))
    return p if valid is None else p * valid


def terminal_reweight(p: torch.Tensor, row_valid: torch.Tensor | None = None) -> torch.Tensor:
    """UNS20's terminal reweighting of the last column of ``(..., n, m + 1)`` matrices."""
    if p.shape[-2] == 0:
        return p
    term = p[..., :, -1]
    n = row_valid.sum(dim=-1, keepdim=True).to(p.dtype) if row_valid is not None else float(p.shape[-2])
    factor = torch.minimum(1.0 / (term.sum(dim=-1, keepdim=True) + 1e-2), torch.as_tensor(n, dtype=p.dtype))
    room = torch.clamp(1.0 - p[..., :, :-1].sum(dim=-1), min=0.0)
    term = torch.minimum(term * factor, room)
    return torch.cat([p[..., :, :-1], term[..., None]], dim=-1)


def pair_loss(
    p: torch.Tensor,
    q: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    row_valid: torch.Tensor | None = None,
    reweight: bool = True,
) -> torch.Tensor:
    """``-mean_i log(sum_j TR(p)_ij TR(q)_ij mask_ij + eps)``, averaged over examples of a batch.

    ``mask`` covers the terminal column too (UNS20 sets it to 1 there).
    """
    if p.shape[-2] == 0:
        return p.sum() * 0.0
    if reweight:
        p, q = terminal_reweight(p, row_valid), terminal_reweight(q, row_valid)
    prod = p * q
    if mask is not None:
        prod = prod * mask
    nll = -torch.log(prod.sum(dim=-1) + EPSILON)  # (..., n)
    if row_valid is None:
        return nll.mean()
    w = row_valid.to(nll.dtype)
    per_example = (nll * w).sum(dim=-1) / w.sum(dim=-1).clamp(min=1.0)
    has_rows = (w.sum(dim=-1) > 0).to(nll.dtype)
    return (per_example * has_rows).sum() / has_rows.sum().clamp(min=1.0)


def with_terminal(logits: torch.Tensor, terminal_logit: torch.Tensor) -> torch.Tensor:
    """Append the terminal column (one shared learned logit) to ``(..., n, m)`` logits."""
    col = terminal_logit.reshape([1] * logits.dim()).expand(*logits.shape[:-1], 1)
    return torch.cat([logits, col], dim=-1)


def stage1_loss(
    logits: torch.Tensor,
    terminal_logit: torch.Tensor,
    mask: torch.Tensor,
    *,
    same_frame: torch.Tensor | None = None,
    other_video: torch.Tensor | None = None,
    row_valid: torch.Tensor | None = None,
    col_valid: torch.Tensor | None = None,
    other_valid: torch.Tensor | None = None,
    reweight: bool = True,
) -> torch.Tensor:
    """Stage-1 (appearance, "longim") loss of one example or a padded batch.

    Args:
        logits: ``(..., n, m)`` appearance logits from frame 0 to frame ``k``.
        terminal_logit: the learned terminal logit (scalar tensor).
        mask: ``(..., n, m + 1)`` candidate mask, terminal column included (always 1).
        same_frame: ``(..., n, n)`` logits from frame 0 to itself: other objects of the same frame
            are negatives; the diagonal is forced to :data:`SELF_LOGIT`.
        other_video: ``(..., n, r)`` logits to crops of another video (certainly other objects).
        row_valid, col_valid, other_valid: validity of rows, of the ``m`` columns and of the ``r``
            other-video columns in a padded batch.

    Negatives are extra columns inside the softmax, removed before the loss: they only take
    probability mass away from wrong matches that look like them.
    """
    parts, valids = [], []
    n, m = logits.shape[-2], logits.shape[-1]
    ones = torch.ones((*logits.shape[:-2], 1), dtype=torch.bool, device=logits.device)
    if same_frame is not None and same_frame.numel():
        eye = torch.eye(n, dtype=torch.bool, device=same_frame.device)
        parts.append(same_frame.masked_fill(eye, SELF_LOGIT))
        valids.append(row_valid if row_valid is not None else ones.expand(*ones.shape[:-1], n))
    if other_video is not None and other_video.numel():
        parts.append(other_video)
        r = other_video.shape[-1]
        valids.append(other_valid if other_valid is not None else ones.expand(*ones.shape[:-1], r))
    extra = sum(x.shape[-1] for x in parts)
    full = with_terminal(torch.cat([*parts, logits], dim=-1), terminal_logit)
    cols = None
    if row_valid is not None or col_valid is not None or other_valid is not None:
        main = col_valid if col_valid is not None else ones.expand(*ones.shape[:-1], m)
        cols = torch.cat([*valids, main], dim=-1)
    p = assignment_matrix(full, row_valid, cols)[..., extra:]
    return pair_loss(p, p, mask, row_valid=row_valid, reweight=reweight)
