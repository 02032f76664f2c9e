"""Property-based fuzzing of every format reader and of pipeline YAML (issue 13).

The rule for every reader: a clear ``SelftrackError`` or a correct result (valid ``Detections``, as many boxes
as data lines), never another exception, and never more than a stated memory: at most
``MEMORY_BASE + MEMORY_PER_BYTE * input size`` bytes traced by ``tracemalloc`` (numpy's buffers included).

Inputs mix valid records with hostile values: huge and tiny numbers (1e20, 1e308, -1e9), NaN, Inf, frame
numbers far past any video, deep nesting, aliases, binary bytes. CI runs a fixed, derandomized set of
examples (``HYPOTHESIS_PROFILE=ci`` is the default under ``CI``); run with ``HYPOTHESIS_PROFILE=long`` locally
to search further.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fuzzkit import NUMBERS, TOKENS, bounded, check_detections
from hypothesis import example, given
from hypothesis import strategies as st

from selftrack.core import SelftrackError
from selftrack.formats import (
    detect_format,
    parse_seqinfo,
    read_coco,
    read_detections,
    read_detrac_xml,
    read_gmc,
    read_mot,
    read_skyhook_json,
    read_yolo,
)


def write(tmp: Path, name: str, data: str | bytes) -> Path:
    path = tmp / name
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8", errors="surrogatepass")
    return path


# ---------------------------------------------------------------------------------------------- MOT
def mot_line(width: int) -> st.SearchStrategy[str]:
    valid = st.tuples(
        st.integers(1, 500),
        st.integers(-1, 50),
        *[st.floats(0, 2000, allow_nan=False)] * 2,
        *[st.floats(0, 300, allow_nan=False)] * 2,
        st.floats(0, 1),
    ).map(lambda v: ",".join(str(x) for x in list(v)[:width] + ["-1"] * (width - 7)))
    hostile = st.lists(TOKENS, min_size=width, max_size=width).map(",".join)
    return st.one_of(valid, valid, hostile)


mot_files = (
    st.sampled_from([6, 7, 9, 10])
    .flatmap(lambda w: st.lists(st.one_of(mot_line(w), st.sampled_from(["", "# comment", " \t"])), max_size=30))
    .map("\n".join)
)


@given(text=mot_files, kind=st.sampled_from(["auto", "det", "gt", "results"]))
def test_mot_reader(tmp_path_factory: pytest.TempPathFactory, text: str, kind: str):
    path = write(tmp_path_factory.mktemp("mot"), "det.txt", text)
    result = bounded(lambda: read_mot(path, kind=kind), len(text))
    if not isinstance(result, SelftrackError):
        rows = sum(1 for line in text.split("\n") if line.strip() and not line.strip().startswith("#"))
        check_detections(result, rows)


def test_mot_frame_far_past_any_video_is_refused_with_its_line(tmp_path: Path):
    """Issue 13: a 2-line file naming frame 10^9 (and 1e20, once reported as 'frame numbers start at 1')."""
    for value, message in (("1000000000", "frame number past"), ("1e20", "frame number past")):
        path = write(tmp_path, "det.txt", f"1,-1,1,2,3,4,0.9\n{value},-1,1,2,3,4,0.9\n")
        with pytest.raises(SelftrackError, match=rf"line 2: {message}"):
            read_mot(path)


@given(data=st.binary(max_size=400))
@example(data=b"#\x80")  # a comment line with a bad byte: the first-line scan raised UnicodeDecodeError
def test_any_bytes_through_format_detection(tmp_path_factory: pytest.TempPathFactory, data: bytes):
    tmp = tmp_path_factory.mktemp("bytes")
    for name in ("x.txt", "x.json", "x.xml"):
        path = write(tmp, name, data)
        result = bounded(lambda path=path: read_detections(path), len(data))
        if not isinstance(result, SelftrackError):
            check_detections(result)


# ---------------------------------------------------------------------------------------------- SkyhookML JSON
JSON_LEAF = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=8))
box = st.fixed_dictionaries(
    {},
    optional={
        "Left": NUMBERS,
        "Top": NUMBERS,
        "Right": NUMBERS,
        "Bottom": NUMBERS,
        "TrackID": st.one_of(NUMBERS, st.text(max_size=3)),
        "Score": NUMBERS,
        "Category": st.one_of(st.text(max_size=5), NUMBERS),
        "Metadata": JSON_LEAF,
    },
)
valid_box = st.builds(
    lambda x, y, w, h, s: {"Left": x, "Top": y, "Right": x + w, "Bottom": y + h, "Score": s},
    st.integers(0, 500),
    st.integers(0, 500),
    st.integers(0, 80),
    st.integers(0, 80),
    st.floats(0, 1),
)
frames = st.lists(
    st.one_of(st.none(), st.lists(st.one_of(valid_box, valid_box, box, JSON_LEAF), max_size=4)), max_size=8
)
skyhook_docs = st.one_of(
    frames,
    st.fixed_dictionaries(
        {"Detections": frames},
        optional={
            "Metadata": st.one_of(
                JSON_LEAF,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "CanvasDims": st.one_of(st.lists(NUMBERS, max_size=3), JSON_LEAF),
                        "Categories": st.one_of(
                            st.lists(st.one_of(st.text(max_size=4), NUMBERS), max_size=3), JSON_LEAF
                        ),
                    },
                ),
            )
        },
    ),
    st.recursive(
        JSON_LEAF, lambda c: st.one_of(st.lists(c, max_size=3), st.dictionaries(st.text(max_size=3), c, max_size=3))
    ),
)


@given(doc=skyhook_docs)
def test_skyhook_json_reader(tmp_path_factory: pytest.TempPathFactory, doc: Any):
    text = json.dumps(doc, allow_nan=True)
    path = write(tmp_path_factory.mktemp("sky"), "dets.json", text)
    result = bounded(lambda: read_skyhook_json(path), len(text))
    if not isinstance(result, SelftrackError):
        check_detections(result)


@pytest.mark.parametrize("depth", [100, 200_000])
def test_deeply_nested_json_is_one_clear_error(tmp_path: Path, depth: int):
    """Issue 13: a 200k-deep JSON file gave a RecursionError traceback."""
    path = write(tmp_path, "deep.json", "[" * depth + "]" * depth)
    for reader in (read_skyhook_json, read_coco, read_detections):
        result = bounded(lambda reader=reader: reader(path), 2 * depth)
        assert isinstance(result, SelftrackError), result


# ---------------------------------------------------------------------------------------------- COCO
coco_docs = st.fixed_dictionaries(
    {
        "images": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": NUMBERS,
                    "file_name": st.one_of(st.text(max_size=6), NUMBERS),
                    "width": NUMBERS,
                    "height": NUMBERS,
                },
            ),
            max_size=4,
        )
    },
    optional={
        "annotations": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "id": NUMBERS,
                    "image_id": NUMBERS,
                    "category_id": NUMBERS,
                    "iscrowd": NUMBERS,
                    "score": NUMBERS,
                    "bbox": st.one_of(st.lists(NUMBERS, max_size=5), JSON_LEAF),
                },
            ),
            max_size=6,
        ),
        "categories": st.lists(st.fixed_dictionaries({}, optional={"id": NUMBERS, "name": JSON_LEAF}), max_size=3),
    },
)


@given(doc=coco_docs)
def test_coco_reader(tmp_path_factory: pytest.TempPathFactory, doc: Any):
    text = json.dumps(doc, allow_nan=True)
    path = write(tmp_path_factory.mktemp("coco"), "instances.json", text)
    result = bounded(lambda: read_coco(path), len(text))
    if not isinstance(result, SelftrackError):
        for item in result.items.values() if hasattr(result, "items") and isinstance(result.items, dict) else []:
            check_detections(item)


# ---------------------------------------------------------------------------------------------- UA-DETRAC XML
def xml_attr(name: str) -> st.SearchStrategy[str]:
    return st.one_of(NUMBERS.map(str), st.text(alphabet="0123456789.-e<&\"' ", max_size=6)).map(
        lambda v: f'{name}="{v.replace("&", "&amp;").replace("<", "&lt;").replace(chr(34), "&quot;")}"'
    )


target = st.tuples(xml_attr("id"), xml_attr("left"), xml_attr("top"), xml_attr("width"), xml_attr("height")).map(
    lambda a: f'<target {a[0]}><box {a[1]} {a[2]} {a[3]} {a[4]}/><attribute vehicle_type="car"/></target>'
)
frame_xml = st.tuples(xml_attr("num"), st.lists(target, max_size=3)).map(
    lambda f: f"<frame {f[0]}><target_list>{''.join(f[1])}</target_list></frame>"
)
detrac_docs = st.one_of(
    st.lists(frame_xml, max_size=5).map(lambda fs: f'<sequence name="s">{"".join(fs)}</sequence>'),
    st.text(max_size=200),
    st.just('<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><sequence>&b;</sequence>'),
)


@given(doc=detrac_docs)
def test_detrac_reader(tmp_path_factory: pytest.TempPathFactory, doc: str):
    path = write(tmp_path_factory.mktemp("xml"), "seq.xml", doc)
    result = bounded(lambda: read_detrac_xml(path), len(doc.encode(errors="surrogatepass")))
    if not isinstance(result, SelftrackError):
        check_detections(result)


# ---------------------------------------------------------------------------------------------- YOLO, GMC, seqinfo
yolo_line = st.one_of(
    st.tuples(st.integers(0, 3), *[st.floats(0, 1)] * 4).map(lambda v: " ".join(map(str, v))),
    st.lists(TOKENS, min_size=1, max_size=6).map(" ".join),
)


@given(lines=st.lists(yolo_line, max_size=8), names=st.sampled_from([None, ["a", "b"], "yaml"]))
def test_yolo_reader(tmp_path_factory: pytest.TempPathFactory, lines: list[str], names: Any):
    tmp = tmp_path_factory.mktemp("yolo")
    (tmp / "labels").mkdir()
    text = "\n".join(lines)
    write(tmp / "labels", "img1.txt", text)
    if names == "yaml":
        names = write(tmp, "data.yaml", "names: &n [a, b]\nx: [*n, *n]\n")
    result = bounded(lambda: read_yolo(tmp / "labels", {"img1": (640, 480)}, names), len(text) + 64)
    if not isinstance(result, SelftrackError):
        for item in result.items.values() if isinstance(getattr(result, "items", None), dict) else []:
            check_detections(item)


@given(
    lines=st.lists(st.lists(TOKENS, min_size=7, max_size=7).map("\t".join), max_size=6),
    num_frames=st.one_of(st.none(), st.integers(-5, 50), st.just(10**12)),
)
def test_gmc_reader(tmp_path_factory: pytest.TempPathFactory, lines: list[str], num_frames: int | None):
    text = "\n".join(lines)
    path = write(tmp_path_factory.mktemp("gmc"), "gmc.txt", text)
    result = bounded(lambda: read_gmc(path, num_frames=num_frames), len(text) + 1000)
    if not isinstance(result, SelftrackError):
        assert result.ndim == 3 and result.shape[1:] == (2, 3) and np.isfinite(result).all()


@given(text=st.text(max_size=300))
def test_seqinfo_reader(tmp_path_factory: pytest.TempPathFactory, text: str):
    path = write(tmp_path_factory.mktemp("ini"), "seqinfo.ini", "[Sequence]\n" + text)
    result = bounded(lambda: parse_seqinfo(path), len(text) + 64)
    assert isinstance(result, (dict, SelftrackError))


@given(data=st.binary(max_size=300))
def test_detect_format_on_any_bytes(tmp_path_factory: pytest.TempPathFactory, data: bytes):
    path = write(tmp_path_factory.mktemp("sniff"), "f.json", data)
    result = bounded(lambda: detect_format(path), len(data))
    assert isinstance(result, (str, SelftrackError))
