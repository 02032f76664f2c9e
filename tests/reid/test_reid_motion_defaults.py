"""The re-id tracker's motion defaults follow the video: lost tracks are kept for a time, not a frame
count, and a matched track outputs its detection when every box scores alike (refined boxes) but the
Kalman estimate for a detector's graded scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.formats.mot import read_mot
from selftrack.reid import ReidTracker
from selftrack.reid.tracker.params import FALLBACK_INTERPOLATION_GAP, FALLBACK_MAX_AGE


def _walker(gap: tuple[int, int], num_frames: int = 120) -> Detections:
    """One box walking right 2 px a frame, missing over ``gap`` (frames, half-open)."""
    frames = np.array([f for f in range(num_frames) if not gap[0] <= f < gap[1]])
    x = 100.0 + 2.0 * frames
    boxes = np.stack([x, np.full_like(x, 100.0), x + 40.0, np.full_like(x, 200.0)], axis=1)
    return Detections.create(frames, boxes, 0.9, canvas=(640, 360), num_frames=num_frames)


def test_lost_tracks_are_kept_for_a_time_not_a_frame_count() -> None:
    tracker = ReidTracker(None)
    assert tracker.max_age == FALLBACK_MAX_AGE  # no frame rate known yet
    tracker.reset(fps=7.0)
    assert tracker.max_age == 14
    tracker.reset(fps=30.0)
    assert tracker.max_age == 60
    assert ReidTracker(None, max_age=5).max_age == 5  # a frame count, when set, wins
    assert any("kept 60 frames (2 s at 30 fps); gaps filled up to 60" in line for line in tracker.settings())

    # 1.3 s hidden at 30 fps (40 frames): the same track by default, two with SkyhookML's 10 frames
    det = _walker((40, 80))
    kw = {"min_track_length": 0, "max_interpolation_gap": 0}
    assert len(np.unique(ReidTracker(None, **kw).track(det, fps=30.0).track_id)) == 1
    assert len(np.unique(ReidTracker(None, max_age=10, **kw).track(det, fps=30.0).track_id)) == 2
    # the same 40 frames at 10 fps are 4 s: longer than the default keeps a lost track
    assert len(np.unique(ReidTracker(None, **kw).track(det, fps=10.0).track_id)) == 2


def test_gaps_are_filled_for_the_time_a_lost_track_is_kept() -> None:
    params = ReidTracker(None).params
    assert (params.interpolation_gap(7.0), params.interpolation_gap(30.0)) == (14, 60)
    assert params.interpolation_gap(None) == FALLBACK_INTERPOLATION_GAP
    det = _walker((40, 80))  # 1.3 s hidden at 30 fps: bridged by motion, then filled
    out = ReidTracker(None).track(det, fps=30.0)
    assert set(range(40, 80)) <= set(out.frame.tolist()) and len(np.unique(out.track_id)) == 1
    hidden = out[np.flatnonzero(out.frame == 60)]
    assert abs(hidden.xyxy[0, 0] - (100.0 + 2.0 * 60)) < 1.0  # on the straight line between the two ends
    capped = ReidTracker(None, max_interpolation_gap=20).track(det, fps=30.0)
    assert not set(range(40, 80)) & set(capped.frame.tolist())


def _share_of_detected_boxes(det: Detections, out: Detections) -> float:
    """Share of output boxes equal to an input box of their frame."""
    same = 0
    for f in np.unique(out.frame):
        a, b = out.xyxy[out.frame == f], det.xyxy[det.frame == f]
        same += int((np.abs(a[:, None, :] - b[None, :, :]).max(axis=2) < 1e-6).any(axis=1).sum())
    return same / len(out)


@pytest.mark.parametrize(
    ("folder", "det_name", "size", "alike"),
    [
        ("mot17/MOT17-02", "det_refined.txt", (1920, 1080), True),
        ("pets09-s2l1", "det.txt", (768, 576), False),
    ],
)
def test_output_box_follows_the_kind_of_detections(
    shared_data: Path, folder: str, det_name: str, size: tuple[int, int], alike: bool
) -> None:
    det = read_mot(shared_data / folder / "det" / det_name, canvas=size)
    det = det[np.flatnonzero(det.frame < 150)]
    tracker = ReidTracker(None, min_track_length=0, max_interpolation_gap=0)
    out = tracker.track(det, fps=30.0)
    share = _share_of_detected_boxes(det, out)
    assert tracker.scores_alike is alike
    if alike:  # refined boxes come out as they went in
        assert share == 1.0
        assert any("the detections themselves (every box scores alike)" in line for line in tracker.settings())
    else:  # the filter's estimate: only a track's first box is the detection itself
        assert share < 0.2
        assert any("the Kalman filter's" in line for line in tracker.settings())
    forced = ReidTracker(None, min_track_length=0, max_interpolation_gap=0, output_box="detection")
    assert _share_of_detected_boxes(det, forced.track(det, fps=30.0)) == 1.0
