"""ByteTrack: associate every detection box, the low-score ones too (Zhang et al., ECCV 2022).

Detections are split by score. High-score boxes (``> track_thresh``) are matched first to every
confirmed or lost track (Kalman predictions, IoU distance weighted by the detection score,
assignment with a cost limit). Low-score boxes (``low_thresh < score < track_thresh``), which are
mostly occluded objects, are then matched to the confirmed tracks still unmatched; they can extend
a track but never start one. Remaining high-score boxes are offered to the tracks started last
frame (still unconfirmed); whatever is left and scores at least ``new_track_thresh`` starts a new
track, which is output from its second match on (from its first in the video's first frame).
Unmatched tracks are kept as lost for ``track_buffer`` frames (at 30 fps) and can be re-found;
a tracked and a lost track that overlap almost completely are merged by dropping the younger.

This follows the official implementation step by step, including its thresholds. Output boxes
are the Kalman filter's corrected estimate, as the official tracker writes them, or the matched
detection with ``output_box="detection"``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from selftrack.core.boxes import iou_matrix
from selftrack.trackers.base import StepResult, Tracker, TrackerParams
from selftrack.trackers.kalman import XYAHModel
from selftrack.trackers.lifecycle import LOST, TRACKED, TrackTable, assign_public_ids
from selftrack.trackers.matching import assign, fuse_score, iou_distance, split_matches


class ByteTrackParams(TrackerParams):
    track_thresh: float = Field(
        0.5, ge=0.0, description="Detections scoring above this are high-score boxes (matched first)."
    )
    low_thresh: float = Field(
        0.1, ge=0.0, description="Detections scoring above this but below track_thresh are low-score boxes."
    )
    new_track_thresh: float | None = Field(
        None,
        ge=0.0,
        description="Least score for an unmatched high-score box to start a track; unset: track_thresh + 0.1.",
    )
    match_thresh: float = Field(
        0.8,
        ge=0.0,
        le=1.0,
        description="Largest distance (1 - IoU x score) for matching high-score boxes to tracks.",
    )
    low_match_thresh: float = Field(
        0.5, ge=0.0, le=1.0, description="Largest distance (1 - IoU) for matching low-score boxes to tracks."
    )
    unconfirmed_match_thresh: float = Field(
        0.7, ge=0.0, le=1.0, description="Largest distance for matching a track started last frame."
    )
    track_buffer: int = Field(30, ge=0, description="Frames (at 30 fps) a lost track is kept for re-finding.")
    frame_rate: float = Field(30.0, gt=0.0, description="Frame rate of the video; scales track_buffer.")
    fuse_score: bool = Field(
        True, description="Weight IoU by the detection score in the high-score matching (off for MOT20 in the paper)."
    )
    output_box: Literal["kalman", "detection"] = Field(
        "kalman", description="Box output for a track: the Kalman estimate (official) or the matched detection."
    )


class ByteTrackTracker(Tracker):
    """ByteTrack (see module doc)."""

    name = "bytetrack"
    Params = ByteTrackParams
    params: ByteTrackParams
    _model = XYAHModel()

    def _reset_state(self) -> None:
        self._tracks = TrackTable(
            {
                "mean": ((8,), np.float64, 0.0),
                "cov": ((8, 8), np.float64, 0.0),
                "state": ((), np.int8, TRACKED),
                "activated": ((), np.bool_, False),
                "track_id": ((), np.int64, 0),
                "row": ((), np.int64, -1),
                "start": ((), np.int64, 0),
                "last": ((), np.int64, 0),
            }
        )
        self._count = 0

    @property
    def _new_thresh(self) -> float:
        p = self.params
        return p.track_thresh + 0.1 if p.new_track_thresh is None else p.new_track_thresh

    @property
    def _max_time_lost(self) -> int:
        return int(self.params.frame_rate / 30.0 * self.params.track_buffer)

    def _step(self, xyxy: np.ndarray, score: np.ndarray, class_id: np.ndarray, affine: np.ndarray | None) -> StepResult:
        p, t, model = self.params, self._tracks, self._model
        self._count += 1
        frame_id = self._count
        high = np.flatnonzero(score > p.track_thresh)
        low = np.flatnonzero((score > p.low_thresh) & (score < p.track_thresh))
        t.row[:] = -1
        was_lost = t.state == LOST

        # Predict confirmed and lost tracks; a lost track keeps moving but its height stops changing.
        pool = np.flatnonzero(t.activated)
        if len(pool):
            mean = t.mean[pool]
            mean[was_lost[pool], 7] = 0.0
            t.mean[pool], t.cov[pool] = model.predict(mean, t.cov[pool])
        if affine is not None and len(t):
            t.mean, t.cov = model.warp(t.mean, t.cov, affine)
        pool_iou = iou_matrix(model.to_xyxy(t.mean[pool]), xyxy)  # predictions x every box of the frame

        # 1. High-score boxes against confirmed and lost tracks.
        dist = 1.0 - pool_iou[:, high]
        if p.fuse_score:
            dist = fuse_score(dist, score[high])
        m1, free_pool, free_high = split_matches(assign(dist, p.match_thresh), len(pool), len(high))
        upd_tracks = [pool[m1[:, 0]]]
        upd_rows = [high[m1[:, 1]]]

        # 2. Low-score boxes against the confirmed tracks that were tracked last frame.
        left = pool[free_pool]
        was_tracked = t.state[left] == TRACKED
        left_tracked = left[was_tracked]
        dist = 1.0 - pool_iou[np.ix_(free_pool[was_tracked], low)]
        m2, free_tracked, _ = split_matches(assign(dist, p.low_match_thresh), len(left_tracked), len(low))
        upd_tracks.append(left_tracked[m2[:, 0]])
        upd_rows.append(low[m2[:, 1]])
        newly_lost = left_tracked[free_tracked]

        # 3. Remaining high-score boxes against tracks started last frame (not predicted).
        unconfirmed = np.flatnonzero((t.state == TRACKED) & ~t.activated)
        rest = high[free_high]
        m3, free_unconfirmed, free_rest = split_matches(np.zeros((0, 2), np.int64), len(unconfirmed), len(rest))
        if len(unconfirmed) and len(rest):
            dist = iou_distance(model.to_xyxy(t.mean[unconfirmed]), xyxy[rest])
            if p.fuse_score:
                dist = fuse_score(dist, score[rest])
            m3, free_unconfirmed, free_rest = split_matches(
                assign(dist, p.unconfirmed_match_thresh), len(unconfirmed), len(rest)
            )
        upd_tracks.append(unconfirmed[m3[:, 0]])
        upd_rows.append(rest[m3[:, 1]])

        ti, di = np.concatenate(upd_tracks), np.concatenate(upd_rows)
        if len(ti):
            t.mean[ti], t.cov[ti] = model.update(t.mean[ti], t.cov[ti], model.to_measurement(xyxy[di]))
            t.state[ti] = TRACKED
            t.activated[ti] = True
            t.last[ti] = frame_id
            t.row[ti] = di
        t.state[newly_lost] = LOST

        alive = np.ones(len(t), dtype=bool)
        alive[unconfirmed[free_unconfirmed]] = False
        alive &= ~(was_lost & (t.state == LOST) & (frame_id - t.last > self._max_time_lost))

        # 4. New tracks from what is left and scores high enough.
        starters = rest[free_rest]
        starters = starters[score[starters] >= self._new_thresh]
        if len(starters):
            mean0, cov0 = model.initiate(model.to_measurement(xyxy[starters]))
            t.add(
                len(starters),
                mean=mean0,
                cov=cov0,
                state=TRACKED,
                activated=frame_id == 1,
                start=frame_id,
                last=frame_id,
                row=starters,
            )
            alive = np.concatenate([alive, np.ones(len(starters), dtype=bool)])

        # 5. A tracked and a lost track on the same spot: keep the one tracked for longer.
        tracked = np.flatnonzero(alive & (t.state == TRACKED))
        lost = np.flatnonzero(alive & (t.state == LOST))
        if len(tracked) and len(lost):
            boxes = model.to_xyxy(t.mean)
            pi, qi = np.nonzero(iou_distance(boxes[tracked], boxes[lost]) < 0.15)
            if len(pi):
                a, b = tracked[pi], lost[qi]
                older = (t.last[a] - t.start[a]) > (t.last[b] - t.start[b])
                alive[b[older]] = False
                alive[a[~older]] = False

        out = np.flatnonzero(alive & (t.state == TRACKED) & t.activated)
        ids = assign_public_ids(t.track_id, out, self._ids)
        rows = t.row[out]
        out_boxes = model.to_xyxy(t.mean[out]) if p.output_box == "kalman" else xyxy[rows]
        t.keep(alive)
        return StepResult(rows, out_boxes, ids)
