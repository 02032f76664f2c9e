"""The REST API on real workspaces: datasets and items a page at a time, boxes per frame window, nodes from
creation to a finished job, YAML, imports and exports."""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from server_helpers import wait_job

from selftrack.core import Detections
from selftrack.render import track_color
from selftrack.synth import SceneConfig, generate_scene, render_scene_video
from selftrack.workspace import Workspace, import_videos


def bulk_items(ws: Workspace, dataset: str, n: int) -> None:
    """``n`` catalog rows at once (the store's put_file rehashes the dataset per item: fine for real imports,
    too slow to build a 10,000-item fixture)."""
    ds = ws.create_dataset(dataset, "file")
    rows = [
        (
            ds.id,
            f"k{i:05d}",
            "txt",
            json.dumps({"filename": f"k{i:05d}.txt"}),
            f"items/{ds.id}/k{i}.txt",
            10 + i,
            "0" * 64,
            0.0,
        )
        for i in range(n)
    ]
    with ws.transaction() as db:
        db.executemany(
            "INSERT INTO items(dataset_id, key, format, metadata, file, size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


def scene_workspace(ws: Workspace, frames: int = 60, dataset: str = "videos") -> Detections:
    scene = generate_scene(
        SceneConfig(width=320, height=192, fps=10, num_frames=frames, num_objects=4, kind="plaza", seed=1)
    )
    path = ws.root / "tmp" / "plaza-1.mp4"
    render_scene_video(scene, path)
    import_videos(ws, dataset, [path])
    path.unlink()
    return scene.ground_truth


def test_a_10000_item_dataset_lists_a_page_at_a_time(client, ws):
    bulk_items(ws, "many", 10_000)
    listing = client.get("/api/datasets").json()
    row = next(d for d in listing["datasets"] if d["name"] == "many")
    assert row["items"] == 10_000 and row["size"] == sum(10 + i for i in range(10_000))
    page = client.get("/api/datasets/many/items?offset=9990&limit=100").json()
    assert page["total"] == 10_000 and [it["key"] for it in page["items"]] == [f"k{i:05d}" for i in range(9990, 10_000)]
    first = client.get("/api/datasets/many/items?limit=100").json()["items"]
    assert len(first) == 100 and first[0]["key"] == "k00000" and first[0]["filename"] == "k00000.txt"
    found = client.get("/api/datasets/many/items?q=k0999").json()
    assert found["total"] == 10 and {it["key"] for it in found["items"]} == {f"k{i:05d}" for i in range(9990, 10_000)}
    assert client.get("/api/datasets/many/items?limit=5000").status_code == 422  # pages stay small


def test_boxes_come_a_frame_window_at_a_time_with_the_render_colours(client, ws):
    frames = np.repeat(np.arange(100), 2)
    xyxy = np.tile([[10, 20, 50, 80], [100, 20, 140, 90]], (100, 1)).astype(float)
    track_id = np.tile([3, 27], 100)
    ws.create_dataset("tracks", "tracks")
    ws.put_detections(
        "tracks", "clip", Detections.create(frames, xyxy, track_id=track_id, canvas=(320, 240), num_frames=100)
    )
    w = client.get("/api/datasets/tracks/items/clip/boxes?start=40&count=5").json()
    assert sorted(map(int, w["frames"])) == [40, 41, 42, 43, 44]
    assert w["frames"]["42"] == [[10.0, 20.0, 50.0, 80.0, 3, 1.0, 0], [100.0, 20.0, 140.0, 90.0, 27, 1.0, 0]]
    assert w["canvas"] == [320, 240]
    assert w["colors"] == {str(t): "#{:02x}{:02x}{:02x}".format(*track_color(t)) for t in (3, 27)}
    assert client.get("/api/datasets/tracks/items/clip/boxes?start=500&count=10").json()["frames"] == {}
    table = client.get("/api/datasets/tracks/items/clip/table?frame=99&limit=10").json()
    assert table["total"] == 200 and [r["frame"] for r in table["rows"]] == [99, 99]
    item = client.get("/api/datasets/tracks/items/clip").json()
    assert item["metadata"]["detections"]["num_tracks"] == 2


def test_a_node_from_creation_to_its_finished_job(client, ws):
    scene_workspace(ws)
    motion = {"detector": "motion", "resize": {"mode": "keep"}}
    r = client.post(
        "/api/nodes",
        json={
            "name": "detect",
            "op": "object_detection",
            "inputs": {"video": "videos"},
            "params": {**motion, "confidence_threshold": 3},
        },
    )
    assert r.status_code == 422
    assert r.json()["detail"] == {
        "message": "invalid parameters: confidence_threshold=3: should be less than or equal to 1",
        "errors": [{"loc": ["confidence_threshold"], "msg": "should be less than or equal to 1"}],
    }
    # an unknown parameter is named with the valid ones, in the CLI's words (not pydantic's "Extra inputs")
    r = client.post(
        "/api/nodes",
        json={"name": "detect", "op": "object_detection", "inputs": {"video": "videos"}, "params": {"nosuch": 1}},
    )
    detail = r.json()["detail"]
    assert r.status_code == 422 and "Extra inputs" not in r.text and "Input should" not in r.text
    assert detail["message"].startswith("invalid parameters: unknown parameter 'nosuch'; valid parameters: ")
    assert "confidence_threshold" in detail["message"] and "resize" in detail["message"]
    assert detail["errors"][0]["loc"] == ["nosuch"] and detail["errors"][0]["msg"].startswith("unknown parameter;")
    r = client.get("/api/datasets/videos/items?offset=-1")
    assert r.status_code == 422 and r.json()["detail"]["message"] == (
        "invalid request: offset: should be greater than or equal to 0"
    )
    assert (
        client.post(
            "/api/nodes",
            json={"name": "detect", "op": "object_detection", "inputs": {"video": "videos"}, "params": motion},
        ).status_code
        == 201
    )
    # the tracker's detections left unwired (SkyhookML's wizard did this): refused, naming the input
    r = client.post("/api/nodes", json={"name": "track", "op": "track", "inputs": {"video": "videos"}})
    assert r.status_code == 400 and "'detections' is not wired" in r.json()["detail"]
    r = client.post("/api/nodes", json={"name": "track", "op": "track", "inputs": {"detections": "videos"}})
    assert r.status_code == 400 and "is video, but the input expects detections" in r.json()["detail"]
    assert (
        client.post(
            "/api/nodes", json={"name": "track", "op": "track", "inputs": {"detections": "detect", "video": "videos"}}
        ).status_code
        == 201
    )

    t0 = time.monotonic()
    run = client.post("/api/nodes/track/run", json={})
    assert run.status_code == 202 and time.monotonic() - t0 < 5  # the id comes back at once; a worker runs it
    job_id = run.json()["job_id"]
    assert client.post("/api/nodes/track/run", json={}).status_code in (202, 409)  # never two runs of one node
    job = wait_job(client, job_id)
    assert job["state"] == "done", job
    assert job["pid"] != __import__("os").getpid()  # a worker process, not the server's
    assert [s["node"] for s in job["plan"]] == ["detect", "track"]
    nodes = {n["name"]: n for n in client.get("/api/nodes").json()["nodes"]}
    assert nodes["track"]["state"] == "done" and nodes["detect"]["state"] == "done"
    out = nodes["track"]["outputs"]["tracks"]
    assert out["state"] == "done" and out["items"] == 1
    assert client.get(f"/api/datasets/{out['dataset']}").json()["node"] == "track"

    # a new input item makes the nodes stale until they run again
    scene2 = generate_scene(
        SceneConfig(width=320, height=192, fps=10, num_frames=30, num_objects=2, kind="plaza", seed=2)
    )
    render_scene_video(scene2, ws.root / "tmp" / "plaza-2.mp4")
    import_videos(ws, "videos", [ws.root / "tmp" / "plaza-2.mp4"])
    states = {n["name"]: n["state"] for n in client.get("/api/nodes").json()["nodes"]}
    assert states == {"detect": "stale", "track": "stale"}

    # rename, move, YAML round trip, delete
    r = client.patch("/api/nodes/detect", json={"name": "detector", "position": {"x": 40, "y": 60}})
    assert r.status_code == 200 and r.json()["position"] == {"x": 40.0, "y": 60.0}
    track = client.get("/api/nodes/track").json()
    assert track["inputs"]["detections"] == [{"node": "detector"}]
    text = client.get("/api/pipeline/yaml").text
    assert "detector:" in text and "op: object_detection" in text
    assert client.delete("/api/nodes/detector").status_code == 400  # it feeds track
    assert client.delete("/api/nodes/track").status_code == 200
    assert client.post("/api/pipeline/yaml", json={"yaml": text}).json()["nodes"] == ["detector", "track"]
    assert client.get("/api/nodes/track").json()["params"] == track["params"]


def test_partial_runs_and_stops(client, ws):
    scene_workspace(ws, frames=40)
    client.post(
        "/api/nodes",
        json={
            "name": "detect",
            "op": "object_detection",
            "inputs": {"video": "videos"},
            "params": {"detector": "motion"},
        },
    )
    job = wait_job(
        client, client.post("/api/nodes/detect/run", json={"partial": {"keys": ["plaza-1"]}}).json()["job_id"]
    )
    assert job["state"] == "done" and job["plan"][0]["partial"] is True
    r = client.post("/api/nodes/detect/run", json={"partial": {"keys": ["nope"]}})
    job = wait_job(client, r.json()["job_id"])
    assert job["state"] == "failed" and "nope" in job["error"]
    stop = client.post(f"/api/jobs/{job['id']}/stop").json()["job"]
    assert stop["state"] == "failed"  # a finished job stays as it ended


def test_the_pipeline_and_datasets_pages_agree_on_an_unfinished_output(client, ws):
    """One rule for both pages: an output with some items that no run finished (a stopped or partial run)
    is partial; one whose run stopped before its first item is not computed, on the node and the dataset."""
    scene_workspace(ws, frames=20)
    scene2 = generate_scene(SceneConfig(width=320, height=192, fps=10, num_frames=20, num_objects=2, seed=2))
    render_scene_video(scene2, ws.root / "tmp" / "plaza-2.mp4")
    import_videos(ws, "videos", [ws.root / "tmp" / "plaza-2.mp4"])
    motion = {"detector": "motion", "resize": {"mode": "keep"}}
    client.post(
        "/api/nodes", json={"name": "detect", "op": "object_detection", "inputs": {"video": "videos"}, "params": motion}
    )
    job_id = client.post("/api/nodes/detect/run", json={"partial": {"keys": ["plaza-1"]}}).json()["job_id"]
    assert wait_job(client, job_id)["state"] == "done"

    def states() -> tuple[str, str, str, str]:
        node = client.get("/api/nodes/detect").json()
        name = node["outputs"]["detections"]["dataset"]
        row = next(d for d in client.get("/api/datasets").json()["datasets"] if d["name"] == name)
        return (
            node["state"],
            node["outputs"]["detections"]["state"],
            row["state"],
            client.get(f"/api/datasets/{name}").json()["state"],
        )

    assert states() == ("partial",) * 4
    name = client.get("/api/nodes/detect").json()["outputs"]["detections"]["dataset"]
    ws.delete_item(name, "plaza-1")  # as a run stopped before its first item leaves it: empty, not done
    assert states() == ("not computed",) * 4
    assert wait_job(client, client.post("/api/nodes/detect/run", json={}).json()["job_id"])["state"] == "done"
    assert states() == ("done",) * 4


def test_imports_uploads_and_exports(client, ws, tmp_path):
    gt = scene_workspace(ws)
    mot = tmp_path / "plaza-1.txt"
    from selftrack.formats import write_mot

    write_mot(gt, mot, kind="gt")
    up = client.put("/api/uploads?filename=plaza-1.txt", content=mot.read_bytes()).json()
    r = client.post(
        "/api/imports",
        json={"dataset": "gt", "data_type": "labels", "uploads": [up["id"]], "format": "mot", "videos": "videos"},
    )
    job = wait_job(client, r.json()["job_id"])
    assert job["state"] == "done", job
    assert job["progress"]["stage"]["unit"] == "files"
    ds = client.get("/api/datasets/gt").json()
    assert ds["data_type"] == "tracks" and ds["items"] == 1
    assert not (ws.root / "tmp" / "uploads" / up["id"]).exists()  # the upload was consumed
    # the wrong type for an existing dataset is refused before any job
    r = client.post("/api/imports", json={"dataset": "videos", "data_type": "model", "paths": [str(mot)]})
    assert r.status_code == 409
    # export: the dataset as a zip of MOTChallenge files, one item as SkyhookML JSON
    z = zipfile.ZipFile(io.BytesIO(client.get("/api/datasets/gt/export?format=mot").content))
    assert z.namelist() == ["gt/plaza-1.txt"]
    one = client.get("/api/datasets/gt/items/plaza-1/export?format=skyhook-json")
    assert one.status_code == 200 and one.headers["content-disposition"].endswith('"plaza-1.json"')
    video = client.get("/api/datasets/videos/items/plaza-1/video", headers={"Range": "bytes=0-99"})
    assert video.status_code == 206 and len(video.content) == 100 and video.headers["content-type"] == "video/mp4"


def test_a_bad_uploaded_file_is_named_as_uploaded_in_the_jobs_error(client, ws):
    """The error names ``det.txt`` and its line, not the server's ``tmp/uploads/<id>/`` folder."""
    up = client.put("/api/uploads?filename=det.txt", content=b"1,-1,10,10,20,20,0.9\n2,-1,abc,10,20,20,0.9\n").json()
    r = client.post("/api/imports", json={"dataset": "dets", "data_type": "labels", "uploads": [up["id"]]})
    job = wait_job(client, r.json()["job_id"])
    assert job["state"] == "failed"
    assert job["error"] == "det.txt, line 2, column 3: 'abc' is not a number: '2,-1,abc,10,20,20,0.9'"
    assert ws.find_dataset("dets") is None or ws.keys("dets") == []
    assert not (ws.root / "tmp" / "uploads" / up["id"]).exists()


def test_check_reports_what_selftrack_check_does(client, ws):
    """``GET /api/check`` is ``selftrack check`` (sizes, or every hash): a file deleted or changed by hand."""
    ws.create_dataset("dets", "detections")
    for key in ("a", "b"):
        ws.put_detections("dets", key, Detections.create(np.array([0]), np.array([[1, 2, 3, 4]]), canvas=(10, 10)))
    report = client.get("/api/check").json()
    assert report["ok"] is True and report["items_checked"] == 2 and report["missing"] == []
    ws.item("dets", "a").path.unlink()
    b = ws.item("dets", "b").path
    data = bytearray(b.read_bytes())
    data[-1] ^= 0xFF  # same size, other content: only the hash sees it
    b.write_bytes(bytes(data))
    quick = client.get("/api/check").json()
    assert quick["ok"] is False and [m.split(" ")[0] for m in quick["missing"]] == ["dets/a"] and quick["damaged"] == []
    full = client.get("/api/check?hashes=true").json()
    assert [m.split(" ")[0] for m in full["damaged"]] == ["dets/b"]


@pytest.mark.realdata
def test_pets09_gets_a_browser_copy_frame_for_frame(client, shared_data):
    from selftrack.video import probe

    r = client.post(
        "/api/imports",
        json={"dataset": "pets", "data_type": "video", "paths": [str(shared_data / "pets09-s2l1" / "video.avi")]},
    )
    assert wait_job(client, r.json()["job_id"])["state"] == "done"
    item = client.get("/api/datasets/pets/items/video").json()
    assert item["playback"] == {"state": "missing"}
    assert client.get("/api/datasets/pets/items/video/video").status_code == 409
    started = client.post("/api/datasets/pets/items/video/proxy").json()
    assert started["state"] == "running"
    assert client.post("/api/datasets/pets/items/video/proxy").json() == started  # one copy, not two
    job = wait_job(client, started["job_id"], timeout=300)
    assert job["state"] == "done" and job["progress"]["stage"] | {
        "rate": None,
        "elapsed": None,
        "eta_seconds": None,
        "started_at": None,
        "finished_at": None,
    } == {
        "node": "proxy",
        "name": "encode H.264",
        "unit": "frames",
        "done": 795,
        "total": 795,
        "part": 1,
        "parts": 1,
        "state": "done",
        "fraction": 1.0,
        "rate": None,
        "elapsed": None,
        "eta_seconds": None,
        "started_at": None,
        "finished_at": None,
    }
    assert client.get("/api/datasets/pets/items/video").json()["playback"] == {"state": "ready"}
    r = client.get("/api/datasets/pets/items/video/video")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    proxy = Path(client.app.state.selftrack.root) / "tmp" / "proxy-check.mp4"
    proxy.write_bytes(r.content)
    info = probe(proxy)
    assert (info.codec, info.frame_count, info.width, info.height, info.fps) == ("h264", 795, 768, 576, 10)


def test_a_zip_of_a_labelled_image_set_imports_images_and_labels(client, ws, tmp_path):
    import cv2

    coco = {
        "images": [
            {"id": 1, "file_name": "imgs/a.jpg", "width": 64, "height": 48},
            {"id": 2, "file_name": "imgs/b.jpg", "width": 64, "height": 48},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 3, "bbox": [4, 5, 20, 10]},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [10, 10, 8, 8]},
            {"id": 3, "image_id": 2, "category_id": 3, "bbox": [30, 20, 8, 8]},
        ],
        "categories": [{"id": 3, "name": "car"}],
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("set/labels.json", json.dumps(coco))
        for name in ("a", "b"):
            _ok, png = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))
            zf.writestr(f"set/imgs/{name}.jpg", png.tobytes())
    up = client.put("/api/uploads?filename=set.zip", content=buf.getvalue()).json()
    r = client.post(
        "/api/imports",
        json={
            "dataset": "labels",
            "data_type": "labels",
            "format": "coco",
            "uploads": [up["id"]],
            "images_dataset": "images",
        },
    )
    job = wait_job(client, r.json()["job_id"])
    assert job["state"] == "done", job
    assert ws.keys("images") == ["a", "b"] and ws.keys("labels") == ["a", "b"]
    b = client.get("/api/datasets/labels/items/b/boxes?start=0&count=1").json()
    assert b["frames"]["0"] == [[10.0, 10.0, 18.0, 18.0, -1, 1.0, 3], [30.0, 20.0, 38.0, 28.0, -1, 1.0, 3]]
    assert b["classes"] == {"3": "car"}
    item = client.get("/api/datasets/images/items/b").json()
    assert item["overlays"] == [{"dataset": "labels", "data_type": "detections", "node": None}]
