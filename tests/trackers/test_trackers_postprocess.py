"""Offline post-processing: dropping short tracks and interpolating gaps."""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.core import Detections, ValidationError
from selftrack.trackers import INTERPOLATED, drop_short_tracks, interpolate_tracks


def tracks() -> Detections:
    # track 1: frames 0, 3, 10 (gaps of 2 and 6 frames); track 2: frames 1, 2; one untracked box
    frame = [0, 3, 10, 1, 2, 5]
    xyxy = [[0, 0, 10, 20], [30, 3, 46, 23], [100, 0, 110, 20], [50, 50, 60, 60], [51, 50, 61, 60], [7, 7, 9, 9]]
    return Detections.create(
        frame,
        xyxy,
        score=[0.9, 0.6, 0.5, 0.8, 0.8, 0.3],
        class_id=[2, 2, 2, 1, 1, 0],
        track_id=[1, 1, 1, 2, 2, -1],
        num_frames=12,
        data={"visibility": np.array([1.0, 0.5, 0.2, 1.0, 1.0, 0.0])},
    )


def test_drop_short_tracks_counts_boxes_and_keeps_untracked_boxes():
    out = drop_short_tracks(tracks(), 3)
    assert sorted(out.track_id.tolist()) == [-1, 1, 1, 1]
    assert len(drop_short_tracks(tracks(), 4)) == 1  # only the untracked box is left
    assert drop_short_tracks(tracks(), 1).equals(tracks())
    with pytest.raises(ValidationError, match="min_length"):
        drop_short_tracks(tracks(), -1)


def test_interpolation_fills_exactly_the_gap_frames_with_linear_boxes():
    out = interpolate_tracks(tracks(), max_gap=2)
    one = out[out.track_id == 1]
    assert one.frame.tolist() == [0, 1, 2, 3, 10]  # the 6-frame gap is longer than max_gap
    added = one[one.data[INTERPOLATED]]
    assert added.frame.tolist() == [1, 2]
    # a third and two thirds of the way from frame 0's box to frame 3's
    np.testing.assert_allclose(added.xyxy[0], [10, 1, 22, 21])
    np.testing.assert_allclose(added.xyxy[1], [20, 2, 34, 22])
    np.testing.assert_allclose(added.score, [0.8, 0.7], atol=1e-6)
    assert added.class_id.tolist() == [2, 2]
    np.testing.assert_allclose(added.data["visibility"], [1.0, 1.0])  # copied from the box before the gap
    # everything else is untouched
    assert out[~out.data[INTERPOLATED]].equals(
        tracks().replace(data={**tracks().data, INTERPOLATED: np.zeros(6, bool)})
    )


def test_interpolation_with_a_larger_max_gap_and_none():
    out = interpolate_tracks(tracks(), max_gap=6)
    assert out[out.track_id == 1].frame.tolist() == list(range(11))
    np.testing.assert_allclose(
        out[(out.track_id == 1) & (out.frame == 4)].xyxy, [[40, 3 - 3 / 7, 46 + 64 / 7, 23 - 3 / 7]]
    )  # 1/7 of the way from frame 3 to 10
    assert out.num_frames == 12
    out.validate()
    none = interpolate_tracks(tracks(), max_gap=0)
    assert len(none) == 6 and not none.data[INTERPOLATED].any()
    with pytest.raises(ValidationError, match="max_gap"):
        interpolate_tracks(tracks(), max_gap=1.5)


def _pan(offsets: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Frame-to-frame affines of a camera whose image moves by ``offsets[f]`` pixels (x) at frame ``f``,
    zooming by ``scale`` a frame about the origin."""
    out = np.zeros((len(offsets), 2, 3))
    out[:, 0, 0] = out[:, 1, 1] = 1.0
    out[1:, 0, 0] = out[1:, 1, 1] = scale
    out[1:, 0, 2] = offsets[1:] - scale * offsets[:-1]
    return out


def test_interpolation_follows_the_camera_not_a_straight_line_in_the_image() -> None:
    # an object standing still in the scene, hidden over frames 5-14, while the camera pans right then back
    offsets = np.concatenate([10.0 * np.arange(11), 100.0 - 10.0 * np.arange(1, 10)])  # frames 0..19
    frames = np.array([f for f in range(20) if not 5 <= f <= 14])
    boxes = np.stack(
        [50.0 + offsets[frames], np.full(len(frames), 20.0), 80.0 + offsets[frames], np.full(len(frames), 90.0)], 1
    )
    tracks = Detections.create(frames, boxes, 1.0, track_id=np.ones(len(frames), int), canvas=(400, 200))
    plain = interpolate_tracks(tracks, 20)
    moved = interpolate_tracks(tracks, 20, _pan(offsets))
    at10 = lambda t: t.xyxy[t.frame == 10][0]  # noqa: E731
    assert at10(moved) == pytest.approx([150.0, 20.0, 180.0, 90.0])  # where the camera put it
    assert abs(at10(plain)[0] - 150.0) > 50.0  # a straight line between the ends misses it
    # zooming in too: a box of the scene grows with the zoom, and its corners follow it
    zoom = _pan(np.zeros(20), scale=1.01)
    grow = 1.01 ** np.arange(20)
    boxes = np.stack([40.0 * grow[frames], 20.0 * grow[frames], 60.0 * grow[frames], 80.0 * grow[frames]], 1)
    zoomed = interpolate_tracks(tracks.replace(xyxy=boxes), 20, zoom)
    assert at10(zoomed) == pytest.approx(np.array([40.0, 20.0, 60.0, 80.0]) * grow[10])


def test_interpolation_makes_no_box_where_the_camera_no_longer_sees_the_object() -> None:
    offsets = np.concatenate([-15.0 * np.arange(11), -150.0 + 15.0 * np.arange(1, 10)])  # away and back
    gap = range(3, 17)
    frames = np.array([f for f in range(20) if f not in gap])
    x1, x2 = 30.0 + offsets, 60.0 + offsets
    boxes = np.stack([x1[frames], np.full(len(frames), 20.0), x2[frames], np.full(len(frames), 90.0)], 1)
    tracks = Detections.create(
        frames, np.clip(boxes, 0, None), 1.0, track_id=np.ones(len(frames), int), canvas=(400, 200)
    )
    out = interpolate_tracks(tracks, 20, _pan(offsets))
    added = set(out.frame[out.data["interpolated"]].tolist())
    in_view = {f for f in gap if min(400.0, x2[f]) - max(0.0, x1[f]) >= 1.0}
    assert added == in_view and 0 < len(in_view) < len(gap)  # the frames where it is still partly in view
    assert (out.xyxy[:, 0] >= 0).all() and (out.xyxy[:, 2] <= 400).all()
