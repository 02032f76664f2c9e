"""Candidate-match masks from IoU chains on hand-built boxes: padding, chaining, bridging, gaps."""

from __future__ import annotations

import numpy as np

from selftrack.core.detections import Detections
from selftrack.reid.candidates import candidate_mask, chain_reach, match_gaps


def _layout(rows: list[tuple[int, list[float]]], num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    det = Detections.create([f for f, _ in rows], [b for _, b in rows], num_frames=num_frames)
    return det.frame, det.xyxy, det.frame_bounds()


def test_match_gaps_follow_track_duration() -> None:
    assert match_gaps(4.0, 10) == (5, 10, 20, 40)  # SkyhookML's example
    assert match_gaps(4.0, 7) == (4, 7, 14, 28)  # PETS09 at 7 fps
    assert match_gaps(0.1, 5) == (1,)  # never below one frame


def test_chain_follows_a_walking_box_and_not_a_distant_one() -> None:
    rows = []
    for f in range(6):
        rows.append((f, [10 + 8 * f, 10, 40 + 8 * f, 70]))  # walks right 8 px per frame
        rows.append((f, [300, 10, 330, 70]))  # stands far away
    frame, xyxy, bounds = _layout(rows, 6)
    (m5,) = candidate_mask(frame, xyxy, bounds, 0, [5])
    # the walker moved 40 px (more than its width) yet is reached through the chain
    np.testing.assert_array_equal(m5, [[True, False], [False, True]])
    reach, window = chain_reach(frame, xyxy, bounds, 0, 5)
    assert reach.shape == (2, 12) and len(window) == 12


def test_padding_links_boxes_that_do_not_overlap() -> None:
    # 5 px apart: no overlap, but padded by 10 px each they overlap by 15 px (IoU 0.18)
    near = [(0, [0, 0, 30, 30]), (1, [35, 0, 65, 30])]
    frame, xyxy, bounds = _layout(near, 2)
    assert candidate_mask(frame, xyxy, bounds, 0, [1])[0].all()
    assert not candidate_mask(frame, xyxy, bounds, 0, [1], padding=0.0)[0].any()
    far = [(0, [0, 0, 30, 30]), (1, [50, 0, 80, 30])]  # 20 px apart: padded boxes only touch
    frame, xyxy, bounds = _layout(far, 2)
    assert not candidate_mask(frame, xyxy, bounds, 0, [1])[0].any()


def test_chain_bridges_missed_detections_up_to_max_gap() -> None:
    box = [100, 100, 140, 180]
    for missing, expected in ((9, True), (10, False)):
        # seen in frame 0, missed for `missing` frames, seen again
        rows = [(0, box), (missing + 1, box)]
        frame, xyxy, bounds = _layout(rows, missing + 2)
        (m,) = candidate_mask(frame, xyxy, bounds, 0, [missing + 1], max_gap=10)
        assert bool(m[0, 0]) is expected, missing


def test_iou_threshold_and_chain_through_a_split() -> None:
    # one box in frame 0 splits into two overlapping boxes in frame 1, which merge again in frame 2
    rows = [
        (0, [0, 0, 40, 80]),
        (1, [0, 0, 20, 80]),
        (1, [20, 0, 40, 80]),
        (2, [2, 0, 42, 80]),
        (2, [500, 0, 540, 80]),
    ]
    frame, xyxy, bounds = _layout(rows, 3)
    m1, m2 = candidate_mask(frame, xyxy, bounds, 0, [1, 2])
    np.testing.assert_array_equal(m1, [[True, True]])
    np.testing.assert_array_equal(m2, [[True, False]])
    # a stricter IoU breaks the chain at the split
    m1_strict, m2_strict = candidate_mask(frame, xyxy, bounds, 0, [1, 2], min_iou=0.7)
    assert not m1_strict.any()
    assert m2_strict[0, 0]  # the direct link 0 -> 2 (IoU ~0.95) still holds


def test_empty_frames() -> None:
    rows = [(0, [0, 0, 10, 10]), (3, [0, 0, 10, 10])]
    frame, xyxy, bounds = _layout(rows, 5)
    (m,) = candidate_mask(frame, xyxy, bounds, 0, [2])
    assert m.shape == (1, 0)
    (m,) = candidate_mask(frame, xyxy, bounds, 1, [3])
    assert m.shape == (0, 1)


def test_one_to_one_chains_keep_crossing_people_apart() -> None:
    """Two people walk side by side, their boxes overlapping a little: every-overlap chains make each
    the other's candidate; one-to-one chains (each box linked to its best overlap only) do not."""
    frames, boxes = [], []
    for f in range(10):
        frames += [f, f]
        boxes += [[10 + 2 * f, 0, 50 + 2 * f, 80], [40 + 2 * f, 0, 80 + 2 * f, 80]]
    det = Detections.create(frames, boxes, 1.0)
    loose, strict = (
        candidate_mask(det.frame, det.xyxy, det.frame_bounds(), 0, [9], mutual=mutual)[0] for mutual in (False, True)
    )
    assert loose.all()
    assert np.array_equal(strict, np.eye(2, dtype=bool))
