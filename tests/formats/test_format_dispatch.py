"""Format sniffing and the one-call reader/writer used by the store's import and export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from selftrack.core import Detections, FormatError
from selftrack.formats import detect_format, read_detections, read_mot, write_detections


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("mot17/MOT17-02/gt/gt.txt", "mot"),
        ("mot17/MOT17-02/det/det.txt", "mot"),
        ("pets09-s2l1/det/det.txt", "mot"),
        ("ua-detrac-sample/MVI_20011_frames1-2.xml", "detrac-xml"),
    ],
)
def test_detects_real_files(shared_data: Path, rel: str, expected: str) -> None:
    assert detect_format(shared_data / rel) == expected


def test_detects_json_and_yolo(tmp_path: Path) -> None:
    (tmp_path / "sky.json").write_text(json.dumps([[{"Left": 1, "Top": 1, "Right": 2, "Bottom": 2}]]))
    (tmp_path / "wrapped.json").write_text(json.dumps({"Detections": [], "Metadata": {}}))
    (tmp_path / "coco.json").write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    labels = tmp_path / "labels"
    labels.mkdir()
    (labels / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert detect_format(tmp_path / "sky.json") == "skyhook-json"
    assert detect_format(tmp_path / "wrapped.json") == "skyhook-json"
    assert detect_format(tmp_path / "coco.json") == "coco"
    assert detect_format(labels) == "yolo"
    assert detect_format(labels / "a.txt") == "yolo"
    (tmp_path / "other.json").write_text('{"foo": 1}')
    with pytest.raises(FormatError, match=r"other\.json: JSON, but neither"):
        detect_format(tmp_path / "other.json")
    (tmp_path / "notes.txt").write_text("hello world\n")
    with pytest.raises(FormatError, match=r"notes\.txt: cannot tell the format"):
        detect_format(tmp_path / "notes.txt")


@pytest.mark.realdata
def test_read_detections_dispatches(shared_data: Path, tmp_path: Path) -> None:
    det_path = shared_data / "pets09-s2l1/det/det.txt"
    dets = read_detections(det_path, canvas=(768, 576))
    assert dets.equals(read_mot(det_path, canvas=(768, 576)))
    xml = read_detections(shared_data / "ua-detrac-sample/MVI_20011_frames1-2.xml")
    assert len(xml) == 5

    write_detections(dets, tmp_path / "dets.json")
    assert detect_format(tmp_path / "dets.json") == "skyhook-json"
    back = read_detections(tmp_path / "dets.json")
    assert back.canvas == (768, 576) and len(back) == len(dets)
    write_detections(dets, tmp_path / "dets.txt")
    assert read_detections(tmp_path / "dets.txt", canvas=(768, 576)).equals(dets)


def test_labelled_sets_and_unknown_formats_are_refused(tmp_path: Path) -> None:
    (tmp_path / "coco.json").write_text(json.dumps({"images": [], "annotations": []}))
    with pytest.raises(FormatError, match=r"coco\.json: a coco set of labelled images.*read_coco"):
        read_detections(tmp_path / "coco.json")
    with pytest.raises(FormatError, match=r"unknown format 'csv'"):
        read_detections(tmp_path / "coco.json", format="csv")
    with pytest.raises(FormatError, match=r"cannot write one video's detections as 'coco'"):
        write_detections(Detections.empty(), tmp_path / "x.json", format="coco")


def test_empty_txt_is_an_empty_mot_file(tmp_path: Path) -> None:
    (tmp_path / "det.txt").write_text("")
    assert detect_format(tmp_path / "det.txt") == "mot"
    assert len(read_detections(tmp_path / "det.txt", num_frames=3)) == 0
