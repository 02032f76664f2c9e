"""ByteTrack: associate every detection box, the low-score ones too (Zhang et al., ECCV 2022).

Detections are split by score. High-score boxes (``> track_thresh``) are matched first to every
confirmed or lost track (Kalman predictions, IoU distance weighted by the detection score,
assignment with a cost limit). Low-score boxes (``low_thresh < score < track_thresh``), which are
mostly occluded objects, are then matched to the confirmed tracks matched last frame and still
unmatched; they can extend a track but never start one. Remaining high-score boxes are offered to
the tracks started last frame (still unconfirmed); whatever is left and scores at least
``new_track_thresh`` starts a new track, which is output from its second match on (from its first
in the video's first frame). Unmatched tracks are kept as lost for ``track_buffer`` frames at 30
fps (``frame_rate`` scales it: pass the video's real rate) and can be re-found; a tracked and a
lost track that overlap almost completely are merged by dropping the younger.

Defaults that follow the detections: with ``preset="auto"`` (the default) the thresholds and some
options are chosen from the video's detection scores before tracking (:mod:`.adaptive`; parameters
set explicitly are kept, and ``settings()`` says what was chosen):

- graded scores (a detector's): the first-stage threshold is Otsu's split of the scores, and the
  boxes above it may also start tracks (the official ``track_thresh + 0.1`` assumes where a
  detector puts its scores); noisy boxes are output as detected rather than smoothed, pairs are
  dropped after the assignment instead of limiting it, and low-score boxes are offered to every
  unmatched track (they are the only trace of a partly hidden object);
- scores all alike (refined or ground-truth-like boxes): every box is a first-stage box, output as
  it is, followed by its corners, and matched down to an IoU of 0.1 with the prediction.

These options were chosen on MOT17-02 and MOT17-04 (public and refined detections) and are reported
on the other benchmark sets (BENCHMARKS.md, "Trackers").

``preset="official"`` follows the official implementation step by step, including its thresholds,
and outputs the Kalman filter's corrected estimate, as the official tracker writes its results. Each
step where re-implementations differ is a parameter, so every variant is one configuration of
the same code (the benchmark in ``benchmarks/bench_trackers.py`` measures each on real data):

- ``match_thresh`` / ``low_match_thresh`` / ``unconfirmed_match_thresh``: the distance limit of
  each stage (the official 0.8 / 0.5 / 0.7; Roboflow's ``trackers`` uses IoU >= 0.1, i.e. 0.9, in
  both of its stages);
- ``fuse_score``: weight IoU by the detection score in stages 1 and 3;
- ``unconfirmed_stage``: tracks started last frame get their own stricter stage 3, or join
  stages 1 and 2 like every track;
- ``low_stage_tracks``: low-score boxes go to tracks matched last frame only, or to every
  unmatched track, lost ones included;
- ``assignment``: the limit built into the assignment (lapjv's ``cost_limit``), or the full
  assignment solved first and the pairs over the limit dropped (SORT's rule);
- ``kalman``: the size-scaled centre/aspect/height filter, or a corner filter with fixed pixel
  noise (:class:`~selftrack.trackers.kalman.XYXYModel`);
- ``merge_duplicates``, ``activate_first_frame`` and ``output_box`` (the filter's box or the
  matched detection).

Roboflow's ``ByteTrackTracker`` (v2.6.1) is reproduced, to the same scores on every benchmark set
(it counts a score equal to its high threshold as high, and takes low-score boxes down to 0), by
``preset="official", track_thresh=0.6, low_thresh=0, new_track_thresh=0.7, match_thresh=0.9, low_match_thresh=0.9,
fuse_score=False, unconfirmed_stage=False, low_stage_tracks="all", assignment="filter",
kalman="xyxy", merge_duplicates=False, activate_first_frame=False, output_box="detection"``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from selftrack.core.boxes import iou_matrix
from selftrack.trackers.adaptive import PRESET_HELP, DetectionProfile, Preset, below
from selftrack.trackers.base import StepResult, Tracker, TrackerParams
from selftrack.trackers.kalman import XYAHModel, XYXYModel
from selftrack.trackers.lifecycle import LOST, TRACKED, TrackTable, assign_public_ids
from selftrack.trackers.matching import assign, fuse_score, iou_distance, split_matches


class ByteTrackParams(TrackerParams):
    preset: Preset = Field("auto", description=PRESET_HELP)
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
        description="Stage 1: largest distance (1 - IoU, or 1 - IoU x score with fuse_score) to match high-score boxes.",
    )
    low_match_thresh: float = Field(
        0.5, ge=0.0, le=1.0, description="Stage 2: largest distance (1 - IoU) to match low-score boxes to tracks."
    )
    unconfirmed_match_thresh: float = Field(
        0.7,
        ge=0.0,
        le=1.0,
        description="Stage 3 (with unconfirmed_stage): largest distance to match a track started last frame.",
    )
    track_buffer: int = Field(30, ge=0, description="Frames (at 30 fps) a lost track is kept for re-finding.")
    frame_rate: float = Field(30.0, gt=0.0, description="Frame rate of the video; scales track_buffer.")
    fuse_score: bool = Field(
        True, description="Weight IoU by the detection score in the high-score matching (off for MOT20 in the paper)."
    )
    unconfirmed_stage: bool = Field(
        True,
        description="Match tracks started last frame in a separate third stage (official); off: they join "
        "stages 1 and 2 like any track.",
    )
    low_stage_tracks: Literal["tracked", "all"] = Field(
        "tracked",
        description="Tracks offered low-score boxes in stage 2: confirmed tracks matched last frame (official), "
        "or every track left from stage 1 (lost ones too).",
    )
    kalman: Literal["xyah", "xyxy"] = Field(
        "xyah",
        description="Kalman filter: centre, aspect, height with size-scaled noise (official), or two corners with "
        "fixed pixel noise.",
    )
    assignment: Literal["cost_limit", "filter"] = Field(
        "cost_limit",
        description="How a stage's distance limit applies: pairs over it are left out of the assignment "
        "(lapjv's cost_limit, official), or the assignment is solved first and pairs over it dropped (SORT's rule).",
    )
    activate_first_frame: bool = Field(
        True,
        description="Output tracks started in the video's first frame at once (official); off: from their "
        "second match, like tracks started later.",
    )
    merge_duplicates: bool = Field(
        True, description="Drop the younger of a tracked and a lost track that overlap almost completely (official)."
    )
    output_box: Literal["kalman", "detection"] = Field(
        "kalman", description="Box output for a track: the Kalman estimate (official) or the matched detection."
    )


_MODELS = {"xyah": XYAHModel(), "xyxy": XYXYModel()}
# preset="auto"'s options per kind of detections (see the module doc and selftrack.trackers.adaptive)
ALIKE_OPTIONS: dict[str, Any] = {
    "output_box": "detection",
    "assignment": "filter",
    "kalman": "xyxy",
    "match_thresh": 0.9,
    "low_match_thresh": 0.9,
}
GRADED_OPTIONS: dict[str, Any] = {"output_box": "detection", "assignment": "filter", "low_stage_tracks": "all"}


class ByteTrackTracker(Tracker):
    """ByteTrack (see module doc)."""

    name = "bytetrack"
    Params = ByteTrackParams
    params: ByteTrackParams

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

    def _auto_params(self, profile: DetectionProfile) -> dict[str, Any]:
        """``preset="auto"``: see the module doc, "Defaults that follow the detections"."""
        th = profile.thresholds
        if profile.kind == "alike":
            return {
                "track_thresh": below(th.high),
                "new_track_thresh": below(th.high),
                **ALIKE_OPTIONS,
            }
        if profile.kind == "graded":
            return {
                "track_thresh": th.high,
                "low_thresh": th.low,
                "new_track_thresh": th.high,
                **GRADED_OPTIONS,
            }
        return {}

    @property
    def _new_thresh(self) -> float:
        p = self.params
        return p.track_thresh + 0.1 if p.new_track_thresh is None else p.new_track_thresh

    @property
    def _max_time_lost(self) -> int:
        return int(self.params.frame_rate / 30.0 * self.params.track_buffer)

    def _step(
        self,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_id: np.ndarray,
        affine: np.ndarray | None,
        features: np.ndarray | None = None,
    ) -> StepResult:
        p, t = self.params, self._tracks
        model = _MODELS[p.kalman]
        self._count += 1
        frame_id = self._count
        high = np.flatnonzero(score > p.track_thresh)
        low = np.flatnonzero((score > p.low_thresh) & (score < p.track_thresh))
        t.row[:] = -1
        after = p.assignment == "filter"
        was_lost = t.state == LOST

        # Predict the tracks of stage 1: confirmed and lost ones (and, without a separate stage for
        # them, the tracks started last frame). A lost track keeps moving but its height stops changing.
        pool = np.flatnonzero(t.activated) if p.unconfirmed_stage else np.arange(len(t))
        if len(pool):
            mean = t.mean[pool]
            if p.kalman == "xyah":
                mean[was_lost[pool], 7] = 0.0
            t.mean[pool], t.cov[pool] = model.predict(mean, t.cov[pool])
        if affine is not None and len(t):
            t.mean, t.cov = model.warp(t.mean, t.cov, affine)
        pool_iou = iou_matrix(model.to_xyxy(t.mean[pool]), xyxy)  # predictions x every box of the frame

        # 1. High-score boxes against the pool.
        dist = 1.0 - pool_iou[:, high]
        if p.fuse_score:
            dist = fuse_score(dist, score[high])
        m1, free_pool, free_high = split_matches(assign(dist, p.match_thresh, limit_after=after), len(pool), len(high))
        upd_tracks = [pool[m1[:, 0]]]
        upd_rows = [high[m1[:, 1]]]

        # 2. Low-score boxes against the tracks left: those tracked last frame, or all of them.
        left = pool[free_pool]
        offered = np.ones(len(left), dtype=bool)
        if p.low_stage_tracks == "tracked":
            offered = (t.state[left] == TRACKED) & t.activated[left]
        candidates = left[offered]
        dist = 1.0 - pool_iou[np.ix_(free_pool[offered], low)]
        m2, _, _ = split_matches(assign(dist, p.low_match_thresh, limit_after=after), len(candidates), len(low))
        upd_tracks.append(candidates[m2[:, 0]])
        upd_rows.append(low[m2[:, 1]])
        unmatched = np.setdiff1d(left, candidates[m2[:, 0]], assume_unique=True)
        newly_lost = unmatched[(t.state[unmatched] == TRACKED) & t.activated[unmatched]]
        dropped = [unmatched[~t.activated[unmatched]]]  # tracks started last frame and not found again

        # 3. Remaining high-score boxes against tracks started last frame (not predicted).
        rest = high[free_high]
        if p.unconfirmed_stage:
            unconfirmed = np.flatnonzero((t.state == TRACKED) & ~t.activated)
            m3, free_unconfirmed, free_rest = split_matches(np.zeros((0, 2), np.int64), len(unconfirmed), len(rest))
            if len(unconfirmed) and len(rest):
                dist = iou_distance(model.to_xyxy(t.mean[unconfirmed]), xyxy[rest])
                if p.fuse_score:
                    dist = fuse_score(dist, score[rest])
                m3, free_unconfirmed, free_rest = split_matches(
                    assign(dist, p.unconfirmed_match_thresh, limit_after=after), len(unconfirmed), len(rest)
                )
            upd_tracks.append(unconfirmed[m3[:, 0]])
            upd_rows.append(rest[m3[:, 1]])
            dropped.append(unconfirmed[free_unconfirmed])
            rest = rest[free_rest]

        ti, di = np.concatenate(upd_tracks), np.concatenate(upd_rows)
        if len(ti):
            t.mean[ti], t.cov[ti] = model.update(t.mean[ti], t.cov[ti], model.to_measurement(xyxy[di]))
            t.state[ti] = TRACKED
            t.activated[ti] = True
            t.last[ti] = frame_id
            t.row[ti] = di
        t.state[newly_lost] = LOST

        alive = np.ones(len(t), dtype=bool)
        alive[np.concatenate(dropped)] = False
        alive &= ~(was_lost & (t.state == LOST) & (frame_id - t.last > self._max_time_lost))

        # 4. New tracks from what is left and scores high enough.
        starters = rest[score[rest] >= self._new_thresh]
        if len(starters):
            mean0, cov0 = model.initiate(model.to_measurement(xyxy[starters]))
            t.add(
                len(starters),
                mean=mean0,
                cov=cov0,
                state=TRACKED,
                activated=frame_id == 1 and p.activate_first_frame,
                start=frame_id,
                last=frame_id,
                row=starters,
            )
            alive = np.concatenate([alive, np.ones(len(starters), dtype=bool)])

        # 5. A tracked and a lost track on the same spot: keep the one tracked for longer.
        if p.merge_duplicates:
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
