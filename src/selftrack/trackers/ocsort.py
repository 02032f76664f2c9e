"""OC-SORT: observation-centric SORT (Cao et al., CVPR 2023).

SORT's Kalman filter drifts while an object is unobserved and its velocity estimate is noisy.
OC-SORT keeps SORT's structure and adds three observation-centric pieces:

- **Momentum (OCM)**: the association cost adds, to the IoU, how well the direction from a
  track's observation ``delta_t`` frames back to a detection agrees with the track's recent
  direction of motion (weighted by ``inertia`` and the detection score).
- **Recovery (OCR)**: detections and tracks left unmatched are matched again on IoU against the
  track's *last observation* instead of its drifted prediction.
- **Re-update (ORU)**: when a lost track is found again, its filter is rewound to the moment it
  was lost and re-run over virtual observations interpolated linearly between the last and the
  new observation, so the velocity it learned while unobserved does not persist.

Optionally (``use_byte``) low-score boxes are matched to the remaining predictions, as in
ByteTrack. With ``preset="auto"`` (the default, :mod:`.adaptive`), graded detector scores set
``det_thresh`` to Otsu's split of the video's scores and turn ``use_byte`` on, so the boxes under the
split still extend tracks instead of being dropped, output a track from its first match
(``min_hits=1``) and output the filter's estimate, which smooths such boxes' jitter; scores all alike
make every box a first-stage box (chosen on the benchmark's "chosen on" sets, see BENCHMARKS.md).
``preset="official"`` follows the official implementation, including its thresholds and its output
(the track's last observation, i.e. the matched detection box). ``max_age`` is in frames at 30 fps,
like ByteTrack's ``track_buffer``: pass the video's ``frame_rate`` to keep a lost track for the same
time at another rate (the official code counts frames, i.e. assumes 30 fps).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from selftrack.core.boxes import iou_matrix
from selftrack.trackers.adaptive import PRESET_HELP, DetectionProfile, Preset, below
from selftrack.trackers.base import StepResult, Tracker, TrackerParams
from selftrack.trackers.cmc import warp_boxes
from selftrack.trackers.kalman import XYSRModel
from selftrack.trackers.lifecycle import TrackTable, assign_public_ids
from selftrack.trackers.matching import assign, match_by_similarity

_NEVER = -(2**40)


class OcSortParams(TrackerParams):
    preset: Preset = Field("auto", description=PRESET_HELP)
    det_thresh: float = Field(
        0.6, ge=0.0, description="Detections scoring above this are matched first and may start tracks."
    )
    low_thresh: float = Field(
        0.1, ge=0.0, description="With use_byte, detections scoring above this (and below det_thresh) extend tracks."
    )
    max_age: int = Field(
        30, ge=0, description="Frames (at 30 fps, see frame_rate) a track may go unmatched before it ends."
    )
    frame_rate: float = Field(
        30.0,
        gt=0.0,
        description="Frame rate of the video; scales max_age (int(frame_rate / 30 * max_age) frames), as "
        "ByteTrack's track_buffer. At 30 the official behaviour.",
    )
    min_hits: int = Field(
        3, ge=0, description="Matches in a row, after its first box, that a new track needs before it is output."
    )
    iou_threshold: float = Field(0.3, ge=0.0, le=1.0, description="Least IoU to match a track and a detection.")
    delta_t: int = Field(3, ge=1, description="Frames back to the observation used for the motion direction.")
    inertia: float = Field(0.2, ge=0.0, description="Weight of the motion-direction agreement in the matching cost.")
    use_byte: bool = Field(False, description="Also match low-score detections to unmatched tracks (ByteTrack's idea).")
    output_box: Literal["detection", "kalman"] = Field(
        "detection", description="Box output for a track: its last observation (official) or the Kalman estimate."
    )


def _centres(xyxy: np.ndarray) -> np.ndarray:
    return (xyxy[:, :2] + xyxy[:, 2:]) / 2.0


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / (np.sqrt((vectors * vectors).sum(axis=-1, keepdims=True)) + 1e-6)


class OcSortTracker(Tracker):
    """OC-SORT (see module doc)."""

    name = "ocsort"
    Params = OcSortParams
    params: OcSortParams
    _model = XYSRModel()

    def _reset_state(self) -> None:
        k = self.params.delta_t
        self._tracks = TrackTable(
            {
                "mean": ((7,), np.float64, 0.0),
                "cov": ((7, 7), np.float64, 0.0),
                "track_id": ((), np.int64, 0),
                "row": ((), np.int64, -1),
                "since_update": ((), np.int64, 0),
                "hit_streak": ((), np.int64, 0),
                # observations: the last one, and a ring of the last delta_t (by frame count)
                "has_obs": ((), np.bool_, False),
                "last_obs": ((4,), np.float64, -1.0),
                "last_obs_at": ((), np.int64, _NEVER),
                "ring": ((k, 4), np.float64, 0.0),
                "ring_at": ((k,), np.int64, _NEVER),
                "velocity": ((2,), np.float64, 0.0),  # unit direction (dx, dy) of recent motion
                # filter state saved when the track was lost, for the re-update
                "observed": ((), np.bool_, False),
                "frozen": ((), np.bool_, False),
                "frozen_mean": ((7,), np.float64, 0.0),
                "frozen_cov": ((7, 7), np.float64, 0.0),
            }
        )
        self._count = 0

    def _auto_params(self, profile: DetectionProfile) -> dict[str, Any]:
        """``preset="auto"``: see the module doc, "Defaults that follow the detections"."""
        th = profile.thresholds
        if profile.kind == "alike":
            return {"det_thresh": below(th.high)}
        if profile.kind == "graded":
            return {
                "det_thresh": th.high,
                "low_thresh": th.low,
                "use_byte": True,
                "min_hits": 1,
                "output_box": "kalman",
            }
        return {}

    # ------------------------------------------------------------------ per frame
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
        now = self._count
        high = np.flatnonzero(score > p.det_thresh)
        dets = xyxy[high]
        t.row[:] = -1

        if len(t):
            mean = t.mean.copy()
            mean[mean[:, 6] + mean[:, 2] <= 0, 6] = 0.0
            t.mean, t.cov = model.predict(mean, t.cov)
            if affine is not None:
                self._warp(affine)
            t.hit_streak[t.since_update > 0] = 0
            t.since_update += 1
            boxes = model.to_xyxy(t.mean)
            finite = np.isfinite(boxes).all(axis=1)
            if not finite.all():
                t.keep(finite)
                boxes = boxes[finite]
        else:
            boxes = np.zeros((0, 4))
        previous, has_previous = self._previous_observations(now)

        # 1. IoU plus motion-direction agreement against the predictions.
        iou = iou_matrix(dets, boxes)
        cost = -(iou + self._direction_score(dets, score[high], previous, has_previous))
        m1, free_dets, free_trks = match_by_similarity(iou, p.iou_threshold, cost=cost, unique_shortcut=True)
        upd_tracks, upd_rows = [m1[:, 1]], [high[m1[:, 0]]]

        # 1b. Optionally low-score boxes against the remaining predictions (BYTE).
        if p.use_byte and len(free_trks):
            low = np.flatnonzero((score > p.low_thresh) & (score < p.det_thresh))
            pairs = self._rematch(xyxy[low], boxes[free_trks])
            if len(pairs):
                upd_tracks.append(free_trks[pairs[:, 1]])
                upd_rows.append(low[pairs[:, 0]])
                free_trks = np.setdiff1d(free_trks, free_trks[pairs[:, 1]])

        # 2. Recovery: what is left, against the tracks' last observations.
        if len(free_dets) and len(free_trks):
            pairs = self._rematch(dets[free_dets], np.where(t.has_obs[free_trks, None], t.last_obs[free_trks], 0.0))
            if len(pairs):
                upd_tracks.append(free_trks[pairs[:, 1]])
                upd_rows.append(high[free_dets[pairs[:, 0]]])
                free_dets = np.setdiff1d(free_dets, free_dets[pairs[:, 0]])
                free_trks = np.setdiff1d(free_trks, free_trks[pairs[:, 1]])

        ti, di = np.concatenate(upd_tracks), np.concatenate(upd_rows)
        self._observe(ti, xyxy[di], di, previous[ti], has_previous[ti], now)
        self._miss(free_trks)

        if len(free_dets):
            mean0, cov0 = model.initiate(model.to_measurement(dets[free_dets]))
            t.add(len(free_dets), mean=mean0, cov=cov0, row=high[free_dets])

        shown = (t.since_update < 1) & ((t.hit_streak >= p.min_hits) | (now <= p.min_hits))
        out = np.flatnonzero(shown)
        ids = assign_public_ids(t.track_id, out, self._ids)
        rows = t.row[out]
        out_boxes = xyxy[rows] if p.output_box == "detection" else model.to_xyxy(t.mean[out])
        t.keep(t.since_update <= int(p.frame_rate / 30.0 * p.max_age))
        return StepResult(rows, out_boxes, ids)

    # ------------------------------------------------------------------ pieces
    def _previous_observations(self, now: int) -> tuple[np.ndarray, np.ndarray]:
        """Each track's oldest observation of the last ``delta_t`` frames, else its last one."""
        t = self._tracks
        in_window = t.ring_at >= now - self.params.delta_t
        oldest = np.argmin(np.where(in_window, t.ring_at, np.iinfo(np.int64).max), axis=1)
        from_ring = in_window.any(axis=1)
        previous = np.where(from_ring[:, None], t.ring[np.arange(len(t)), oldest], t.last_obs)
        return previous, from_ring | t.has_obs

    def _direction_score(
        self, dets: np.ndarray, det_scores: np.ndarray, previous: np.ndarray, has_previous: np.ndarray
    ) -> np.ndarray:
        """OCM term ``(detections, tracks)``: agreement of directions, in ``[-1/2, 1/2] * inertia * score``."""
        if len(dets) == 0 or len(previous) == 0:
            return np.zeros((len(dets), len(previous)))
        to_det = _unit(_centres(dets)[:, None, :] - _centres(previous)[None, :, :])
        cos = np.minimum(np.maximum(np.einsum("dtk,tk->dt", to_det, self._tracks.velocity), -1.0), 1.0)
        agreement = (np.pi / 2.0 - np.abs(np.arccos(cos))) / np.pi
        return agreement * has_previous[None, :] * self.params.inertia * det_scores[:, None].astype(np.float64)

    def _rematch(self, dets: np.ndarray, track_boxes: np.ndarray) -> np.ndarray:
        """Second-chance matching on IoU alone; ``(k, 2)`` ``[det, track]`` pairs."""
        iou = iou_matrix(dets, track_boxes)
        if iou.size == 0 or iou.max() <= self.params.iou_threshold:
            return np.zeros((0, 2), dtype=np.int64)
        pairs = assign(-iou)
        return pairs[iou[pairs[:, 0], pairs[:, 1]] >= self.params.iou_threshold]

    def _observe(
        self,
        ti: np.ndarray,
        boxes: np.ndarray,
        rows: np.ndarray,
        previous: np.ndarray,
        has_previous: np.ndarray,
        now: int,
    ) -> None:
        """Record matched observations: direction of motion, re-update after a gap, filter update."""
        if len(ti) == 0:
            return
        t, model = self._tracks, self._model
        had_obs = t.has_obs[ti]
        direction = _unit(_centres(boxes) - _centres(previous))
        t.velocity[ti[had_obs]] = direction[had_obs]

        observed, frozen = t.observed, t.frozen
        for i in np.flatnonzero(~observed[ti] & frozen[ti]):
            self._reupdate(int(ti[i]), boxes[i], now)
        mean, cov = t.mean, t.cov
        mean[ti], cov[ti] = model.update(mean[ti], cov[ti], model.to_measurement(boxes))
        observed[ti] = True
        frozen[ti] = False

        t.last_obs[ti] = boxes
        t.has_obs[ti] = True
        t.last_obs_at[ti] = now
        slot = now % self.params.delta_t
        t.ring[ti, slot] = boxes
        t.ring_at[ti, slot] = now
        t.since_update[ti] = 0
        t.hit_streak[ti] += 1
        t.row[ti] = rows

    def _reupdate(self, i: int, box: np.ndarray, now: int) -> None:
        """ORU: rewind track ``i`` to when it was lost and replay interpolated observations."""
        t, model = self._tracks, self._model
        gap = int(now - t.last_obs_at[i])
        mean, cov = t.frozen_mean[i : i + 1], t.frozen_cov[i : i + 1]
        start, end = t.last_obs[i], box
        w0, h0 = start[2:] - start[:2]
        w1, h1 = end[2:] - end[:2]
        c0, c1 = _centres(start[None])[0], _centres(end[None])[0]
        for step in range(1, gap + 1):
            f = step / gap
            c = c0 + f * (c1 - c0)
            w, h = w0 + f * (w1 - w0), h0 + f * (h1 - h0)
            z = np.array([[c[0], c[1], w * h, w / (h + 1e-6)]])
            mean, cov = model.update(mean, cov, z)
            if step < gap:
                mean, cov = model.predict(mean, cov)
        t.mean[i], t.cov[i] = mean[0], cov[0]

    def _miss(self, ti: np.ndarray) -> None:
        """Unmatched tracks: save the filter state the first time they go unobserved."""
        t = self._tracks
        first = ti[t.observed[ti]]
        t.frozen_mean[first] = t.mean[first]
        t.frozen_cov[first] = t.cov[first]
        t.frozen[first] = True
        t.observed[ti] = False

    def _warp(self, affine: np.ndarray) -> None:
        """Camera motion: move states, saved states, observations and directions."""
        t, model = self._tracks, self._model
        t.mean, t.cov = model.warp(t.mean, t.cov, affine)
        t.frozen_mean, t.frozen_cov = model.warp(t.frozen_mean, t.frozen_cov, affine)
        t.last_obs = np.where(t.has_obs[:, None], warp_boxes(t.last_obs, affine), t.last_obs)
        k = self.params.delta_t
        t.ring = warp_boxes(t.ring.reshape(-1, 4), affine).reshape(len(t), k, 4)
        t.velocity = _unit(t.velocity @ affine[:, :2].T) * (np.abs(t.velocity).sum(axis=1, keepdims=True) > 0)
