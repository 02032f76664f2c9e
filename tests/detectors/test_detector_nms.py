"""Greedy NMS (plain and class-aware) against a loop-by-loop reference written here."""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.core.errors import ValidationError
from selftrack.detectors.nms import batched_nms, nms


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray | None, thr: float) -> list[int]:
    order = sorted(range(len(boxes)), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if all((classes is not None and classes[i] != classes[k]) or _iou(boxes[i], boxes[k]) <= thr for k in kept):
            kept.append(i)
    return kept


def _random_boxes(rng: np.random.Generator, n: int) -> np.ndarray:
    xy = rng.uniform(0, 200, size=(n, 2))
    wh = rng.uniform(5, 60, size=(n, 2))
    return np.concatenate([xy, xy + wh], axis=1)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("thr", [0.0, 0.3, 0.5, 0.9])
def test_nms_matches_reference(seed, thr):
    rng = np.random.default_rng(seed)
    boxes = _random_boxes(rng, 80)
    scores = rng.uniform(size=80).round(2)  # ties happen: the earlier box must win
    assert nms(boxes, scores, thr).tolist() == reference_nms(boxes, scores, None, thr)


@pytest.mark.parametrize("seed", range(5))
def test_batched_nms_matches_per_class_reference(seed):
    rng = np.random.default_rng(100 + seed)
    boxes = _random_boxes(rng, 120)
    scores = rng.uniform(size=120)
    classes = rng.integers(0, 4, size=120) * 7  # sparse, unsorted class ids
    got = batched_nms(boxes, scores, classes, 0.45)
    assert got.tolist() == reference_nms(boxes, scores, classes, 0.45)
    # Class-aware keeps more than class-agnostic on the same boxes.
    assert len(got) > len(nms(boxes, scores, 0.45))


def test_overlap_exactly_at_threshold_is_kept_and_max_keep_limits():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5], [100, 100, 110, 110]], float)  # IoU(0, 1) = 0.5
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [0, 1, 2]
    assert nms(boxes, scores, 0.49).tolist() == [0, 2]
    assert nms(boxes, scores, 0.5, max_keep=2).tolist() == [0, 1]


def test_empty_and_bad_input():
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.5).tolist() == []
    assert batched_nms(np.zeros((0, 4)), np.zeros(0), np.zeros(0), 0.5).tolist() == []
    with pytest.raises(ValidationError, match="3 boxes but 2 scores"):
        nms(np.zeros((3, 4)), np.zeros(2), 0.5)
    with pytest.raises(ValidationError, match="iou_threshold"):
        nms(np.zeros((1, 4)), np.zeros(1), 1.5)
