"""Zip exports of whole datasets: streamed as they are made, videos stored as they are, nothing left behind.

The zip is written while it is sent (no copy of the dataset on disk); a converted item (detections as
MOTChallenge text) is staged one at a time in a ``tmp/`` folder named for its process, so ``gc`` removes it
when a server dies mid-export.
"""

from __future__ import annotations

import io
import signal
import zipfile
from pathlib import Path

import numpy as np

from selftrack.core import Detections
from selftrack.workspace import Workspace, export_dataset, gc_files, import_videos
from selftrack.workspace.exports import export_entries, zip_stream
from selftrack.workspace.maintenance import staging_owner_alive

VIDEOS = ("street_8_frames.mp4", "ua_detrac_intersection.mp4", "highway_cctv.avi")


def tmp_entries(ws: Workspace) -> list[str]:
    tmp = ws.root / "tmp"
    return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []


def put_detections(ws: Workspace, dataset: str, n_items: int, boxes_per_frame: int = 3, frames: int = 40) -> None:
    rng = np.random.default_rng(7)
    ws.create_dataset(dataset, "tracks")
    for k in range(n_items):
        frame = np.repeat(np.arange(frames), boxes_per_frame)
        xy = rng.uniform(0, 400, (len(frame), 2))
        xyxy = np.concatenate([xy, xy + rng.uniform(10, 80, (len(frame), 2))], axis=1)
        track_id = np.tile(np.arange(boxes_per_frame), frames)
        dets = Detections.create(frame, xyxy, track_id=track_id, canvas=(640, 480), num_frames=frames)
        ws.put_detections(dataset, f"clip-{k}", dets)


def read_zip(response) -> zipfile.ZipFile:
    z = zipfile.ZipFile(io.BytesIO(response))
    assert z.testzip() is None
    return z


def test_a_dataset_zip_is_streamed_and_unzips_to_the_same_files(client, ws, shared_data, tmp_path):
    import_videos(ws, "videos", [shared_data / "videos" / v for v in VIDEOS])
    put_detections(ws, "tracks", 3)
    before = tmp_entries(ws)

    with client.stream("GET", "/api/datasets/videos/export") as r:
        assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
        assert "content-length" not in r.headers  # streamed: its size is not known before it is made
        assert r.headers["content-disposition"] == 'attachment; filename="videos.zip"'
        body = b"".join(r.iter_bytes())
    z = read_zip(body)
    items = {f"videos/{it.metadata['filename']}": it for it in ws.items("videos")}
    assert sorted(z.namelist()) == sorted(items) and len(items) == 3
    for info in z.infolist():
        assert z.read(info) == items[info.filename].path.read_bytes()
        assert info.compress_type == zipfile.ZIP_STORED  # compressed video is not deflated a second time

    # detections: MOTChallenge text (converted) is what `selftrack export` writes, deflated; npz as stored
    expected = {p.name: p.read_bytes() for p in export_dataset(ws, "tracks", tmp_path / "mot")}
    z = read_zip(client.get("/api/datasets/tracks/export").content)
    assert {Path(n).name: z.read(n) for n in z.namelist()} == expected and len(expected) == 3
    assert {i.compress_type for i in z.infolist()} == {zipfile.ZIP_DEFLATED}
    z = read_zip(client.get("/api/datasets/tracks/export?format=npz").content)
    assert {n: z.read(n) for n in z.namelist()} == {
        f"tracks/{it.key}.npz": it.path.read_bytes() for it in ws.items("tracks")
    }
    # a format the dataset cannot take is refused before the zip starts
    r = client.get("/api/datasets/videos/export?format=mot")
    assert r.status_code == 400 and "export their files as they are" in r.json()["detail"]
    assert tmp_entries(ws) == before  # nothing copied, nothing left


def test_a_converted_item_is_staged_in_a_folder_gc_recognises_and_removed_after(ws):
    put_detections(ws, "tracks", 3, boxes_per_frame=40, frames=400)
    stream = zip_stream(ws, export_entries(ws, "tracks"), "tracks")
    first = next(stream)
    assert first.startswith(b"PK\x03\x04")
    staged = tmp_entries(ws)
    assert staged and all(staging_owner_alive(name) for name in staged), staged  # named <host>.<pid>.export-*
    stream.close()  # the client went away mid-export
    assert tmp_entries(ws) == []


def test_a_server_killed_mid_export_leaves_nothing_gc_keeps(live_server, shared_data, tmp_path):
    """A zip larger than the socket buffers: the server is still sending when it dies."""
    ws = Workspace.init(tmp_path / "ws")
    sources = tmp_path / "sources"
    sources.mkdir()
    for name in sorted(p.name for p in (shared_data / "videos").iterdir()):
        for copy in ("a", "b"):
            (sources / f"{Path(name).stem}-{copy}{Path(name).suffix}").symlink_to(shared_data / "videos" / name)
    import_videos(ws, "videos", sorted(sources.iterdir()))
    assert sum(it.size for it in ws.items("videos")) > 20e6
    server = live_server(root=ws.root)
    with server.client() as c, c.stream("GET", "/api/datasets/videos/export") as r:
        assert r.status_code == 200
        first = next(r.iter_raw())
        assert first.startswith(b"PK\x03\x04")
        left = tmp_entries(ws)
        assert all(staging_owner_alive(name) for name in left), left  # anything staged is named for gc
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
    gc_files(ws)  # the default grace period: only what a dead process left is removed at once
    assert tmp_entries(ws) == []
