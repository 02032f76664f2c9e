"""The re-id tracker's online pass: motion prediction, ByteTrack's two stages with appearance, re-linking.

Per frame (``motion.model`` ``"kalman"`` or ``"velocity"``):

1. every track is predicted (Kalman filter, or SkyhookML's velocity heuristic) after the camera
   motion, if given, has moved the track state;
2. high-score boxes (the threshold follows the video's scores) are matched to tracks seen within
   ``max_age`` on ``IoU(prediction, box) + reid_weight * trust * P_appearance`` (:mod:`.appearance`;
   ``trust``, how far the model can be trusted: :mod:`.adaptive`);
3. low-score boxes extend tracks seen last frame, on IoU only (ByteTrack's second stage);
4. tracks lost for longer are **re-linked** to the remaining high-score boxes by appearance alone
   (when the model is trusted enough), inside a spatial gate that widens with the time lost; a box
   at the image border is someone entering and is left to offline stitching (unless
   ``relink.at_border``);
5. unmatched high-score boxes start tracks; tracks too old for motion and re-linking end.

A track's appearance history learns only from *clean* crops (the box overlaps no other box) that
the matcher accepts (``appearance.needs_agreement``). Given the boxes' colour looks
(:mod:`selftrack.reid.colour`), the pass also remembers each track's colours (:mod:`.colour`). After the
whole video, :meth:`ReidTracker.finish` runs the offline pass (:mod:`.offline`): joins by colour or by the
learned looks, short tracks dropped, gaps filled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from selftrack.core.boxes import FrameOverlaps, iou_matrix
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.heads import NumpyHeads
from selftrack.reid.tracker import appearance as app
from selftrack.reid.tracker import offline
from selftrack.reid.tracker.adaptive import MIN_HISTORY, AppearanceTrust, prior_agreement, unambiguous
from selftrack.reid.tracker.colour import BoxVectors, ColourMemory, ColourResult
from selftrack.reid.tracker.params import FALLBACK_MAX_AGE, ReidTrackerParams, frames_for, validated
from selftrack.reid.tracker.state import TrackState
from selftrack.reid.tracker.stitching import at_border
from selftrack.reid.tracker.uns20 import step_uns20
from selftrack.trackers.adaptive import detection_profile
from selftrack.trackers.base import ProgressCallback, StepResult, Tracker
from selftrack.trackers.cmc import check_affine, check_transforms
from selftrack.trackers.lifecycle import TrackTable
from selftrack.trackers.matching import assign, greedy_best_match
from selftrack.trackers.thresholds import ScoreThresholds, score_thresholds

if TYPE_CHECKING:  # the tracker runs without torch (an ONNX twin): no runtime import of the torch model
    from selftrack.reid.checkpoint import ReidModel
    from selftrack.reid.inference import InferenceModel

_NEG = -1e9
FALLBACK_HIGH_SCORE = 0.5
"""First-stage threshold when neither set nor derived from the video's scores (step-by-step use)."""


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
        self, model: ReidModel | InferenceModel | None = None, params: ReidTrackerParams | None = None, **overrides: Any
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
        self.heads = NumpyHeads.of(model) if model is not None else None
        ap = resolved.appearance
        self._prior = prior_agreement(
            model.training if model is not None else None, (ap.trust_none + ap.trust_full) / 2
        )
        self.thresholds: ScoreThresholds | None = None
        self.scores_alike = False  # every detection of the video scores the same (see output_detection)
        self.canvas: tuple[int, int] | None = None
        self.fps: float | None = None
        self.params = resolved
        self.reset()

    @classmethod
    def _resolve_params(cls, params: Any, overrides: dict[str, Any]) -> ReidTrackerParams:
        return validated(params, overrides)

    # ------------------------------------------------------------------ state
    def reset(
        self, frame_size: tuple[int, int] | None = None, fps: float | None = None, scores: np.ndarray | None = None
    ) -> None:
        """Forget every track and restart ids at 1.

        ``frame_size`` (width, height) normalises boxes for motion='uns20' and locates the image
        border for stitching (unknown: no border rule); ``fps`` converts stitching's limits in
        seconds to frames; ``scores`` (every detection score of the video) set the score thresholds
        left unset (see :mod:`.adaptive`). Each is kept until given again.
        """
        if frame_size is not None:
            self.canvas = (int(frame_size[0]), int(frame_size[1]))
        if fps:
            self.fps = float(fps)
        if scores is not None:
            self.thresholds = score_thresholds(scores, self.params.association.low_score)
            self.scores_alike = detection_profile(scores).kind == "alike"
        super().reset()

    def _reset_state(self) -> None:
        p = self.params
        self.frame_size = self.canvas or (1, 1)
        self.state = TrackState(p, self.heads, self._ids, self.frame_size, self.stitching)
        self.trust = AppearanceTrust(self._prior, p.appearance.trust_none, p.appearance.trust_full)
        self._frame = -1
        self._frame_clean: np.ndarray | None = None  # this frame's boxes that no other overlaps (set by _associate)
        self._affines: list[np.ndarray | None] = []
        self.colour_memory: ColourMemory | None = None  # made on the first frame given colour looks
        self.colour_result: ColourResult | None = None

    @property
    def high_score(self) -> float:
        """Least score of a first-stage box (one that may also start a track): set, or from the video's scores."""
        set_ = self.params.association.high_score
        if set_ is not None:
            return set_
        return self.thresholds.high if self.thresholds is not None else FALLBACK_HIGH_SCORE

    @property
    def max_age(self) -> int:
        """Frames a track may go unmatched and still be matched by motion: set, or ``max_age_seconds`` at the fps."""
        m = self.params.motion
        return frames_for(m.max_age, m.max_age_seconds, self.fps, FALLBACK_MAX_AGE)

    @property
    def output_detection(self) -> bool:
        """Whether a matched track outputs its detection rather than the Kalman estimate (see ``output_box``)."""
        m = self.params.motion
        if m.model != "kalman" or m.output_box == "detection":
            return True
        return m.output_box == "auto" and self.scores_alike

    @property
    def low_score(self) -> float:
        """Least score of a second-stage box (never above :attr:`high_score`)."""
        return min(self.params.association.low_score, self.high_score)

    def settings(self) -> list[str]:
        """What this tracker chose from the video and the model (for the log line users see)."""
        a = self.params.association
        if a.high_score is not None:
            lines = [f"first-stage score >= {a.high_score:.2f} (set)"]
        elif self.thresholds is not None:
            lines = [self.thresholds.describe()]
        else:
            lines = [f"first-stage score >= {FALLBACK_HIGH_SCORE:.2f} (no video scores given)"]
        p = self.params
        m = p.motion

        def limit(frames: int | None, seconds: float, value: int) -> str:
            if frames is not None:
                return f"{frames} frames (set)"
            if self.fps is None:
                return f"{value} frames (no frame rate given)"
            return f"{value} frames ({seconds:g} s at {self.fps:g} fps)"

        gap = p.interpolation_gap(self.fps)
        lines.append(
            f"lost tracks kept {limit(m.max_age, m.max_age_seconds, self.max_age)}; gaps filled up to "
            f"{limit(p.max_interpolation_gap, p.max_interpolation_seconds, gap)}"
        )
        if m.model == "kalman" and m.output_box == "auto":
            lines.append(
                "output boxes: the detections themselves (every box scores alike)"
                if self.scores_alike
                else "output boxes: the Kalman filter's (graded detector scores)"
            )
        if self.colour_result is not None:
            lines.append(self.colour_result.describe())
        if self.heads is not None:
            lines.append(
                f"appearance trust {self.trust.trust:.2f} (agreement with motion {self.trust.agreement:.2f} on "
                f"{int(self.trust.count)} unambiguous matches; {self._prior:.2f} expected from the validation loss)"
            )
        return lines

    @property
    def stitching(self) -> bool:
        """Whether :meth:`finish` stitches fragments (a model and a limit above zero)."""
        s = self.params.stitch
        return self.heads is not None and (s.max_gap > 0 or s.max_seconds > 0)

    @property
    def num_tracks(self) -> int:
        return len(self.state)

    @property
    def table(self) -> TrackTable:
        return self.state.table

    def appearance_logits(self, tracks: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Appearance logits of ``tracks`` (rows of the table) against target vectors (see :mod:`.appearance`)."""
        return self.state.appearance_logits(tracks, targets)

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
        if (allowed.sum(axis=0) <= 1).all() and (allowed.sum(axis=1) <= 1).all() and (score[allowed] > 0).all():
            # no track has two candidate boxes, no box two candidate tracks: the solver's unique optimum is
            # every allowed pair (each improves on leaving both unmatched), without calling it (most frames)
            return np.argwhere(allowed)
        cost = np.where(allowed, -score, 1e6)
        pairs = assign(cost, cost_limit=0.0)
        return pairs[allowed[pairs[:, 0], pairs[:, 1]]]

    # ------------------------------------------------------------------ one frame
    def step(
        self,
        frame: int,
        xyxy: np.ndarray,
        score: np.ndarray,
        features: np.ndarray | None = None,
        transform: np.ndarray | None = None,
        colour: np.ndarray | None = None,
    ) -> StepResult:
        """Track one frame: which input rows are output, with which box and id.

        ``features`` are the boxes' appearance vectors ``(n, members, dim)`` (required when the
        tracker has a model); ``transform`` the ``(2, 3)`` camera motion from the previous frame;
        ``colour`` the boxes' colour looks ``(n, COLOUR_DIM)`` (:func:`~selftrack.reid.colour.colour_descriptors`;
        optional, for :meth:`finish`'s colour check). Call for every frame in order, empty ones included.
        """
        xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        score = np.asarray(score, dtype=np.float64).reshape(-1)
        affine = None if transform is None else check_affine(transform, "re-id tracker transform")
        if self.heads is not None and len(xyxy):
            if features is None or len(features) != len(xyxy):
                raise ValidationError(f"frame {frame}: the re-id tracker needs one appearance vector per box")
            queries, targets = self.heads.query_target(features)
        else:
            shape = (self.heads.members, self.heads.width) if self.heads is not None else (1, 1)
            targets = queries = np.zeros((len(xyxy), *shape), np.float32)
        self._frame = int(frame)
        self._affines.append(affine)
        if affine is not None:
            self.state.warp(affine)
        self._frame_clean = None
        if self.params.motion.model == "uns20":
            result = step_uns20(self, frame, xyxy, score, targets, queries)
        else:
            result = self._associate(frame, xyxy, score, targets, queries)
        if colour is not None and self.params.colour.enabled:
            if len(colour) != len(xyxy):
                raise ValidationError(f"frame {frame}: {len(xyxy)} boxes but {len(colour)} colour looks")
            if self.colour_memory is None:  # a lost track is over once neither motion nor re-linking can take it
                forget = max(self.max_age, self.params.relink.max_age if self.heads is not None else 0)
                self.colour_memory = ColourMemory(self.params, forget, self.fps)
            self.colour_memory.observe_frame(frame, xyxy, colour, result, self._frame_clean)
        return result

    def _step(
        self,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_id: np.ndarray,
        affine: np.ndarray | None,
        features: np.ndarray | BoxVectors | None = None,
    ) -> StepResult:
        if isinstance(features, BoxVectors):
            return self.step(self._frame + 1, xyxy, score, features.features, affine, features.colour)
        return self.step(self._frame + 1, xyxy, score, features, affine)

    def _associate(
        self, frame: int, xyxy: np.ndarray, score: np.ndarray, targets: np.ndarray, queries: np.ndarray
    ) -> StepResult:
        p, t = self.params, self.table
        a = p.association
        pred = self.state.predict(frame)
        age = frame - t.last
        # nonzero()[0] rather than np.flatnonzero on these 1-d masks: the same indices, less overhead per call
        high_score = self.high_score
        high = (score >= high_score).nonzero()[0]
        low = ((score >= min(a.low_score, high_score)) & (score < high_score)).nonzero()[0]
        trust = self.trust.trust
        ntr = len(t)
        use_app = self.heads is not None and ntr > 0 and len(high) > 0 and (a.reid_weight > 0 or p.relink.max_age > 0)
        boxes_high, targets_high = xyxy[high], targets[high]
        overlaps = FrameOverlaps(xyxy) if len(xyxy) >= 2 else None  # for clean crops and the agreement check
        logits = self.appearance_logits(np.arange(ntr), targets_high) if use_app else None
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
        max_age = self.max_age
        cand = (age <= max_age).nonzero()[0]
        if len(cand) and len(high):
            pred_cand = pred[cand]
            iou = iou_matrix(pred_cand, boxes_high)
            allowed = iou >= a.min_iou
            sim = iou
            if prob is not None and logits is not None:
                if a.reid_weight > 0:
                    ap = prob[cand][:, :-1] if a.appearance_score == "prob" else 1.0 / (1.0 + np.exp(-logits[cand]))
                    sim = iou + a.reid_weight * trust * ap
                if a.appearance_veto is not None:
                    allowed &= logits[cand] >= a.appearance_veto
            pairs = self._assign(sim, allowed)
            if logits is not None:
                self._measure_agreement(frame, pred_cand, boxes_high, cand, pairs, targets_high, iou, overlaps, high)
            take(cand, high, pairs)

        # 2. low-score boxes extend tracks that were matched last frame (IoU only)
        recent = (track_free & (age == 1)).nonzero()[0]
        if len(recent) and len(low):
            iou = iou_matrix(pred[recent], xyxy[low])
            take(recent, low, self._assign(iou, iou >= a.low_min_iou))

        # 3. re-link lost tracks to the remaining high-score boxes by appearance, spatially gated
        r = p.relink
        if prob is not None and r.max_age > 0 and trust >= p.appearance.trust_for_relinking:
            lost = (track_free & (age >= 2) & (age <= r.max_age)).nonzero()[0]
            hi_free = det_free[high].nonzero()[0]
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
                take(lost, dets, pairs, age[lost[pairs[:, 0]]] > max_age)

        ti = np.concatenate(mt) if mt else np.zeros(0, dtype=np.int64)
        di = np.concatenate(md) if md else np.zeros(0, dtype=np.int64)
        self._frame_clean = app.clean_boxes(xyxy, p.appearance.clean_crop_iou, overlaps)  # (the colour memory's too)
        clean = self._frame_clean[di]
        if p.appearance.needs_agreement and prob is not None and len(ti):
            clean &= app.appearance_agrees(prob, ti, di, high, len(xyxy))
        restart = np.concatenate(reinit) if reinit else np.zeros(0, bool)
        self.state.observe(ti, xyxy[di], queries[di], frame, restart, targets[di], clean)
        out_rows, out_ids = [di], [t.track_id[ti]]
        out_boxes = [xyxy[di] if self.output_detection else self.state.kalman_boxes(ti)]

        # 4. new tracks from unmatched high-score boxes
        start_at = high_score if a.new_track_score is None else a.new_track_score
        starters = (det_free & (score >= max(start_at, high_score))).nonzero()[0]
        if len(starters):
            out_rows.append(starters)
            out_ids.append(self.state.start(xyxy[starters], queries[starters], frame, targets[starters]))
            out_boxes.append(xyxy[starters])

        # 5. forget tracks too old to match by motion or appearance
        horizon = max(max_age, r.max_age if self.heads is not None else 0)
        self.state.keep(frame - self.table.last <= horizon)
        return StepResult(np.concatenate(out_rows), np.concatenate(out_boxes), np.concatenate(out_ids))

    def _measure_agreement(
        self,
        frame: int,
        pred: np.ndarray,
        boxes: np.ndarray,
        tracks: np.ndarray,
        pairs: np.ndarray,
        targets: np.ndarray,
        iou: np.ndarray | None = None,
        overlaps: FrameOverlaps | None = None,
        rows: np.ndarray | None = None,
    ) -> None:
        """Count whether appearance agrees with motion's unambiguous matches (see :mod:`.adaptive`).

        Asked with each track's oldest remembered crop (at least ``MIN_HISTORY`` matches back), which
        of the frame's boxes it shows; a frame with one box asks nothing. ``iou`` is the first
        stage's ``iou_matrix(pred, boxes)`` and ``overlaps`` the frame's, ``boxes`` being its ``rows``
        (computed once per frame, not again here).
        """
        if len(pairs) == 0 or len(boxes) < 2:
            return
        covered = overlaps.covered_fraction(rows) if overlaps is not None and rows is not None else None
        easy = unambiguous(pred, boxes, pairs[:, 0], pairs[:, 1], iou, covered)
        ti = tracks[pairs[easy, 0]]
        n = self.table.hist_n[ti]
        old = n >= MIN_HISTORY
        if not old.any():
            return
        ti, cols = ti[old], pairs[easy, 1][old]
        assert self.heads is not None
        logits = self.heads.logits(self.state.oldest_queries(ti), targets)
        self.trust.observe(np.argmax(logits, axis=1) == cols, frame)

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
        colour: np.ndarray | None = None,
    ) -> Detections:
        """Track a whole video from scratch; ``features`` from :func:`~selftrack.reid.embed.embed_video`.

        ``frame_size`` defaults to the detections' canvas; ``fps`` (the video's frame rate) is
        needed when stitching is on with a limit in seconds; ``transforms`` is the camera motion,
        ``(num_frames, 2, 3)``, ``transforms[f]`` mapping frame ``f - 1`` coordinates to frame ``f``
        (as for every tracker); ``colour`` the boxes' colour looks (:func:`~selftrack.reid.embed.colour_video`)
        for the colour check. Returns the tracked boxes (the Kalman or detection boxes,
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
        if colour is not None and len(colour) != len(detections):
            raise ValidationError(f"re-id tracker: {len(detections)} boxes but {len(colour)} colour looks")
        self.reset(frame_size or detections.canvas, fps, detections.score)
        if postprocess:  # a missing frame rate is found before the pass, not after it
            offline.check_frame_rate(self, colour is not None)
        vectors: np.ndarray | BoxVectors | None = features if self.heads is not None else None
        if colour is not None:
            vectors = BoxVectors(vectors, colour)
        out = self._track_frames(detections, affines, progress, vectors)  # type: ignore[arg-type]
        return self.finish(out, postprocess)

    def camera_path_affines(self) -> np.ndarray | None:
        """The camera motion of every frame stepped so far, ``(frames, 2, 3)`` (identity where none was given);
        ``None`` when none was given at all."""
        if all(a is None for a in self._affines):
            return None
        eye = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        return np.stack([eye if a is None else a for a in self._affines])

    def finish(self, tracks: Detections, postprocess: bool | Literal["stitch"] = True) -> Detections:
        """Post-process the online pass's output (:func:`.offline.finish`): join fragments, by colour or by the
        learned looks, drop short tracks, fill gaps (``"stitch"``: only join, for a chunk of a long video)."""
        if not postprocess:
            return tracks
        tracks, self.colour_result = offline.finish(self, tracks, postprocess)
        return tracks
