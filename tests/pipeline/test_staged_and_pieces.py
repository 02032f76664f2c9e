"""Outputs staged without the catalog and committed by the driver; pieces of an item on the local pool."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from selftrack.core import Detections
from selftrack.formats.mot import read_mot
from selftrack.pipeline.op import StopRequested
from selftrack.pipeline.parallel import PieceFailed, ProcessMapper, SerialMapper
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
    with pytest.raises(StopRequested):
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
