"""SORT: a Kalman filter per track and Hungarian matching on IoU (Bewley et al., 2016).

Per frame: predict every track one frame ahead (and move it by the camera affine, if given),
match detections to predictions by maximum total IoU, drop pairs below ``iou_threshold``,
correct matched tracks, start a track for every unmatched detection, end tracks unmatched for
more than ``max_age`` frames. A track is output once it was matched ``min_hits`` frames in a row
(every track is output during the first ``min_hits`` frames of a video, as in the original).

Output boxes are the filter's corrected estimate (as the original SORT reports), or the matched
detection with ``output_box="detection"``.

``preset="official"`` is the original SORT (``max_age=1``: a track missed for two frames ends, which
suits its 30 fps detector with few misses). ``preset="auto"`` (the default, :mod:`.adaptive`) keeps an
unmatched track for ``LOST_SECONDS`` (``frame_rate`` frames), as ByteTrack and OC-SORT do, and outputs a
track from its first match (``min_hits=1``). Then, by the kind of scores: *graded* detector boxes are
output as the filter's estimate, which smooths their jitter, and match a prediction they overlap by IoU
0.15 (a noisy box of a walking person often overlaps its prediction by less than the original 0.3);
boxes that all score *alike* (refined, ground-truth-like ones) are output as they are and followed by a
corner filter (``kalman="xyxy"``), as ByteTrack does with such boxes. Chosen by HOTA on the tracker
benchmark's "chosen on" sets (PETS09, TUD-Campus, MOT17-02/04 public and MOT17-02/04/05/10 refined
detections) and reported on MOT17-09, TUD-Stadtmitte and KITTI-17: see BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from selftrack.core.boxes import iou_matrix
from selftrack.trackers.adaptive import PRESET_HELP, DetectionProfile, Preset
from selftrack.trackers.base import StepResult, Tracker, TrackerParams
from selftrack.trackers.kalman import KalmanModel, XYSRModel, XYXYModel
from selftrack.trackers.lifecycle import TrackTable, assign_public_ids
from selftrack.trackers.matching import match_by_similarity


class SortParams(TrackerParams):
    preset: Preset = Field("auto", description=PRESET_HELP)
    max_age: int = Field(1, ge=0, description="Frames a track may go unmatched before it ends.")
    frame_rate: float = Field(
        30.0, gt=0.0, description="Frame rate of the video; preset auto keeps an unmatched track for LOST_SECONDS."
    )
    min_hits: int = Field(
        3,
        ge=0,
        description="Matches in a row, after its first box, that a new track needs before it is output.",
    )
    iou_threshold: float = Field(
        0.3, ge=0.0, le=1.0, description="Least IoU between a prediction and a detection to match them."
    )
    min_score: float = Field(0.0, ge=0.0, description="Detections scoring below this are ignored.")
    output_box: Literal["kalman", "detection"] = Field(
        "kalman", description="Box output for a track: the Kalman estimate (original SORT) or the matched detection."
    )
    kalman: Literal["xysr", "xyxy"] = Field(
        "xysr",
        description="Motion model: the original's centre/area/aspect filter, or a corner filter with fixed pixel noise "
        "(follows boxes that are placed precisely, as refined ones are).",
    )


_MODELS: dict[str, KalmanModel] = {"xysr": XYSRModel(), "xyxy": XYXYModel()}
LOST_SECONDS = 1.0
ALIKE_OPTIONS: dict[str, Any] = {"min_hits": 1, "output_box": "detection", "kalman": "xyxy"}
GRADED_OPTIONS: dict[str, Any] = {"min_hits": 1, "output_box": "kalman", "iou_threshold": 0.15}


class SortTracker(Tracker):
    """SORT with the original's parameters and filter (see module doc)."""

    name = "sort"
    Params = SortParams
    params: SortParams

    @property
    def _model(self) -> KalmanModel:
        return _MODELS[self.params.kalman]

    def adapt(self, scores: np.ndarray) -> None:
        super().adapt(scores)
        if len(self._tracks) == 0:  # before the first track: the chosen filter may have another state size
            self._tracks = self._new_table()

    def _reset_state(self) -> None:
        self._tracks = self._new_table()
        self._count = 0

    def _new_table(self) -> TrackTable:
        dim = self._model.dim
        return TrackTable(
            {
                "mean": ((dim,), np.float64, 0.0),
                "cov": ((dim, dim), np.float64, 0.0),
                "track_id": ((), np.int64, 0),
                "row": ((), np.int64, -1),
                "since_update": ((), np.int64, 0),
                "hit_streak": ((), np.int64, 0),
            }
        )

    def _auto_params(self, profile: DetectionProfile) -> dict[str, Any]:
        """``preset="auto"``: see the module doc."""
        if profile.kind == "none":
            return {}
        lost = {"max_age": max(1, round(LOST_SECONDS * self.requested.frame_rate))}
        if profile.kind == "alike":
            return {**lost, **ALIKE_OPTIONS}
        return {**lost, **GRADED_OPTIONS}

    def _step(
        self,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_id: np.ndarray,
        affine: np.ndarray | None,
        features: np.ndarray | None = None,
    ) -> StepResult:
        p, t, model = self.params, self._tracks, self._model
        self._count += 1
        det_rows = np.flatnonzero(score >= p.min_score) if p.min_score > 0 else np.arange(len(xyxy))
        dets = xyxy[det_rows]
        t.row[:] = -1

        if len(t):
            mean = t.mean.copy()
            if p.kalman == "xysr":
                mean[mean[:, 6] + mean[:, 2] <= 0, 6] = 0.0  # never predict a negative area
            mean, cov = model.predict(mean, t.cov)
            if affine is not None:
                mean, cov = model.warp(mean, cov, affine)
            t.mean, t.cov = mean, cov
            t.hit_streak[t.since_update > 0] = 0
            t.since_update += 1
            boxes = model.to_xyxy(mean)
            finite = np.isfinite(boxes).all(axis=1)
            if not finite.all():
                t.keep(finite)
                boxes = boxes[finite]
        else:
            boxes = np.zeros((0, 4))

        matches, unmatched_dets, _ = match_by_similarity(iou_matrix(dets, boxes), p.iou_threshold, unique_shortcut=True)
        di, ti = matches[:, 0], matches[:, 1]
        if len(ti):
            t.mean[ti], t.cov[ti] = model.update(t.mean[ti], t.cov[ti], model.to_measurement(dets[di]))
            t.since_update[ti] = 0
            t.hit_streak[ti] += 1
            t.row[ti] = det_rows[di]
        if len(unmatched_dets):
            mean0, cov0 = model.initiate(model.to_measurement(dets[unmatched_dets]))
            t.add(len(unmatched_dets), mean=mean0, cov=cov0, row=det_rows[unmatched_dets])

        shown = (t.since_update < 1) & ((t.hit_streak >= p.min_hits) | (self._count <= p.min_hits))
        out = np.flatnonzero(shown)
        ids = assign_public_ids(t.track_id, out, self._ids)
        rows = t.row[out]
        out_boxes = model.to_xyxy(t.mean[out]) if p.output_box == "kalman" else xyxy[rows]
        t.keep(t.since_update <= p.max_age)
        return StepResult(rows, out_boxes, ids)
