"""The re-identification tracker: motion association plus the learned appearance model.

Three motion models (``ReidTrackerParams.motion``):

- ``"kalman"`` (default): the constant-velocity Kalman filter of the classic trackers
  (:class:`~selftrack.trackers.kalman.XYAHModel`, as in ByteTrack) predicts every track; high-score
  detections are matched first on ``IoU(prediction, box) + reid_weight * P_appearance``, then
  low-score detections extend tracks that were seen last frame (ByteTrack's second stage, IoU
  only), then tracks lost for longer are **re-linked** to the remaining boxes by appearance alone,
  inside a spatial gate that widens with the time lost. A box at the image border is someone
  entering the view and is not re-linked online (unless ``relink_at_border``): whether they were
  here before is decided offline, by stitching, which sees every exit and every entry at once.
- ``"velocity"``: SkyhookML's heuristic: a box moves by its displacement over the last
  ``velocity_steps`` frames, divided by the frames between (same association stages).
- ``"uns20"``: UNS20's own inference, as published: the recurrent box matcher (its hidden state
  carried along each track) and the appearance matcher each give ``min(row, column softmax)``
  matrices whose element-wise minimum is the score; a pair is forbidden when either raw logit is
  negative; each track votes for its best column (or the terminal "none" column) and each
  detection keeps its best voter (greedy); unmatched tracks live ``max_age`` frames.

``P_appearance`` is UNS20's appearance matrix: each track is queried with its crops 1, 2, 4, 8
and 16 matches back (its current look and older ones, which survive a short occlusion), logits
are averaged over the queries, a terminal column with the learned "no match" logit is appended,
and ``P = min(softmax over tracks, softmax over detections)``: a detection that looks like two
tracks, or a track that looks like two detections, gets a low score for both.

SkyhookML's parameters keep their meaning and defaults (``velocity_steps`` 5, ``min_iou`` 0.1,
``max_age`` 10, ``reid_weight`` 1), and ``min_iou`` is honoured (SkyhookML's tracker ignored it and
always used 0.1): ``min_iou=0`` lets appearance link boxes that do not overlap the prediction.

A track's appearance history learns only from *clean* crops (``clean_crop_iou``: the box overlaps no
other box) that the appearance matcher accepts (``history_needs_appearance``: a box matched on
overlap alone while the matcher prefers "no match" is not learnt as the track's look).

After the online pass, track fragments are **stitched** by appearance (``stitch_max_seconds``,
see :meth:`ReidTracker._stitch`: a track that left the view joins one that entered later; a
track lost inside the view joins one that starts near it), tracks shorter than
``min_track_length`` boxes are dropped and gaps of up to ``max_interpolation_gap`` frames are
filled by linear interpolation (UNS20's post-processing).

The defaults are one setting for both benchmark scenes (PETS09-S2L1 frames 1-400 and the
generated plaza of ``benchmarks/bench_reid.py``), chosen by the mean and the worst HOTA over 8 + 4
training seeds. What each rule gains there (mean HOTA over the 8 PETS09 / 4 plaza models,
``bench_reid.py`` ablation rows):

- clean-crop history (``clean_crop_iou`` 0.1): +1.7 PETS09 (worst model +5.0), +0.6 plaza;
- the border rules (``border_margin``): +0.4 PETS09, +26.3 plaza; no online re-linking to boxes
  at the border alone (``relink_at_border`` off): +4.1 plaza (worst model +6.0), 0 PETS09;
- appearance-checked history (``history_needs_appearance``): +0.4 PETS09 over 10 models (worst model
  44.9 -> 46.7 HOTA: seed 8's identity switch in the crowd at frames 150-175 is gone, seed 5 loses
  1.3 there), 0.0 plaza (one model -0.06); the PETS09 mean rose for 6 of 7 neighbouring settings;
- ``stitch_window`` 16 instead of 8: +2.1 plaza (worst model +3.3), 0 PETS09;
- stitching as a whole: +35.5 plaza, -0.9 PETS09 (the earlier rule, without the border logic and
  with a 100-frame limit: +19.4 plaza, -1.5 PETS09).

Re-entries follow the generated scene's ground truth (one identity per person); PETS09's ground
truth gives a person who comes back a new identity, and there ``stitch_reentry=False`` scores 1.1
HOTA more (and 35.5 less on the plaza).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import pydantic
from pydantic import BaseModel, ConfigDict, Field

from selftrack.core.boxes import iou_matrix
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.checkpoint import ReidModel, load_reid_model, resolve_device
from selftrack.reid.heads import NumpyHeads, min_softmax
from selftrack.reid.model import box_features
from selftrack.trackers.base import IdCounter
from selftrack.trackers.kalman import XYAHModel
from selftrack.trackers.lifecycle import TrackTable
from selftrack.trackers.matching import assign, greedy_best_match
from selftrack.trackers.postprocess import drop_short_tracks, interpolate_tracks

_NEG = -1e9
_ASSUMED_FPS = 10.0  # frame rate for stitching's speed gate when the video's is unknown (stitch_max_gap set)
_EMPTY_STEP = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 4)))


class ReidTrackerParams(BaseModel):
    """Parameters of :class:`ReidTracker` (SkyhookML's four first, then UNS20's and ours)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    velocity_steps: int = Field(
        5, ge=1, description="Frames over which velocity is measured (motion='velocity', SkyhookML's heuristic)."
    )
    min_iou: float = Field(
        0.1, ge=0.0, le=1.0, description="Least IoU between a track's predicted box and a detection to match them."
    )
    max_age: int = Field(10, ge=0, description="Frames a track may go unmatched and still be matched by motion.")
    reid_weight: float = Field(
        1.0, ge=0.0, description="Weight of the appearance probability added to the IoU; 0 turns appearance off."
    )
    motion: Literal["kalman", "velocity", "uns20"] = Field(
        "kalman",
        description="Motion model: Kalman filter, SkyhookML's velocity heuristic, or UNS20's recurrent matcher.",
    )
    matching: Literal["hungarian", "greedy"] = Field(
        "hungarian", description="Assignment: optimal (Hungarian) or greedy best-match (SkyhookML, UNS20)."
    )
    high_score: float = Field(
        0.8,
        ge=0.0,
        description="Detections scoring at least this are matched first (with appearance) and may start tracks; "
        "lower it for a detector whose true boxes often score below 0.8.",
    )
    low_score: float = Field(
        0.1, ge=0.0, description="Detections scoring at least this (below high_score) only extend tracks (ByteTrack)."
    )
    low_min_iou: float = Field(0.5, ge=0.0, le=1.0, description="Least IoU to match a low-score detection.")
    new_track_score: float | None = Field(
        None, ge=0.0, description="Least score for a detection to start a track; unset: high_score."
    )
    relink_max_age: int = Field(
        30, ge=0, description="Frames a lost track may be re-linked to a new detection by appearance; 0: never."
    )
    relink_min_prob: float = Field(
        0.5, ge=0.0, le=1.0, description="Least appearance probability to re-link a lost track."
    )
    relink_at_border: bool = Field(
        False,
        description="Re-link a lost track to a box at the image border (someone entering) online; off: leave "
        "re-entries to offline stitching, which compares every exit with every entry.",
    )
    relink_speed: float = Field(
        0.35,
        ge=0.0,
        description="Re-linking gate: a lost track may have moved this many box heights per frame lost (plus one).",
    )
    appearance_veto: float | None = Field(
        None, description="Forbid motion matches whose appearance logit is below this (UNS20 gates at 0); unset: never."
    )
    appearance_score: Literal["prob", "sigmoid"] = Field(
        "prob",
        description="Appearance term of the matching score: UNS20's min-softmax probability, or sigmoid of the logit.",
    )
    output_box: Literal["kalman", "detection"] = Field(
        "kalman", description="Box output for a matched track: the Kalman estimate (motion='kalman') or the detection."
    )
    stitch_max_seconds: float = Field(
        6.0,
        ge=0.0,
        description="Offline: join a track's end to another track starting up to this many seconds later (needs the "
        "frame rate); 0: no stitching.",
    )
    stitch_max_gap: int = Field(
        0, ge=0, description="Offline: the same limit in frames, used instead of stitch_max_seconds when above 0."
    )
    stitch_reentry: bool = Field(
        True,
        description="Offline: join a track that left the view to one entering later (the same object came back); "
        "off: an object that comes back is a new track (the convention of some ground truths, e.g. PETS09's).",
    )
    stitch_speed: float = Field(
        1.0,
        ge=0.0,
        description="Offline: a track lost inside the view may continue this many box heights per second away "
        "(plus one).",
    )
    border_margin: float | None = Field(
        0.25,
        ge=0.0,
        description="A box this many of its heights or less from the image border is at the border (entering or "
        "leaving the view); stitching joins a track that left at the border only to one entering at the border, "
        "and online re-linking skips boxes at the border. Unset: no border rules.",
    )
    stitch_min_prob: float = Field(
        0.3, ge=0.0, le=1.0, description="Offline: least appearance probability to join two tracks."
    )
    stitch_window: int = Field(
        16,
        ge=1,
        description="Offline: crops at each track end compared when joining tracks (a track's last ones: at most "
        "max(history_offsets)).",
    )
    clean_crop_iou: float | None = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="A crop whose box overlaps another box of its frame by more IoU than this is not added to its "
        "track's appearance history (it shows two objects); unset: every crop is added.",
    )
    history_needs_appearance: bool = Field(
        True,
        description="A high-score box matched to a track joins the track's appearance history only when the "
        "appearance matcher prefers that match to 'no match' (P(track, box) > P(track, terminal)): a box taken on "
        "overlap alone, in a crowd, does not teach the track someone else's look. Off: every clean crop is added.",
    )
    history_offsets: tuple[int, ...] = Field(
        (1, 2, 4, 8, 16), description="Past crops (matches back) each track is queried with (UNS20: 1, 2, 4, 8, 16)."
    )
    min_track_length: int = Field(
        4, ge=0, description="Tracks with fewer boxes are dropped after tracking (UNS20 drops 3 or fewer)."
    )
    max_interpolation_gap: int = Field(
        20, ge=0, description="Gaps up to this many frames inside a track are filled by interpolation; 0: none."
    )

    @pydantic.field_validator("history_offsets")
    @classmethod
    def _offsets(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or min(v) < 1 or max(v) > 256:
            raise ValueError("history offsets must be between 1 and 256")
        return tuple(sorted(set(v)))


def _validated(params: ReidTrackerParams | None, overrides: dict[str, Any]) -> ReidTrackerParams:
    try:
        if params is None:
            return ReidTrackerParams(**overrides)
        return ReidTrackerParams.model_validate({**params.model_dump(), **overrides}) if overrides else params
    except pydantic.ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(params)'}: {e['msg']}" for e in exc.errors())
        raise ValidationError(f"invalid re-id tracker parameters: {problems}") from exc


class ReidTracker:
    """Online multi-object tracker using a trained re-id model (see module doc).

    Args:
        model: a loaded :class:`ReidModel`, or ``None`` for motion only (``reid_weight`` and
            re-linking are then unused; ``motion="uns20"`` needs a model).
        params: the parameters (defaults: :class:`ReidTrackerParams`), then ``overrides`` by name.

    Use :meth:`track` on a whole video's detections and appearance vectors
    (:func:`~selftrack.reid.embed.embed_video`), or :func:`track_with_reid` to stream a video.
    """

    def __init__(
        self, model: ReidModel | None = None, params: ReidTrackerParams | None = None, **overrides: Any
    ) -> None:
        self.params = _validated(params, overrides)
        if self.params.motion == "uns20":
            if model is None:
                raise ValidationError("motion='uns20' needs a trained re-id model")
            if not model.has_spatial:
                raise ValidationError(
                    f"motion='uns20' needs a model with a trained box matcher (stage 2); {model.path or 'the model'} "
                    f"has only {model.stages}"
                )
        self.model = model
        self.heads = NumpyHeads(model.net) if model is not None else None
        self._kalman = XYAHModel()
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self, frame_size: tuple[int, int] | None = None, fps: float | None = None) -> None:
        """Forget every track and restart ids at 1.

        ``frame_size`` (width, height) normalises boxes for motion='uns20' and locates the image
        border for stitching (unknown: no border rule); ``fps`` converts stitching's limits in
        seconds to frames.
        """
        p = self.params
        self._ids = IdCounter()
        self.canvas = tuple(frame_size) if frame_size is not None else None
        self.frame_size = self.canvas or (1, 1)
        self.fps = float(fps) if fps else None
        members = self.heads.members if self.heads else 1
        width = self.heads.width if self.heads else 1
        hidden = self.heads.hidden_dim if self.heads else 1
        self._hist_len = max(p.history_offsets)
        self._offsets = np.asarray(p.history_offsets, dtype=np.int64)
        v = p.velocity_steps + 1
        self._t = TrackTable(
            {
                "mean": ((8,), np.float64, 0.0),
                "cov": ((8, 8), np.float64, 0.0),
                "box": ((4,), np.float64, 0.0),
                "vel_box": ((v, 4), np.float64, 0.0),
                "vel_frame": ((v,), np.int64, -(2**40)),
                "track_id": ((), np.int64, 0),
                "last": ((), np.int64, 0),
                "hits": ((), np.int64, 0),
                "hist": ((self._hist_len, members, width), np.float32, 0.0),
                "hist_n": ((), np.int64, 0),
                "hidden": ((members, hidden), np.float32, 0.0),
                "sbox": ((4,), np.float32, 0.0),
                "head": ((p.stitch_window, members, width), np.float32, 0.0),
                "head_n": ((), np.int64, 0),
            }
        )
        self._ended: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    @property
    def _stitching(self) -> bool:
        p = self.params
        return self.heads is not None and (p.stitch_max_gap > 0 or p.stitch_max_seconds > 0)

    @property
    def num_tracks(self) -> int:
        return len(self._t)

    # ------------------------------------------------------------------ appearance
    def _app_logits(self, tracks: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Appearance logits ``(len(tracks), len(targets))``, averaged over each track's queries.

        Every track's crops ``history_offsets`` matches back are scored in one matcher call (a
        track that has fewer crops so far averages over those it has).
        """
        assert self.heads is not None
        if len(tracks) == 0 or len(targets) == 0:
            return np.zeros((len(tracks), len(targets)), dtype=np.float32)
        t, offsets = self._t, self._offsets
        n = t.hist_n[tracks]
        has = n[:, None] >= offsets[None, :]
        slot = (n[:, None] - offsets[None, :]) % self._hist_len
        queries = t.hist[tracks[:, None], slot]  # (tracks, offsets, members, width)
        k, j = has.shape
        logits = self.heads.logits(queries.reshape(k * j, *queries.shape[2:]), targets).reshape(k, j, -1)
        logits *= has[:, :, None]
        return logits.sum(axis=1) / np.maximum(has.sum(axis=1), 1)[:, None].astype(np.float32)

    def _app_matrix(self, logits: np.ndarray) -> np.ndarray:
        """``P`` with the terminal column last: ``min_softmax([logits, terminal])``."""
        assert self.heads is not None
        full = np.concatenate([logits, np.full((len(logits), 1), self.heads.terminal, np.float32)], axis=1)
        return min_softmax(full)

    # ------------------------------------------------------------------ assignment
    def _assign(self, score: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """``(k, 2)`` ``[row, col]`` pairs maximising ``score`` over allowed pairs with positive score."""
        if score.size == 0 or not allowed.any():
            return np.zeros((0, 2), dtype=np.int64)
        if self.params.matching == "greedy":
            pairs, _, _ = greedy_best_match(np.where(allowed, score, _NEG), 0.0)
            return pairs
        cost = np.where(allowed, -score, 1e6)
        pairs = assign(cost, cost_limit=0.0)
        return pairs[allowed[pairs[:, 0], pairs[:, 1]]]

    # ------------------------------------------------------------------ motion
    def _predict(self, frame: int) -> np.ndarray:
        t, p = self._t, self.params
        if len(t) == 0:
            return np.zeros((0, 4))
        if p.motion == "kalman":
            mean = t.mean.copy()
            mean[frame - t.last > 1, 7] = 0.0  # a lost track keeps its size (ByteTrack)
            t.mean, t.cov = self._kalman.predict(mean, t.cov)
            return self._kalman.to_xyxy(t.mean)
        # SkyhookML: displacement from the past box nearest to (last - velocity_steps), per frame
        target = t.last - p.velocity_steps
        dist = np.abs(t.vel_frame - target[:, None])
        ref = np.argmin(dist, axis=1)
        rows = np.arange(len(t))
        ref_box, ref_frame = t.vel_box[rows, ref], t.vel_frame[rows, ref]
        span = np.maximum(t.last - ref_frame, 1)
        valid = (ref_frame > -(2**39)) & (t.last > ref_frame)
        velocity = np.where(valid[:, None], (t.box - ref_box) / span[:, None], 0.0)
        return t.box + velocity * (frame - t.last)[:, None]

    def _observe(
        self,
        ti: np.ndarray,
        boxes: np.ndarray,
        queries: np.ndarray,
        frame: int,
        reinit: np.ndarray,
        targets: np.ndarray | None = None,
        clean: np.ndarray | None = None,
    ) -> None:
        """Record matched boxes: filter update, velocity ring, appearance history."""
        if len(ti) == 0:
            return
        t, p = self._t, self.params
        if p.motion == "kalman":
            z = self._kalman.to_measurement(boxes)
            upd = ~reinit
            if upd.any():
                t.mean[ti[upd]], t.cov[ti[upd]] = self._kalman.update(t.mean[ti[upd]], t.cov[ti[upd]], z[upd])
            if reinit.any():
                t.mean[ti[reinit]], t.cov[ti[reinit]] = self._kalman.initiate(z[reinit])
        slot = frame % (p.velocity_steps + 1)
        t.vel_box[ti, slot] = boxes
        t.vel_frame[ti, slot] = frame
        t.box[ti] = boxes
        t.last[ti] = frame
        t.hits[ti] += 1
        if self.heads is not None:
            keep = np.ones(len(ti), dtype=bool) if clean is None else clean | (t.hist_n[ti] == 0)
            tk = ti[keep]
            t.hist[tk, t.hist_n[tk] % self._hist_len] = queries[keep]
            t.hist_n[tk] += 1
            if targets is not None:
                early = keep & (t.head_n[ti] < p.stitch_window)
                te = ti[early]
                t.head[te, t.head_n[te]] = targets[early]
                t.head_n[te] += 1

    def _start(self, boxes: np.ndarray, queries: np.ndarray, frame: int, targets: np.ndarray) -> np.ndarray:
        n = len(boxes)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        t = self._t
        mean, cov = self._kalman.initiate(self._kalman.to_measurement(boxes))
        ids = self._ids.take(n)
        new = t.add(n, mean=mean, cov=cov, box=boxes, track_id=ids, last=frame, hits=1)
        slot = frame % (self.params.velocity_steps + 1)
        t.vel_box[new, slot] = boxes
        t.vel_frame[new, slot] = frame
        if self.heads is not None:
            t.hist[new, 0] = queries
            t.hist_n[new] = 1
            t.head[new, 0] = targets
            t.head_n[new] = 1
        t.sbox[new] = box_features(boxes, self.frame_size)
        return ids

    def _clean(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes that overlap no other box of the frame by more than ``clean_crop_iou``."""
        limit = self.params.clean_crop_iou
        if limit is None or len(xyxy) < 2:
            return np.ones(len(xyxy), dtype=bool)
        iou = iou_matrix(xyxy, xyxy)
        np.fill_diagonal(iou, 0.0)
        return iou.max(axis=1) <= limit

    @staticmethod
    def _appearance_agrees(prob: np.ndarray, ti: np.ndarray, di: np.ndarray, high: np.ndarray, n: int) -> np.ndarray:
        """Per match, whether the appearance matcher prefers it to "no match" (boxes it did not score: True).

        ``prob`` is the frame's ``P`` (tracks x high-score boxes, terminal column last). In a crowd
        the first stage may give a track a box on overlap alone while the matcher says the box shows
        someone else (a box that drifted onto a passer-by, or covers two people); learning that crop
        as the track's look makes the track claim the other person later (PETS09 frames 150-175: an
        identity switch for one training seed). Low-score boxes (second stage) are not scored and
        keep the clean-crop rule only.
        """
        col = np.full(n, -1)
        col[high] = np.arange(len(high))
        c = col[di]
        scored = c >= 0
        agree = np.ones(len(ti), dtype=bool)
        agree[scored] = prob[ti[scored], c[scored]] > prob[ti[scored], -1]
        return agree

    def _keep(self, mask: np.ndarray) -> None:
        """Drop the tracks not in ``mask``, keeping what offline stitching needs of them."""
        t = self._t
        gone = np.flatnonzero(~mask)
        if len(gone) and self._stitching:
            gone = gone[t.hits[gone] >= max(self.params.min_track_length, 1)]  # shorter ones are never stitched
            self._ended.append((t.track_id[gone], t.head[gone], t.head_n[gone], t.hist[gone], t.hist_n[gone]))
        t.keep(mask)

    def _track_summaries(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(track_id, head, head_n, hist, hist_n)`` of every track, ended or alive, by track id."""
        t = self._t
        parts = [*self._ended, (t.track_id, t.head, t.head_n, t.hist, t.hist_n)]
        cols = [np.concatenate([part[i] for part in parts]) for i in range(5)]
        order = np.argsort(cols[0], kind="stable")
        return tuple(c[order] for c in cols)  # type: ignore[return-value]

    # ------------------------------------------------------------------ one frame
    def step(
        self, frame: int, xyxy: np.ndarray, score: np.ndarray, features: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Track one frame; returns ``(rows, track_ids, boxes)``: input rows output this frame, their ids and boxes.

        ``features`` are the boxes' appearance vectors ``(n, members, dim)`` (required when the
        tracker has a model). Call for every frame in order, empty ones included.
        """
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        score = np.asarray(score, dtype=np.float64).reshape(-1)
        if self.heads is not None:
            if features is None or len(features) != len(xyxy):
                raise ValidationError(f"frame {frame}: the re-id tracker needs one appearance vector per box")
            targets = self.heads.target(features)
            queries = self.heads.query(features)
        else:
            targets = queries = np.zeros((len(xyxy), 1, 1), np.float32)
        if self.params.motion == "uns20":
            return self._step_uns20(frame, xyxy, score, targets, queries)
        return self._step_hybrid(frame, xyxy, score, targets, queries)

    def _step_hybrid(
        self, frame: int, xyxy: np.ndarray, score: np.ndarray, targets: np.ndarray, queries: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, t = self.params, self._t
        pred = self._predict(frame)
        age = frame - t.last
        high = np.flatnonzero(score >= p.high_score)
        low = np.flatnonzero((score >= p.low_score) & (score < p.high_score))
        ntr = len(t)
        use_app = self.heads is not None and ntr > 0 and len(high) > 0 and (p.reid_weight > 0 or p.relink_max_age > 0)
        logits = self._app_logits(np.arange(ntr), targets[high]) if use_app else None
        prob = self._app_matrix(logits) if logits is not None else None
        track_free = np.ones(ntr, dtype=bool)
        det_free = np.ones(len(xyxy), dtype=bool)
        mt: list[np.ndarray] = []
        md: list[np.ndarray] = []
        reinit: list[np.ndarray] = []

        # 1. high-score boxes against tracks seen within max_age: IoU + weighted appearance
        cand = np.flatnonzero(age <= p.max_age)
        if len(cand) and len(high):
            iou = iou_matrix(pred[cand], xyxy[high])
            allowed = iou >= p.min_iou
            sim = iou
            if prob is not None and logits is not None:
                if p.reid_weight > 0:
                    app = prob[cand][:, :-1] if p.appearance_score == "prob" else 1.0 / (1.0 + np.exp(-logits[cand]))
                    sim = iou + p.reid_weight * app
                if p.appearance_veto is not None:
                    allowed &= logits[cand] >= p.appearance_veto
            pairs = self._assign(sim, allowed)
            mt.append(cand[pairs[:, 0]])
            md.append(high[pairs[:, 1]])
            reinit.append(np.zeros(len(pairs), dtype=bool))
            track_free[cand[pairs[:, 0]]] = False
            det_free[high[pairs[:, 1]]] = False

        # 2. low-score boxes extend tracks that were matched last frame (IoU only)
        recent = np.flatnonzero(track_free & (age == 1))
        if len(recent) and len(low):
            iou = iou_matrix(pred[recent], xyxy[low])
            pairs = self._assign(iou, iou >= p.low_min_iou)
            mt.append(recent[pairs[:, 0]])
            md.append(low[pairs[:, 1]])
            reinit.append(np.zeros(len(pairs), dtype=bool))
            track_free[recent[pairs[:, 0]]] = False
            det_free[low[pairs[:, 1]]] = False

        # 3. re-link lost tracks to the remaining high-score boxes by appearance, spatially gated
        if prob is not None and p.relink_max_age > 0:
            lost = np.flatnonzero(track_free & (age >= 2) & (age <= p.relink_max_age))
            hi_free = np.flatnonzero(det_free[high])
            if len(lost) and len(hi_free):
                dets = high[hi_free]
                pr = prob[lost][:, hi_free]
                last = t.box[lost]
                c_last = (last[:, :2] + last[:, 2:]) / 2
                c_det = (xyxy[dets, :2] + xyxy[dets, 2:]) / 2
                dist = np.linalg.norm(c_last[:, None, :] - c_det[None, :, :], axis=2)
                height = np.maximum((last[:, 3] - last[:, 1])[:, None], (xyxy[dets, 3] - xyxy[dets, 1])[None, :])
                reach = (p.relink_speed * age[lost][:, None] + 1.0) * height
                allowed = (dist <= reach) & (pr >= p.relink_min_prob)
                if not p.relink_at_border:  # someone entering: whether they were here before is stitching's call
                    allowed &= ~self._at_border(xyxy[dets])[None, :]
                pairs = self._assign(pr, allowed)
                mt.append(lost[pairs[:, 0]])
                md.append(dets[pairs[:, 1]])
                reinit.append(age[lost[pairs[:, 0]]] > p.max_age)
                track_free[lost[pairs[:, 0]]] = False
                det_free[dets[pairs[:, 1]]] = False

        ti = np.concatenate(mt) if mt else np.zeros(0, dtype=np.int64)
        di = np.concatenate(md) if md else np.zeros(0, dtype=np.int64)
        clean = self._clean(xyxy)[di]
        if p.history_needs_appearance and prob is not None and len(ti):
            clean &= self._appearance_agrees(prob, ti, di, high, len(xyxy))
        self._observe(
            ti,
            xyxy[di],
            queries[di],
            frame,
            np.concatenate(reinit) if reinit else np.zeros(0, bool),
            targets[di],
            clean,
        )
        out_rows, out_ids = [di], [t.track_id[ti]]
        smooth = p.motion == "kalman" and p.output_box == "kalman"
        out_boxes = [self._kalman.to_xyxy(t.mean[ti]) if smooth else xyxy[di]]

        # 4. new tracks from unmatched high-score boxes
        start_at = p.high_score if p.new_track_score is None else p.new_track_score
        starters = np.flatnonzero(det_free & (score >= max(start_at, p.high_score)))
        if len(starters):
            out_rows.append(starters)
            out_ids.append(self._start(xyxy[starters], queries[starters], frame, targets[starters]))
            out_boxes.append(xyxy[starters])

        # 5. forget tracks too old to match by motion or appearance
        horizon = max(p.max_age, p.relink_max_age if self.heads is not None else 0)
        self._keep(frame - self._t.last <= horizon)
        return np.concatenate(out_rows), np.concatenate(out_ids), np.concatenate(out_boxes)

    def _step_uns20(
        self, frame: int, xyxy: np.ndarray, score: np.ndarray, targets: np.ndarray, queries: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """UNS20's inference step (see module doc); boxes below ``high_score`` are ignored."""
        assert self.heads is not None
        p, t = self.params, self._t
        dets = np.flatnonzero(score >= p.high_score)
        if len(dets) == 0:
            self._keep(np.zeros(len(t), dtype=bool))  # UNS20 resets its state on a frame without detections
            return _EMPTY_STEP
        ntr, m = len(t), len(dets)
        rows: list[np.ndarray] = []
        ids: list[np.ndarray] = []
        free = np.ones(m, dtype=bool)
        if ntr:
            app = self._app_logits(np.arange(ntr), targets[dets])
            app_full = np.concatenate([app, np.full((ntr, 1), self.heads.terminal, np.float32)], axis=1)
            nxt = np.concatenate([box_features(xyxy[dets], self.frame_size), np.zeros((1, 4), np.float32)])
            sp, hidden = self.heads.spatial_step(t.hidden, t.sbox, nxt)
            sp[:, -1] = self.heads.terminal
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
            self._observe(
                ti, xyxy[di], queries[di], frame, np.zeros(len(ti), dtype=bool), targets[di], self._clean(xyxy)[di]
            )
            t.hidden = new_hidden
            t.sbox[ti] = nxt[col_of[ti]]
            t.sbox[~matched] = 0.0
            free[col_of[ti]] = False
            rows.append(di)
            ids.append(t.track_id[ti])
            self._keep(matched | (frame - t.last <= p.max_age))
        starters = dets[free]
        if len(starters):
            rows.append(starters)
            ids.append(self._start(xyxy[starters], queries[starters], frame, targets[starters]))
        if not rows:
            return _EMPTY_STEP
        r = np.concatenate(rows)
        return r, np.concatenate(ids), xyxy[r]

    # ------------------------------------------------------------------ offline stitching
    def _stitch_limit(self) -> int:
        """Longest gap in frames that stitching bridges (0: off); raises when seconds need an unknown fps."""
        p = self.params
        if p.stitch_max_gap > 0:
            return p.stitch_max_gap
        if p.stitch_max_seconds <= 0:
            return 0
        if self.fps is None:
            raise ValidationError(
                "re-id tracker: offline stitching limits gaps in seconds, so it needs the video's frame rate: pass "
                "fps=..., or set stitch_max_gap (frames), or stitch_max_seconds=0 to turn stitching off"
            )
        return max(1, round(p.stitch_max_seconds * self.fps))

    def _at_border(self, boxes: np.ndarray) -> np.ndarray:
        """Boxes within ``border_margin`` of their height of the image border (none when it is unknown)."""
        margin = self.params.border_margin
        if margin is None or self.canvas is None:
            return np.zeros(len(boxes), dtype=bool)
        w, h = self.canvas
        dist = np.minimum.reduce([boxes[:, 0], boxes[:, 1], w - boxes[:, 2], h - boxes[:, 3]])
        return dist <= margin * (boxes[:, 3] - boxes[:, 1])

    def _stitch(self, tracks: Detections) -> Detections:
        """Join track fragments: a track's end to another's later start, by appearance, gated by where they are.

        A fixed camera sees objects enter and leave through the image border, so a pair (A ends,
        B starts ``1..limit`` frames later) is a candidate in two cases only:

        - *re-entry*: A's last box is at the border (it left the view) and B's first box is at the
          border (it entered); where along the border does not matter (nobody sees the object
          while it is away);
        - *continuation*: B starts inside the view (not at the border) within reach of where A was
          heading: ``stitch_speed`` box heights per second lost, plus one, from A's last box moved
          by its velocity for at most a second.

        A track lost inside the view is never joined to one *entering* at the border: that is
        someone else walking in, while A's object is most often still in view under another track
        (an identity switch). On PETS09 these joins were most of the wrong ones (71 frames apart,
        say), and no physical speed gate excludes them once the gap is a few seconds long. Both
        fragments must have at least ``min_track_length`` boxes: shorter ones are dropped as false
        positives anyway and their few crops are weak evidence.

        For every candidate pair, A's last ``stitch_window`` clean crops (at most its history's
        length) are scored against B's first ones with the appearance matcher; the logits are
        averaged, a terminal column is appended and the min-softmax probability is taken over all
        ends x starts, so a start that resembles two ends is not joined to either. Joins are
        chosen by one assignment (each end and each start used once), which also chains fragments
        A -> B -> C.
        """
        assert self.heads is not None
        p = self.params
        limit = self._stitch_limit()
        if not len(tracks) or limit <= 0:
            return tracks
        ends = _track_ends(tracks)
        sid, head, head_n, hist, hist_n = self._track_summaries()
        if not len(sid):
            return tracks
        pos = np.minimum(np.searchsorted(sid, ends["id"]), len(sid) - 1)
        n = len(ends["id"])
        gap = ends["start"][None, :] - ends["end"][:, None]  # (A, B)
        long_enough = (ends["count"] >= max(p.min_track_length, 1)) & (sid[pos] == ends["id"])
        ok = (gap >= 1) & (gap <= limit) & long_enough[:, None] & long_enough[None, :]
        if not ok.any():
            return tracks
        left, entered = self._at_border(ends["last_box"]), self._at_border(ends["first_box"])
        # continuation inside the view: B's first box near A's last box moved by its velocity for <= 1 s
        fps = self.fps or _ASSUMED_FPS
        c_end = (ends["last_box"][:, :2] + ends["last_box"][:, 2:]) / 2
        c_start = (ends["first_box"][:, :2] + ends["first_box"][:, 2:]) / 2
        g = np.clip(gap, 0, None).astype(np.float64)
        expect = c_end[:, None, :] + ends["v_end"][:, None, :] * np.minimum(g, fps)[..., None]
        dist = np.linalg.norm(c_start[None, :, :] - expect, axis=2)
        height = np.maximum(
            (ends["last_box"][:, 3] - ends["last_box"][:, 1])[:, None],
            (ends["first_box"][:, 3] - ends["first_box"][:, 1])[None, :],
        )
        near = ~entered[None, :] & (dist <= (p.stitch_speed * g / fps + 1.0) * height)
        ok &= near | (left[:, None] & entered[None, :] & p.stitch_reentry)
        rows, cols = np.flatnonzero(ok.any(axis=1)), np.flatnonzero(ok.any(axis=0))
        if not len(rows) or not len(cols):
            return tracks
        logits = np.full((len(rows), len(cols)), -20.0, dtype=np.float32)
        w = p.stitch_window
        for i, a in enumerate(rows):
            qa = pos[a]
            k = int(min(hist_n[qa], w, self._hist_len))
            slots = (hist_n[qa] - 1 - np.arange(k)) % self._hist_len
            queries = hist[qa, slots]
            for j, b in enumerate(cols):
                if not ok[a, b]:
                    continue
                tb = pos[b]
                targets = head[tb, : int(min(head_n[tb], w))]
                logits[i, j] = float(self.heads.logits(queries, targets).mean())
        prob = self._app_matrix(logits)[:, :-1]
        allowed = ok[np.ix_(rows, cols)] & (prob >= p.stitch_min_prob)
        cost = np.where(allowed, -prob, 1e6)
        pairs = assign(cost, cost_limit=0.0)
        pairs = pairs[allowed[pairs[:, 0], pairs[:, 1]]]
        if not len(pairs):
            return tracks
        # union the chains: every track maps to the first track of its chain
        parent = np.arange(n)
        nxt = np.full(n, -1)
        nxt[rows[pairs[:, 0]]] = cols[pairs[:, 1]]
        has_prev = np.zeros(n, dtype=bool)
        has_prev[cols[pairs[:, 1]]] = True
        for head_track in np.flatnonzero(~has_prev):
            cur = nxt[head_track]
            while cur >= 0:
                parent[cur] = head_track
                cur = nxt[cur]
        new_id = ends["id"][parent]
        mapped = new_id[np.searchsorted(ends["id"], tracks.track_id)]
        return dataclasses.replace(tracks, track_id=mapped)

    # ------------------------------------------------------------------ whole video
    def track(
        self,
        detections: Detections,
        features: np.ndarray | None = None,
        *,
        frame_size: tuple[int, int] | None = None,
        fps: float | None = None,
        postprocess: bool = True,
    ) -> Detections:
        """Track a whole video from scratch; ``features`` from :func:`~selftrack.reid.embed.embed_video`.

        ``frame_size`` defaults to the detections' canvas; ``fps`` (the video's frame rate) is
        needed when stitching is on with a limit in seconds. Returns the tracked boxes (the Kalman
        or detection boxes, ``track_id >= 1``), post-processed unless ``postprocess=False``.
        """
        if self.heads is not None and (features is None or len(features) != len(detections)):
            raise ValidationError(
                f"re-id tracker: {len(detections)} boxes but "
                f"{'no' if features is None else len(features)} appearance vectors"
            )
        self.reset(frame_size or detections.canvas, fps)
        builder = _OutputBuilder()
        bounds = detections.frame_bounds()
        for f in range(detections.frame_count):
            lo, hi = int(bounds[f]), int(bounds[f + 1])
            rows, ids, boxes = self.step(
                f, detections.xyxy[lo:hi], detections.score[lo:hi], None if features is None else features[lo:hi]
            )
            builder.add(rows + lo, ids, boxes)
        return self.finish(detections, builder, postprocess)

    def finish(
        self, detections: Detections, builder: _OutputBuilder, postprocess: bool | Literal["stitch"] = True
    ) -> Detections:
        """Assemble the output from the per-frame rows and ids, then post-process (``"stitch"``: only
        stitch fragments; a chunk of a long video leaves dropping and filling to the joined result)."""
        index, ids, boxes = builder.arrays()
        order = np.argsort(index, kind="stable")
        out = dataclasses.replace(detections[index[order]], track_id=ids[order], xyxy=boxes[order])
        if not postprocess:
            return out
        p = self.params
        if self.heads is not None and self._stitch_limit() > 0:
            out = self._stitch(out)
        if postprocess == "stitch":
            return out
        out = drop_short_tracks(out, p.min_track_length)
        if p.max_interpolation_gap > 0:
            out = interpolate_tracks(out, p.max_interpolation_gap)
        return out


def _track_ends(tracks: Detections) -> dict[str, np.ndarray]:
    """Per track (sorted by id): first/last frame and box, and velocity (px/frame) near each end."""
    order = np.lexsort((tracks.frame, tracks.track_id))
    tid, fr, box = tracks.track_id[order], tracks.frame[order], tracks.xyxy[order]
    ids, first = np.unique(tid, return_index=True)
    last = np.append(first[1:], len(tid)) - 1

    def velocity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        span = np.maximum(fr[b] - fr[a], 1)[:, None]
        return ((box[b, :2] + box[b, 2:]) - (box[a, :2] + box[a, 2:])) / 2 / span

    back = np.maximum(last - 5, first)
    ahead = np.minimum(first + 5, last)
    return {
        "id": ids,
        "count": last - first + 1,
        "start": fr[first],
        "end": fr[last],
        "first_box": box[first],
        "last_box": box[last],
        "v_end": velocity(back, last),
        "v_start": velocity(first, ahead),
    }


class _OutputBuilder:
    """Per-frame output rows, ids and boxes, gathered until the whole video is tracked."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.ids: list[np.ndarray] = []
        self.boxes: list[np.ndarray] = []

    def add(self, rows: np.ndarray, ids: np.ndarray, boxes: np.ndarray) -> None:
        if len(rows):
            self.rows.append(rows)
            self.ids.append(ids)
            self.boxes.append(boxes)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, 4))
        return (
            np.concatenate(self.rows).astype(np.int64),
            np.concatenate(self.ids).astype(np.int64),
            np.concatenate(self.boxes).astype(np.float64),
        )


def track_with_reid(
    model_path: str | os.PathLike[str] | ReidModel,
    video_path: str | os.PathLike[str],
    detections: Detections,
    params: ReidTrackerParams | None = None,
    *,
    device: str = "auto",
    batch_frames: int = 32,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    postprocess: bool | Literal["stitch"] = True,
) -> Detections:
    """Track ``detections`` of ``video_path`` with the re-id model at ``model_path`` (streaming).

    Decoding starts at the first frame with a box, so the detections of one chunk of a long video
    (frame numbers unchanged) are tracked without reading the frames before it; ``postprocess``
    as in :meth:`ReidTracker.finish`.

    The video is decoded in batches of ``batch_frames``; each batch's boxes are cropped and encoded
    together, then the tracker steps through the batch's frames. Memory does not grow with video
    length beyond the output itself.

    Raises:
        ValidationError: a bad model file, parameters, or boxes past the end of the video.
        VideoError: the video cannot be read.
    """
    from selftrack.reid.embed import iter_video_features  # local: embed imports the video layer

    model = model_path if isinstance(model_path, ReidModel) else load_reid_model(model_path, resolve_device(device))
    tracker = ReidTracker(model, params)
    from selftrack.video import probe

    info = probe(video_path)
    tracker.reset((info.width, info.height), float(info.fps))
    scale = np.ones(4)
    if detections.canvas is not None and tuple(detections.canvas) != (info.width, info.height):
        sx, sy = info.width / detections.canvas[0], info.height / detections.canvas[1]
        scale = np.array([sx, sy, sx, sy])
    boxes = detections.xyxy * scale
    builder = _OutputBuilder()
    bounds = detections.frame_bounds()
    total = detections.frame_count
    f = 0
    for batch in iter_video_features(model, video_path, detections, batch_frames=batch_frames, should_stop=should_stop):
        for f in range(batch.start, batch.stop):
            lo, hi = int(bounds[f]), int(bounds[f + 1])
            rows, ids, out = tracker.step(
                f, boxes[lo:hi], detections.score[lo:hi], batch.features[lo - batch.lo : hi - batch.lo]
            )
            builder.add(rows + lo, ids, out / scale)
        if progress is not None:
            progress(batch.stop, total)
    return tracker.finish(detections, builder, postprocess)
