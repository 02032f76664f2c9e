"""Greedy IoU tracker with a velocity guess: SkyhookML's "simple tracker", parameters honoured.

For each live track the box is extrapolated to the current frame from the track's recent motion
(:mod:`~selftrack.trackers.velocity`: the displacement of the box centre between the track's last
detection and its detection nearest to ``velocity_steps`` frames before that, scaled to the frames
elapsed, box size unchanged). Each
track proposes the detection it overlaps most, above ``min_iou``; a detection proposed by several
tracks goes to the largest overlap and the others get nothing this frame (no second choice, no
Hungarian matching, as in SkyhookML). Every detection left over starts a track, and every output
box is a detection. A track ends once ``max_age`` frames have passed since its last detection.

Differences from SkyhookML, on purpose: ``min_iou = 0`` means zero (any overlap), not "the default
0.1"; ``velocity_steps`` is used (SkyhookML's simple tracker hard-codes 5); extrapolation is in
float pixels rather than truncated to integers; ties are broken by track age, not Go's random map
order. ``min_score`` stands in for SkyhookML's separate detection filter.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from selftrack.core.boxes import iou_matrix
from selftrack.trackers.base import StepResult, Tracker, TrackerParams
from selftrack.trackers.cmc import warp_boxes
from selftrack.trackers.lifecycle import TrackTable
from selftrack.trackers.matching import greedy_best_match
from selftrack.trackers.velocity import NEVER, extrapolate


class IouTrackerParams(TrackerParams):
    velocity_steps: int = Field(
        5, ge=1, description="Frames back to the detection the velocity is measured from (SkyhookML VelocitySteps)."
    )
    min_iou: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A track and a detection match only if the IoU of the extrapolated box exceeds this (MinIOU).",
    )
    max_age: int = Field(10, ge=1, description="Frames without a detection after which a track ends (MaxAge).")
    min_score: float = Field(0.0, ge=0.0, description="Detections scoring below this are ignored.")


class IouTracker(Tracker):
    """SkyhookML's simple tracker (see module doc)."""

    name = "iou"
    Params = IouTrackerParams
    params: IouTrackerParams

    def _reset_state(self) -> None:
        # The last velocity_steps + 1 detections of each track hold the one nearest to any target
        # frame used for the velocity (see trackers.velocity).
        k = self.params.velocity_steps + 1
        self._tracks = TrackTable(
            {
                "track_id": ((), np.int64, 0),
                "last": ((), np.int64, 0),
                "history": ((k, 4), np.float64, 0.0),
                "history_at": ((k,), np.int64, NEVER),
            }
        )
        self._count = -1

    def _step(
        self,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_id: np.ndarray,
        affine: np.ndarray | None,
        features: np.ndarray | None = None,
    ) -> StepResult:
        p, t = self.params, self._tracks
        self._count += 1
        now = self._count
        det_rows = np.flatnonzero(score >= p.min_score) if p.min_score > 0 else np.arange(len(xyxy))
        dets = xyxy[det_rows]
        if affine is not None and len(t):
            t.history = warp_boxes(t.history.reshape(-1, 4), affine).reshape(t.history.shape)

        predicted = extrapolate(t.history, t.history_at, t.last, now, p.velocity_steps)
        matches, _, free_dets = greedy_best_match(iou_matrix(predicted, dets), p.min_iou)
        ti, di = matches[:, 0], matches[:, 1]
        new = t.add(len(free_dets), track_id=self._ids.take(len(free_dets)))
        ti = np.concatenate([ti, new])
        di = np.concatenate([di, free_dets])
        slot = now % (p.velocity_steps + 1)
        t.history[ti, slot] = dets[di]
        t.history_at[ti, slot] = now
        t.last[ti] = now

        ids = t.track_id[ti]
        t.keep(now - t.last < p.max_age)
        return StepResult(det_rows[di], dets[di], ids)
