"""Identity metrics (IDF1, IDP, IDR; Ristani et al. 2016).

Each gt track is mapped to at most one tracker track (and vice versa) so that the number of boxes
they share (IoU >= 0.5 in the same frame) is maximal; IDTP is that number. TrackEval solves this
as a square assignment over gt + tracker + dummy rows minimising IDFN + IDFP; since
``IDFN + IDFP = gt boxes + tracker boxes - 2 * IDTP`` for any mapping, maximising IDTP on the
rectangular gt x tracker matrix gives the same integer optimum with a much smaller problem.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from selftrack.metrics.preprocess import PreparedSequence
from selftrack.metrics.results import IdentityResult

THRESHOLD = 0.5


def identity(seq: PreparedSequence, threshold: float = THRESHOLD) -> IdentityResult:
    """IDF1/IDP/IDR of one prepared sequence."""
    if seq.num_tracker_dets == 0 or seq.num_gt_dets == 0:
        return IdentityResult.from_counts(0, seq.num_gt_dets, seq.num_tracker_dets)
    close = np.flatnonzero(seq.similarity >= threshold)
    idtp = 0
    if len(close):
        # Boxes shared by each (gt track, tracker track), only for tracks that share any.
        key = seq.gt_id[seq.pair_gt[close]] * seq.num_tracker_ids + seq.tracker_id[seq.pair_tracker[close]]
        keys, shared = np.unique(key, return_counts=True)
        g, t = np.divmod(keys, seq.num_tracker_ids)
        g_ids, g_idx = np.unique(g, return_inverse=True)
        t_ids, t_idx = np.unique(t, return_inverse=True)
        matrix = np.zeros((len(g_ids), len(t_ids)))
        matrix[g_idx, t_idx] = shared
        rows, cols = linear_sum_assignment(matrix, maximize=True)
        idtp = int(matrix[rows, cols].sum())
    return IdentityResult.from_counts(idtp, seq.num_gt_dets - idtp, seq.num_tracker_dets - idtp)
