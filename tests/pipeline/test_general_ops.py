"""sample, split, union and video_sample: whole-dataset ops that choose or regroup items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.core import Detections
from selftrack.pipeline import LocalExecutor, Pipeline, PipelineError, run_node
from selftrack.video import VideoReader
from selftrack.workspace import DataType, Workspace, import_videos


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ws.create_dataset("dets", DataType.DETECTIONS)
    for i in range(10):
        ws.put_detections("dets", f"k{i}", Detections.create([0], [[i, 0, i + 5, 5]], num_frames=1))
    return ws


def out(ws: Workspace, node: str, port: str) -> list[str]:
    return ws.keys(Pipeline(ws).node(node).outputs()[port])


def test_sample_is_reproducible_and_links_items(ws: Workspace):
    pipe = Pipeline(ws)
    pipe.add_node("four", "sample", inputs={"input": "dets"}, params={"count": 4, "seed": 7})
    run_node(ws, "four", executor=LocalExecutor(1))
    chosen = out(ws, "four", "output")
    assert len(chosen) == 4 and set(chosen) <= set(ws.keys("dets"))
    ds = Pipeline(ws).node("four").outputs()["output"]
    assert ws.dataset(ds).data_type == DataType.DETECTIONS
    for key in chosen:  # a hard link to the same payload, not a copy
        assert ws.item(ds, key).path.stat().st_ino == ws.item("dets", key).path.stat().st_ino
    pipe.update_node("four", params={"mode": "percentage", "percentage": 30, "seed": 7})
    run_node(ws, "four", executor=LocalExecutor(1))
    assert len(out(ws, "four", "output")) == 3
    pipe.update_node("four", params={"mode": "direct", "keys": ["k1", "k9"]})
    run_node(ws, "four", executor=LocalExecutor(1))
    assert out(ws, "four", "output") == ["k1", "k9"]


def test_split_partitions_every_item_once(ws: Workspace):
    pipe = Pipeline(ws)
    pipe.add_node(
        "parts",
        "split",
        inputs={"input": "dets"},
        params={"train_percent": 60, "validation_percent": 20, "test_percent": 20},
    )
    run_node(ws, "parts", executor=LocalExecutor(1))
    parts = {p: out(ws, "parts", p) for p in ("train", "validation", "test")}
    assert [len(v) for v in parts.values()] == [6, 2, 2]
    assert sorted(k for v in parts.values() for k in v) == ws.keys("dets")
    with pytest.raises(PipelineError, match="add up to 100"):
        pipe.update_node("parts", params={"train_percent": 70, "validation_percent": 20, "test_percent": 20})


def test_union_merges_and_refuses_key_clashes(ws: Workspace):
    ws.create_dataset("more", DataType.DETECTIONS)
    ws.put_detections("more", "extra", Detections.create([0], [[0, 0, 1, 1]], num_frames=1))
    pipe = Pipeline(ws)
    pipe.add_node("all", "union", inputs={"inputs": ["dets", "more"]})
    run_node(ws, "all", executor=LocalExecutor(1))
    assert len(out(ws, "all", "output")) == 11
    pipe.update_node("all", inputs={"inputs": ["dets", "dets"]})
    with pytest.raises(Exception, match="key 'k0' is in both"):
        run_node(ws, "all", executor=LocalExecutor(1))
    pipe.update_node("all", inputs={"inputs": ["dets", "more"]}, params={"prefix_keys": True})
    run_node(ws, "all", executor=LocalExecutor(1))
    assert "more-extra" in out(ws, "all", "output")


def test_union_of_different_types_is_refused(ws: Workspace, shared_data: Path):
    import_videos(ws, "videos", [shared_data / "videos" / "street_8_frames.mp4"])
    with pytest.raises(PipelineError, match="share one type"):
        Pipeline(ws).add_node("bad", "union", inputs={"inputs": ["dets", "videos"]})


def test_video_sample_cuts_clips_and_their_detections(tmp_path: Path, shared_data: Path):
    ws = Workspace.init(tmp_path / "ws")
    (video,) = import_videos(ws, "videos", [shared_data / "videos" / "street_8_frames.mp4"])
    n = video.video_info.frame_count
    ws.create_dataset("dets", DataType.DETECTIONS)
    frames = np.arange(n)
    ws.put_detections(
        "dets",
        video.key,
        Detections.create(frames, np.stack([frames, frames, frames + 10, frames + 10], 1), num_frames=n),
    )
    pipe = Pipeline(ws)
    pipe.add_node(
        "clips",
        "video_sample",
        inputs={"video": "videos", "detections": "dets"},
        params={"count": 2, "length": 3, "mode": "uniform"},
    )
    run_node(ws, "clips", executor=LocalExecutor(1))
    outputs = Pipeline(ws).node("clips").outputs()
    keys = ws.keys(outputs["samples"])
    assert keys == [f"{video.key}-000000", f"{video.key}-{n - 3:06d}"]
    with VideoReader(video.path) as src:
        first_source = src.read_frame(n - 3)
    clip = ws.item(outputs["samples"], keys[1])
    with VideoReader(clip.path) as reader:
        assert reader.frame_count == 3
        got = reader.read_frame(0).astype(float)
    assert np.abs(got - first_source).mean() < 6  # re-encoded, so close rather than equal
    dets = ws.item(outputs["detections"], keys[1]).load_detections()
    assert dets.frame.tolist() == [0, 1, 2] and dets.xyxy[0, 0] == n - 3 and dets.num_frames == 3
