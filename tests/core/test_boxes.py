"""Box geometry: the share of a box covered by boxes in front of it."""

from __future__ import annotations

import numpy as np

from selftrack.core.boxes import covered_fraction


def test_only_boxes_in_front_cover_a_box() -> None:
    boxes = np.array(
        [
            [0, 0, 10, 20],  # behind: its bottom edge (20) is above the next box's (25)
            [0, 5, 10, 25],  # in front of the first: covers 15 of its 20 rows
            [100, 0, 110, 10],  # alone
        ],
        dtype=float,
    )
    cov = covered_fraction(boxes)
    np.testing.assert_allclose(cov, [0.75, 0.0, 0.0])
    assert covered_fraction(boxes[:1]).tolist() == [0.0]


def test_frame_overlaps_give_the_same_numbers_as_the_functions() -> None:
    """The tracker's per-frame shortcut must not change a single bit of IoU or covered fraction."""
    from selftrack.core.boxes import FrameOverlaps, iou_matrix

    rng = np.random.default_rng(3)
    for n in range(6):
        boxes = rng.uniform(0, 100, (n, 4))
        boxes[:, 2:] = boxes[:, :2] + rng.uniform(-5, 60, (n, 2))  # some boxes without area
        if n >= 2:
            boxes[1] = boxes[0]  # a duplicate
        overlaps = FrameOverlaps(boxes)
        assert overlaps.iou().tobytes() == iou_matrix(boxes, boxes).tobytes()
        for rows in (np.arange(n), np.arange(0, n, 2), np.arange(1, n)):
            assert overlaps.covered_fraction(rows).tobytes() == covered_fraction(boxes[rows]).tobytes()
