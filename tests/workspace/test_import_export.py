"""Importing real videos, images and detection files into a workspace, and exporting them back."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from selftrack.core import StoreError, UnsafeArchiveError, ValidationError, VideoError
from selftrack.formats import read_mot
from selftrack.workspace import (
    DataType,
    Workspace,
    export_dataset,
    import_detections,
    import_files,
    import_images,
    import_videos,
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


def test_import_one_video_keeps_the_file_and_probes_it(ws: Workspace, shared_data: Path):
    src = shared_data / "pets09-s2l1" / "video.avi"
    (item,) = import_videos(ws, "pets", [src])
    assert item.key == "video" and item.format == "avi"
    info = item.video_info
    assert (info.width, info.height, info.frame_count) == (768, 576, 795)
    assert item.path.read_bytes() == src.read_bytes()  # stored as is: no re-encode, no forced 10 fps
    assert ws.dataset("pets").data_type == DataType.VIDEO


def test_import_folder_and_zip_of_videos(ws: Workspace, shared_data: Path, tmp_path: Path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name in ("highway_cctv.avi", "street_8_frames.mp4"):
        shutil.copy(shared_data / "videos" / name, folder / name)
    (folder / "notes.txt").write_text("not a video")  # ignored in a folder
    items = import_videos(ws, "from-folder", [folder])
    assert sorted(i.key for i in items) == ["highway_cctv", "street_8_frames"]

    archive = tmp_path / "videos.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(shared_data / "videos" / "parking_lot_top_down.mp4", "set/parking_lot_top_down.mp4")
    (item,) = import_videos(ws, "from-zip", [archive])
    assert item.key == "parking_lot_top_down" and item.video_info.frame_count == 377
    assert not any((ws.root / "tmp").iterdir())  # the extraction folder is gone


def test_zip_with_traversal_is_refused_and_nothing_is_imported(ws: Workspace, tmp_path: Path, shared_data: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(shared_data / "videos" / "street_8_frames.mp4", "ok.mp4")
        zf.writestr("../../evil.mp4", b"x")
    with pytest.raises(UnsafeArchiveError, match="path traversal"):
        import_videos(ws, "videos", [archive])
    assert ws.find_dataset("videos") is None or ws.keys("videos") == []


def test_a_corrupt_video_fails_the_import_naming_the_file(ws: Workspace, tmp_path: Path, shared_data: Path):
    good = shared_data / "videos" / "street_8_frames.mp4"
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 4096)
    with pytest.raises(VideoError, match=r"broken\.mp4"):
        import_videos(ws, "videos", [good, bad])
    assert ws.find_dataset("videos") is None  # all or nothing: the good one was not imported either


def test_duplicate_keys_are_refused(ws: Workspace, tmp_path: Path, shared_data: Path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    shutil.copy(shared_data / "videos" / "street_8_frames.mp4", a / "street.mp4")
    shutil.copy(shared_data / "videos" / "street_8_frames.mp4", b / "street.mp4")
    with pytest.raises(StoreError, match="same item key 'street'"):
        import_videos(ws, "videos", [a, b])


def test_import_image_folder(ws: Workspace, shared_data: Path):
    items = import_images(ws, "frames", [shared_data / "ua-detrac-sample" / "img"])
    assert len(items) == 9
    assert all(i.metadata["width"] == 960 and i.metadata["height"] == 540 for i in items)


def test_import_detections_attached_to_their_video(ws: Workspace, shared_data: Path):
    import_videos(ws, "videos", [shared_data / "pets09-s2l1" / "video.avi"])
    det_file = shared_data / "pets09-s2l1" / "det" / "det.txt"
    tmp_key = ws.root.parent / "video.txt"  # key must match the video's key
    shutil.copy(det_file, tmp_key)
    (item,) = import_detections(ws, "det", [tmp_key], videos="videos")
    dets = item.load_detections()
    assert dets.canvas == (768, 576) and dets.num_frames == 795
    assert ws.dataset("det").data_type == DataType.DETECTIONS
    assert dets.equals(read_mot(det_file, canvas=(768, 576), num_frames=795))


def test_import_ground_truth_becomes_a_tracks_dataset_keyed_by_sequence(ws: Workspace, shared_data: Path):
    (item,) = import_detections(ws, "gt", [shared_data / "mot17" / "MOT17-02" / "gt" / "gt.txt"])
    assert item.key == "MOT17-02"
    assert ws.dataset("gt").data_type == DataType.TRACKS
    tracks = item.load_detections()
    assert set(tracks.data) >= {"consider", "visibility"}


def test_mismatched_frame_counts_are_refused_with_both_items_named(ws: Workspace, shared_data: Path, tmp_path: Path):
    import_videos(ws, "videos", [shared_data / "videos" / "street_8_frames.mp4"])
    dets = tmp_path / "street_8_frames.txt"
    dets.write_text("1,-1,10,10,20,20,0.9,-1,-1,-1\n12,-1,10,10,20,20,0.9,-1,-1,-1\n")
    with pytest.raises(ValidationError, match=r"street_8_frames.*frame 11.*videos/street_8_frames has 8 frames"):
        import_detections(ws, "det", [dets], videos="videos")
    assert ws.find_dataset("det") is None


def test_malformed_detection_file_names_file_and_line(ws: Workspace, tmp_path: Path):
    bad = tmp_path / "cam.txt"
    bad.write_text("1,-1,10,10,20,20,0.9,-1,-1,-1\n2,-1,10,ten,20,20,0.9,-1,-1,-1\n")
    with pytest.raises(Exception, match=r"cam\.txt.*line 2"):
        import_detections(ws, "det", [bad])


def test_export_round_trips_detections_and_videos(ws: Workspace, shared_data: Path, tmp_path: Path):
    gt = shared_data / "mot15" / "TUD-Campus" / "gt" / "gt.txt"
    import_detections(ws, "gt", [gt])
    out = export_dataset(ws, "gt", tmp_path / "out")
    assert [p.name for p in out] == ["TUD-Campus.txt"]
    assert np.allclose(np.loadtxt(out[0], delimiter=",")[:, :6], np.loadtxt(gt, delimiter=",")[:, :6])
    json_out = export_dataset(ws, "gt", tmp_path / "json", format="skyhook-json")
    assert json_out[0].suffix == ".json"
    back = import_detections(Workspace.init(tmp_path / "ws2"), "gt", json_out)[0].load_detections()
    assert len(back) == len(read_mot(gt)) and np.array_equal(
        back.track_id, ws.item("gt", "TUD-Campus").load_detections().track_id
    )

    import_videos(ws, "videos", [shared_data / "videos" / "street_8_frames.mp4"])
    (video,) = export_dataset(ws, "videos", tmp_path / "videos")
    assert video.read_bytes() == (shared_data / "videos" / "street_8_frames.mp4").read_bytes()
    with pytest.raises(StoreError, match="cannot export"):
        export_dataset(ws, "gt", tmp_path / "x", format="coco")


def test_model_files_import(ws: Workspace, tmp_path: Path):
    weights = tmp_path / "detector.onnx"
    weights.write_bytes(b"\x08\x01fake")
    (item,) = import_files(ws, "models", [weights], data_type=DataType.MODEL)
    assert item.key == "detector" and item.format == "onnx"
    assert ws.dataset("models").data_type == DataType.MODEL
