"""The workspace store: catalog rows, payload files, content hashes and crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from selftrack.core import Detections, StoreError, UnsafeArchiveError
from selftrack.workspace import DataType, Workspace, safe_extract_zip
from selftrack.workspace.maintenance import gc_files
from selftrack.workspace.store import sha256_file


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


def dets(shift: float = 0.0) -> Detections:
    return Detections.create(
        [0, 1, 2],
        [[0, 0, 10, 10], [1, 1, 11, 11], [2 + shift, 2, 12, 12]],
        track_id=[1, 1, 1],
        canvas=(64, 64),
        num_frames=3,
    )


def test_catalog_is_sqlite_in_wal_mode(ws: Workspace):
    assert (ws.root / "selftrack.sqlite").exists()
    assert ws.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_opening_a_folder_that_is_not_a_workspace_fails_clearly(tmp_path: Path):
    with pytest.raises(StoreError, match="not a selftrack workspace"):
        Workspace(tmp_path / "nothing")


def test_datasets_and_items(ws: Workspace):
    ws.create_dataset("tracks", DataType.TRACKS)
    item = ws.put_detections("tracks", "cam 1", dets())
    assert item.path.is_file() and item.path.is_relative_to(ws.root / "items")
    assert item.sha256 == sha256_file(item.path)
    assert ws.keys("tracks") == ["cam 1"]
    loaded = ws.item("tracks", "cam 1").load_detections()
    assert loaded.equals(dets()) and loaded.canvas == (64, 64) and loaded.num_frames == 3
    with pytest.raises(StoreError, match="already has an item 'cam 1'"):
        ws.put_detections("tracks", "cam 1", dets())
    with pytest.raises(StoreError, match="no dataset named 'nope'"):
        ws.items("nope")
    with pytest.raises(StoreError, match="invalid item key"):
        ws.put_detections("tracks", "../escape", dets())


def test_content_hash_follows_content_not_name(ws: Workspace):
    ws.create_dataset("a", DataType.DETECTIONS)
    ws.create_dataset("b", DataType.DETECTIONS)
    empty = ws.dataset("a").content_hash
    ws.put_detections("a", "k", dets())
    ws.put_detections("b", "k", dets())
    h1 = ws.dataset("a").content_hash
    assert h1 != empty
    assert ws.dataset("b").content_hash == h1  # same content, different name: same hash
    ws.put_detections("a", "k", dets(), overwrite=True)
    assert ws.dataset("a").content_hash == h1  # rewriting identical content changes nothing
    ws.put_detections("a", "k", dets(shift=0.5), overwrite=True)
    h2 = ws.dataset("a").content_hash
    assert h2 != h1
    ws.put_detections("a", "k2", dets())
    h3 = ws.dataset("a").content_hash
    assert h3 not in (h1, h2)
    ws.delete_item("a", "k2")
    assert ws.dataset("a").content_hash == h2


def test_overwrite_replaces_file_and_removes_the_old_one(ws: Workspace):
    ws.create_dataset("d", DataType.DETECTIONS)
    old = ws.put_detections("d", "k", dets())
    new = ws.put_detections("d", "k", dets(shift=1.0), overwrite=True)
    assert new.path != old.path and new.path.exists() and not old.path.exists()


def test_failed_write_leaves_nothing_visible(ws: Workspace, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    ws.create_dataset("files", DataType.FILE)
    src = tmp_path / "model.bin"
    src.write_bytes(os.urandom(1 << 20))
    before = ws.dataset("files").content_hash

    def broken_copy(a, b):
        Path(b).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr("selftrack.workspace.store.shutil.copyfile", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        ws.put_file("files", "model", src)
    assert ws.find_item("files", "model") is None
    assert ws.dataset("files").content_hash == before
    assert list((ws.root / "items").rglob("*.bin")) == []
    assert list((ws.root / "tmp").iterdir()) == []


def test_killed_writer_never_leaves_half_written_items(tmp_path: Path):
    """SIGKILL a process in the middle of writing items: every visible item is whole."""
    root = tmp_path / "ws"
    Workspace.init(root).create_dataset("blobs", DataType.FILE)
    script = textwrap.dedent(
        f"""
        import os, sys
        from selftrack.workspace import Workspace
        ws = Workspace({str(root)!r})
        src = {str(tmp_path / "blob.bin")!r}
        i = 0
        while True:
            with open(src, "wb") as f:
                f.write(os.urandom(4 << 20))
            ws.put_file("blobs", f"b{{i}}", src)
            i += 1
            if i == 2:
                print("ready", flush=True)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ws = Workspace(root)
    items = ws.items("blobs")
    assert len(items) >= 2
    for item in items:
        assert item.path.stat().st_size == 4 << 20
        assert sha256_file(item.path) == item.sha256
    gc_files(ws, grace=0)  # the writer is dead: its staging files and any placed-but-uncommitted file go
    on_disk = {p for p in (root / "items").rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert on_disk == {it.path for it in items}
    assert list((root / "tmp").iterdir()) == []


def test_two_processes_write_concurrently(tmp_path: Path):
    root = tmp_path / "ws"
    Workspace.init(root).create_dataset("d", DataType.DETECTIONS)
    script = textwrap.dedent(
        f"""
        import sys
        from selftrack.core import Detections
        from selftrack.workspace import Workspace
        ws = Workspace({str(root)!r})
        for i in range(25):
            ws.put_detections("d", f"{{sys.argv[1]}}-{{i}}", Detections.create([0], [[0, 0, i + 1, 1]]))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, name]) for name in ("p", "q")]
    assert [p.wait() for p in procs] == [0, 0]
    ws = Workspace(root)
    assert len(ws.keys("d")) == 50
    # the dataset hash equals a fresh computation over its items
    with ws.transaction() as db:
        recomputed = ws._refresh_hash(db, ws.dataset("d").id)
    assert ws.dataset("d").content_hash == recomputed


# ---------------------------------------------------------------------------------------------- archives
def test_zip_with_path_traversal_is_refused(tmp_path: Path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("videos/ok.mp4", b"x")
        zf.writestr("../../outside.mp4", b"x")
    with pytest.raises(UnsafeArchiveError, match="path traversal"):
        safe_extract_zip(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*"))
    assert not (tmp_path.parent / "outside.mp4").exists()


def test_zip_with_symlink_is_refused(tmp_path: Path):
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("videos/link.mp4")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        safe_extract_zip(archive, tmp_path / "out")


def test_oversized_zip_is_refused(tmp_path: Path):
    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.mp4", os.urandom(2 << 20))
    with pytest.raises(UnsafeArchiveError, match="unpacks to more than"):
        safe_extract_zip(archive, tmp_path / "out", max_bytes=1 << 20)
    assert not any((tmp_path / "out").rglob("*.mp4"))


def test_not_a_zip_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(UnsafeArchiveError, match=r"bad\.zip: not a readable zip"):
        safe_extract_zip(bad, tmp_path / "out")
