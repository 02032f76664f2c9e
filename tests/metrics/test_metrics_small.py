"""Tiny hand-made sequences whose metric values are worked out by hand in the comments.

Boxes are ``(frame, id, x1, y1, x2, y2)`` with 0-based frames; a unit box is 100x100 so IoUs are
easy to compute (a 100x52 box inside it has IoU 0.52).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.metrics import evaluate, evaluate_many, parse_frame_range

A = (0, 0, 100, 100)  # where gt track A walks (it stands still: the metrics do not care)
B = (500, 0, 600, 100)  # gt track B, far from A
FAR = (900, 900, 1000, 1000)  # a box overlapping nothing


def dets(rows: list[tuple], classes: list[int] | None = None, consider: list[int] | None = None) -> Detections:
    """Detections from ``(frame, id, box)`` rows; optional MOT17 class and consider flag per row."""
    data = {"consider": np.array(consider, dtype=np.int8)} if consider is not None else None
    return Detections.create(
        [r[0] for r in rows] if rows else np.zeros(0),
        [r[2] for r in rows] if rows else np.zeros((0, 4)),
        class_id=classes if classes is not None else -1,
        track_id=[r[1] for r in rows] if rows else np.zeros(0),
        data=data,
        source="hand-made",
    )


def test_perfect_tracking_scores_one_everywhere() -> None:
    gt = dets([(f, i, box) for f in range(3) for i, box in ((1, A), (2, B))])
    tracks = dets([(f, i, box) for f in range(3) for i, box in ((10, A), (20, B))])  # other id numbers
    r = evaluate(gt, tracks)
    for value in (r.hota.hota, r.hota.deta, r.hota.assa, r.hota.loca, r.clear.mota, r.clear.motp, r.identity.idf1):
        assert value == pytest.approx(1.0)
    assert (r.clear.tp, r.clear.fp, r.clear.fn, r.clear.idsw, r.clear.frag) == (6, 0, 0, 0, 0)
    assert (r.clear.mt, r.clear.pt, r.clear.ml) == (2, 0, 0)
    assert (r.num_gt_ids, r.num_tracker_ids, r.num_gt_dets, r.num_tracker_dets) == (2, 2, 6, 6)


def test_one_identity_switch() -> None:
    # gt A in frames 0-3; the tracker follows it exactly as id 1 in frames 0-1, id 2 in frames 2-3.
    gt = dets([(f, 1, A) for f in range(4)])
    tracks = dets([(0, 1, A), (1, 1, A), (2, 2, A), (3, 2, A)])
    r = evaluate(gt, tracks)
    # CLEAR: 4 TP, one switch: MOTA = (4 - 0 - 1) / 4. Tracked without a gap: no fragmentation.
    assert (r.clear.tp, r.clear.idsw, r.clear.frag) == (4, 1, 0)
    assert r.clear.mota == pytest.approx(0.75)
    # Identity: A maps to one id, sharing 2 boxes: IDTP 2, IDFN 2, IDFP 2, IDF1 = 2 / (2 + 1 + 1).
    assert (r.identity.idtp, r.identity.idfn, r.identity.idfp) == (2, 2, 2)
    assert r.identity.idf1 == pytest.approx(0.5)
    # HOTA: every box matched (DetA 1). Each (A, id) pair shares 2 of 4 + 2 boxes: A(c) = 2 / (4 + 2 - 2)
    # = 0.5, so AssA = (2 * 0.5 + 2 * 0.5) / 4 = 0.5; AssRe = (2 * 2/4 + 2 * 2/4) / 4 = 0.5; AssPr = 1.
    assert r.hota.deta == pytest.approx(1.0)
    assert r.hota.assa == pytest.approx(0.5)
    assert r.hota.assre == pytest.approx(0.5)
    assert r.hota.asspr == pytest.approx(1.0)
    assert r.hota.hota == pytest.approx(math.sqrt(0.5))


def test_empty_tracker() -> None:
    gt = dets([(f, i, box) for f in range(3) for i, box in ((1, A), (2, B))])
    r = evaluate(gt, dets([]))
    # TrackEval reports MOTA 0 (not a formula value) and every gt track mostly lost.
    assert (r.clear.mota, r.clear.fn, r.clear.ml, r.clear.mlr) == (0.0, 6, 2, 1.0)
    assert (r.identity.idf1, r.identity.idfn) == (0.0, 6)
    assert r.hota.hota == 0.0 and r.hota.loca == 1.0
    assert list(r.hota.fn) == [6] * 19


def test_empty_ground_truth() -> None:
    tracks = dets([(0, 1, A), (1, 1, A), (1, 2, B)])
    r = evaluate(dets([]), tracks, num_frames=2)
    assert (r.clear.fp, r.clear.mota, r.identity.idfp, r.hota.hota) == (3, 0.0, 3, 0.0)


def test_localisation_below_and_above_alpha() -> None:
    # One box, IoU 0.52 (100x52 inside 100x100): matched for alphas 0.05..0.50 (10 of 19), not above.
    gt = dets([(0, 1, A)])
    tracks = dets([(0, 1, (0, 0, 100, 52))])
    r = evaluate(gt, tracks)
    # DetA_alpha = AssA_alpha = HOTA_alpha = 1 for 10 alphas, 0 for 9: means 10/19.
    assert r.hota.hota == pytest.approx(10 / 19)
    assert r.hota.deta == pytest.approx(10 / 19)
    assert r.hota.assa == pytest.approx(10 / 19)
    # LocA_alpha is 0.52 where matched and 1 (TrackEval's convention for no match) elsewhere.
    assert r.hota.loca == pytest.approx((10 * 0.52 + 9) / 19)
    assert r.hota.hota_0 == pytest.approx(1.0) and r.hota.loca_0 == pytest.approx(0.52)
    # CLEAR and Identity use a 0.5 threshold: a TP with MOTP 0.52.
    assert (r.clear.tp, r.clear.mota, r.identity.idf1) == (1, 1.0, 1.0)
    assert r.clear.motp == pytest.approx(0.52)


def test_clear_prefers_the_previous_match() -> None:
    # Frame 1 offers id 2 exactly on A (IoU 1) and id 1, A's match in frame 0, at IoU 0.6.
    # CLEAR keeps id 1 (no switch): TP 2, FP 1, MOTP = (1 + 0.6) / 2.
    gt = dets([(0, 1, A), (1, 1, A)])
    tracks = dets([(0, 1, A), (1, 1, (0, 0, 100, 60)), (1, 2, A)])
    r = evaluate(gt, tracks)
    assert (r.clear.tp, r.clear.fp, r.clear.idsw) == (2, 1, 0)
    assert r.clear.motp == pytest.approx(0.8)


def test_fragmentation_and_mostly_tracked_boundary() -> None:
    # A in frames 0-4, tracked except frame 2, where the tracker reports a box elsewhere.
    gt = dets([(f, 1, A) for f in range(5)])
    tracks = dets([(0, 1, A), (1, 1, A), (2, 9, FAR), (3, 1, A), (4, 1, A)])
    r = evaluate(gt, tracks)
    # TP 4, FN 1, FP 1: MOTA = (4 - 1) / 5. Tracking restarts once: Frag 1. 4/5 = 80% is not > 80%: PT.
    assert (r.clear.tp, r.clear.fn, r.clear.fp, r.clear.frag, r.clear.idsw) == (4, 1, 1, 1, 0)
    assert (r.clear.mt, r.clear.pt, r.clear.ml) == (0, 1, 0)
    assert r.clear.mota == pytest.approx(0.6)
    # A frame with no tracker box at all does not interrupt the track (TrackEval convention): Frag 0.
    r = evaluate(gt, dets([(0, 1, A), (1, 1, A), (3, 1, A), (4, 1, A)]))
    assert (r.clear.fn, r.clear.fp, r.clear.frag) == (1, 0, 0)


def test_identity_uses_the_optimal_mapping() -> None:
    # Shared boxes: (A, 1) = 3, (B, 1) = 2, (A, 2) = 2. Greedy A->1 gives 3; A->2 plus B->1 gives 4.
    gt = dets([(f, 1, A) for f in range(5)] + [(f, 2, B) for f in range(2)])
    tracks = dets([(0, 1, B), (1, 1, B), (2, 1, A), (3, 1, A), (4, 1, A), (0, 2, A), (1, 2, A)])
    r = evaluate(gt, tracks)
    # 7 gt boxes, 7 tracker boxes: IDTP 4, IDFN 3, IDFP 3, IDF1 = 4 / 7.
    assert (r.identity.idtp, r.identity.idfn, r.identity.idfp) == (4, 3, 3)
    assert r.identity.idf1 == pytest.approx(4 / 7)


def test_mot17_preprocessing() -> None:
    # Frame 0 gt: pedestrian (scored), static person (distractor), car (not scored, not a distractor),
    # pedestrian with consider flag 0 (not scored). The tracker puts an exact box on each.
    p, s, c, z = (0, 0, 100, 100), (200, 0, 300, 100), (400, 0, 500, 100), (600, 0, 700, 100)
    gt = dets([(0, 1, p), (0, 2, s), (0, 3, c), (0, 4, z)], classes=[1, 7, 3, 1], consider=[1, 0, 0, 0])
    tracks = dets([(0, 1, p), (0, 2, s), (0, 3, c), (0, 4, z)])
    r = evaluate(gt, tracks)
    assert r.benchmark == "mot17"  # auto: the gt has MOT17 classes
    # The box on the static person is removed; boxes on the car and the flagged pedestrian are FPs.
    assert (r.num_gt_dets, r.num_tracker_dets, r.clear.tp, r.clear.fp, r.clear.fn) == (1, 3, 1, 2, 0)
    # MOT15 rules (consider flag only) remove nothing from the tracker: 3 FPs.
    r15 = evaluate(gt, tracks, benchmark="mot15")
    assert (r15.num_tracker_dets, r15.clear.fp) == (4, 3)
    # "none" scores every gt box: 4 TPs.
    assert evaluate(gt, tracks, benchmark="none").clear.tp == 4


def test_mot17_box_between_pedestrian_and_distractor_goes_to_the_better_match() -> None:
    # One tracker box: IoU 0.9 with the pedestrian, 0.6 with an overlapping reflection (class 12).
    gt = dets([(0, 1, (0, 0, 100, 100)), (0, 2, (0, 0, 100, 60))], classes=[1, 12], consider=[1, 0])
    tracks = dets([(0, 1, (0, 0, 100, 90))])
    r = evaluate(gt, tracks)
    assert (r.num_tracker_dets, r.clear.tp, r.clear.fp) == (1, 1, 0)
    # Without the pedestrian, the same box matches the reflection and is removed.
    r = evaluate(gt[gt.class_id == 12], tracks, benchmark="mot17")
    assert (r.num_tracker_dets, r.clear.fp) == (0, 0)


def test_frame_range_restriction() -> None:
    gt = dets([(f, 1, A) for f in range(10)])  # gt covers frames 0-9 only
    tracks = dets([(f, 1, A) for f in range(20)])  # the tracker ran on 20 frames
    assert evaluate(gt, tracks).clear.fp == 10
    r = evaluate(gt, tracks, frames=(0, 10))
    assert (r.clear.fp, r.clear.mota, r.num_frames, r.frames) == (0, 1.0, 10, (0, 10))
    r = evaluate(gt, tracks, frames=(5, 15))
    assert (r.clear.tp, r.clear.fp, r.num_frames) == (5, 5, 10)


def test_parse_frame_range() -> None:
    assert parse_frame_range("401-795") == (400, 795)  # MOT frames 401..795 = 0-based [400, 795)
    assert parse_frame_range(" 7 ") == (6, 7)
    for bad in ("0-3", "5-2", "a-b", "1-2-3", ""):
        with pytest.raises(ValidationError):
            parse_frame_range(bad)


def test_evaluate_many_combines_counts() -> None:
    perfect = (dets([(f, 1, A) for f in range(4)]), dets([(f, 5, A) for f in range(4)]))
    missed = (dets([(0, 1, A), (1, 1, A)]), dets([]))
    result = evaluate_many({"perfect": perfect, "missed": missed}, num_frames={"missed": 2})
    c = result.combined
    # TP 4, FN 2: MOTA 4/6; IDF1 = 4 / (4 + 0 + 1); DetA 4/6 and AssA (weighted by TP) 1: HOTA sqrt(4/6).
    assert (c.clear.tp, c.clear.fn, c.num_gt_dets, c.num_gt_ids) == (4, 2, 6, 2)
    assert c.clear.mota == pytest.approx(4 / 6)
    assert c.identity.idf1 == pytest.approx(0.8)
    assert c.hota.hota == pytest.approx(math.sqrt(4 / 6))
    json.dumps(result.to_dict())  # JSON-able as is
    table = result.table()
    assert table.splitlines()[0].split()[:3] == ["sequence", "HOTA", "DetA"]
    assert [line.split()[0] for line in table.splitlines()[1:]] == ["perfect", "missed", "COMBINED"]


def test_bad_inputs_are_refused_with_the_item_named() -> None:
    gt = dets([(0, 1, A)])
    with pytest.raises(ValidationError, match=r"hand-made.*no track_id"):
        evaluate(gt, Detections.create([0], [A], source="hand-made"))
    with pytest.raises(ValidationError, match="not MOT17 classes"):
        evaluate(gt, gt, benchmark="mot17")
    with pytest.raises(ValidationError, match="unknown benchmark"):
        evaluate(gt, gt, benchmark="mot99")
    with pytest.raises(ValidationError, match="has 1 frames"):
        evaluate(gt, dets([(3, 1, A)]), num_frames=1)
    with pytest.raises(ValidationError, match="frame range"):
        evaluate(gt, gt, frames=(5, 5))
    with pytest.raises(ValidationError, match="at least one"):
        evaluate_many({})
