"""SkyhookML's velocity step: a box moved by its recent displacement, shared by the IoU and re-id trackers.

For each track the box is extrapolated to the current frame from its recent motion: the
displacement of the box *centre* between the track's last detection and its detection nearest to
``velocity_steps`` frames before that (on a tie the older one), divided by the frames between and
scaled to the frames elapsed; the box keeps its size (SkyhookML's heuristic). Tracks keep their
last ``velocity_steps + 1`` boxes in a ring (slot ``frame % (velocity_steps + 1)``), which always
holds the detection nearest to the target frame.
"""

from __future__ import annotations

import numpy as np

NEVER = -(2**40)
"""Frame of a ring slot that holds no box yet."""


def extrapolate(
    history: np.ndarray, history_at: np.ndarray, last: np.ndarray, now: int, velocity_steps: int
) -> np.ndarray:
    """Each track's last box moved to frame ``now`` by its recent velocity (see module doc).

    Args:
        history: ``(n, k, 4)`` ring of each track's recent boxes.
        history_at: ``(n, k)`` frame of each slot (:data:`NEVER` when empty).
        last: ``(n,)`` frame of each track's last box (held in the ring).
        now: the frame to extrapolate to.
        velocity_steps: how far back the reference box is looked for.
    """
    n = len(history)
    if n == 0:
        return np.zeros((0, 4))
    rows = np.arange(n)
    last_box = history[rows, np.argmax(history_at, axis=1)]
    target = last - velocity_steps
    key = 2 * np.abs(history_at - target[:, None]) + (history_at > target[:, None])
    key[(history_at == NEVER) | (history_at == last[:, None])] = np.iinfo(np.int64).max
    ref = np.argmin(key, axis=1)
    has_ref = key[rows, ref] != np.iinfo(np.int64).max
    ref_at = history_at[rows, ref]
    ref_box = history[rows, ref]
    elapsed = now - last
    span = np.where(has_ref, last - ref_at, 1)
    shift = ((last_box[:, :2] + last_box[:, 2:]) - (ref_box[:, :2] + ref_box[:, 2:])) / 2.0
    shift *= (elapsed / span * has_ref)[:, None]
    return last_box + np.concatenate([shift, shift], axis=1)
