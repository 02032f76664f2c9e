"""HOTA (Luiten et al., IJCV 2021): detection, association and localisation in one score.

For each localisation threshold alpha, gt and tracker boxes are matched per frame by a Hungarian
assignment that favours pairs whose *whole tracks* align well (a global alignment score computed
from all frames first), so the matching itself rewards consistent identities. Then
``HOTA_alpha = sqrt(DetA_alpha * AssA_alpha)`` and HOTA is the mean over the 19 thresholds.

Vectorised over pairs: the global alignment and the per-alpha statistics are array operations on
every overlapping gt x tracker pair of the sequence; only the assignment runs per frame (one SciPy
call), and once for all thresholds because the matching does not depend on alpha.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from selftrack.metrics.preprocess import EPS, PreparedSequence
from selftrack.metrics.results import ALPHAS, HotaResult


def hota(seq: PreparedSequence) -> HotaResult:
    """HOTA, DetA, AssA, LocA and friends of one prepared sequence."""
    if seq.num_tracker_dets == 0 or seq.num_gt_dets == 0:
        return HotaResult.unmatched(seq.num_gt_dets, seq.num_tracker_dets)
    sim, gt_row, tr_row = seq.similarity, seq.pair_gt, seq.pair_tracker  # overlapping pairs only
    n_tr_ids = seq.num_tracker_ids
    gt_count = np.bincount(seq.gt_id, minlength=seq.num_gt_ids).astype(np.float64)
    tr_count = np.bincount(seq.tracker_id, minlength=n_tr_ids).astype(np.float64)

    # Global alignment between every gt track and tracker track: per frame, each pair's IoU is
    # normalised by how much the two boxes overlap with anything else (a soft Jaccard of detections),
    # summed over frames, then turned into a track-level Jaccard score.
    row_sum = np.bincount(gt_row, sim, minlength=seq.num_gt_dets)
    col_sum = np.bincount(tr_row, sim, minlength=seq.num_tracker_dets)
    denom = row_sum[gt_row] + col_sum[tr_row] - sim
    soft = np.where(denom > EPS, sim / np.where(denom > EPS, denom, 1.0), 0.0)
    keys, inverse = np.unique(seq.gt_id[gt_row] * n_tr_ids + seq.tracker_id[tr_row], return_inverse=True)
    potential = np.bincount(inverse, soft, minlength=len(keys))
    key_gt, key_tr = np.divmod(keys, n_tr_ids)
    alignment = potential / (gt_count[key_gt] + tr_count[key_tr] - potential)
    score = alignment[inverse] * sim

    # Per frame: one assignment maximising alignment-weighted IoU (independent of alpha).
    m_gt, m_tr, m_sim = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)], [np.zeros(0)]
    for t in seq.active_frames:
        block_sim, gt_ids, tr_ids = seq.block(int(t))
        block_score, _, _ = seq.block(int(t), score)
        rows, cols = linear_sum_assignment(-block_score)
        m_gt.append(gt_ids[rows])
        m_tr.append(tr_ids[cols])
        m_sim.append(block_sim[rows, cols])
    pair_sim = np.concatenate(m_sim)
    ok = pair_sim[None, :] >= ALPHAS[:, None] - EPS  # (alphas, matched pairs)
    tp = ok.sum(axis=1).astype(np.float64)
    fn = seq.num_gt_dets - tp
    fp = seq.num_tracker_dets - tp
    loca = np.maximum(1e-10, (ok * pair_sim).sum(axis=1)) / np.maximum(1e-10, tp)

    # Association: for each (gt track, tracker track) with matches, how many boxes they share
    # (TPA) against the boxes only one of them has (FNA, FPA), weighted by its matches.
    m_keys, m_inverse = np.unique(np.concatenate(m_gt) * n_tr_ids + np.concatenate(m_tr), return_inverse=True)
    counts = np.stack([np.bincount(m_inverse[o], minlength=len(m_keys)) for o in ok]).astype(np.float64)
    g_of, t_of = np.divmod(m_keys, n_tr_ids)
    g_n, t_n = gt_count[g_of], tr_count[t_of]
    per_tp = np.maximum(1, tp)
    assa = (counts * counts / np.maximum(1, g_n + t_n - counts)).sum(axis=1) / per_tp
    assre = (counts * counts / np.maximum(1, g_n)).sum(axis=1) / per_tp
    asspr = (counts * counts / np.maximum(1, t_n)).sum(axis=1) / per_tp
    return HotaResult.from_counts(tp, fn, fp, assa, assre, asspr, loca)
