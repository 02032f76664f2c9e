"""CLEAR MOT metrics (MOTA, MOTP, identity switches, MT/PT/ML, fragmentations) as TrackEval counts them.

Per frame, gt and tracker boxes with IoU >= 0.5 are matched by a Hungarian assignment that first
keeps the pairs matched in the previous scored frame (a bonus of 1000 outweighs any IoU) and then
maximises IoU. An identity switch is a gt track matched to a different tracker id than the last
time it was matched, however long ago. "Previous frame" means the previous frame that had both gt
and tracker boxes, a TrackEval convention kept for parity.

This is the one metric that must walk the frames in order (each matching depends on the last); the
loop does only the assignment and a few small array updates per frame.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from selftrack.metrics.preprocess import EPS, PreparedSequence
from selftrack.metrics.results import ClearResult

THRESHOLD = 0.5
CONTINUATION_BONUS = 1000.0


def clear(seq: PreparedSequence, threshold: float = THRESHOLD) -> ClearResult:
    """CLEAR metrics of one prepared sequence."""
    if seq.num_tracker_dets == 0 or seq.num_gt_dets == 0:
        return ClearResult.unmatched(seq.num_gt_dets, seq.num_tracker_dets, seq.num_gt_ids)
    n_gt_ids = seq.num_gt_ids
    matched_count = np.zeros(n_gt_ids, dtype=np.int64)
    frag_count = np.zeros(n_gt_ids, dtype=np.int64)
    last_match = np.full(n_gt_ids, -1, dtype=np.int64)  # tracker id last matched to each gt id (for IDSW)
    prev_frame = np.full(n_gt_ids, -1, dtype=np.int64)  # tracker id matched in the previous scored frame
    tp = idsw = 0
    motp_sum = 0.0
    for t in seq.active_frames:
        sim, gt_ids, tr_ids = seq.block(int(t))
        continues = tr_ids[None, :] == prev_frame[gt_ids][:, None]
        score = np.where(sim < threshold - EPS, 0.0, CONTINUATION_BONUS * continues + sim)
        rows, cols = linear_sum_assignment(-score)
        ok = score[rows, cols] > EPS
        rows, cols = rows[ok], cols[ok]
        m_gt, m_tr = gt_ids[rows], tr_ids[cols]

        before = last_match[m_gt]
        idsw += int(np.count_nonzero((before >= 0) & (before != m_tr)))
        matched_count[m_gt] += 1
        frag_count[m_gt[prev_frame[m_gt] < 0]] += 1  # a (re)start of tracking for this gt track
        last_match[m_gt] = m_tr
        prev_frame[:] = -1
        prev_frame[m_gt] = m_tr
        tp += len(rows)
        motp_sum += float(sim[rows, cols].sum())

    gt_count = np.bincount(seq.gt_id, minlength=n_gt_ids)
    ratio = matched_count / np.maximum(gt_count, 1)
    mt = int(np.count_nonzero(ratio > 0.8))
    pt = int(np.count_nonzero(ratio >= 0.2)) - mt
    return ClearResult.from_counts(
        tp=tp,
        fn=seq.num_gt_dets - tp,
        fp=seq.num_tracker_dets - tp,
        idsw=idsw,
        mt=mt,
        pt=pt,
        ml=n_gt_ids - mt - pt,
        frag=int(np.maximum(frag_count - 1, 0).sum()),
        frames=seq.num_frames,
        motp_sum=motp_sum,
    )
