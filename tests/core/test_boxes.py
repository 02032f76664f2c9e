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
