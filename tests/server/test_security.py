"""Each security rule of the server, tested on the app in process and on a real ``selftrack serve``."""

from __future__ import annotations

import io
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from server_helpers import TOKEN, make_client, wait_job

from selftrack.core import Detections
from selftrack.core.errors import SelftrackError
from selftrack.server import ServerConfig
from selftrack.server.api_imports import FLUSH_BYTES
from selftrack.workspace import Workspace


# ---------------------------------------------------------------------------------------------- token
def test_every_api_request_needs_the_token(client):
    anonymous = make_client(client.app.state.selftrack.root)
    anonymous.headers.pop("Authorization")
    for path in ("/api/info", "/api/datasets", "/api/jobs", "/api/nodes", "/api/openapi.json", "/api/events"):
        r = anonymous.get(path)
        assert r.status_code == 401, path
        assert "token" in r.json()["detail"]
        assert "Traceback" not in r.text
    wrong = anonymous.get("/api/info", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["detail"].startswith("wrong token")
    assert client.get("/api/info").status_code == 200


def test_token_in_the_first_url_becomes_a_cookie_and_leaves_the_address_bar(client):
    browser = make_client(client.app.state.selftrack.root)
    browser.headers.pop("Authorization")
    page = browser.get("/", follow_redirects=False)
    assert page.status_code == 401 and "Sign in" in page.text  # a sign-in page, not a JSON error
    first = browser.get(f"/datasets?token={TOKEN}&q=x", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"] == "/datasets?q=x"
    cookie = first.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and cookie.startswith("selftrack-token-8765=")
    assert browser.get("/api/info").status_code == 200  # the cookie now authenticates the pages' API calls
    assert browser.get("/").status_code == 200


def test_static_files_need_no_token_but_hold_no_data(client):
    anonymous = make_client(client.app.state.selftrack.root)
    anonymous.headers.pop("Authorization")
    assert anonymous.get("/static/app.css").status_code == 200
    for path in (
        "/static/../selftrack.sqlite",
        "/static/..%2Fselftrack.sqlite",
        "/static/..%2F..%2Fws%2Fselftrack.sqlite",
    ):
        r = anonymous.get(path)
        assert r.status_code in (401, 404), path
        assert b"SQLite format" not in r.content


# ---------------------------------------------------------------------------------------------- Host and Origin
def test_a_foreign_host_header_is_refused_even_with_the_token(client):
    for host in ("evil.example", "evil.example:8765", "127.0.0.1.evil.example"):
        r = client.get("/api/info", headers={"Host": host})
        assert r.status_code == 403, host
        assert "DNS rebinding" in r.json()["detail"]
    for host in ("127.0.0.1:8765", "localhost:8765", "[::1]:8765"):
        assert client.get("/api/info", headers={"Host": host}).status_code == 200, host


def test_allowed_hosts_extend_the_loopback_names(ws):
    c = make_client(ws.root, allowed_hosts=("tracker.lab",))
    assert c.get("/api/info", headers={"Host": "tracker.lab"}).status_code == 200
    assert c.get("/api/info", headers={"Host": "other.lab"}).status_code == 403


def test_cross_origin_state_changing_requests_are_refused(client):
    body = {"name": "videos", "data_type": "video"}
    r = client.post("/api/datasets", json=body, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "cross-origin" in r.json()["detail"]
    r = client.post("/api/datasets", json=body, headers={"Origin": "null"})
    assert r.status_code == 403
    r = client.post("/api/datasets", json=body, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert client.app.state.selftrack.ws.find_dataset("videos") is None  # nothing happened
    ok = client.post("/api/datasets", json=body, headers={"Origin": "http://127.0.0.1:8765"})
    assert ok.status_code == 201
    # reading is allowed cross-origin-less: the browser's same-origin policy keeps the response from the page
    assert client.get("/api/datasets", headers={"Origin": "http://evil.example"}).status_code == 200


# ---------------------------------------------------------------------------------------------- binding
def test_listening_beyond_loopback_without_a_token_is_refused(tmp_path):
    with pytest.raises(SelftrackError, match=r"refusing to listen on 0\.0\.0\.0 without a token"):
        ServerConfig(workspace=tmp_path, host="0.0.0.0", token="").check_bind()
    ServerConfig(workspace=tmp_path, host="0.0.0.0", token="secret").check_bind()
    ServerConfig(workspace=tmp_path, host="127.0.0.1", token="").check_bind()
    r = subprocess.run(
        [sys.executable, "-m", "selftrack", "serve", str(tmp_path / "ws"), "--host", "0.0.0.0", "--token", ""],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "without a token" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr


def test_default_binding_is_loopback_with_a_random_token(live_server):
    server = live_server()
    assert server.base.startswith("http://127.0.0.1:")
    r = subprocess.run(
        [sys.executable, "-c", "from selftrack.server import resolve_token; print(resolve_token(None))"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "SELFTRACK_TOKEN"},
    )
    assert len(r.stdout.strip()) >= 24


# ---------------------------------------------------------------------------------------------- uploads
def _uploads(root: Path) -> list[Path]:
    folder = root / "tmp" / "uploads"
    return [p for p in folder.rglob("*")] if folder.exists() else []


def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(live_server):
    server = live_server("--max-upload-mb", "4")
    with server.client() as c:
        # declared too big: refused before a byte is read
        r = c.put("/api/uploads?filename=big.mp4", content=b"x" * (5 << 20))
        assert r.status_code == 413 and "limit" in r.json()["detail"]

        # no declared size (chunked): cut off once the bytes received pass the limit; what reaches the disk
        # never grows past the limit (plus one write buffer), while 32 MB are sent
        peak = [0]
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                size = sum(p.stat().st_size for p in _uploads(server.root) if p.is_file())
                peak[0] = max(peak[0], size)
                time.sleep(0.005)

        watcher = threading.Thread(target=watch)
        watcher.start()

        def body():
            for _ in range(128):
                yield b"y" * (256 << 10)
                time.sleep(0.002)

        try:
            r = c.put("/api/uploads?filename=stream.mp4", content=body())
            assert r.status_code == 413 and "limit" in r.json()["detail"]
        except httpx.HTTPError:
            pass  # the server may close the connection while the client is still sending: also a refusal
        finally:
            done.set()
            watcher.join()
        assert 0 < peak[0] <= (4 << 20) + FLUSH_BYTES
        assert _uploads(server.root) == []
        # an upload under the limit works and lands in tmp/uploads, not in any dataset
        ok = c.put("/api/uploads?filename=small.txt", content=b"1,1,1,1,1,1,1\n")
        assert ok.status_code == 201 and ok.json()["size"] == 14
    ws = Workspace(server.root)
    assert ws.datasets() == []


def _zip(entries: dict[str, bytes], symlink: str | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buf.getvalue()


def test_archives_with_traversal_or_links_are_refused_at_upload(client):
    root = client.app.state.selftrack.root
    r = client.put("/api/uploads?filename=evil.zip", content=_zip({"../../outside.txt": b"x"}))
    assert r.status_code == 400 and "path traversal" in r.json()["detail"]
    r = client.put("/api/uploads?filename=abs.zip", content=_zip({"/etc/cron.d/x": b"x"}))
    assert r.status_code == 400
    r = client.put("/api/uploads?filename=link.zip", content=_zip({"ok.txt": b"x"}, symlink="passwd"))
    assert r.status_code == 400 and "symbolic link" in r.json()["detail"]
    assert str(root) not in r.json()["detail"]  # the message names the upload, not server paths
    assert _uploads(root) == []
    assert not (root.parent / "outside.txt").exists()
    r = client.put("/api/uploads?filename=..%2F..%2Fescape.txt", content=b"x")
    assert r.status_code == 201 and r.json()["filename"] == "escape.txt"  # no folder part survives


def test_a_server_killed_during_an_upload_leaves_no_item(live_server, shared_data):
    server = live_server()
    video = (shared_data / "videos" / "parking_lot_top_down.mp4").read_bytes()
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        head = (
            f"PUT /api/uploads?filename=clip.mp4 HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(video)}\r\n\r\n"
        )
        sock.sendall(head.encode() + video[: len(video) // 2])
        time.sleep(1.0)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(10)
    ws = Workspace(server.root)
    assert ws.datasets() == []
    assert not any(p.suffix == ".mp4" for p in (server.root / "items").rglob("*"))
    # a restarted server starts clean: the partial upload is never offered as a finished one
    again = live_server(root=server.root)
    with again.client() as c:
        part = [p.name for p in _uploads(server.root) if p.is_file()]
        assert all(name.endswith(".part") for name in part)
        upload_id = next(iter(p.name for p in (server.root / "tmp" / "uploads").iterdir()))
        r = c.post("/api/imports", json={"dataset": "videos", "data_type": "video", "uploads": [upload_id]})
        assert r.status_code == 202
        job_id = r.json()["job_id"]
        job = wait_job(c, job_id)
        assert job["state"] == "failed" and "upload the file again" in job["error"]
    assert Workspace(server.root).find_dataset("videos") is None or not Workspace(server.root).keys("videos")


# ---------------------------------------------------------------------------------------------- files
def test_item_files_are_served_only_from_the_workspace(client, tmp_path):
    st = client.app.state.selftrack
    ws = st.ws
    ws.create_dataset("dets", "detections")
    ws.put_detections("dets", "a", Detections.create(np.array([0]), np.array([[1, 2, 3, 4]]), canvas=(10, 10)))
    ws.put_detections("dets", "b", Detections.create(np.array([0]), np.array([[1, 2, 3, 4]]), canvas=(10, 10)))
    assert client.get("/api/datasets/dets/items/a/file").status_code == 200
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours")
    # a catalog row pointing outside the workspace (a tampered or corrupt catalog) is never followed
    with ws.transaction() as db:
        db.execute("UPDATE items SET file = ? WHERE key = 'a'", (os.path.relpath(secret, ws.root),))
    r = client.get("/api/datasets/dets/items/a/file")
    assert r.status_code == 403 and "not yours" not in r.text
    # nor a link inside the workspace that leads out of it
    item = ws.item("dets", "b")
    item.path.unlink()
    item.path.symlink_to(secret)
    r = client.get("/api/datasets/dets/items/b/file")
    assert r.status_code == 403 and "not yours" not in r.text
    for path in (
        "/api/datasets/dets/items/..%2F..%2Fsecret.txt/file",
        "/api/datasets/..%2F..%2F/items/x/file",
        "/static/..%2F..%2Fselftrack.sqlite",
    ):
        r = client.get(path)
        assert r.status_code in (400, 403, 404), path
        assert "not yours" not in r.text and "SQLite" not in r.text


def test_bad_requests_get_a_4xx_with_a_message_never_a_stack_trace(client):
    cases = [
        client.post("/api/nodes", content=b"{not json", headers={"Content-Type": "application/json"}),
        client.post("/api/nodes", json={"name": "x", "op": "no_such_op"}),
        client.post("/api/nodes", json={"name": "1bad", "op": "render"}),
        client.get("/api/datasets/nope"),
        client.get("/api/jobs/999"),
        client.get("/api/datasets?limit=-3"),
        client.post("/api/pipeline/yaml", json={"yaml": "nodes: [1, 2"}),
        client.post("/api/imports", json={"dataset": "v", "data_type": "video", "paths": ["/no/such/folder"]}),
        client.post("/api/nodes/x/run", json={"partial": {"count": 1, "keys": ["a"]}}),
    ]
    for r in cases:
        assert 400 <= r.status_code < 500, (r.request.url, r.status_code, r.text)
        detail = r.json()["detail"]
        text = detail if isinstance(detail, str) else detail["message"]
        assert text and "Traceback" not in r.text and 'File "' not in r.text, r.text
