"""Behaviour of the core ``Detections`` type: construction, validation, per-frame and per-track views."""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.core import Detections, ValidationError
from selftrack.core.boxes import iou_matrix, xywh_to_xyxy, xyxy_to_xywh


def make(n_frames: int = 5) -> Detections:
    # Two objects: track 1 moves right, track 2 appears in frames 2-4; rows given out of order on purpose.
    frames = [3, 0, 1, 2, 4, 2, 3, 4]
    boxes = [
        [30, 0, 40, 10],
        [0, 0, 10, 10],
        [10, 0, 20, 10],
        [20, 0, 30, 10],
        [40, 0, 50, 10],
        [5, 50, 15, 60],
        [6, 50, 16, 60],
        [7, 50, 17, 60],
    ]
    tids = [1, 1, 1, 1, 1, 2, 2, 2]
    return Detections.create(
        frames,
        boxes,
        score=np.linspace(0.1, 0.8, 8),
        track_id=tids,
        canvas=(100, 100),
        num_frames=n_frames,
        data={"visibility": np.arange(8, dtype=np.float32)},
    )


def test_rows_are_sorted_by_frame_and_extra_columns_follow():
    d = make()
    assert d.frame.tolist() == [0, 1, 2, 2, 3, 3, 4, 4]
    # row that was first (frame 3, x1 30) keeps its own visibility value 0
    row = np.flatnonzero((d.frame == 3) & (d.xyxy[:, 0] == 30))[0]
    assert d.data["visibility"][row] == 0
    assert d.score.dtype == np.float32 and d.frame.dtype == np.int64 and d.track_id.dtype == np.int64


def test_iter_frames_includes_empty_frames():
    d = make(n_frames=7)
    counts = [(f, len(b)) for f, b in d.iter_frames()]
    assert counts == [(0, 1), (1, 1), (2, 2), (3, 2), (4, 2), (5, 0), (6, 0)]
    assert len(d.at_frame(2)) == 2 and len(d.at_frame(6)) == 0
    assert d.frames_range(1, 3).frame.tolist() == [1, 2, 2]


def test_tracks_view_groups_by_id_sorted_by_frame():
    tracks = make().tracks()
    assert sorted(tracks) == [1, 2]
    assert tracks[1].frame.tolist() == [0, 1, 2, 3, 4]
    assert tracks[1].xyxy[:, 0].tolist() == [0, 10, 20, 30, 40]
    assert tracks[2].frame.tolist() == [2, 3, 4]


def test_mask_indexing_keeps_metadata():
    d = make()
    high = d[d.score > 0.5]
    assert len(high) == int((d.score > 0.5).sum())
    assert high.canvas == (100, 100) and high.num_frames == 5
    assert len(high.data["visibility"]) == len(high)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"xyxy": [[10, 0, 5, 10]]}, "inverted"),
        ({"xyxy": [[np.nan, 0, 5, 10]]}, "NaN"),
        ({"frame": [-1]}, "negative frame"),
        ({"frame": [9], "num_frames": 5}, "past the video's 5 frames"),
        ({"xyxy": [[500, 500, 510, 510]], "canvas": (100, 100)}, "past the right or bottom edge of the 100x100 canvas"),
        ({"canvas": (0, 100)}, "canvas"),
    ],
)
def test_validation_names_the_problem_and_the_item(kwargs, message):
    args = {"frame": [0], "xyxy": [[0, 0, 5, 5]], "source": "videos/cam1"}
    args.update(kwargs)
    with pytest.raises(ValidationError, match=message) as err:
        Detections.create(args.pop("frame"), args.pop("xyxy"), **args)
    assert "videos/cam1" in str(err.value)


def test_duplicate_track_in_a_frame_is_refused():
    with pytest.raises(ValidationError, match="track_id 7 appears twice in frame 3"):
        Detections.create([3, 3], [[0, 0, 1, 1], [2, 2, 3, 3]], track_id=[7, 7])


def test_boxes_partly_outside_canvas_are_allowed():
    # MOT ground truth has boxes that stick out of the frame; only wholly-outside boxes are refused.
    d = Detections.create([0], [[-20, -5, 30, 40]], canvas=(100, 100))
    assert len(d) == 1
    # even wholly past the left edge (a person who walked out of MOT17-10): scaling never gives negatives
    assert len(Detections.create([0], [[-54, 316, -2, 473]], canvas=(1920, 1080))) == 1


def test_rescale_to_other_canvas():
    d = Detections.create([0], [[96, 54, 192, 108]], canvas=(960, 540))
    r = d.rescale((1920, 1080))
    assert r.xyxy.tolist() == [[192, 108, 384, 216]] and r.canvas == (1920, 1080)


def test_concat_and_equals_and_arrays_round_trip():
    d = make()
    parts = [d.frames_range(0, 2), d.frames_range(2, 5)]
    joined = Detections.concat(parts)
    assert joined.equals(d)
    back = Detections.from_arrays(d.to_arrays(), d.metadata())
    assert back.equals(d) and back.num_frames == 5


def test_box_helpers():
    xywh = np.array([[10.0, 20.0, 5.0, 8.0]])
    assert np.allclose(xyxy_to_xywh(xywh_to_xyxy(xywh)), xywh)
    iou = iou_matrix([[0, 0, 10, 10], [0, 0, 0, 0]], [[5, 0, 15, 10], [0, 0, 10, 10]])
    assert iou[0, 0] == pytest.approx(50 / 150) and iou[0, 1] == 1.0
    assert iou[1].tolist() == [0.0, 0.0]  # degenerate box never matches


def test_large_detections_are_cheap():
    # a 1-hour 30 fps video with 20 boxes per frame: 2.16M rows stay numpy arrays
    n = 108_000 * 20
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 1000, (n, 2))
    d = Detections.create(np.repeat(np.arange(108_000), 20), np.hstack([xy, xy + 10]), num_frames=108_000)
    assert len(d.at_frame(54_321)) == 20
    assert d.xyxy.nbytes == n * 32
