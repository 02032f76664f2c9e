"""MOTChallenge text: round trips on the real files, the column mapping, and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.core import Detections, FormatError
from selftrack.formats import MOT17_CLASSES, parse_seqinfo, read_gmc, read_mot, write_mot

ROUND_TRIP_FILES = [
    "pets09-s2l1/gt/gt.txt",
    "pets09-s2l1/det/det.txt",
    "mot17/MOT17-02/gt/gt.txt",
    "mot17/MOT17-02/det/det.txt",
    "mot17/MOT17-02/det/det_refined.txt",
    "mot15/ADL-Rundle-6/det/det.txt",
    "mot15/KITTI-13/det/det.txt",
    "mot15/TUD-Campus/det/det.txt",
    "mot15/TUD-Campus/gt/gt.txt",
    "mot15/TUD-Campus/cem_result/TUD-Campus.txt",
    "mot15/TUD-Stadtmitte/cem_result/TUD-Stadtmitte.txt",
]


def frame_sorted(matrix: np.ndarray) -> np.ndarray:
    """Rows in frame order, the file's order kept within a frame (what write_mot promises)."""
    return matrix[np.argsort(matrix[:, 0], kind="stable")]


@pytest.mark.realdata
@pytest.mark.parametrize("rel", ROUND_TRIP_FILES)
def test_real_file_round_trip_keeps_boxes_and_numbers(shared_data: Path, rel: str, tmp_path: Path) -> None:
    original = shared_data / rel
    raw = np.loadtxt(original, delimiter=",", ndmin=2)
    dets = read_mot(original)
    assert len(dets) == len(raw)

    out = tmp_path / "out.txt"
    write_mot(dets, out, columns=raw.shape[1])
    again = read_mot(out, kind="gt" if "consider" in dets.data else "auto")
    assert dets.equals(again)
    rewritten = np.loadtxt(out, delimiter=",", ndmin=2)
    assert rewritten.shape == raw.shape
    np.testing.assert_allclose(rewritten, frame_sorted(raw), atol=1e-6, rtol=0)


@pytest.mark.realdata
def test_columns_map_to_detections_fields(shared_data: Path) -> None:
    raw = frame_sorted(np.loadtxt(shared_data / "mot17/MOT17-02/gt/gt.txt", delimiter=","))
    gt = read_mot(shared_data / "mot17/MOT17-02/gt/gt.txt")
    np.testing.assert_array_equal(gt.frame, raw[:, 0] - 1)
    np.testing.assert_array_equal(gt.track_id, raw[:, 1])
    np.testing.assert_allclose(gt.xyxy[:, :2], raw[:, 2:4])
    np.testing.assert_allclose(gt.xyxy[:, 2:], raw[:, 2:4] + raw[:, 4:6])
    np.testing.assert_array_equal(gt.data["consider"], raw[:, 6])
    assert gt.data["consider"].dtype == np.int8
    np.testing.assert_array_equal(gt.score, raw[:, 6])
    np.testing.assert_array_equal(gt.class_id, raw[:, 7])
    np.testing.assert_allclose(gt.data["visibility"], raw[:, 8], atol=1e-6)
    assert gt.data["visibility"].dtype == np.float32
    assert gt.classes == MOT17_CLASSES
    # The first line of the file is "1,1,912,484,97,109,0,7,1": a static person, not considered.
    first = np.flatnonzero((gt.frame == 0) & (gt.track_id == 1))[0]
    assert gt.xyxy[first].tolist() == [912, 484, 1009, 593]
    assert gt.class_id[first] == 7 and gt.data["consider"][first] == 0


@pytest.mark.realdata
def test_det_files_have_no_tracks_and_drop_unknown_world_coordinates(shared_data: Path) -> None:
    det = read_mot(shared_data / "pets09-s2l1/det/det.txt")
    raw = frame_sorted(np.loadtxt(shared_data / "pets09-s2l1/det/det.txt", delimiter=","))
    assert not det.has_tracks and set(det.data) == set()
    assert (det.class_id == -1).all()
    np.testing.assert_allclose(det.score, raw[:, 6], atol=1e-6)
    # MOT15 gt with real world coordinates keeps them
    gt = read_mot(shared_data / "pets09-s2l1/gt/gt.txt")
    raw_gt = frame_sorted(np.loadtxt(shared_data / "pets09-s2l1/gt/gt.txt", delimiter=","))
    np.testing.assert_allclose(gt.data["world"], raw_gt[:, 7:10])


@pytest.mark.realdata
def test_mot17_det_with_seven_columns_defaults_to_ten_on_write(shared_data: Path, tmp_path: Path) -> None:
    src = shared_data / "mot17/MOT17-02/det/det.txt"
    det = read_mot(src)
    write_mot(det, tmp_path / "det.txt")
    written = np.loadtxt(tmp_path / "det.txt", delimiter=",")
    assert written.shape[1] == 10
    np.testing.assert_allclose(written[:, :7], frame_sorted(np.loadtxt(src, delimiter=",")), atol=1e-6)
    assert (written[:, 7:] == -1).all()


@pytest.mark.realdata
def test_seqinfo_and_canvas(shared_data: Path) -> None:
    info = parse_seqinfo(shared_data / "mot17/MOT17-02")
    assert info["imWidth"] == 1920 and info["imHeight"] == 1080
    assert info["seqLength"] == 600 and info["frameRate"] == 30 and info["name"] == "MOT17-02"
    gt = read_mot(
        shared_data / "mot17/MOT17-02/gt/gt.txt",
        canvas=(info["imWidth"], info["imHeight"]),
        num_frames=info["seqLength"],
    )
    assert gt.canvas == (1920, 1080) and gt.frame_count == 600
    with pytest.raises(FormatError, match=r"gt\.txt, line \d+: frame past the video's 100 frames"):
        read_mot(shared_data / "mot17/MOT17-02/gt/gt.txt", num_frames=100)
    pets = parse_seqinfo(shared_data / "pets09-s2l1/seqinfo.ini")
    assert (pets["imWidth"], pets["imHeight"], pets["seqLength"]) == (768, 576, 795)


@pytest.mark.realdata
def test_large_gt_file_reads_completely(shared_data: Path) -> None:
    path = shared_data / "mot17/MOT17-04/gt/gt.txt"
    gt = read_mot(path)
    with open(path) as fh:
        lines = sum(1 for line in fh if line.strip())
    assert len(gt) == lines
    assert gt.frame_count == 1050


@pytest.mark.realdata
def test_gmc_is_indexed_by_zero_based_frame(shared_data: Path) -> None:
    path = shared_data / "mot17/MOT17-02/gmc.txt"
    gmc = read_gmc(path)
    assert gmc.shape == (600, 2, 3)
    rows = np.loadtxt(path)
    assert rows[0, 0] == 0 and rows[-1, 0] == 599
    np.testing.assert_array_equal(gmc[0], np.eye(2, 3))  # first line: identity
    np.testing.assert_allclose(gmc[1].ravel(), rows[1, 1:7])
    np.testing.assert_allclose(gmc[599].ravel(), rows[599, 1:7])


def test_gmc_missing_frames_are_identity_and_repeats_rejected(tmp_path: Path) -> None:
    path = tmp_path / "gmc.txt"
    path.write_text("0\t1\t0\t5\t0\t1\t6\t\n2\t1\t0\t-1\t0\t1\t2\t\n")
    gmc = read_gmc(path, num_frames=4)
    assert gmc.shape == (4, 2, 3)
    assert gmc[0, 0, 2] == 5 and gmc[2, 1, 2] == 2
    np.testing.assert_array_equal(gmc[1], np.eye(2, 3))
    np.testing.assert_array_equal(gmc[3], np.eye(2, 3))
    path.write_text("0 1 0 0 0 1 0\n1 1 0 0 0 1 0\n1 1 0 0 0 1 0\n")
    with pytest.raises(FormatError, match=r"line 3: frame index repeated"):
        read_gmc(path)


def test_writer_removes_float_noise_and_writes_one_based_frames(tmp_path: Path) -> None:
    # 530.03 - 499 is 31.029999999999973 in floating point: the file must say 31.03
    dets = Detections.create([0, 4], [[499, 158, 530.03, 233.17], [1.5, 2.25, 11.5, 12.25]], [0.9, 1.0], -1, [3, 7])
    path = tmp_path / "res.txt"
    write_mot(dets, path)
    assert path.read_text() == "1,3,499,158,31.03,75.17,0.9,-1,-1,-1\n5,7,1.5,2.25,10,10,1,-1,-1,-1\n"
    assert not [p for p in tmp_path.iterdir() if p.name != "res.txt"]  # no temporary file left behind


def test_gt_writes_mot17_layout_and_round_trips(tmp_path: Path) -> None:
    gt = Detections.create(
        [0, 0, 1],
        [[0, 0, 10, 20], [5, 5, 15, 25], [1, 1, 11, 21]],
        [1, 0, 1],
        [1, 7, 1],
        [1, 2, 1],
        data={"consider": np.array([1, 0, 1], np.int8), "visibility": np.array([1.0, 0.25, 0.5], np.float32)},
    )
    path = tmp_path / "gt" / "gt.txt"
    write_mot(gt, path)
    assert path.read_text().splitlines() == ["1,1,0,0,10,20,1,1,1", "1,2,5,5,10,20,0,7,0.25", "2,1,1,1,10,20,1,1,0.5"]
    assert read_mot(path).equals(gt)


def test_whitespace_separators_blank_lines_comments_and_trailing_commas(tmp_path: Path) -> None:
    spaced = tmp_path / "spaced.txt"
    spaced.write_text("# detections\n1 -1 10 20 30 40 0.5 -1 -1 -1\n\n2\t-1\t1\t2\t3\t4\t0.25\t-1\t-1\t-1\n\n\n")
    commas = tmp_path / "commas.txt"
    commas.write_text("1,-1,10,20,30,40,0.5,\r\n2,-1,1,2,3,4,0.25,\r\n")
    a, b = read_mot(spaced), read_mot(commas)
    assert a.equals(b)
    assert a.frame.tolist() == [0, 1] and a.xyxy[0].tolist() == [10, 20, 40, 60]
    assert a.score.tolist() == [0.5, 0.25]


def test_empty_file_gives_empty_detections(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text("")
    dets = read_mot(path, num_frames=12, canvas=(64, 48))
    assert len(dets) == 0 and dets.frame_count == 12 and dets.canvas == (64, 48)
    write_mot(dets, tmp_path / "again.txt")
    assert (tmp_path / "again.txt").read_text() == ""
    path.write_text("\n\n  \n")
    assert len(read_mot(path)) == 0


@pytest.mark.parametrize(
    ("content", "line", "message"),
    [
        ("1,-1,1,2,3,4,0.9\n2,-1,1,2,3,4\n", 2, r"6 values where line 1 has 7"),
        ("1,-1,1,2,3,4,0.9\n\n2,-1,1,abc,3,4,0.9\n", 3, r"column 4: 'abc' is not a number"),
        ("1,-1,1,2,3,4,0.9\n2,-1,1,2,-3,4,0.9\n", 2, r"negative width"),
        ("1,-1,1,2,3,4,0.9\n2,-1,1,2,3,-4,0.9\n", 2, r"negative height"),
        ("0,-1,1,2,3,4,0.9\n", 1, r"frame numbers start at 1"),
        ("1.5,-1,1,2,3,4,0.9\n", 1, r"frame number must be a whole number"),
        ("1,-1,1,2,3,4,nan\n", 1, r"NaN or infinite"),
        ("1,-1,1,2\n", 1, r"has 6, 7, 9 or 10 values, this one has 4"),
        ("1,5,1,2,3,4,1\n1,6,1,2,3,4,1\n1,5,9,9,3,4,1\n", 3, r"id 5 appears twice in frame 1 \(also on line 1\)"),
        ("1,-2,1,2,3,4,1\n", 1, r"id must be -1"),
    ],
)
def test_malformed_lines_name_path_and_line(tmp_path: Path, content: str, line: int, message: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content)
    with pytest.raises(FormatError, match=rf"bad\.txt, line {line}\b.*{message}") as info:
        read_mot(path)
    assert str(path) in str(info.value)


def test_gt_consider_flag_must_be_zero_or_one(tmp_path: Path) -> None:
    path = tmp_path / "gt.txt"
    path.write_text("1,1,1,2,3,4,1,1,1\n1,2,1,2,3,4,0.7,1,1\n")
    with pytest.raises(FormatError, match=r"gt\.txt, line 2: column 7 of a ground-truth file is the consider flag"):
        read_mot(path)
    # the same numbers read as tracker results are fine: column 7 is a score there
    res = read_mot(path, kind="results")
    assert "consider" not in res.data and res.score.tolist() == pytest.approx([1, 0.7])


def test_canvas_check_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "det.txt"
    path.write_text("1,-1,10,10,5,5,1\n1,-1,900,10,5,5,1\n")
    with pytest.raises(
        FormatError, match=r"det\.txt, line 2: box starts past the right or bottom edge of the 640x480 frame"
    ):
        read_mot(path, canvas=(640, 480))
