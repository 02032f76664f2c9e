"""What the re-id tracker derives from the video and the model: score thresholds from the detections'
scores, how far it trusts appearance (validation loss, agreement with motion), and the bar a stitch
must clear (what different objects score on the same video)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from test_reid_tracker import _cosine_model, _ids_of, _scene, _swap_scene, _walk

from selftrack.core.detections import Detections
from selftrack.reid import ReidTracker
from selftrack.reid.tracker.adaptive import AppearanceTrust, prior_agreement


def _weak_or_strong(ratio: float) -> Any:
    model = _cosine_model()
    model.training = {"stage1": {"best_val_loss": ratio * 3.0, "initial_val_loss": 3.0}}
    return model


def test_thresholds_follow_the_detector_and_are_reported() -> None:
    det, _, _ = _swap_scene()
    rng = np.random.default_rng(0)
    motion_like = det.replace(score=rng.uniform(0.4, 0.7, len(det)))  # a moving-object detector's fill ratios
    tracker = ReidTracker(None, max_interpolation_gap=0, min_track_length=0)
    out = tracker.track(motion_like)
    assert len(out) >= 0.6 * len(det)  # the upper group starts and extends tracks, the lower one extends them
    assert 0.4 < tracker.high_score < 0.7 and "Otsu" in tracker.settings()[0]
    fixed = ReidTracker(None, high_score=0.8, max_interpolation_gap=0, min_track_length=0)
    assert len(fixed.track(motion_like)) == 0 and fixed.settings()[0].endswith("(set)")


def test_a_model_that_validation_calls_weak_leaves_the_online_pass_in_its_motion_only_mode() -> None:
    det, feats, _ = _swap_scene(jump=True)
    kw: dict[str, Any] = {"max_interpolation_gap": 0, "min_track_length": 0, "output_box": "detection"}
    motion = ReidTracker(None, **kw).track(det, fps=10.0)
    weak = ReidTracker(_weak_or_strong(0.9), **kw)
    out = weak.track(det, feats, fps=10.0, postprocess=False)
    assert weak.trust.trust == 0.0 and np.array_equal(out.track_id, motion.track_id)
    strong = ReidTracker(_weak_or_strong(0.1), **kw)
    out = strong.track(det, feats, fps=10.0, postprocess=False)
    assert strong.trust.trust == 1.0 and len(out.track_ids) < len(motion.track_ids)  # re-linked by appearance


def test_trust_is_the_smaller_of_validation_and_online_agreement() -> None:
    assert prior_agreement({"stage1": {"best_val_loss": 0.3, "initial_val_loss": 3.0}}) == pytest.approx(0.95)
    assert prior_agreement({"stage1": {"best_val_loss": 2.7, "initial_val_loss": 3.0}}) < 0.6
    assert prior_agreement({}) == 0.75
    trust = AppearanceTrust(prior=0.95, none=0.6, full=0.9)
    trust.observe(np.ones(100, dtype=bool), frame=1)
    assert trust.trust == 1.0
    trust.observe(np.zeros(100, dtype=bool), frame=2)  # agrees half the time online: low, whatever validation says
    assert trust.trust < 0.1


def test_appearance_that_tells_nobody_apart_stitches_nothing() -> None:
    # one person is lost in the middle of the view and reappears nearby a second later, while two
    # others walk elsewhere; with one-hot looks the fragments are joined, with one look for all they
    # are not: every pair of tracks seen together scores as high as the join would
    walks = (_walk(0, range(0, 10), 250, 5), _walk(0, range(20, 30), 340, 5))
    others = (_walk(1, range(0, 30), 60, 1, y=20.0), _walk(2, range(0, 30), 450, -1, y=220.0))
    det, feats, labels = _scene(*walks, *others)
    # motion keeps the lost track 5 frames, so only stitching can join the fragments
    kw: dict[str, Any] = {"max_interpolation_gap": 0, "output_box": "detection", "relink_max_age": 0, "max_age": 5}
    good = ReidTracker(_cosine_model(), **kw).track(det, feats, fps=10.0)
    assert len(_ids_of(good, det, labels, 0)) == 1
    same = np.repeat(feats[:1], len(feats), axis=0)
    blind = ReidTracker(_cosine_model(), **kw).track(det, same, fps=10.0)
    assert len(_ids_of(blind, det, labels, 0)) == 2


def test_settings_name_the_trust_and_its_evidence() -> None:
    det, feats, _ = _swap_scene()
    tracker = ReidTracker(_cosine_model())
    tracker.track(Detections.concat([det]), feats, fps=10.0)
    lines = tracker.settings()
    trust = [line for line in lines if line.startswith("appearance trust")]
    assert len(trust) == 1 and "unambiguous matches" in trust[0]
