"""UA-DETRAC XML: the real sample, and errors that name the line."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from selftrack.core import FormatError
from selftrack.formats import DETRAC_CANVAS, parse_detrac_xml, read_detrac_xml

SAMPLE = "ua-detrac-sample/MVI_20011_frames1-2.xml"


@pytest.mark.realdata
def test_sample_boxes_per_frame_and_a_known_box(shared_data: Path) -> None:
    path = shared_data / SAMPLE
    text = path.read_text()
    # Expected values straight from the XML text
    per_frame = {
        int(num): body.count("<target ")
        for num, body in re.findall(r'<frame[^>]*num="(\d+)">(.*?)</frame>', text, re.S)
    }
    assert per_frame == {1: 2, 2: 3}
    frame2 = re.search(r'<frame[^>]*num="2">(.*?)</frame>', text, re.S).group(1)
    target3 = re.search(
        r'<target id="3">\s*<box left="([\d.]+)" top="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', frame2
    )
    left, top, width, height = map(float, target3.groups())

    ann = parse_detrac_xml(path)
    dets = ann.detections
    assert np.bincount(dets.frame).tolist() == [per_frame[1], per_frame[2]]
    assert dets.num_frames == 2 and dets.canvas == DETRAC_CANVAS
    row = np.flatnonzero((dets.frame == 1) & (dets.track_id == 3))
    assert len(row) == 1
    np.testing.assert_allclose(dets.xyxy[row[0]], [left, top, left + width, top + height])
    assert dets.track_ids.tolist() == [1, 2, 3]
    assert {dets.class_name(c) for c in dets.class_id} == {"car"}
    # per-target attributes: target 1 is truncated 0.1 in frame 1 and 0.2 in frame 2
    t1 = dets[dets.track_id == 1]
    np.testing.assert_allclose(t1.data["truncation_ratio"], [0.1, 0.2], atol=1e-6)
    np.testing.assert_allclose(t1.data["orientation"], [18.488, 18.488], atol=1e-4)

    ignored = re.search(r"<ignored_region>(.*?)</ignored_region>", text, re.S).group(1)
    boxes = [
        list(map(float, m))
        for m in re.findall(r'left="([\d.]+)" top="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', ignored)
    ]
    assert ann.ignored_regions.shape == (len(boxes), 4)
    expected = np.array(boxes)
    expected[:, 2:] += expected[:, :2]
    np.testing.assert_allclose(ann.ignored_regions, expected)
    assert ann.name == "MVI_20011" and ann.attributes["camera_state"] == "unstable"
    assert read_detrac_xml(path, num_frames=9).frame_count == 9


def write_xml(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "seq.xml"
    path.write_text(f'<?xml version="1.0"?>\n<sequence name="S">\n{body}\n</sequence>\n')
    return path


TARGET = '<target id="{id}"><box left="1" top="2" width="{w}" height="4"/><attribute vehicle_type="{vt}"/></target>'


def test_unknown_vehicle_types_are_appended_and_classes_can_be_given(tmp_path: Path) -> None:
    body = '<frame num="3"><target_list>' + TARGET.format(id=1, w=3, vt="tram") + TARGET.format(id=2, w=3, vt="bus")
    path = write_xml(tmp_path, body + "</target_list></frame>")
    dets = read_detrac_xml(path, canvas=None)
    assert dets.class_name(dets.class_id[0]) == "tram" and dets.class_name(dets.class_id[1]) == "bus"
    assert dets.frame.tolist() == [2, 2] and dets.num_frames == 3 and dets.canvas is None
    custom = read_detrac_xml(path, classes=["bus", "tram"])
    assert custom.class_id.tolist() == [1, 0]


@pytest.mark.parametrize(
    ("body", "line", "message"),
    [
        (
            '<frame num="1"><target_list>\n' + TARGET.format(id=1, w="x", vt="car") + "</target_list></frame>",
            4,
            r"<box> width='x' is not a number",
        ),
        (
            '<frame num="1"><target_list>\n' + TARGET.format(id=1, w=-3, vt="car") + "</target_list></frame>",
            4,
            r"negative width or height",
        ),
        (
            '<frame num="1"><target_list>\n'
            + TARGET.format(id=1, w=3, vt="car")
            + "\n"
            + TARGET.format(id=1, w=3, vt="car")
            + "</target_list></frame>",
            5,
            r"target id 1 appears twice in frame 1 \(also on line 4\)",
        ),
        ('<frame num="0"><target_list></target_list></frame>', 3, r"frames are numbered from 1"),
        ("<frame><target_list></target_list></frame>", 3, r"<frame> has no 'num' attribute"),
        ('<frame num="1"><target_list>\n<target id="1"></target></target_list></frame>', 4, r"has no <box>"),
        ('<frame num="1">\n<target_list>\n</frame>', 5, r"not well-formed XML"),
    ],
)
def test_malformed_xml_names_the_line(tmp_path: Path, body: str, line: int, message: str) -> None:
    path = write_xml(tmp_path, body)
    with pytest.raises(FormatError, match=rf"seq\.xml, line {line}: .*{message}"):
        read_detrac_xml(path)


def test_entity_declarations_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.xml"
    path.write_text('<?xml version="1.0"?>\n<!DOCTYPE s [<!ENTITY a "aaaa">]>\n<sequence name="&a;"/>\n')
    with pytest.raises(FormatError, match=r"evil\.xml, line 2: DTD and entity declarations are not accepted"):
        read_detrac_xml(path)
