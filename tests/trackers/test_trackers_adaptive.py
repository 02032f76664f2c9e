"""preset="auto": the classic trackers' settings follow the detections, on real detections of three kinds.

MOT17-02's refined boxes all score 1 (ground-truth-like), its public FRCNN boxes and the motion
detector's boxes on the highway video have graded scores. The rule (trackers/adaptive.py) must tell
them apart, pick what each tracker's module doc says, say so in ``settings()``, keep what a user set,
and leave the published algorithm reachable as ``preset="official"``.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.detectors.motion import MotionDetector
from selftrack.formats.mot import read_mot
from selftrack.metrics.evaluate import evaluate
from selftrack.trackers import get_tracker
from selftrack.trackers.adaptive import detection_profile
from selftrack.trackers.bytetrack import ALIKE_OPTIONS, GRADED_OPTIONS
from selftrack.trackers.thresholds import otsu_threshold


def _mot(shared_data: Path, name: str, det: str, frames: int | None = None) -> tuple[Detections, Detections]:
    folder = shared_data / "mot17" / name
    gt = read_mot(folder / "gt" / "gt.txt", kind="gt")
    n = frames or gt.frame_count
    return read_mot(folder / "det" / det, kind="det", num_frames=n), gt.frames_range(0, n).replace(num_frames=n)


@pytest.fixture(scope="module")
def refined(shared_data: Path) -> Detections:
    return _mot(shared_data, "MOT17-02", "det_refined.txt", 600)[0]


@pytest.fixture(scope="module")
def frcnn(shared_data: Path) -> Detections:
    return _mot(shared_data, "MOT17-02", "det.txt", 600)[0]


@pytest.fixture(scope="module")
def motion(shared_data: Path) -> Detections:
    """The moving-object detector on the highway video's first 300 frames (its scores: the moved share)."""
    with av.open(str(shared_data / "videos" / "highway_overpass_cdnet.avi")) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(300), container.decode(video=0), strict=False)]
    boxes = MotionDetector().detect_batch(np.stack(frames))
    frame = np.concatenate([np.full(len(b.score), i) for i, b in enumerate(boxes)])
    xyxy = np.concatenate([b.xyxy for b in boxes])
    return Detections.create(frame, xyxy, np.concatenate([b.score for b in boxes]), num_frames=300)


def test_refined_boxes_are_alike_and_every_one_is_a_first_stage_box(refined: Detections):
    tracker = get_tracker("bytetrack")
    out = tracker.track(refined)
    assert tracker.profile is not None and tracker.profile.kind == "alike"
    p = tracker.params
    assert p.track_thresh < 1.0 <= p.track_thresh + 1e-5 and p.new_track_thresh == p.track_thresh
    assert {k: getattr(p, k) for k in ALIKE_OPTIONS} == ALIKE_OPTIONS
    assert "every box scores alike" in tracker.settings()[0] and "output_box=detection" in tracker.settings()[1]
    # every box may start a track: the official thresholds (> 0.5 / >= 0.6) would too, but the output
    # is the boxes themselves (not the filter's), so each output box is one of the frame's boxes
    assert len(out) > 0.9 * len(refined)
    assert np.isin(out.xyxy[:, 0], refined.xyxy[:, 0]).all()


def test_frcnn_scores_are_graded_and_split_where_otsu_says(frcnn: Detections):
    tracker = get_tracker("bytetrack")
    out = tracker.track(frcnn)
    split = otsu_threshold(frcnn.score)
    assert tracker.profile is not None and tracker.profile.kind == "graded" and split is not None
    p = tracker.params
    assert p.track_thresh == pytest.approx(split) and p.new_track_thresh == pytest.approx(split)
    assert 0.3 < split < 0.9  # FRCNN's junk (0.05-0.3) below, its people above
    assert {k: getattr(p, k) for k in GRADED_OPTIONS} == GRADED_OPTIONS
    assert (out.score >= split).any() and not (out.score <= 0.1).any()  # the second stage's floor holds
    starts = out[np.unique(out.track_id, return_index=True)[1]]
    assert (starts.score >= split).all()  # low-score boxes never start a track


def test_motion_detector_scores_are_graded_and_each_tracker_reports_its_choice(motion: Detections):
    profile = detection_profile(motion.score)
    assert profile.kind == "graded" and 0.2 < profile.thresholds.high < 0.8
    for name, field in (("bytetrack", "track_thresh"), ("ocsort", "det_thresh")):
        tracker = get_tracker(name)
        out = tracker.track(motion)
        assert getattr(tracker.params, field) == pytest.approx(profile.thresholds.high)
        assert f"{field}={profile.thresholds.high:.3g}" in tracker.settings()[1]
        assert len(out) > 0.5 * len(motion)
    ocsort = get_tracker("ocsort")
    ocsort.track(motion)
    assert ocsort.params.use_byte  # boxes under the split still extend tracks


def test_sort_keeps_a_lost_track_for_a_second_at_the_videos_rate(frcnn: Detections):
    for rate, frames in ((30.0, 30), (7.0, 7)):
        tracker = get_tracker("sort", frame_rate=rate)
        tracker.track(frcnn)
        assert tracker.params.max_age == frames
    assert get_tracker("sort", preset="official", frame_rate=7.0).params.max_age == 1


def test_explicit_parameters_and_the_official_preset_are_kept(frcnn: Detections):
    tracker = get_tracker("bytetrack", track_thresh=0.5, output_box="kalman")
    tracker.track(frcnn)
    assert tracker.params.track_thresh == 0.5 and tracker.params.output_box == "kalman"
    assert tracker.params.assignment == "filter"  # the unset options are still chosen
    assert "kept as set: output_box, track_thresh" in tracker.settings()[-1]
    official = get_tracker("bytetrack", preset="official")
    official.track(frcnn)
    assert official.params == official.requested and official.params.track_thresh == 0.5
    assert official.settings() == ["bytetrack: preset official (the published defaults)"]


@pytest.mark.parametrize("name", ["bytetrack", "sort"])
def test_update_frame_by_frame_adapts_on_the_first_frame_or_on_given_scores(refined: Detections, name: str):
    # SORT's auto preset switches to a corner filter (another state size) for these boxes: the switch
    # happens before its first track, whether the whole video or the first frame decides
    whole = get_tracker(name).track(refined)
    stream = get_tracker(name)
    parts = [stream.update(refined.at_frame(f), f) for f in range(refined.frame_count)]
    assert stream.profile is not None and stream.profile.kind == "alike"
    np.testing.assert_array_equal(np.concatenate([p.track_id for p in parts]), whole.track_id)
    np.testing.assert_allclose(np.concatenate([p.xyxy for p in parts]), whole.xyxy)
    given = get_tracker("ocsort")
    given.adapt(np.array([0.05, 0.1, 0.9, 0.95]))
    assert 0.1 < given.params.det_thresh < 0.9 and given.params.use_byte


def test_auto_beats_the_official_defaults_on_refined_boxes_not_chosen_on(shared_data: Path):
    """ByteTrack's options for alike scores were chosen on MOT17-02/04; on held-out MOT17-09 they must still help.

    (SORT's corner filter for alike boxes, chosen with MOT17-05/10 too, is not better than the original
    SORT on MOT17-09: BENCHMARKS.md says so.)
    """
    det, gt = _mot(shared_data, "MOT17-09", "det_refined.txt")
    auto = evaluate(gt, get_tracker("bytetrack").track(det)).hota.hota
    official = evaluate(gt, get_tracker("bytetrack", preset="official").track(det)).hota.hota
    assert auto > official + 0.005


@pytest.mark.parametrize("sequence", ["TUD-Stadtmitte", "KITTI-17"])
def test_sort_and_ocsort_auto_beat_the_published_algorithm_on_graded_boxes_not_chosen_on(
    shared_data: Path, sequence: str
):
    """SORT's and OC-SORT's options for graded scores were chosen on PETS09, TUD-Campus and MOT17-02/04.

    On these held-out MOT15 sequences (public detections, a pedestrian street and a fixed camera by a
    road) the auto preset must beat the published algorithm at the same frame rate.
    """
    folder = shared_data / "mot15" / sequence
    gt = read_mot(folder / "gt" / "gt.txt", kind="gt")
    det = read_mot(folder / "det" / "det.txt", kind="det", num_frames=gt.frame_count)
    rate = {"TUD-Stadtmitte": 25.0, "KITTI-17": 10.0}[sequence]
    for name in ("sort", "ocsort"):
        tracker = get_tracker(name, frame_rate=rate)
        auto = evaluate(gt, tracker.track(det)).hota.hota
        assert tracker.profile is not None and tracker.profile.kind == "graded"
        assert tracker.params.min_hits == 1 and tracker.params.output_box == "kalman"
        official = evaluate(gt, get_tracker(name, preset="official", frame_rate=rate).track(det)).hota.hota
        assert auto > official + 0.01, name
