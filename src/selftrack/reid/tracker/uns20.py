"""UNS20's own inference step, as published (``motion.model="uns20"``).

The recurrent box matcher (its hidden state carried along each track) and the appearance matcher
each give ``min(row, column softmax)`` matrices whose element-wise minimum is the score; a pair is
forbidden when either raw logit is negative; each track votes for its best column (or the terminal
"none" column) and each detection keeps its best voter (greedy); unmatched tracks live ``max_age``
frames; a frame without detections resets the state (as the original does). Boxes below
``high_score`` are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from selftrack.reid.arch import box_features
from selftrack.reid.heads import min_softmax
from selftrack.reid.tracker.appearance import clean_boxes
from selftrack.trackers.base import StepResult

if TYPE_CHECKING:
    from selftrack.reid.tracker.online import ReidTracker


def step_uns20(
    tracker: ReidTracker, frame: int, xyxy: np.ndarray, score: np.ndarray, targets: np.ndarray, queries: np.ndarray
) -> StepResult:
    """One frame of UNS20's inference on ``tracker``'s state (see module doc)."""
    heads = tracker.heads
    assert heads is not None
    p, t = tracker.params, tracker.table
    dets = np.flatnonzero(score >= tracker.high_score)
    if len(dets) == 0:
        tracker.state.keep(np.zeros(len(t), dtype=bool))
        return StepResult.empty()
    ntr, m = len(t), len(dets)
    rows: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    free = np.ones(m, dtype=bool)
    if ntr:
        app = tracker.appearance_logits(np.arange(ntr), targets[dets])
        app_full = np.concatenate([app, np.full((ntr, 1), heads.terminal, np.float32)], axis=1)
        nxt = np.concatenate([box_features(xyxy[dets], tracker.frame_size), np.zeros((1, 4), np.float32)])
        sp, hidden = heads.spatial_step(t.hidden, t.sbox, nxt)
        sp[:, -1] = heads.terminal
        out = np.minimum(min_softmax(app_full), min_softmax(sp))
        out[:, :-1][(app < 0) | (sp[:, :-1] < 0)] = -100.0
        vote = np.argmax(out, axis=1)
        voters = np.flatnonzero(vote < m)
        matched = np.zeros(ntr, dtype=bool)
        col_of = np.full(ntr, m, dtype=np.int64)
        if len(voters):
            cols, vals = vote[voters], out[voters, vote[voters]]
            order = np.lexsort((voters, -vals, cols))
            first = np.ones(len(order), dtype=bool)
            first[1:] = cols[order][1:] != cols[order][:-1]
            win = voters[order[first]]
            matched[win] = True
            col_of[win] = vote[win]
        new_hidden = hidden[np.arange(ntr), col_of]
        ti = np.flatnonzero(matched)
        di = dets[col_of[ti]]
        clean = clean_boxes(xyxy, p.appearance.clean_crop_iou)[di]
        tracker.state.observe(ti, xyxy[di], queries[di], frame, np.zeros(len(ti), dtype=bool), targets[di], clean)
        t.hidden = new_hidden
        t.sbox[ti] = nxt[col_of[ti]]
        t.sbox[~matched] = 0.0
        free[col_of[ti]] = False
        rows.append(di)
        ids.append(t.track_id[ti])
        tracker.state.keep(matched | (frame - t.last <= tracker.max_age))
    starters = dets[free]
    if len(starters):
        rows.append(starters)
        ids.append(tracker.state.start(xyxy[starters], queries[starters], frame, targets[starters]))
    if not rows:
        return StepResult.empty()
    r = np.concatenate(rows)
    return StepResult(r, xyxy[r], np.concatenate(ids))
