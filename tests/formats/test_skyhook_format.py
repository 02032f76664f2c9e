"""SkyhookML detection JSON: per-frame lists, CanvasDims/Categories, and the omitempty fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from selftrack.core import Detections, FormatError
from selftrack.formats import read_mot, read_skyhook_json, to_skyhook_json, write_skyhook_json

# Written by hand in SkyhookML's own shape: TrackID/Score omitted where SkyhookML omits them.
SKYHOOK_FRAMES = [
    [{"Left": 10, "Top": 20, "Right": 50, "Bottom": 80, "Category": "car", "Score": 0.75}],
    [],
    None,
    [
        {"Left": 0, "Top": 0, "Right": 5, "Bottom": 5, "Category": "person", "TrackID": 4, "Score": 0.5},
        {"Left": 100, "Top": 100, "Right": 120, "Bottom": 130},
    ],
]
METADATA = {"CanvasDims": [320, 240], "Categories": ["person", "car"]}


def test_reads_skyhook_frames_with_metadata() -> None:
    dets = read_skyhook_json(SKYHOOK_FRAMES, metadata=METADATA)
    assert dets.canvas == (320, 240)
    assert dets.num_frames == 4  # the list's length, empty and null frames included
    assert dets.frame.tolist() == [0, 3, 3]
    assert dets.xyxy.tolist() == [[10, 20, 50, 80], [0, 0, 5, 5], [100, 100, 120, 130]]
    assert dets.class_id.tolist() == [1, 0, -1]  # index in Categories; no Category -> -1
    assert dets.classes == {0: "person", 1: "car"}
    assert dets.track_id.tolist() == [-1, 4, -1]  # missing TrackID -> no track
    assert dets.score.tolist() == [0.75, 0.5, 1.0]  # missing Score (an annotation) -> 1


def test_wrapper_object_and_file(tmp_path: Path) -> None:
    path = tmp_path / "item.json"
    path.write_text(json.dumps({"Detections": SKYHOOK_FRAMES, "Metadata": METADATA}))
    from_file = read_skyhook_json(path)
    assert from_file.equals(read_skyhook_json(SKYHOOK_FRAMES, metadata=METADATA))
    assert from_file.source == str(path)
    # explicit metadata overrides the wrapper's
    assert read_skyhook_json(path, metadata={"CanvasDims": [640, 480]}).canvas == (640, 480)


def test_track_id_zero_and_score_zero_survive_a_round_trip(tmp_path: Path) -> None:
    dets = Detections.create(
        [0, 0, 2],
        [[1, 2, 11, 12], [20, 20, 30, 40], [5, 5, 9, 9]],
        [0.0, 0.9, 0.0],
        [0, 1, 0],
        [0, 1, -1],
        canvas=(64, 48),
        num_frames=3,
        classes={0: "car", 1: "bus"},
    )
    frames, metadata = to_skyhook_json(dets)
    assert frames[0][0]["TrackID"] == 0 and frames[0][0]["Score"] == 0
    assert "TrackID" not in frames[2][0] and frames[2][0]["Score"] == 0
    assert frames[1] == []
    assert metadata == {"CanvasDims": [64, 48], "Categories": ["car", "bus"]}

    path = tmp_path / "dets.json"
    write_skyhook_json(dets, path)
    back = read_skyhook_json(path)
    assert back.equals(dets)
    assert back.track_id.tolist() == [0, 1, -1] and back.score.tolist() == [0, pytest.approx(0.9), 0]
    assert back.classes == {0: "car", 1: "bus"}

    bare = tmp_path / "bare.json"
    write_skyhook_json(dets, bare, wrapper=False)
    assert isinstance(json.loads(bare.read_text()), list)
    assert read_skyhook_json(bare, metadata=metadata).equals(dets)


def test_coordinates_are_whole_pixels_unless_asked(tmp_path: Path) -> None:
    dets = Detections.create([0], [[1.4, 2.6, 10.5, 20.2]], canvas=(32, 32), class_id=-1)
    frames, _ = to_skyhook_json(dets)
    assert [frames[0][0][k] for k in ("Left", "Top", "Right", "Bottom")] == [1, 3, 10, 20]
    assert all(isinstance(frames[0][0][k], int) for k in ("Left", "Top", "Right", "Bottom"))
    write_skyhook_json(dets, tmp_path / "f.json", integer_coords=False)
    np.testing.assert_allclose(read_skyhook_json(tmp_path / "f.json").xyxy, dets.xyxy)


@pytest.mark.realdata
def test_real_tracks_round_trip_through_skyhook_json(shared_data: Path, tmp_path: Path) -> None:
    res = read_mot(shared_data / "mot15/TUD-Campus/cem_result/TUD-Campus.txt", canvas=(640, 480), num_frames=71)
    write_skyhook_json(res, tmp_path / "tracks.json", integer_coords=False)
    back = read_skyhook_json(tmp_path / "tracks.json")
    assert back.canvas == (640, 480) and back.num_frames == 71
    np.testing.assert_array_equal(back.track_id, res.track_id)
    np.testing.assert_allclose(back.xyxy, res.xyxy, atol=1e-9)
    np.testing.assert_allclose(back.score, res.score)


@pytest.mark.parametrize(
    ("frames", "message"),
    [
        ([[{"Left": 1, "Top": 2, "Right": 3}]], r"frame 0, box 0: missing 'Bottom'"),
        ([[], [{"Left": "a", "Top": 2, "Right": 3, "Bottom": 4}]], r"frame 1, box 0: expected a number"),
        (
            [[], [], [{"Left": 0, "Top": 0, "Right": 1, "Bottom": 1}, {"Left": 9, "Top": 0, "Right": 3, "Bottom": 4}]],
            r"frame 2, box 1: Right < Left",
        ),
        ([[{"Left": 0, "Top": 0, "Right": 1, "Bottom": 1, "TrackID": 1.5}]], r"frame 0, box 0: TrackID must be"),
        ({"Frames": []}, r"must be \{'Detections'"),
        ([5], r"frame 0: expected a list of boxes"),
    ],
)
def test_bad_boxes_name_frame_and_box(tmp_path: Path, frames: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(frames))
    with pytest.raises(FormatError, match=rf"bad\.json.*{message}"):
        read_skyhook_json(path)


def test_invalid_json_names_line_and_bad_canvas_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  [{"Left": 1,\n  ]\n]')
    with pytest.raises(FormatError, match=r"broken\.json, line 3, column \d+: invalid JSON"):
        read_skyhook_json(path)
    with pytest.raises(FormatError, match=r"CanvasDims"):
        read_skyhook_json([[]], metadata={"CanvasDims": [0, 10]})


def test_category_ids_follow_the_categories_list() -> None:
    frames = [
        [
            {"Left": 0, "Top": 0, "Right": 1, "Bottom": 1, "Category": "b"},
            {"Left": 0, "Top": 0, "Right": 1, "Bottom": 1, "Category": "new"},
            {"Left": 0, "Top": 0, "Right": 1, "Bottom": 1, "Category": "a"},
        ]
    ]
    dets = read_skyhook_json(frames, metadata={"Categories": ["a", "b", "a"]})
    assert dets.class_id.tolist() == [1, 3, 0]
    assert dets.classes == {0: "a", 1: "b", 2: "a", 3: "new"}
