"""What each tracker does on hand-built scenes: crossings, misses, low scores, velocity, camera motion."""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.core import Detections
from selftrack.trackers import get_tracker


def scene(paths: dict[int, list[tuple[int, list[float], float]]], num_frames: int) -> Detections:
    """Boxes from ``{object: [(frame, xyxy, score), ...]}``; ``data['object']`` keeps the object."""
    frame, boxes, scores, obj = [], [], [], []
    for k, path in paths.items():
        for f, box, s in path:
            frame.append(f)
            boxes.append(box)
            scores.append(s)
            obj.append(k)
    return Detections.create(frame, boxes, scores, data={"object": np.array(obj)}, num_frames=num_frames)


def straight(frames, x0: float, y0: float, vx: float, vy: float = 0.0, w: float = 40, h: float = 100, score=0.9):
    return [(f, [x0 + vx * f, y0 + vy * f, x0 + vx * f + w, y0 + vy * f + h], score) for f in frames]


def ids_per_object(out: Detections) -> dict[int, set[int]]:
    return {int(k): set(out.track_id[out.data["object"] == k].tolist()) for k in np.unique(out.data["object"])}


@pytest.mark.parametrize("name", ["sort", "bytetrack", "ocsort"])
def test_two_objects_crossing_keep_their_ids(name):
    # A walks right, B walks left, 8 px apart vertically: their boxes overlap heavily mid-way.
    frames = range(60)
    video = scene({0: straight(frames, 0, 100, 6.0), 1: straight(frames, 354, 108, -6.0)}, 60)
    out = get_tracker(name).track(video)
    ids = ids_per_object(out)
    assert len(ids[0]) == 1 and len(ids[1]) == 1, ids
    assert ids[0] != ids[1]
    # both are output on (almost) every frame, the crossing frames included
    assert np.sum(out.data["object"] == 0) >= 55 and np.sum(out.data["object"] == 1) >= 55


@pytest.mark.parametrize(
    ("name", "params", "missed"),
    [
        ("sort", {"max_age": 5}, 4),
        ("bytetrack", {}, 10),
        ("ocsort", {}, 10),
        ("iou", {}, 6),
    ],
)
def test_missed_detections_shorter_than_max_age_keep_the_id(name, params, missed):
    frames = [f for f in range(50) if not 20 <= f < 20 + missed]
    out = get_tracker(name, **params).track(scene({0: straight(frames, 0, 0, 3.0)}, 50))
    assert set(out.track_id.tolist()) == {1}
    assert out.frame.max() == 49  # still output after the gap


def test_a_gap_longer_than_max_age_starts_a_new_track():
    frames = [f for f in range(30) if not 10 <= f < 14]  # 4 missed frames
    out = get_tracker("sort", max_age=2).track(scene({0: straight(frames, 0, 0, 3.0)}, 30))
    assert set(out.track_id.tolist()) == {1, 2}
    assert out.track_id[out.frame < 10].max() == 1 and out.track_id[out.frame >= 14].min() == 2


def test_bytetrack_low_score_boxes_extend_tracks_but_never_start_them():
    high_then_low = [(f, box, 0.9 if f < 10 else 0.3) for f, box, _ in straight(range(30), 0, 0, 3.0)]
    only_low = straight(range(30), 400, 0, 3.0, score=0.3)
    out = get_tracker("bytetrack").track(scene({0: high_then_low, 1: only_low}, 30))
    ids = ids_per_object(out)
    assert 1 not in ids  # a low-score object alone is never tracked
    assert ids[0] == {1}
    assert out.frame[out.data["object"] == 0].max() == 29  # the low-score boxes continued the track
    # scores at or below low_thresh are not used at all
    out = get_tracker("bytetrack", low_thresh=0.35).track(scene({0: high_then_low}, 30))
    assert out.frame.max() == 9


def test_bytetrack_needs_a_second_match_except_in_the_first_frame():
    first = straight([0], 0, 0, 0.0)
    one_off = straight([5], 400, 0, 0.0)
    twice = straight([8, 9], 800, 0, 0.0)
    out = get_tracker("bytetrack").track(scene({0: first, 1: one_off, 2: twice}, 12))
    ids = ids_per_object(out)
    assert 0 in ids and 1 not in ids and 2 in ids
    assert out.frame[out.data["object"] == 2].tolist() == [9]


def test_sort_outputs_a_track_after_min_hits():
    out = get_tracker("sort", min_hits=3).track(scene({0: straight(range(5, 15), 0, 0, 2.0)}, 15))
    assert out.frame.tolist() == list(range(8, 15))  # its 4th box: 3 matches after the first


def test_iou_tracker_honours_min_iou_zero():
    # Consecutive boxes overlap with IoU 0.05: below SkyhookML's default 0.1, above 0.
    w = 40.0
    step = w * (1 - 0.05) / (1 + 0.05)  # IoU of two w-wide boxes shifted by step is 0.05
    video = scene({0: [(f, [step * f, 0, step * f + w, 100], 0.9) for f in range(2)]}, 2)
    assert get_tracker("iou").track(video).track_id.tolist() == [1, 2]
    assert get_tracker("iou", min_iou=0.0).track(video).track_id.tolist() == [1, 1]


def test_iou_tracker_extrapolates_over_a_missed_frame_with_its_velocity():
    # 40 px wide, 25 px per frame: consecutive boxes overlap (IoU 0.23), two frames apart they do not.
    frames = [f for f in range(12) if f != 6]
    video = scene({0: straight(frames, 0, 0, 25.0)}, 12)
    assert set(get_tracker("iou").track(video).track_id.tolist()) == {1}
    assert set(get_tracker("iou", velocity_steps=1).track(video).track_id.tolist()) == {1}
    # an object that stops extrapolation cannot know about is lost: a new id
    jump = [(f, box, s) for f, box, s in straight(range(12), 0, 0, 25.0) if f < 6]
    jump += [(f, [500.0, 0, 540, 100], 0.9) for f in range(6, 12)]
    assert set(get_tracker("iou").track(scene({0: jump}, 12)).track_id.tolist()) == {1, 2}


def test_ocsort_reupdate_forgets_the_velocity_learned_before_the_gap():
    # Walks right at 5 px/frame, disappears for 10 frames during which it stops, reappears there.
    before = straight(range(20), 0, 0, 5.0)
    stop_x = 5.0 * 21
    after = [(f, [stop_x, 0, stop_x + 40, 100], 0.9) for f in range(31, 40)]
    tracker = get_tracker("ocsort")
    out = tracker.track(scene({0: before + after}, 40))
    assert set(out.track_id.tolist()) == {1}
    vx = tracker._tracks.mean[0, 4]
    assert abs(vx) < 1.0, vx  # re-updated over the virtual path; SORT's filter would still move


@pytest.mark.parametrize("name", ["iou", "sort", "bytetrack", "ocsort"])
def test_camera_motion_compensation_keeps_static_objects_on_a_panning_camera(name):
    # The camera pans: a still object moves 34 px left per frame in the image (IoU between
    # consecutive boxes 0.08). The per-frame affine says so.
    n = 20
    video = scene({0: straight(range(n), 700, 0, -34.0), 1: straight(range(n), 900, 50, -34.0)}, n)
    transforms = np.tile(np.array([[1.0, 0.0, -34.0], [0.0, 1.0, 0.0]]), (n, 1, 1))
    with_cmc = get_tracker(name).track(video, transforms=transforms)
    without = get_tracker(name).track(video)
    assert all(len(ids) == 1 for ids in ids_per_object(with_cmc).values())
    assert len(with_cmc) >= 2 * (n - 4)
    assert len(np.unique(without.track_id)) != 2 or len(without) < len(with_cmc)


def test_ocsort_frame_rate_scales_max_age():
    frames = [f for f in range(40) if not 10 <= f < 20]  # 10 frames missed
    video = scene({0: straight(frames, 0, 0, 1.0)}, 40)
    assert set(get_tracker("ocsort").track(video).track_id.tolist()) == {1}  # max_age 30 frames at 30 fps
    # at 7 fps a track may go unmatched int(7 / 30 * 30) = 7 frames: it ends during the gap
    assert set(get_tracker("ocsort", frame_rate=7).track(video).track_id.tolist()) == {1, 2}
    assert set(get_tracker("ocsort", frame_rate=7, max_age=60).track(video).track_id.tolist()) == {1}


@pytest.mark.parametrize("kalman", ["xysr", "xyxy"])
def test_sort_either_filter_carries_a_fast_object_through_a_gap(kalman):
    # 12 px a frame with 40-px-wide boxes: after 3 missed frames the box is 48 px (more than its
    # width) from where it was last seen, so only a filter that learnt the velocity finds it again
    frames = [f for f in range(40) if not 20 <= f < 23]
    video = scene({0: straight(frames, 0, 0, 12.0)}, 40)
    tracker = get_tracker("sort", kalman=kalman, max_age=5, min_hits=1, output_box="kalman")
    out = tracker.track(video)
    assert tracker._tracks.mean.shape[1] == {"xysr": 7, "xyxy": 8}[kalman]
    assert set(out.track_id.tolist()) == {1}
    last = out[out.frame == 39]
    np.testing.assert_allclose(last.xyxy[0], [12.0 * 39, 0, 12.0 * 39 + 40, 100], atol=2.0)
