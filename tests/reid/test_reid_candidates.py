"""Candidate-match masks from IoU chains on hand-built boxes: padding, chaining, bridging, gaps."""

from __future__ import annotations

import numpy as np

from selftrack.core.detections import Detections
from selftrack.reid.candidates import candidate_mask, chain_reach, match_gaps


def _layout(rows: list[tuple[int, list[float]]], num_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    det = Detections.create([f for f, _ in rows], [b for _, b in rows], num_frames=num_frames)
    return det.frame, det.xyxy, det.frame_bounds()


def test_match_gaps_follow_track_duration() -> None:
    assert match_gaps(4.0, 10) == (5, 10, 20, 40)  # SkyhookML's example
    assert match_gaps(4.0, 7) == (4, 7, 14, 28)  # PETS09 at 7 fps
    assert match_gaps(0.1, 5) == (1,)  # never below one frame


def test_chain_follows_a_walking_box_and_not_a_distant_one() -> None:
    rows = []
    for f in range(6):
        rows.append((f, [10 + 8 * f, 10, 40 + 8 * f, 70]))  # walks right 8 px per frame
        rows.append((f, [300, 10, 330, 70]))  # stands far away
    frame, xyxy, bounds = _layout(rows, 6)
    (m5,) = candidate_mask(frame, xyxy, bounds, 0, [5])
    # the walker moved 40 px (more than its width) yet is reached through the chain
    np.testing.assert_array_equal(m5, [[True, False], [False, True]])
    reach, window = chain_reach(frame, xyxy, bounds, 0, 5)
    assert reach.shape == (2, 12) and len(window) == 12


def test_padding_links_boxes_that_do_not_overlap() -> None:
    # 5 px apart: no overlap, but padded by 10 px each they overlap by 15 px (IoU 0.18)
    near = [(0, [0, 0, 30, 30]), (1, [35, 0, 65, 30])]
    frame, xyxy, bounds = _layout(near, 2)
    assert candidate_mask(frame, xyxy, bounds, 0, [1])[0].all()
    assert not candidate_mask(frame, xyxy, bounds, 0, [1], padding=0.0)[0].any()
    far = [(0, [0, 0, 30, 30]), (1, [50, 0, 80, 30])]  # 20 px apart: padded boxes only touch
    frame, xyxy, bounds = _layout(far, 2)
    assert not candidate_mask(frame, xyxy, bounds, 0, [1])[0].any()


def test_chain_bridges_missed_detections_up_to_max_gap() -> None:
    box = [100, 100, 140, 180]
    for missing, expected in ((9, True), (10, False)):
        # seen in frame 0, missed for `missing` frames, seen again
        rows = [(0, box), (missing + 1, box)]
        frame, xyxy, bounds = _layout(rows, missing + 2)
        (m,) = candidate_mask(frame, xyxy, bounds, 0, [missing + 1], max_gap=10)
        assert bool(m[0, 0]) is expected, missing


def test_iou_threshold_and_chain_through_a_split() -> None:
    # one box in frame 0 splits into two overlapping boxes in frame 1, which merge again in frame 2
    rows = [
        (0, [0, 0, 40, 80]),
        (1, [0, 0, 20, 80]),
        (1, [20, 0, 40, 80]),
        (2, [2, 0, 42, 80]),
        (2, [500, 0, 540, 80]),
    ]
    frame, xyxy, bounds = _layout(rows, 3)
    m1, m2 = candidate_mask(frame, xyxy, bounds, 0, [1, 2])
    np.testing.assert_array_equal(m1, [[True, True]])
    np.testing.assert_array_equal(m2, [[True, False]])
    # a stricter IoU breaks the chain at the split
    m1_strict, m2_strict = candidate_mask(frame, xyxy, bounds, 0, [1, 2], min_iou=0.7)
    assert not m1_strict.any()
    assert m2_strict[0, 0]  # the direct link 0 -> 2 (IoU ~0.95) still holds


def test_empty_frames() -> None:
    rows = [(0, [0, 0, 10, 10]), (3, [0, 0, 10, 10])]
    frame, xyxy, bounds = _layout(rows, 5)
    (m,) = candidate_mask(frame, xyxy, bounds, 0, [2])
    assert m.shape == (1, 0)
    (m,) = candidate_mask(frame, xyxy, bounds, 1, [3])
    assert m.shape == (0, 1)


def test_one_to_one_chains_keep_crossing_people_apart() -> None:
    """Two people walk side by side, their boxes overlapping a little: every-overlap chains make each
    the other's candidate; one-to-one chains (each box linked to its best overlap only) do not."""
    frames, boxes = [], []
    for f in range(10):
        frames += [f, f]
        boxes += [[10 + 2 * f, 0, 50 + 2 * f, 80], [40 + 2 * f, 0, 80 + 2 * f, 80]]
    det = Detections.create(frames, boxes, 1.0)
    loose, strict = (
        candidate_mask(det.frame, det.xyxy, det.frame_bounds(), 0, [9], mutual=mutual)[0] for mutual in (False, True)
    )
    assert loose.all()
    assert np.array_equal(strict, np.eye(2, dtype=bool))


def test_relative_chains_drop_a_neighbour_brushing_past_but_keep_alike_overlaps() -> None:
    """Side by side, each box overlaps itself by ~0.9 in the next frame and its neighbour by ~0.2:
    with ``relative`` 0.5 the neighbour is not linked (links of one frame here: over longer bridges
    the walker comes to overlap its neighbour's old place as much as its own). A box that splits into two alike overlaps keeps
    both links (real ambiguity stays a candidate)."""
    frames, boxes = [], []
    for f in range(10):
        frames += [f, f]
        boxes += [[10 + 2 * f, 0, 50 + 2 * f, 80], [40 + 2 * f, 0, 80 + 2 * f, 80]]
    det = Detections.create(frames, boxes, 1.0)
    loose, near = (
        candidate_mask(det.frame, det.xyxy, det.frame_bounds(), 0, [9], relative=r, max_gap=1)[0] for r in (0.0, 0.5)
    )
    assert loose.all()
    assert np.array_equal(near, np.eye(2, dtype=bool))
    split = Detections.create([0, 1, 1], [[0, 0, 40, 80], [0, 0, 30, 80], [10, 0, 40, 80]], 1.0)
    (m,) = candidate_mask(split.frame, split.xyxy, split.frame_bounds(), 0, [1], relative=0.5)
    assert m.all()


def _gt_recall_and_share(det: Detections, gt: Detections, gap: int, **chain: float) -> tuple[float, float]:
    """Share of a later frame's boxes that are candidates, and share of boxes whose true match is one."""
    from scipy.optimize import linear_sum_assignment

    from selftrack.core.boxes import iou_matrix

    ids = np.full(len(det), -1)
    db, gb = det.frame_bounds(), gt.frame_bounds()
    for f in range(len(db) - 1):
        d, g = np.arange(db[f], db[f + 1]), np.arange(gb[f], gb[f + 1])
        if len(d) and len(g):
            iou = iou_matrix(det.xyxy[d], gt.xyxy[g])
            r, c = linear_sum_assignment(-iou)
            ids[d[r[iou[r, c] >= 0.5]]] = gt.track_id[g[c[iou[r, c] >= 0.5]]]
    share, recall = [], []
    for start in range(0, len(db) - 1 - gap, max(1, (len(db) - 1 - gap) // 15)):
        (m,) = candidate_mask(det.frame, det.xyxy, db, start, [start + gap], **chain)
        a, b = np.arange(db[start], db[start + 1]), np.arange(db[start + gap], db[start + gap + 1])
        same = (ids[a][:, None] == ids[b][None, :]) & (ids[a][:, None] >= 0)
        if m.size:
            share.append(m.mean())
        if same.any():
            recall.append((m & same).any(axis=1)[same.any(axis=1)].mean())
    return float(np.mean(share)), float(np.mean(recall))


def test_relative_chains_on_real_crowds_keep_the_true_match(shared_data) -> None:
    """MOT17-09 (30 fps crowd): every-overlap chains make most of the frame a candidate 4 s on;
    relative chains halve that and still reach the true match. On PETS09 (7 fps) they change little."""
    from selftrack.formats.mot import read_mot

    mot = shared_data / "mot17" / "MOT17-09"
    det = read_mot(mot / "det" / "det_refined.txt", num_frames=525)
    gt = read_mot(mot / "gt" / "gt.txt", kind="gt", num_frames=525)
    share0, recall0 = _gt_recall_and_share(det, gt, 120)
    share, recall = _gt_recall_and_share(det, gt, 120, relative=0.5)
    assert share0 > 0.6 and recall0 > 0.97
    assert share < 0.6 * share0 and recall > 0.92
    pets = shared_data / "pets09-s2l1"
    det = read_mot(pets / "det" / "det.txt", num_frames=795)
    gt = read_mot(pets / "gt" / "gt.txt", kind="gt", num_frames=795)
    share0, recall0 = _gt_recall_and_share(det, gt, 28)
    share, recall = _gt_recall_and_share(det, gt, 28, relative=0.5)
    assert recall > 0.97 and recall0 > 0.97 and share > 0.75 * share0
