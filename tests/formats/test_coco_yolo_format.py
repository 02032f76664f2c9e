"""Labelled images: COCO JSON and YOLO txt, each on its own and converted into one another."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from selftrack.core import Detections, FormatError
from selftrack.formats import LabelledImages, read_coco, read_yolo, write_coco, write_yolo


def coco_doc() -> dict:
    return {
        "images": [
            {"id": 11, "file_name": "street/0001.jpg", "width": 640, "height": 480},
            {"id": 12, "file_name": "0002.png", "width": 320, "height": 240},
            {"id": 13, "file_name": "empty.jpg", "width": 100, "height": 100},
        ],
        "annotations": [
            {"id": 1, "image_id": 11, "category_id": 3, "bbox": [10.5, 20.25, 100.0, 50.75], "iscrowd": 0},
            {"id": 2, "image_id": 12, "category_id": 1, "bbox": [0, 0, 320, 240], "iscrowd": 1},
            {"id": 3, "image_id": 11, "category_id": 7, "bbox": [600.125, 400.5, 39.875, 79.5]},
            {"id": 4, "image_id": 12, "category_id": 3, "bbox": [33.3, 44.4, 55.5, 66.6], "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "car"}, {"id": 7, "name": "truck"}],
    }


@pytest.fixture
def coco_file(tmp_path: Path) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(coco_doc()))
    return path


def test_read_coco_builds_one_frame_detections_per_image(coco_file: Path) -> None:
    labelled = read_coco(coco_file)
    assert list(labelled.images) == ["street/0001", "0002", "empty"]
    assert labelled.classes == {1: "person", 3: "car", 7: "truck"}
    assert labelled.file_names["street/0001"] == "street/0001.jpg"
    assert labelled.sizes == {"street/0001": (640, 480), "0002": (320, 240), "empty": (100, 100)}
    street = labelled["street/0001"]
    assert street.canvas == (640, 480) and street.num_frames == 1 and (street.frame == 0).all()
    assert street.class_id.tolist() == [3, 7]  # category ids kept, not renumbered
    np.testing.assert_allclose(street.xyxy, [[10.5, 20.25, 110.5, 71.0], [600.125, 400.5, 640.0, 480.0]])
    assert labelled["0002"].data["iscrowd"].tolist() == [1, 0]  # crowd boxes kept, flagged
    assert len(labelled["empty"]) == 0 and labelled["empty"].canvas == (100, 100)
    assert labelled.num_boxes == 4


def test_coco_round_trip(coco_file: Path, tmp_path: Path) -> None:
    labelled = read_coco(coco_file)
    out = tmp_path / "again.json"
    write_coco(labelled, out)
    again = read_coco(out)
    assert again.classes == labelled.classes and again.file_names == labelled.file_names
    for key in labelled:
        assert again[key].equals(labelled[key]), key
    doc = json.loads(out.read_text())
    assert "score" not in doc["annotations"][0]  # ground truth: no scores written
    assert doc["annotations"][0]["bbox"] == [10.5, 20.25, 100, 50.75]


def test_coco_to_yolo_to_coco_keeps_boxes_to_a_thousandth_of_a_pixel(coco_file: Path, tmp_path: Path) -> None:
    labelled = read_coco(coco_file)
    names = write_yolo(labelled, tmp_path / "yolo")
    assert names == ["person", "car", "truck"]
    assert (tmp_path / "yolo" / "obj.names").read_text() == "person\ncar\ntruck\n"
    assert (tmp_path / "yolo" / "street" / "0001.txt").exists()
    assert (tmp_path / "yolo" / "empty.txt").read_text() == ""

    yolo = read_yolo(tmp_path / "yolo", labelled.sizes)  # names found in obj.names
    assert yolo.classes == {0: "person", 1: "car", 2: "truck"}
    write_coco(yolo, tmp_path / "back.json", file_names=labelled.file_names)
    back = read_coco(tmp_path / "back.json")
    assert set(back.images) == set(labelled.images)
    for key, original in labelled.images.items():
        returned = back[key]
        assert returned.canvas == original.canvas
        np.testing.assert_allclose(returned.xyxy, original.xyxy, atol=1e-3, rtol=0)
        assert [returned.class_name(c) for c in returned.class_id] == [
            original.class_name(c) for c in original.class_id
        ]


def test_yolo_with_image_folder_and_yaml_names(tmp_path: Path) -> None:
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    cv2.imwrite(str(images / "a.jpg"), np.zeros((50, 200, 3), np.uint8))
    cv2.imwrite(str(images / "sub" / "b.png"), np.zeros((80, 40, 3), np.uint8))
    labels = tmp_path / "labels"
    (labels / "sub").mkdir(parents=True)
    (labels / "a.txt").write_text("1 0.5 0.5 0.5 0.2\n0 0.25 0.5 0.1 1.0\n")
    (labels / "sub" / "b.txt").write_text("0 0.5 0.5 1 1\n")
    (tmp_path / "data.yaml").write_text("names:\n  0: person\n  1: bike\n")
    result = read_yolo(labels, images)
    assert result.classes == {0: "person", 1: "bike"}
    assert result.sizes == {"a": (200, 50), "sub/b": (40, 80)}
    assert result.file_names == {"a": "a.jpg", "sub/b": "sub/b.png"}
    np.testing.assert_allclose(result["a"].xyxy, [[50, 20, 150, 30], [40, 0, 60, 50]])
    assert result["a"].class_id.tolist() == [1, 0]
    np.testing.assert_allclose(result["sub/b"].xyxy, [[0, 0, 40, 80]])
    (tmp_path / "names.yaml").write_text("names: [x, y, z]\n")
    assert read_yolo(labels, images, tmp_path / "names.yaml").classes == {0: "x", 1: "y", 2: "z"}


def test_yolo_scores_and_clipping(tmp_path: Path) -> None:
    dets = Detections.create([0, 0], [[-10, 10, 30, 50], [60, 60, 90, 90]], [0.5, 0.25], [2, 5], canvas=(100, 100))
    write_yolo({"img": dets}, tmp_path, with_scores=True, classes={2: "a", 5: "b"})
    lines = (tmp_path / "img.txt").read_text().splitlines()
    assert lines == ["0 0.15 0.3 0.3 0.4 0.5", "1 0.75 0.75 0.3 0.3 0.25"]  # first box clipped at x=0
    back = read_yolo(tmp_path, {"img": (100, 100)})
    np.testing.assert_allclose(back["img"].xyxy, [[0, 10, 30, 50], [60, 60, 90, 90]])
    assert back["img"].score.tolist() == [0.5, 0.25]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("0 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.1\n", r"line 2: 4 values where line 1 has 5"),
        ("0 0.5 0.5 0.1 0.1\n0 0.5 x 0.1 0.1\n", r"line 2, column 3: 'x' is not a number"),
        ("0 0.5 0.5 0.1 0.1\n\n1 0.5 1.5 0.1 0.1\n", r"line 3: normalised cx, cy, w, h must lie in \[0, 1\]"),
        ("0 0.5 0.5 0.1 -0.1\n", r"line 1: normalised"),
        ("2 0.5 0.5 0.1 0.1\n", r"line 1: class not among the 2 class names"),
        ("0.5 0.5 0.5 0.1 0.1\n", r"line 1: the class must be a whole number"),
        ("0 0.1 0.1 0.1 0.1 0.1 0.1 0.1\n", r"line 1: a YOLO line has 5 or 6 values, this one has 8"),
    ],
)
def test_malformed_yolo_lines_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "img.txt").write_text(content)
    with pytest.raises(FormatError, match=rf"img\.txt, {message}"):
        read_yolo(tmp_path, {"img": (10, 10)}, ["a", "b"])


def test_yolo_label_without_image_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "stray.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    with pytest.raises(FormatError, match=r"stray\.txt: no image size for 'stray'"):
        read_yolo(tmp_path, {"other": (10, 10)})


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            lambda d: d["annotations"][1].update(image_id=99),
            r"annotations\[1\] \(id 2\): image_id 99 is not in 'images'",
        ),
        (lambda d: d["annotations"][2].update(bbox=[1, 2, -3, 4]), r"annotations\[2\] \(id 3\): negative width"),
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"annotations\[0\] \(id 1\): 'bbox' must be"),
        (lambda d: d["annotations"][3].update(category_id=5), r"annotations\[3\] \(id 4\): category_id 5 is not in"),
        (lambda d: d["annotations"][0].pop("bbox"), r"annotations\[0\] \(id 1\): missing 'bbox'"),
        (lambda d: d["images"][1].pop("width"), r"images\[1\]: needs 'id', 'file_name', 'width' and 'height'"),
        (lambda d: d["images"][2].update(id=11), r"images\[2\] \(empty.jpg\): image id 11 is used twice"),
        (lambda d: d["images"][2].update(file_name="0002.jpg"), r"images\[2\]: '0002.jpg' and '0002.png' give"),
    ],
)
def test_malformed_coco_names_the_entry(tmp_path: Path, patch, message: str) -> None:
    doc = coco_doc()
    patch(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(FormatError, match=rf"bad\.json: {message}"):
        read_coco(path)


def test_writers_refuse_what_the_format_cannot_hold(tmp_path: Path) -> None:
    no_canvas = Detections.create([0], [[0, 0, 5, 5]], class_id=1)
    with pytest.raises(FormatError, match=r"image 'a': its size is unknown"):
        write_coco({"a": no_canvas}, tmp_path / "x.json")
    unknown_class = Detections.create([0], [[0, 0, 5, 5]], class_id=-1, canvas=(10, 10))
    with pytest.raises(FormatError, match=r"image 'a': COCO needs a category"):
        write_coco({"a": unknown_class}, tmp_path / "x.json")
    with pytest.raises(FormatError, match=r"image 'a': YOLO needs a class"):
        write_yolo({"a": unknown_class}, tmp_path / "y")
    ok = Detections.create([0], [[0, 0, 5, 5]], class_id=0, canvas=(10, 10))
    with pytest.raises(FormatError, match=r"image key '../escape' cannot be used"):
        write_yolo({"../escape": ok}, tmp_path / "y")
    assert not (tmp_path / "escape.txt").exists()


def test_labelled_images_merges_classes_from_images() -> None:
    det = Detections.create([0], [[0, 0, 5, 5]], class_id=4, canvas=(10, 10), classes={4: "dog"})
    merged = LabelledImages.from_images({"k": det}, classes={9: "cat"})
    assert merged.classes == {4: "dog", 9: "cat"} and merged.sizes == {"k": (10, 10)}
