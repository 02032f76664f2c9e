"""SkyhookML's velocity step, one helper for the IoU tracker and the re-id tracker's velocity motion."""

from __future__ import annotations

import numpy as np

from selftrack.trackers.velocity import NEVER, extrapolate


def test_centre_moves_by_its_recent_velocity_and_the_box_keeps_its_size() -> None:
    # one track seen at frames 0..5, moving 4 px/frame right while growing 2 px/frame; ring of 6 slots
    frames = np.arange(6)
    boxes = np.array([[10 + 4 * f, 20, 30 + 6 * f, 60 + 2 * f] for f in frames], dtype=float)
    history = np.zeros((1, 6, 4))
    at = np.full((1, 6), NEVER)
    history[0, frames % 6], at[0, frames % 6] = boxes, frames
    out = extrapolate(history, at, np.array([5]), 8, velocity_steps=5)[0]
    last = boxes[-1]
    centre_shift = ((last[:2] + last[2:]) - (boxes[0, :2] + boxes[0, 2:])) / 2 / 5 * 3
    np.testing.assert_allclose(out, last + np.tile(centre_shift, 2))
    np.testing.assert_allclose(out[2:] - out[:2], last[2:] - last[:2])  # size unchanged


def test_a_track_seen_once_stays_where_it_was() -> None:
    history = np.zeros((1, 3, 4))
    at = np.full((1, 3), NEVER)
    history[0, 1], at[0, 1] = [5, 5, 15, 25], 7
    np.testing.assert_allclose(extrapolate(history, at, np.array([7]), 9, velocity_steps=2)[0], [5, 5, 15, 25])
