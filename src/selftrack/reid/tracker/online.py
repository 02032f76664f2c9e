"""The re-id tracker's online pass: motion prediction, ByteTrack's two stages with appearance, re-linking.

Per frame (``motion.model`` ``"kalman"`` or ``"velocity"``):

1. every track is predicted (Kalman filter, or SkyhookML's velocity heuristic) after the camera
   motion, if given, has moved the track state;
2. high-score boxes are matched to tracks seen within ``max_age`` on
   ``IoU(prediction, box) + reid_weight * P_appearance`` (:mod:`.appearance`);
3. low-score boxes extend tracks seen last frame, on IoU only (ByteTrack's second stage);
4. tracks lost for longer are **re-linked** to the remaining high-score boxes by appearance alone,
   inside a spatial gate that widens with the time lost; a box at the image border is someone
   entering and is left to offline stitching (unless ``relink.at_border``);
5. unmatched high-score boxes start tracks; tracks too old for motion and re-linking end.

A track's appearance history learns only from *clean* crops (the box overlaps no other box) that
the matcher accepts (``appearance.needs_agreement``). After the whole video, :meth:`ReidTracker.finish`
stitches fragments (:mod:`.stitching`), drops short tracks and fills gaps by interpolation.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from selftrack.core.boxes import iou_matrix
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.checkpoint import ReidModel
from selftrack.reid.heads import NumpyHeads
from selftrack.reid.model import box_features
from selftrack.reid.tracker import appearance as app
from selftrack.reid.tracker.params import ReidTrackerParams, validated
from selftrack.reid.tracker.stitching import TrackLooks, at_border, stitch
from selftrack.reid.tracker.uns20 import step_uns20
from selftrack.trackers.base import ProgressCallback, StepResult, Tracker
from selftrack.trackers.cmc import check_affine, check_transforms, warp_boxes
from selftrack.trackers.kalman import XYAHModel
from selftrack.trackers.lifecycle import TrackTable
from selftrack.trackers.matching import assign, greedy_best_match
from selftrack.trackers.postprocess import drop_short_tracks, interpolate_tracks
from selftrack.trackers.velocity import NEVER, extrapolate

_NEG = -1e9


class ReidTracker(Tracker, register=False):
    """Multi-object tracker using a trained re-id model (see the package doc).

    Args:
        model: a loaded :class:`ReidModel`, or ``None`` for motion only (appearance, re-linking and
            stitching are then off; ``motion.model="uns20"`` needs a model).
        params: the parameters (defaults: :class:`ReidTrackerParams`), then ``overrides`` by flat,
            dotted or group name (``high_score=0.5``, ``stitch_max_seconds=0``).

    Use :meth:`track` on a whole video's detections and appearance vectors
    (:func:`~selftrack.reid.embed.embed_video`), or :func:`~selftrack.reid.track_with_reid` to
    stream a video. Not in the motion trackers' registry: it needs a model and appearance vectors.
    """

    name = "reid"
    Params = ReidTrackerParams
    params: ReidTrackerParams

    def __init__(
        self, model: ReidModel | None = None, params: ReidTrackerParams | None = None, **overrides: Any
    ) -> None:
        resolved = validated(params, overrides)
        if resolved.motion.model == "uns20":
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
        self.canvas: tuple[int, int] | None = None
        self.fps: float | None = None
        self.params = resolved
        self.reset()

    @classmethod
    def _resolve_params(cls, params: Any, overrides: dict[str, Any]) -> ReidTrackerParams:
        return validated(params, overrides)

    # ------------------------------------------------------------------ state
    def reset(self, frame_size: tuple[int, int] | None = None, fps: float | None = None) -> None:
        """Forget every track and restart ids at 1.

        ``frame_size`` (width, height) normalises boxes for motion='uns20' and locates the image
        border for stitching (unknown: no border rule); ``fps`` converts stitching's limits in
        seconds to frames. Both are kept until given again.
        """
        if frame_size is not None:
            self.canvas = (int(frame_size[0]), int(frame_size[1]))
        if fps:
            self.fps = float(fps)
        super().reset()

    def _reset_state(self) -> None:
        p = self.params
        self.frame_size = self.canvas or (1, 1)
        members = self.heads.members if self.heads else 1
        width = self.heads.width if self.heads else 1
        hidden = self.heads.hidden_dim if self.heads else 1
        self._hist_len = max(p.appearance.offsets)
        self._offsets = np.asarray(p.appearance.offsets, dtype=np.int64)
        v = p.motion.velocity_steps + 1
        self.table = TrackTable(
            {
                "mean": ((8,), np.float64, 0.0),
                "cov": ((8, 8), np.float64, 0.0),
                "box": ((4,), np.float64, 0.0),
                "vel_box": ((v, 4), np.float64, 0.0),
                "vel_frame": ((v,), np.int64, NEVER),
                "track_id": ((), np.int64, 0),
                "last": ((), np.int64, 0),
                "hits": ((), np.int64, 0),
                "hist": ((self._hist_len, members, width), np.float32, 0.0),
                "hist_n": ((), np.int64, 0),
                "hidden": ((members, hidden), np.float32, 0.0),
                "sbox": ((4,), np.float32, 0.0),
                "head": ((p.stitch.window, members, width), np.float32, 0.0),
                "head_n": ((), np.int64, 0),
            }
        )
        self._ended: list[TrackLooks] = []
        self._frame = -1
        self._affines: list[np.ndarray | None] = []

    @property
    def high_score(self) -> float:
        """Least score of a first-stage box (one that may also start a track)."""
        return self.params.association.high_score

    @property
    def stitching(self) -> bool:
        """Whether :meth:`finish` stitches fragments (a model and a limit above zero)."""
        s = self.params.stitch
        return self.heads is not None and (s.max_gap > 0 or s.max_seconds > 0)

    @property
    def num_tracks(self) -> int:
        return len(self.table)

    # ------------------------------------------------------------------ appearance
    def appearance_logits(self, tracks: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Appearance logits of ``tracks`` (rows of the table) against target vectors (see :mod:`.appearance`)."""
        assert self.heads is not None
        t = self.table
        return app.track_logits(self.heads, t.hist[tracks], t.hist_n[tracks], self._offsets, targets)

    def appearance_matrix(self, logits: np.ndarray) -> np.ndarray:
        """``P`` with the terminal column last."""
        assert self.heads is not None
        return app.probability_matrix(self.heads, logits)

    # ------------------------------------------------------------------ assignment
    def _assign(self, score: np.ndarray, allowed: np.ndarray) -> np.ndarray:
        """``(k, 2)`` ``[row, col]`` pairs maximising ``score`` over allowed pairs with positive score."""
        if score.size == 0 or not allowed.any():
            return np.zeros((0, 2), dtype=np.int64)
        if self.params.association.matching == "greedy":
            pairs, _, _ = greedy_best_match(np.where(allowed, score, _NEG), 0.0)
            return pairs
        cost = np.where(allowed, -score, 1e6)
        pairs = assign(cost, cost_limit=0.0)
        return pairs[allowed[pairs[:, 0], pairs[:, 1]]]

    # ------------------------------------------------------------------ motion
    def _warp(self, affine: np.ndarray) -> None:
        """Move every track's state by the camera motion from the previous frame to this one."""
        t = self.table
        if not len(t):
            return
        t.mean, t.cov = self._kalman.warp(t.mean, t.cov, affine)
        t.box = warp_boxes(t.box, affine)
        t.vel_box = warp_boxes(t.vel_box.reshape(-1, 4), affine).reshape(t.vel_box.shape)
        moving = t.sbox.any(axis=1)
        if moving.any():  # the box matcher's input: normalised centre and size
            w, h = self.frame_size
            c, s = t.sbox[moving, :2] * (w, h), t.sbox[moving, 2:] * (w, h)
            t.sbox[moving] = box_features(warp_boxes(np.concatenate([c - s / 2, c + s / 2], axis=1), affine), (w, h))

    def _predict(self, frame: int) -> np.ndarray:
        t, p = self.table, self.params
        if len(t) == 0:
            return np.zeros((0, 4))
        if p.motion.model == "kalman":
            mean = t.mean.copy()
            mean[frame - t.last > 1, 7] = 0.0  # a lost track keeps its size (ByteTrack)
            t.mean, t.cov = self._kalman.predict(mean, t.cov)
            return self._kalman.to_xyxy(t.mean)
        # SkyhookML's heuristic: the centre's recent displacement per frame, size kept
        return extrapolate(t.vel_box, t.vel_frame, t.last, frame, p.motion.velocity_steps)

    def observe(
        self,
        ti: np.ndarray,
        boxes: np.ndarray,
        queries: np.ndarray,
        frame: int,
        reinit: np.ndarray,
        targets: np.ndarray | None = None,
        clean: np.ndarray | None = None,
    ) -> None:
        """Record matched boxes: filter update, velocity ring, appearance history (clean crops only)."""
        if len(ti) == 0:
            return
        t, p = self.table, self.params
        if p.motion.model == "kalman":
            z = self._kalman.to_measurement(boxes)
            upd = ~reinit
            if upd.any():
                t.mean[ti[upd]], t.cov[ti[upd]] = self._kalman.update(t.mean[ti[upd]], t.cov[ti[upd]], z[upd])
            if reinit.any():
                t.mean[ti[reinit]], t.cov[ti[reinit]] = self._kalman.initiate(z[reinit])
        slot = frame % (p.motion.velocity_steps + 1)
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
                early = keep & (t.head_n[ti] < p.stitch.window)
                te = ti[early]
                t.head[te, t.head_n[te]] = targets[early]
                t.head_n[te] += 1

    def start_tracks(self, boxes: np.ndarray, queries: np.ndarray, frame: int, targets: np.ndarray) -> np.ndarray:
        """New tracks from ``boxes``; returns their ids."""
        n = len(boxes)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        t = self.table
        mean, cov = self._kalman.initiate(self._kalman.to_measurement(boxes))
        ids = self._ids.take(n)
        new = t.add(n, mean=mean, cov=cov, box=boxes, track_id=ids, last=frame, hits=1)
        slot = frame % (self.params.motion.velocity_steps + 1)
        t.vel_box[new, slot] = boxes
        t.vel_frame[new, slot] = frame
        if self.heads is not None:
            t.hist[new, 0] = queries
            t.hist_n[new] = 1
            t.head[new, 0] = targets
            t.head_n[new] = 1
        t.sbox[new] = box_features(boxes, self.frame_size)
        return ids

    def keep_tracks(self, mask: np.ndarray) -> None:
        """Drop the tracks not in ``mask``, keeping what offline stitching needs of them."""
        t = self.table
        gone = np.flatnonzero(~mask)
        if len(gone) and self.stitching:
            gone = gone[t.hits[gone] >= max(self.params.min_track_length, 1)]  # shorter ones are never stitched
            self._ended.append(TrackLooks(t.track_id[gone], t.head[gone], t.head_n[gone], t.hist[gone], t.hist_n[gone]))
        t.keep(mask)

    def _looks(self) -> TrackLooks:
        """Every track's appearance summary, ended or alive, sorted by track id."""
        t = self.table
        parts = [*self._ended, TrackLooks(t.track_id, t.head, t.head_n, t.hist, t.hist_n)]
        cols = [np.concatenate([getattr(part, f) for part in parts]) for f in TrackLooks.__dataclass_fields__]
        order = np.argsort(cols[0], kind="stable")
        return TrackLooks(*(c[order] for c in cols))

    # ------------------------------------------------------------------ one frame
    def step(
        self,
        frame: int,
        xyxy: np.ndarray,
        score: np.ndarray,
        features: np.ndarray | None = None,
        transform: np.ndarray | None = None,
    ) -> StepResult:
        """Track one frame: which input rows are output, with which box and id.

        ``features`` are the boxes' appearance vectors ``(n, members, dim)`` (required when the
        tracker has a model); ``transform`` the ``(2, 3)`` camera motion from the previous frame.
        Call for every frame in order, empty ones included.
        """
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        score = np.asarray(score, dtype=np.float64).reshape(-1)
        affine = None if transform is None else check_affine(transform, "re-id tracker transform")
        if self.heads is not None and len(xyxy):
            if features is None or len(features) != len(xyxy):
                raise ValidationError(f"frame {frame}: the re-id tracker needs one appearance vector per box")
            targets = self.heads.target(features)
            queries = self.heads.query(features)
        else:
            shape = (self.heads.members, self.heads.width) if self.heads is not None else (1, 1)
            targets = queries = np.zeros((len(xyxy), *shape), np.float32)
        self._frame = int(frame)
        self._affines.append(affine)
        if affine is not None:
            self._warp(affine)
        if self.params.motion.model == "uns20":
            return step_uns20(self, frame, xyxy, score, targets, queries)
        return self._associate(frame, xyxy, score, targets, queries)

    def _step(
        self,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_id: np.ndarray,
        affine: np.ndarray | None,
        features: np.ndarray | None = None,
    ) -> StepResult:
        return self.step(self._frame + 1, xyxy, score, features, affine)

    def _associate(
        self, frame: int, xyxy: np.ndarray, score: np.ndarray, targets: np.ndarray, queries: np.ndarray
    ) -> StepResult:
        p, t = self.params, self.table
        a = p.association
        pred = self._predict(frame)
        age = frame - t.last
        high = np.flatnonzero(score >= self.high_score)
        low = np.flatnonzero((score >= a.low_score) & (score < self.high_score))
        ntr = len(t)
        use_app = self.heads is not None and ntr > 0 and len(high) > 0 and (a.reid_weight > 0 or p.relink.max_age > 0)
        logits = self.appearance_logits(np.arange(ntr), targets[high]) if use_app else None
        prob = self.appearance_matrix(logits) if logits is not None else None
        track_free = np.ones(ntr, dtype=bool)
        det_free = np.ones(len(xyxy), dtype=bool)
        mt: list[np.ndarray] = []
        md: list[np.ndarray] = []
        reinit: list[np.ndarray] = []

        def take(tracks: np.ndarray, dets: np.ndarray, pairs: np.ndarray, restart: np.ndarray | None = None) -> None:
            mt.append(tracks[pairs[:, 0]])
            md.append(dets[pairs[:, 1]])
            reinit.append(np.zeros(len(pairs), dtype=bool) if restart is None else restart)
            track_free[tracks[pairs[:, 0]]] = False
            det_free[dets[pairs[:, 1]]] = False

        # 1. high-score boxes against tracks seen within max_age: IoU + weighted appearance
        cand = np.flatnonzero(age <= p.motion.max_age)
        if len(cand) and len(high):
            iou = iou_matrix(pred[cand], xyxy[high])
            allowed = iou >= a.min_iou
            sim = iou
            if prob is not None and logits is not None:
                if a.reid_weight > 0:
                    ap = prob[cand][:, :-1] if a.appearance_score == "prob" else 1.0 / (1.0 + np.exp(-logits[cand]))
                    sim = iou + a.reid_weight * ap
                if a.appearance_veto is not None:
                    allowed &= logits[cand] >= a.appearance_veto
            take(cand, high, self._assign(sim, allowed))

        # 2. low-score boxes extend tracks that were matched last frame (IoU only)
        recent = np.flatnonzero(track_free & (age == 1))
        if len(recent) and len(low):
            iou = iou_matrix(pred[recent], xyxy[low])
            take(recent, low, self._assign(iou, iou >= a.low_min_iou))

        # 3. re-link lost tracks to the remaining high-score boxes by appearance, spatially gated
        r = p.relink
        if prob is not None and r.max_age > 0:
            lost = np.flatnonzero(track_free & (age >= 2) & (age <= r.max_age))
            hi_free = np.flatnonzero(det_free[high])
            if len(lost) and len(hi_free):
                dets = high[hi_free]
                pr = prob[lost][:, hi_free]
                last = t.box[lost]
                c_last = (last[:, :2] + last[:, 2:]) / 2
                c_det = (xyxy[dets, :2] + xyxy[dets, 2:]) / 2
                dist = np.linalg.norm(c_last[:, None, :] - c_det[None, :, :], axis=2)
                height = np.maximum((last[:, 3] - last[:, 1])[:, None], (xyxy[dets, 3] - xyxy[dets, 1])[None, :])
                reach = (r.speed * age[lost][:, None] + 1.0) * height
                allowed = (dist <= reach) & (pr >= r.min_prob)
                if not r.at_border:  # someone entering: whether they were here before is stitching's call
                    allowed &= ~at_border(xyxy[dets], self.canvas, p.border_margin)[None, :]
                pairs = self._assign(pr, allowed)
                take(lost, dets, pairs, age[lost[pairs[:, 0]]] > p.motion.max_age)

        ti = np.concatenate(mt) if mt else np.zeros(0, dtype=np.int64)
        di = np.concatenate(md) if md else np.zeros(0, dtype=np.int64)
        clean = app.clean_boxes(xyxy, p.appearance.clean_crop_iou)[di]
        if p.appearance.needs_agreement and prob is not None and len(ti):
            clean &= app.appearance_agrees(prob, ti, di, high, len(xyxy))
        restart = np.concatenate(reinit) if reinit else np.zeros(0, bool)
        self.observe(ti, xyxy[di], queries[di], frame, restart, targets[di], clean)
        out_rows, out_ids = [di], [t.track_id[ti]]
        smooth = p.motion.model == "kalman" and p.motion.output_box == "kalman"
        out_boxes = [self._kalman.to_xyxy(t.mean[ti]) if smooth else xyxy[di]]

        # 4. new tracks from unmatched high-score boxes
        start_at = self.high_score if a.new_track_score is None else a.new_track_score
        starters = np.flatnonzero(det_free & (score >= max(start_at, self.high_score)))
        if len(starters):
            out_rows.append(starters)
            out_ids.append(self.start_tracks(xyxy[starters], queries[starters], frame, targets[starters]))
            out_boxes.append(xyxy[starters])

        # 5. forget tracks too old to match by motion or appearance
        horizon = max(p.motion.max_age, r.max_age if self.heads is not None else 0)
        self.keep_tracks(frame - self.table.last <= horizon)
        return StepResult(np.concatenate(out_rows), np.concatenate(out_boxes), np.concatenate(out_ids))

    # ------------------------------------------------------------------ whole video
    def track(  # type: ignore[override]
        self,
        detections: Detections,
        features: np.ndarray | None = None,
        *,
        frame_size: tuple[int, int] | None = None,
        fps: float | None = None,
        transforms: np.ndarray | None = None,
        progress: ProgressCallback | None = None,
        postprocess: bool = True,
    ) -> Detections:
        """Track a whole video from scratch; ``features`` from :func:`~selftrack.reid.embed.embed_video`.

        ``frame_size`` defaults to the detections' canvas; ``fps`` (the video's frame rate) is
        needed when stitching is on with a limit in seconds; ``transforms`` is the camera motion,
        ``(num_frames, 2, 3)``, ``transforms[f]`` mapping frame ``f - 1`` coordinates to frame ``f``
        (as for every tracker). Returns the tracked boxes (the Kalman or detection boxes,
        ``track_id >= 1``), post-processed unless ``postprocess=False``.
        """
        if not isinstance(detections, Detections):
            raise ValidationError(f"re-id tracker: track() takes Detections, got {type(detections).__name__}")
        if self.heads is not None and (features is None or len(features) != len(detections)):
            raise ValidationError(
                f"re-id tracker: {len(detections)} boxes but "
                f"{'no' if features is None else len(features)} appearance vectors"
            )
        affines = (
            None if transforms is None else check_transforms(transforms, detections.frame_count, detections.source)
        )
        self.reset(frame_size or detections.canvas, fps)
        out = self._track_frames(detections, affines, progress, features if self.heads is not None else None)
        return self.finish(out, postprocess)

    def stitch_limit(self) -> int:
        """Longest gap in frames that stitching bridges (0: off); raises when seconds need an unknown fps."""
        s = self.params.stitch
        if s.max_gap > 0:
            return s.max_gap
        if s.max_seconds <= 0:
            return 0
        if self.fps is None:
            raise ValidationError(
                "re-id tracker: offline stitching limits gaps in seconds, so it needs the video's frame rate: pass "
                "fps=..., or set stitch_max_gap (frames), or stitch_max_seconds=0 to turn stitching off"
            )
        return max(1, round(s.max_seconds * self.fps))

    def finish(self, tracks: Detections, postprocess: bool | Literal["stitch"] = True) -> Detections:
        """Post-process the online pass's output: stitch fragments, drop short tracks, interpolate gaps
        (``"stitch"``: only stitch; a chunk of a long video leaves dropping and filling to the joined result)."""
        if not postprocess:
            return tracks
        p = self.params
        if self.heads is not None and self.stitch_limit() > 0:
            affines = None
            if any(a is not None for a in self._affines):
                eye = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
                affines = np.stack([eye if a is None else a for a in self._affines])
            tracks = stitch(
                tracks,
                self._looks(),
                self.heads,
                p,
                limit=self.stitch_limit(),
                canvas=self.canvas,
                fps=self.fps,
                affines=affines,
            )
        if postprocess == "stitch":
            return tracks
        tracks = drop_short_tracks(tracks, p.min_track_length)
        if p.max_interpolation_gap > 0:
            tracks = interpolate_tracks(tracks, p.max_interpolation_gap)
        return tracks
