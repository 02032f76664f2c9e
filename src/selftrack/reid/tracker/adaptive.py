"""What the re-id tracker derives from the video and the model instead of fixed numbers.

- **Score thresholds** from the detections' score distribution
  (:func:`~selftrack.trackers.thresholds.score_thresholds`), so the moving-object detector, a YOLO
  model, public detections and refined detections (every score 1) all work without flags.
- **How far to trust appearance.** A model trained on a crowded street may have learnt little; the
  tracker then leans on motion. Two measures, combined:

  1. the model's own validation loss against the loss it started from (stored with the model by
     training): a model that barely lowered it is weak from the start;
  2. online, its *agreement with motion on unambiguous matches*: a track whose predicted box
     overlaps one clean box alone, and that box no other track, is matched by motion beyond doubt;
     the appearance model is asked which box of the frame the track's *oldest* remembered crop
     looks like, and agreeing is counted. The rate (a Beta posterior whose prior is measure 1) is
     the model's accuracy on the easy cases; on hard cases it is lower still.

  The tracker takes the smaller of the two: on a crowded street a model can agree with motion on
  every easy case of the frames it was trained on (it memorised them) and still be weak on the
  held-out frames, which only the validation loss sees.

  The resulting trust in [0, 1] scales the appearance term of the matching cost, and below
  ``appearance.trust_for_relinking`` lost tracks are not re-linked by appearance: with an
  untrustworthy model the online pass is the tracker's motion-only mode. Offline stitching needs
  less: its joins must also outscore pairs of tracks seen together on the same video
  (:func:`~selftrack.reid.tracker.stitching.different_objects_bar`), so it runs from a lower
  agreement (``stitch.min_agreement``) than the matching cost needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from selftrack.core.boxes import covered_fraction, iou_matrix

PRIOR_WEIGHT = 20.0
"""Pseudo-observations the validation-loss prior is worth against online agreement counts."""
MIN_HISTORY = 8
"""Least crops a track must remember before its oldest one is used to measure agreement."""


def prior_agreement(training: dict[str, Any] | None, neutral: float = 0.75) -> float:
    """Agreement expected from the model's validation loss, before any frame is seen.

    ``best / initial`` stage-1 validation loss: near 0.1 for a model that learnt the scene well,
    near 1 for one that learnt nothing. Mapped linearly to the agreement scale (0.1 -> 0.95,
    0.8 -> 0.55). A model without validation figures gets ``neutral``.
    """
    stage = (training or {}).get("stage1") or {}
    best, initial = stage.get("best_val_loss"), stage.get("initial_val_loss")
    if best is None or not initial:
        return neutral
    ratio = float(best) / float(initial)
    return float(np.clip(0.95 - (ratio - 0.1) * (0.4 / 0.7), 0.5, 0.95))


@dataclass
class AppearanceTrust:
    """Running estimate of how far the appearance model can be trusted (see module doc).

    ``none`` and ``full`` are the agreement rates at which appearance gets no and its full weight.
    """

    prior: float
    none: float = 0.6
    full: float = 0.9
    hits: float = 0.0
    count: float = 0.0
    history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        """The smaller of the agreement expected from validation and the agreement measured online.

        Online agreement is measured on frames the model was trained on, where it may simply have
        memorised the training chains (and their mistakes at crossings); the validation loss comes
        from held-out frames. Either can show a model is weak; neither alone shows it is strong.
        """
        online = (self.hits + PRIOR_WEIGHT * self.prior) / (self.count + PRIOR_WEIGHT)
        return min(self.prior, online)

    @property
    def trust(self) -> float:
        """Weight of appearance in [0, 1], linear in the agreement between ``none`` and ``full``."""
        # min/max rather than np.clip: read every frame, and clip on a Python float costs more than the rest
        return min(max((self.agreement - self.none) / (self.full - self.none), 0.0), 1.0)

    def observe(self, agree: np.ndarray, frame: int) -> None:
        if len(agree):
            self.hits += float(np.count_nonzero(agree))
            self.count += float(len(agree))
            self.history.append((frame, self.trust))


def unambiguous(
    pred: np.ndarray,
    boxes: np.ndarray,
    ti: np.ndarray,
    di: np.ndarray,
    iou: np.ndarray | None = None,
    covered: np.ndarray | None = None,
) -> np.ndarray:
    """Which matches ``(ti, di)`` motion alone decides beyond doubt.

    The track's predicted box overlaps its box by IoU >= 0.5 and no other box by more than 0.05,
    no other predicted box overlaps that box by more than 0.05, and the box is not covered by a
    box in front of it by more than 0.2 (its crop shows its own object). ``iou`` is
    ``iou_matrix(pred, boxes)`` and ``covered`` ``covered_fraction(boxes)`` when the caller has them
    already (the tracker computes both for other uses).
    """
    if len(ti) == 0:
        return np.zeros(0, dtype=bool)
    if iou is None:
        iou = iou_matrix(pred, boxes)
    own = iou[ti, di]
    row = iou[ti].copy()
    row[np.arange(len(ti)), di] = 0.0
    col = iou[:, di].copy()
    col[ti, np.arange(len(ti))] = 0.0
    if covered is None:
        covered = covered_fraction(boxes)
    clear = covered[di] <= 0.2
    return (own >= 0.5) & (row.max(axis=1, initial=0.0) <= 0.05) & (col.max(axis=0, initial=0.0) <= 0.05) & clear
