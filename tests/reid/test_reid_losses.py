"""UNS20's assignment matrix and losses on hand-made matrices."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from selftrack.reid.losses import (
    EPSILON,
    SELF_LOGIT,
    assignment_matrix,
    pair_loss,
    stage1_loss,
    terminal_reweight,
    with_terminal,
)


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def test_assignment_matrix_is_min_of_row_and_column_softmax() -> None:
    logits = np.array([[2.0, 0.0, -1.0], [1.0, 3.0, 0.5]])
    p = assignment_matrix(torch.tensor(logits)).numpy()
    np.testing.assert_allclose(p, np.minimum(_softmax(logits, 0), _softmax(logits, 1)), rtol=1e-6)
    # a column wanted by two rows loses mass in both: the soft one-to-one constraint
    both = assignment_matrix(torch.tensor([[5.0, 0.0], [5.0, 0.0]])).numpy()
    assert both[0, 0] == pytest.approx(0.5, abs=1e-6) and both[1, 0] == pytest.approx(0.5, abs=1e-6)


def test_one_hot_on_an_allowed_candidate_minimises_the_pair_loss() -> None:
    mask = torch.tensor([[1.0, 0.0, 1.0]])  # candidate 0 allowed, candidate 1 not, terminal always
    one_hot = torch.tensor([[1.0, 0.0, 0.0]])
    spread = torch.tensor([[0.5, 0.0, 0.5]])
    wrong = torch.tensor([[0.0, 1.0, 0.0]])
    best = pair_loss(one_hot, one_hot, mask, reweight=False)
    assert float(best) == pytest.approx(-math.log(1 + EPSILON), abs=1e-6)
    assert float(pair_loss(spread, spread, mask, reweight=False)) > float(best)
    # all mass on a candidate the IoU chains rule out costs -log(eps)
    assert float(pair_loss(wrong, wrong, mask, reweight=False)) == pytest.approx(-math.log(EPSILON), rel=1e-4)


def test_terminal_reweighting_prevents_the_all_terminal_solution() -> None:
    n = 4
    all_terminal = torch.zeros((n, 3))
    all_terminal[:, -1] = 1.0
    matched = torch.zeros((n, 3))
    matched[:, 0] = 1.0  # every row on an allowed real candidate (the diagonal of a 4x4 in spirit)
    mask = torch.ones((n, 3))
    # without reweighting, "everyone leaves" is a perfect (zero) loss: the degenerate optimum
    assert float(pair_loss(all_terminal, all_terminal, mask, reweight=False)) == pytest.approx(0.0, abs=1e-6)
    # with it, the terminal column is worth about one row in total: the all-terminal loss is high
    tr = terminal_reweight(all_terminal)
    assert float(tr[:, -1].sum()) == pytest.approx(n / (n + 0.01), rel=1e-4)
    degenerate = float(pair_loss(all_terminal, all_terminal, mask))
    assert degenerate > 0.5
    assert float(pair_loss(matched, matched, mask)) < 1e-5 < degenerate
    # one row terminal, the rest matched: still (nearly) free
    one_leaves = matched.clone()
    one_leaves[0] = torch.tensor([0.0, 0.0, 1.0])
    assert float(pair_loss(one_leaves, one_leaves, mask)) < 0.01


def test_terminal_reweight_clips_to_what_the_row_has_left() -> None:
    p = torch.tensor([[0.7, 0.2], [0.1, 0.05]])  # row 0 has 0.3 left, terminal mass 0.25 in all
    tr = terminal_reweight(p)
    factor = min(1 / (0.25 + 0.01), 2)
    np.testing.assert_allclose(tr[:, -1].numpy(), [min(0.2 * factor, 0.3), min(0.05 * factor, 0.9)], rtol=1e-5)
    np.testing.assert_allclose(tr[:, 0].numpy(), [0.7, 0.1])


def test_stage1_loss_learns_matches_with_same_frame_negatives() -> None:
    """Free logits trained on the stage-1 loss put each row on an allowed column; at most one leaves."""
    torch.manual_seed(0)
    n, m = 3, 4
    logits = torch.randn(n, m, requires_grad=True)
    same = torch.randn(n, n, requires_grad=True)
    terminal = torch.zeros((), requires_grad=True)
    mask = torch.zeros((n, m + 1))
    mask[0, 2] = mask[1, 0] = mask[2, 3] = 1.0
    mask[:, -1] = 1.0
    opt = torch.optim.Adam([logits, same, terminal], lr=0.2)
    first = None
    for _ in range(80):
        loss = stage1_loss(logits, terminal, mask, same_frame=same)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss.detach()) < 0.1 < first
    with torch.no_grad():
        negatives = same.masked_fill(torch.eye(n, dtype=torch.bool), SELF_LOGIT)
        p = assignment_matrix(with_terminal(torch.cat([negatives, logits], dim=1), terminal))[:, n:]
    choice = p.argmax(dim=1)
    assert all(mask[i, int(c)] == 1 for i, c in enumerate(choice))  # never a ruled-out candidate
    assert int((choice == m).sum()) <= 1  # the terminal column is worth about one row
    # and every row is decided (the terminal's column softmax is 1/n by construction; reweighting restores it)
    assert float(terminal_reweight(p).max(dim=1).values.min()) > 0.9


def test_same_frame_diagonal_is_excluded() -> None:
    """A box is never its own negative: a huge self logit changes nothing."""
    logits = torch.tensor([[2.0, -1.0], [-1.0, 2.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    base = stage1_loss(logits, torch.tensor(0.0), mask, same_frame=torch.tensor([[0.0, -5.0], [-5.0, 0.0]]))
    big_self = stage1_loss(logits, torch.tensor(0.0), mask, same_frame=torch.tensor([[99.0, -5.0], [-5.0, 99.0]]))
    assert float(base) == pytest.approx(float(big_self))
    # but another object of the same frame that looks alike takes mass away (a real negative)
    alike = stage1_loss(logits, torch.tensor(0.0), mask, same_frame=torch.tensor([[0.0, 4.0], [4.0, 0.0]]))
    assert float(alike) > float(base)


def test_padded_batch_equals_the_mean_of_single_examples() -> None:
    torch.manual_seed(1)
    a_logits, b_logits = torch.randn(2, 3), torch.randn(3, 2)
    a_mask = torch.randint(0, 2, (2, 4)).float()
    b_mask = torch.randint(0, 2, (3, 3)).float()
    a_mask[:, -1] = b_mask[:, -1] = 1.0
    term = torch.tensor(0.3)
    single = (float(stage1_loss(a_logits, term, a_mask)) + float(stage1_loss(b_logits, term, b_mask))) / 2
    logits = torch.zeros(2, 3, 3)
    mask = torch.zeros(2, 3, 4)
    logits[0, :2, :3], logits[1, :3, :2] = a_logits, b_logits
    mask[0, :2, :3], mask[0, :2, -1] = a_mask[:, :3], 1.0
    mask[1, :3, :2], mask[1, :3, -1] = b_mask[:, :2], 1.0
    rows = torch.tensor([[True, True, False], [True, True, True]])
    cols = torch.tensor([[True, True, True], [True, True, False]])
    batched = stage1_loss(logits, term, mask, row_valid=rows, col_valid=cols)
    assert float(batched) == pytest.approx(single, rel=1e-5)


def test_with_terminal_appends_the_shared_logit() -> None:
    out = with_terminal(torch.zeros(2, 3, 4), torch.tensor(1.5))
    assert out.shape == (2, 3, 5)
    assert (out[..., -1] == 1.5).all()
