"""The shared Kalman filter, camera warps and assignment functions."""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.trackers import matching, warp_boxes
from selftrack.trackers.kalman import XYAHModel, XYSRModel, XYXYModel

BOXES = np.array([[10.0, 20.0, 50.0, 120.0], [300.0, 40.0, 330.0, 100.0], [0.0, 0.0, 5.0, 9.0]])


@pytest.mark.parametrize("model", [XYAHModel(), XYSRModel(), XYXYModel()])
def test_measurement_round_trip(model):
    z = model.to_measurement(BOXES)
    np.testing.assert_allclose(model.measurement_to_xyxy(z), BOXES, atol=1e-4)
    mean, cov = model.initiate(z)
    np.testing.assert_allclose(model.to_xyxy(mean), BOXES, atol=1e-4)
    assert mean.shape == (3, model.dim) and cov.shape == (3, model.dim, model.dim)


def textbook_step(model, mean, cov, z):
    """One predict + update for a single track with explicit F, H, Q, R matrices."""
    f = model.transition
    h = np.eye(4, model.dim)
    q = np.diag(np.broadcast_to(model.process_variance(mean[None]), (1, model.dim))[0])
    mean = f @ mean
    cov = f @ cov @ f.T + q
    r = np.diag(np.broadcast_to(model.measurement_variance(mean[None]), (1, 4))[0])
    s = h @ cov @ h.T + r
    k = cov @ h.T @ np.linalg.inv(s)
    mean = mean + k @ (z - h @ mean)
    cov = (np.eye(model.dim) - k @ h) @ cov
    return mean, cov


@pytest.mark.parametrize("model", [XYAHModel(), XYSRModel(), XYXYModel()])
def test_batched_filter_equals_the_textbook_equations_per_track(model):
    rng = np.random.default_rng(0)
    mean, cov = model.initiate(model.to_measurement(BOXES))
    single = [(mean[i].copy(), cov[i].copy()) for i in range(len(BOXES))]
    for _ in range(5):
        moved = BOXES + rng.normal(0, 2, BOXES.shape) + np.array([3.0, 1.0, 3.0, 1.0])
        z = model.to_measurement(moved)
        mean, cov = model.predict(mean, cov)
        mean, cov = model.update(mean, cov, z)
        single = [textbook_step(model, m, c, z[i]) for i, (m, c) in enumerate(single)]
    for i, (m, c) in enumerate(single):
        np.testing.assert_allclose(mean[i], m, rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(cov[i], c, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("model", [XYAHModel(), XYSRModel(), XYXYModel()])
def test_filter_learns_a_constant_velocity(model):
    mean, cov = model.initiate(model.to_measurement(BOXES[:1]))
    for step in range(1, 30):
        mean, cov = model.predict(mean, cov)
        mean, cov = model.update(mean, cov, model.to_measurement(BOXES[:1] + [4.0 * step, -2.0 * step] * 2))
    np.testing.assert_allclose(mean[0, 4:6], [4.0, -2.0], atol=0.2)
    predicted, _ = model.predict(mean, cov)
    np.testing.assert_allclose(model.to_xyxy(predicted)[0], BOXES[0] + [120.0, -60.0] * 2, atol=1.0)


@pytest.mark.parametrize("model", [XYAHModel(), XYSRModel(), XYXYModel()])
def test_warp_moves_and_scales_states_like_boxes(model):
    mean, cov = model.initiate(model.to_measurement(BOXES))
    identity = np.eye(2, 3)
    same_mean, same_cov = model.warp(mean, cov, identity)
    np.testing.assert_allclose(same_mean, mean)
    np.testing.assert_allclose(same_cov, cov)
    zoom = np.array([[2.0, 0.0, 10.0], [0.0, 2.0, -5.0]])
    warped, _ = model.warp(mean, cov, zoom)
    np.testing.assert_allclose(model.to_xyxy(warped), warp_boxes(BOXES, zoom), atol=1e-3)
    np.testing.assert_allclose(warp_boxes(BOXES, zoom)[0], [30.0, 35.0, 110.0, 235.0])


def test_assign_respects_the_cost_limit_like_lapjv():
    cost = np.array([[0.1, 0.9], [0.2, 0.95], [0.5, 0.5]])
    pairs = matching.assign(cost, cost_limit=0.8)
    assert sorted(map(tuple, pairs.tolist())) == [(0, 0), (2, 1)]
    assert sorted(map(tuple, matching._solve_scipy(cost, 0.8).tolist())) == [(0, 0), (2, 1)]
    assert len(matching.assign(np.zeros((0, 3)))) == 0


def test_lap_and_scipy_fallback_agree_on_random_problems():
    rng = np.random.default_rng(1)
    for _ in range(50):
        cost = rng.random((rng.integers(1, 8), rng.integers(1, 8)))
        for limit in (np.inf, 0.5):
            a = matching.assign(cost, cost_limit=limit)
            b = matching._solve_scipy(cost, limit)
            assert len(a) == len(b)
            assert np.isclose(cost[a[:, 0], a[:, 1]].sum(), cost[b[:, 0], b[:, 1]].sum())
            assert (cost[a[:, 0], a[:, 1]] <= limit).all()


def test_match_by_similarity_thresholds_after_assigning():
    sim = np.array([[0.9, 0.8], [0.85, 0.1]])
    # the optimum pairs row 0 with col 1 and row 1 with col 0; the threshold keeps both
    matches, free_rows, free_cols = matching.match_by_similarity(sim, 0.3)
    assert sorted(map(tuple, matches.tolist())) == [(0, 1), (1, 0)]
    matches, free_rows, free_cols = matching.match_by_similarity(sim, 0.82)
    assert matches.tolist() == [[1, 0]] and free_rows.tolist() == [0] and free_cols.tolist() == [1]


def test_greedy_matching_gives_a_contested_column_to_the_best_row_and_nothing_to_the_other():
    sim = np.array([[0.6, 0.5], [0.7, 0.0], [0.05, 0.08]])
    matches, free_rows, free_cols = matching.greedy_best_match(sim, 0.1)
    assert matches.tolist() == [[1, 0]]
    assert free_rows.tolist() == [0, 2] and free_cols.tolist() == [1]
    matches, _, _ = matching.greedy_best_match(sim, 0.0)
    assert sorted(map(tuple, matches.tolist())) == [(1, 0), (2, 1)]


def test_fuse_score_weights_iou_by_detection_score():
    dist = matching.iou_distance(BOXES[:2], BOXES[:2])
    fused = matching.fuse_score(dist, np.array([0.5, 1.0]))
    np.testing.assert_allclose(np.diag(fused), [0.5, 0.0])
    assert np.all(fused[0, 1] == 1.0)
