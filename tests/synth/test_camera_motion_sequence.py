"""The moving-camera test sequence: a real fixed-camera video filmed by a virtual camera with known motion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.formats import read_gmc, read_mot
from selftrack.synth.camera_motion import (
    CameraPathSpec,
    camera_path,
    frame_transforms,
    make_camera_motion_sequence,
    move_boxes,
)
from selftrack.video import probe
from selftrack.video.camera_motion import displacement_error, estimate_camera_motion


def _apply(affine: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ affine[:, :2].T + affine[:, 2]


@pytest.mark.parametrize("roll", [0.0, 3.0])
def test_the_camera_window_never_leaves_the_source_and_motions_compose(roll: float):
    spec = CameraPathSpec(roll_degrees=roll, shake_px=4.0, seed=5)
    cams = camera_path(300, (1920, 1080), (1280, 720), 30.0, spec)
    corners = np.array([[0, 0], [1280, 0], [0, 720], [1280, 720]], dtype=np.float64)
    for cam in cams:
        inv = np.linalg.inv(np.vstack([cam, [0, 0, 1]]))[:2]
        src = _apply(inv, corners)
        assert (src >= -1e-6).all() and (src[:, 0] <= 1920 + 1e-6).all() and (src[:, 1] <= 1080 + 1e-6).all()
    motion = frame_transforms(cams)
    np.testing.assert_array_equal(motion[0], np.eye(2, 3))
    pts = np.array([[100.0, 50.0], [900.0, 600.0]])
    for f in (1, 150, 299):  # transforms[f] takes what frame f-1 shows to where frame f shows it
        src = _apply(np.linalg.inv(np.vstack([cams[f - 1], [0, 0, 1]]))[:2], pts)
        np.testing.assert_allclose(_apply(motion[f], pts), _apply(cams[f], src), atol=1e-9)
    assert np.abs(motion[1:, :, 2]).max() > 2.0  # it does move


@pytest.mark.realdata
def test_mot17_09_filmed_by_a_moving_camera(shared_data: Path, tmp_path: Path):
    folder = shared_data / "mot17" / "MOT17-09"
    gt = read_mot(folder / "gt" / "gt.txt", canvas=(1920, 1080), num_frames=525)
    det = read_mot(folder / "det" / "det_refined.txt", canvas=(1920, 1080), num_frames=525)
    n, size = 24, (640, 360)
    spec = CameraPathSpec(pan_period=2.0, zoom_period=3.0, seed=2)
    written = make_camera_motion_sequence(
        folder / "video.mp4", tmp_path, gt=gt, detections=det, out_size=size, spec=spec, num_frames=n
    )
    info = probe(written["video"])
    assert (info.width, info.height, info.frame_count, float(info.fps)) == (640, 360, n, 30.0)
    cams = np.load(written["cameras"])
    true = read_gmc(written["gmc"], num_frames=n)
    np.testing.assert_allclose(true, frame_transforms(cams), atol=1e-7)
    # boxes: moved by the camera (no roll: centre by the affine, size by its scale), clipped, in the frame
    moved_gt = read_mot(written["gt"], canvas=size, num_frames=n)
    direct = move_boxes(gt.frames_range(0, n).replace(num_frames=n), cams, size)
    assert len(moved_gt) == len(direct) > 0
    np.testing.assert_allclose(moved_gt.xyxy, direct.xyxy, atol=1e-3)
    assert set(np.unique(moved_gt.track_id)) <= set(np.unique(gt.track_id))
    inside = (direct.xyxy[:, 0] >= 0) & (direct.xyxy[:, 2] <= size[0]) & (direct.xyxy[:, 3] <= size[1])
    assert inside.all()
    whole = gt.frames_range(0, 1)
    k = cams[0, 0, 0]
    centre = _apply(cams[0], (whole.xyxy[:, :2] + whole.xyxy[:, 2:]) / 2)
    visible = (centre[:, 0] > 40) & (centre[:, 0] < 600) & (whole.xyxy[:, 3] * k + cams[0, 1, 2] < 350)
    first = direct.frames_range(0, 1)
    ids = set(first.track_id.tolist())
    for row in np.flatnonzero(visible):
        if int(whole.track_id[row]) in ids and whole.xyxy[row, 1] * k + cams[0, 1, 2] > 0:
            j = int(np.flatnonzero(first.track_id == whole.track_id[row])[0])
            np.testing.assert_allclose((first.xyxy[j, :2] + first.xyxy[j, 2:]) / 2, centre[row], atol=1e-6)
            np.testing.assert_allclose(
                first.xyxy[j, 2:] - first.xyxy[j, :2], (whole.xyxy[row, 2:] - whole.xyxy[row, :2]) * k
            )
    assert len(read_mot(written["det"], canvas=size, num_frames=n)) > 0
    # end to end: the estimator reads the encoded video back and finds the motion written in gmc.txt
    estimate = estimate_camera_motion(written["video"], read_mot(written["det"], canvas=size, num_frames=n))
    err = displacement_error(estimate.transforms[1:], true[1:], size)
    assert err.mean() < 0.25 and err.max() < 0.6, (err.mean(), err.max())
