"""ByteTrack's options (the official choices and the alternatives), each on a scene built to show it.

Every test runs the official configuration and the alternative on the same boxes and checks the
difference the option's description promises.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.core import Detections
from selftrack.core.boxes import iou_matrix
from selftrack.core.errors import ValidationError
from selftrack.formats.mot import read_mot
from selftrack.trackers import get_tracker
from selftrack.trackers.matching import assign


def video(boxes: list[tuple[int, list[float], float]], num_frames: int) -> Detections:
    frame = [f for f, _, _ in boxes]
    return Detections.create(frame, [b for _, b, _ in boxes], [s for _, _, s in boxes], num_frames=num_frames)


def walk(frames, x0: float, vx: float, score: float = 0.9, w: float = 40.0, h: float = 100.0):
    return [(f, [x0 + vx * f, 50.0, x0 + vx * f + w, 50.0 + h], score) for f in frames]


def test_unconfirmed_stage_is_stricter_than_the_first_stage():
    # 24 px per frame on a 40 px wide box: IoU 0.25 with the previous box, fused with score 0.9
    # the distance is 0.775. Stage 1 accepts it (<= 0.8), the unconfirmed stage does not (<= 0.7).
    boxes = walk(range(5, 20), 0.0, 24.0)
    official = get_tracker("bytetrack", preset="official").track(video(boxes, 20))
    assert len(official) == 0  # each new track is dropped the next frame and never confirmed
    joined = get_tracker("bytetrack", preset="official", unconfirmed_stage=False).track(video(boxes, 20))
    assert set(joined.track_id.tolist()) == {1}
    np.testing.assert_array_equal(joined.frame, np.arange(6, 20))  # output from its second box on


def test_low_score_boxes_refind_lost_tracks_only_with_low_stage_tracks_all():
    # high-score boxes for 10 frames, 3 frames missed, then only low-score boxes
    boxes = [(f, b, 0.9 if f < 10 else 0.3) for f, b, _ in walk(range(30), 0.0, 3.0) if not 10 <= f < 13]
    official = get_tracker("bytetrack", preset="official").track(video(boxes, 30))
    assert official.frame.max() == 9  # the lost track is never offered the low-score boxes
    every = get_tracker("bytetrack", preset="official", low_stage_tracks="all").track(video(boxes, 30))
    assert set(every.track_id.tolist()) == {1}
    assert every.frame.max() == 29 and (every.score[every.frame >= 13] == np.float32(0.3)).all()


def test_limit_in_the_assignment_or_after_it():
    # A-x is the cheapest pair; A-y + B-x is the cheapest full assignment (both pairs under 0.8).
    cost = np.array([[0.1, 0.5], [0.5, 0.95]])
    np.testing.assert_array_equal(assign(cost, 0.8), [[0, 0]])  # 0.1 + two unmatched at 0.4 < 1.0
    np.testing.assert_array_equal(assign(cost, 0.8, limit_after=True), [[0, 1], [1, 0]])
    # after the full assignment, a pair over the limit is dropped and its row and column stay free
    np.testing.assert_array_equal(assign(np.array([[0.1, 0.9], [0.2, 0.3]]), 0.25, limit_after=True), [[0, 0]])


def test_assignment_filter_changes_which_tracks_take_the_boxes():
    # Two tracks at rest 20 px apart. Next frame, box x is 5 px right of A and box y 15 px left
    # of A (fused distances: A-x 0.30, A-y 0.60, B-x 0.60, B-y 0.95, limit 0.8). The official
    # assignment keeps the one cheap pair A-x (B waits, y starts a candidate); solving first
    # picks A-y and B-x, cheaper together than A-x with the over-limit B-y.
    def box(x: float) -> list[float]:
        return [x, 50.0, x + 40.0, 150.0]

    rest = [(f, box(0.0), 0.9) for f in range(10)] + [(f, box(20.34), 0.9) for f in range(10)]
    scene = video([*rest, (10, box(4.94), 0.9), (10, box(-15.4), 0.9)], 11)

    def left_edges_at_10(out: Detections) -> dict[int, float]:
        at = out.frame == 10
        return dict(zip(out.track_id[at].tolist(), out.xyxy[at, 0].tolist(), strict=True))

    official = get_tracker("bytetrack", preset="official", output_box="detection").track(scene)
    solved = get_tracker("bytetrack", preset="official", output_box="detection", assignment="filter").track(scene)
    assert (official.frame < 10).sum() == (solved.frame < 10).sum() == 20  # both tracks, same ids
    a = int(official.track_id[(official.frame == 0) & (official.xyxy[:, 0] == 0.0)][0])
    b = int(official.track_id[(official.frame == 0) & (official.xyxy[:, 0] == 20.34)][0])
    assert left_edges_at_10(official) == {a: 4.94}
    assert left_edges_at_10(solved) == {a: -15.4, b: 4.94}


def test_output_box_detection_returns_the_matched_boxes_and_kalman_smooths_them():
    rng = np.random.default_rng(1)
    boxes = [(f, list(np.add(b, rng.normal(0, 2.0, 4))), s) for f, b, s in walk(range(40), 0.0, 3.0)]
    scene = video(boxes, 40)
    kalman = get_tracker("bytetrack", preset="official").track(scene)
    detection = get_tracker("bytetrack", preset="official", output_box="detection").track(scene)
    np.testing.assert_array_equal(detection.frame, kalman.frame)
    np.testing.assert_allclose(detection.xyxy, scene.xyxy[np.searchsorted(scene.frame, detection.frame)])
    assert np.abs(kalman.xyxy - detection.xyxy).max() > 0.1  # the filter's estimate is not the detection


def test_xyxy_kalman_tracks_a_box_that_changes_shape():
    # A box that grows 4 px wider per frame while keeping its height: the corner filter follows
    # both edges; its output stays within a few pixels of the detection.
    boxes = [(f, [100.0 - 2 * f, 50.0, 140.0 + 2 * f, 150.0], 0.9) for f in range(30)]
    out = get_tracker("bytetrack", preset="official", kalman="xyxy").track(video(boxes, 30))
    assert set(out.track_id.tolist()) == {1} and len(out) == 30
    truth = np.array([b for _, b, _ in boxes])
    assert np.abs(out.xyxy - truth).max() < 3.0


def test_activate_first_frame():
    scene = video(walk(range(10), 0.0, 3.0), 10)
    assert get_tracker("bytetrack", preset="official").track(scene).frame.min() == 0  # official: output at once
    assert get_tracker("bytetrack", preset="official", activate_first_frame=False).track(scene).frame.min() == 1


def test_merge_duplicates_drops_a_lost_track_on_top_of_a_tracked_one():
    # Frame 0: the detector fires twice on one person (two tracks, both output at once); frames
    # 1-9 once (one track goes lost on the same spot); frames 10-14 twice again.
    one = walk(range(15), 0.0, 2.0)
    twice = [(f, b, s) for f, b, s in one if f == 0 or f >= 10]
    scene = video(sorted(one + twice, key=lambda r: r[0]), 15)
    merged = get_tracker("bytetrack", preset="official").track(scene)
    kept = get_tracker("bytetrack", preset="official", merge_duplicates=False).track(scene)
    # merged: the duplicate was removed while lost, so frame 10's second box starts a new track,
    # output from frame 11 with a new id; kept: the lost duplicate is re-found at once.
    assert sorted(kept.track_id[kept.frame == 10].tolist()) == [1, 2]
    assert merged.track_id[merged.frame == 10].tolist() == [merged.track_id[0]]
    assert sorted(merged.track_id[merged.frame == 11].tolist()) == [1, 3]


def test_frame_rate_scales_how_long_a_lost_track_is_kept():
    frames = [f for f in range(40) if not 10 <= f < 20]  # 10 frames missed
    scene = video(walk(frames, 0.0, 1.0), 40)
    assert set(get_tracker("bytetrack", preset="official").track(scene).track_id.tolist()) == {
        1
    }  # kept 30 frames at 30 fps
    at_7fps = get_tracker("bytetrack", preset="official", frame_rate=7).track(scene)  # kept int(7 / 30 * 30) = 7 frames
    assert set(at_7fps.track_id.tolist()) == {1, 2}


def test_bad_option_values_are_refused_by_name():
    with pytest.raises(ValidationError, match="kalman"):
        get_tracker("bytetrack", preset="official", kalman="xywh")
    with pytest.raises(ValidationError, match="low_stage_tracks"):
        get_tracker("bytetrack", preset="official", low_stage_tracks="lost")
    with pytest.raises(ValidationError, match="assignment"):
        get_tracker("bytetrack", preset="official", assignment="greedy")


# ---------------------------------------------------------------------------- on real detections
@pytest.fixture(scope="module")
def mot17_02(shared_data: Path) -> Detections:
    return read_mot(shared_data / "mot17" / "MOT17-02" / "det" / "det.txt", kind="det", num_frames=600)


def _best_iou_with_a_detection(out: Detections, det: Detections) -> np.ndarray:
    parts = [iou_matrix(b.xyxy, det.at_frame(f).xyxy).max(axis=1) for f, b in out.iter_frames(0, det.num_frames)]
    return np.concatenate([p for p in parts if len(p)])


@pytest.mark.realdata
def test_output_box_and_kalman_options_on_mot17_02(mot17_02):
    official = get_tracker("bytetrack", preset="official").track(mot17_02)
    detection = get_tracker("bytetrack", preset="official", output_box="detection").track(mot17_02)
    corners = get_tracker("bytetrack", preset="official", kalman="xyxy").track(mot17_02)
    # the same tracks, only the boxes differ: each detection-box output is exactly a detection
    np.testing.assert_array_equal(detection.track_id, official.track_id)
    assert (_best_iou_with_a_detection(detection, mot17_02) > 1 - 1e-9).all()
    kalman_fit = _best_iou_with_a_detection(official, mot17_02)
    assert (kalman_fit < 0.99).mean() > 0.2  # the size-scaled filter smooths boxes noticeably
    # the corner filter's small pixel noise keeps its estimate closer to the detections
    assert np.median(_best_iou_with_a_detection(corners, mot17_02)) > np.median(kalman_fit)


@pytest.mark.realdata
def test_low_stage_tracks_all_refinds_lost_tracks_with_low_boxes_on_mot17_02(mot17_02):
    p = get_tracker("bytetrack", preset="official").params
    official = get_tracker("bytetrack", preset="official").track(mot17_02)
    every = get_tracker("bytetrack", preset="official", low_stage_tracks="all").track(mot17_02)
    assert (every.score <= p.track_thresh).sum() > (official.score <= p.track_thresh).sum()
    for out in (official, every):  # low-score boxes still never start a track
        first_rows = [np.flatnonzero(out.track_id == t)[0] for t in np.unique(out.track_id)]
        assert (out.score[first_rows] > p.track_thresh).all()


@pytest.mark.realdata
def test_frame_rate_bounds_the_gaps_inside_tracks_on_pets09(shared_data: Path):
    det = read_mot(shared_data / "pets09-s2l1" / "det" / "det.txt", kind="det", num_frames=795)

    def longest_gap(out: Detections) -> int:
        return max(int(np.diff(out.frame[out.track_id == t]).max(initial=1)) for t in np.unique(out.track_id))

    # PETS09-S2L1 is 7 fps: a lost track is kept int(7 / 30 * 30) = 7 frames, so a track is
    # re-found at most 8 frames after its last box; at the assumed 30 fps, up to 31 frames.
    assert longest_gap(get_tracker("bytetrack", preset="official", frame_rate=7).track(det)) <= 8
    assert longest_gap(get_tracker("bytetrack", preset="official").track(det)) > 8
