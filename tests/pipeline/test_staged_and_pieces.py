"""Outputs staged without the catalog and committed by the driver; pieces of an item on the local pool."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from selftrack.core import Detections
from selftrack.formats.mot import read_mot
from selftrack.pipeline.parallel import PieceFailed, PiecesStopped, ProcessMapper, SerialMapper
from selftrack.pipeline.staged import StagedOutputs, commit_staged, load_manifest, staging_dir
from selftrack.workspace import DataType, Workspace


def _dets() -> Detections:
    return Detections.create([0, 0, 3], [[1, 2, 30, 40], [5, 5, 9, 9], [2, 3, 31, 41]], [0.9, 0.5, 0.8], num_frames=5)


def test_staged_detections_commit_to_the_same_item_as_a_direct_write(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    ws.create_dataset("direct", DataType.DETECTIONS)
    ws.create_dataset("staged", DataType.DETECTIONS)
    direct = ws.put_detections("direct", "cam1", _dets(), extra_metadata={"cache": "abc"})
    stage = StagedOutputs(ws.root, "tmp/h.1.staged", "node", "cam1", "abc")
    staged = stage.put_detections("staged", "cam1", _dets(), extra_metadata={"cache": "abc"})
    assert staged.sha256 == direct.sha256 and staged.metadata == direct.metadata
    assert ws.keys("staged") == []  # staging writes no catalog row
    stage.write_manifest()
    found = load_manifest(ws.root, "node", "cam1", "abc")
    assert found == stage.items
    (item,) = commit_staged(ws, found)
    assert item.sha256 == direct.sha256 and item.load_detections().equals(_dets())
    assert not staging_dir(ws.root, "tmp/h.1.staged", "node", "cam1", "abc").exists()


def test_a_manifest_with_a_missing_or_cut_file_is_not_reused(tmp_path: Path):
    ws = Workspace.init(tmp_path / "ws")
    stage = StagedOutputs(ws.root, "tmp/h.1.staged", "node", "cam1", "abc")
    item = stage.put_detections("out", "cam1", _dets())
    stage.write_manifest()
    with open(item.path, "r+b") as f:
        f.truncate(10)  # the node died while the file was being written back
    assert load_manifest(ws.root, "node", "cam1", "abc") is None
    assert load_manifest(ws.root, "node", "cam2", "abc") is None  # another key: another folder
    StagedOutputs(ws.root, "tmp/h.1.staged", "node", "cam1", "abc")  # a new attempt starts from an empty folder
    assert list(staging_dir(ws.root, "tmp/h.1.staged", "node", "cam1", "abc").iterdir()) == []


def _square(x: int) -> int:
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three is bad")
    return x


def _slow(x: int) -> int:
    time.sleep(5 if x else 0.01)
    return x


def test_process_mapper_gives_results_in_order_and_names_a_failed_piece():
    done: list[int] = []
    assert ProcessMapper(2).map(_square, [1, 2, 3, 4], on_done=done.append) == [1, 4, 9, 16]
    assert sorted(done) == [0, 1, 2, 3]
    assert SerialMapper().map(_square, [5]) == [25]
    with pytest.raises(PieceFailed, match="piece 4 of 5: ValueError: three is bad"):
        ProcessMapper(2).map(_fail_on_three, [0, 1, 2, 3, 4])


def test_process_mapper_stops_without_waiting_for_running_pieces():
    t0 = time.monotonic()
    with pytest.raises(PiecesStopped):
        ProcessMapper(2).map(_slow, [0, 1, 1, 1], should_stop=lambda: time.monotonic() - t0 > 1)
    assert time.monotonic() - t0 < 4.5  # the 5 s pieces were ended, not awaited


@pytest.mark.realdata
def test_track_op_chunks_on_the_local_pool_equal_the_serial_chunks(shared_data: Path):
    from selftrack.ops.track import TrackParams, run_tracker

    dets = read_mot(shared_data / "pets09-s2l1" / "det" / "det.txt", kind="det", num_frames=795)
    params = TrackParams(tracker="bytetrack", chunk_frames=200, overlap_frames=50)
    serial = run_tracker(dets, params)
    pooled = run_tracker(dets, params, map_pieces=lambda fn, pieces, frames: ProcessMapper(2).map(fn, pieces))
    assert pooled.equals(serial) and np.array_equal(pooled.track_id, serial.track_id)


class _TinyYolo:
    """A fixed random network with YOLOv8's output layout (4 box values + 2 class scores per anchor)."""

    @staticmethod
    def export(path: Path) -> None:
        import warnings

        import torch

        class Net(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                torch.manual_seed(0)
                self.conv = torch.nn.Conv2d(3, 6, 16, stride=16)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                y = torch.sigmoid(self.conv(x)).flatten(2)  # B, 6, anchors
                size = torch.tensor([x.shape[3], x.shape[2], x.shape[3] / 4, x.shape[2] / 4]).view(1, 4, 1)
                return torch.cat([y[:, :4] * size, y[:, 4:]], dim=1)

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Net(),
                (torch.zeros(1, 3, 128, 160),),
                str(path),
                input_names=["images"],
                output_names=["output0"],
                dynamic_axes={"images": {0: "b"}},
                dynamo=False,
                opset_version=17,
            )


@pytest.mark.realdata
def test_detection_in_frame_ranges_on_the_local_pool_equals_one_pass(shared_data: Path, tmp_path: Path):
    """A stateless detector (YOLO layout) over ranges of 20 frames (rounded to whole batches of 8: 24) in two
    processes gives the very boxes of one pass over the video."""
    import yaml

    from selftrack.pipeline import JobState, LocalExecutor, Pipeline, run_node
    from selftrack.workspace import import_videos

    pytest.importorskip("onnx")
    from selftrack.video import VideoReader, VideoWriter

    clip = tmp_path / "highway.mp4"  # the first 200 frames of a real motorway camera
    with VideoReader(shared_data / "videos" / "highway_cctv.avi") as reader, VideoWriter(clip, reader.output_fps) as w:
        for frame in reader.frames(0, 200):
            w.write(frame)
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [clip])
    _TinyYolo.export(tmp_path / "tiny.onnx")
    ws.create_dataset("yolo", DataType.MODEL)
    ws.put_file("yolo", "model", tmp_path / "tiny.onnx", format="onnx")
    params = {"detector": "yolo", "resize": {"mode": "fixed", "width": 160, "height": 128}, "batch_size": 8}
    nodes = {
        "whole": {"op": "object_detection", "inputs": {"video": "videos", "model": "yolo"}, "params": params},
        "ranges": {
            "op": "object_detection",
            "inputs": {"video": "videos", "model": "yolo"},
            "params": {**params, "chunk_frames": 20},
        },
    }
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": nodes}))
    out = {}
    for name in nodes:
        result = run_node(ws, name, executor=LocalExecutor(2))
        assert result.state == JobState.DONE
        (item,) = ws.items(result.outputs(name)["detections"])
        out[name] = item.load_detections()
    whole, ranges = out["whole"], out["ranges"]
    assert len(whole) > 200 and whole.num_frames == ranges.num_frames == 200
    assert ranges.equals(whole, atol=0) and ranges.classes == whole.classes
