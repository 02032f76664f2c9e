"""Drawing boxes on frames: exact canvas scaling, colours, labels, trails."""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.render import UNTRACKED_COLOR, draw_detections, track_color


def _rgb(frame: np.ndarray, x: int, y: int) -> tuple[int, int, int]:
    return tuple(int(v) for v in frame[y, x])


def test_box_from_half_size_canvas_lands_on_doubled_edges():
    frame = np.zeros((1080, 1920, 3), np.uint8)
    dets = Detections.create([0], [[100, 50, 300, 200]], track_id=[5], canvas=(960, 540))
    out = draw_detections(frame, dets, label=False, thickness=2)
    c = track_color(5)
    # Expected edges at x = 200, 600 and y = 100, 400; a 2-px line covers the pixels on both sides.
    for x in (199, 200, 599, 600):
        assert _rgb(out, x, 250) == c
    for x in (198, 201, 598, 601):
        assert _rgb(out, x, 250) == (0, 0, 0)
    for y in (99, 100, 399, 400):
        assert _rgb(out, 400, y) == c
    for y in (98, 101, 398, 401):
        assert _rgb(out, 400, y) == (0, 0, 0)
    assert _rgb(out, 400, 250) == (0, 0, 0)  # the inside is untouched
    assert frame.max() == 0  # drawn on a copy


def test_non_uniform_scaling_and_thickness():
    frame = np.zeros((300, 400, 3), np.uint8)
    # 200x100 canvas onto 400x300: x doubles, y triples.
    dets = Detections.create([0], [[10, 10, 50, 60]], track_id=[0], canvas=(200, 100))
    out = draw_detections(frame, dets, label=False, thickness=5, copy=False)
    assert out is frame
    c = track_color(0)
    # Edges x = 20, 100; y = 30, 180; thickness 5 covers edge - 2 .. edge + 2.
    assert [_rgb(out, x, 100) == c for x in range(16, 25)] == [False, False] + [True] * 5 + [False, False]
    assert [_rgb(out, 60, y) == c for y in range(176, 185)] == [False, False] + [True] * 5 + [False, False]


def test_untracked_boxes_are_thin_grey_and_tracked_get_labels():
    frame = np.zeros((200, 300, 3), np.uint8)
    dets = Detections.create([0, 0], [[20, 20, 60, 80], [150, 100, 250, 180]], track_id=[-1, 42], canvas=(300, 200))
    out = draw_detections(frame, dets, thickness=2)
    assert _rgb(out, 20, 50) == UNTRACKED_COLOR
    assert _rgb(out, 19, 50) == (0, 0, 0) and _rgb(out, 21, 50) == (0, 0, 0)  # 1 pixel wide
    c = track_color(42)
    # The id tab sits above the top-left corner, in the track colour, with text in it.
    tab = out[80:99, 149:175]
    assert (tab == c).all(axis=2).mean() > 0.4
    assert (~(tab == c).all(axis=2)).any()
    # Without labels, nothing above the box.
    plain = draw_detections(frame, dets, label=False)
    assert not plain[80:98, 149:175].any()


def test_canvas_none_means_frame_pixels_and_boxes_are_clipped():
    frame = np.zeros((50, 60, 3), np.uint8)
    dets = Detections.create([0], [[-10, 10, 30, 70]], track_id=[1])  # sticks out left and bottom
    out = draw_detections(frame, dets, label=False)
    c = track_color(1)
    assert _rgb(out, 30, 20) == c and _rgb(out, 5, 10) == c


def test_trails_are_polylines_in_track_colour():
    frame = np.zeros((100, 100, 3), np.uint8)
    out = draw_detections(frame, Detections.empty(), trails={3: np.array([[10, 50], [90, 50]])}, thickness=2)
    assert _rgb(out, 50, 50) == track_color(3)
    assert not out[10:40].any()


def test_bad_frame_is_refused():
    with pytest.raises(ValidationError, match="RGB uint8"):
        draw_detections(np.zeros((10, 10), np.uint8), Detections.empty())
    with pytest.raises(ValidationError, match="thickness"):
        draw_detections(np.zeros((10, 10, 3), np.uint8), Detections.empty(), thickness=0)
