"""gc under the workspace lock, damaged catalogs refused and rebuilt, ``check`` and ``check --repair``."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from selftrack.core import Detections, StoreError
from selftrack.workspace import DataType, Workspace
from selftrack.workspace.catalog import CatalogError
from selftrack.workspace.maintenance import check_workspace, gc_files
from selftrack.workspace.types import sha256_file


def dets(i: int) -> Detections:
    return Detections.create([0, 1], [[0, 0, 10 + i, 10], [1, 1, 11, 11 + i]], canvas=(64, 64), num_frames=2)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    ws.create_dataset("d", DataType.DETECTIONS)
    for i in range(5):
        ws.put_detections("d", f"k{i}", dets(i))
    return ws


def payload(ws: Workspace) -> set[Path]:
    return {p for p in (ws.root / "items").rglob("*") if p.is_file() and not p.name.startswith(".")}


# ---------------------------------------------------------------------------------------------- gc
def test_gc_waits_for_a_writer_between_placing_a_file_and_committing_it(ws: Workspace):
    """The issue's race: the file is in items/ but its row is not committed yet; gc must not take it."""
    placed, release = threading.Event(), threading.Event()
    real_commit = ws._commit_rows

    def slow_commit(rows, **kwargs):
        placed.set()
        release.wait(10)
        return real_commit(rows, **kwargs)

    ws._commit_rows = slow_commit  # type: ignore[method-assign]
    writer = threading.Thread(target=lambda: ws.put_detections("d", "late", dets(9)))
    writer.start()
    assert placed.wait(10)
    result: list[object] = []
    other = Workspace(ws.root)  # gc from another connection, as another process would
    collector = threading.Thread(target=lambda: result.append(gc_files(other, grace=0)))
    collector.start()
    time.sleep(0.5)
    assert collector.is_alive(), "gc ran while a writer had a placed, uncommitted file"
    release.set()
    writer.join(10)
    collector.join(10)
    item = Workspace(ws.root).item("d", "late")
    assert item.path.is_file() and sha256_file(item.path) == item.sha256


def test_gc_removes_only_unreferenced_files_older_than_the_grace_period(ws: Workspace):
    keep = payload(ws)
    young = ws.root / "items" / str(ws.dataset("d").id) / "crashed.0123456789ab.npz"
    young.write_bytes(b"left by a crash between rename and commit")
    assert gc_files(ws, grace=3600).removed == []
    assert young.exists()
    report = gc_files(ws, grace=0)
    assert report.removed == [young] and not young.exists()
    assert payload(ws) == keep


def test_gc_never_removes_a_hard_linked_file_whose_old_mtime_predates_the_grace_period(ws: Workspace, tmp_path: Path):
    """ctime, not mtime: linking an old video into a dataset makes the new name young."""
    old = tmp_path / "old.mp4"
    old.write_bytes(b"video")
    os.utime(old, (time.time() - 10 * 86400, time.time() - 10 * 86400))
    target = ws.root / "items" / str(ws.dataset("d").id) / "linked.0123456789ab.mp4"
    os.link(old, target)
    assert gc_files(ws, grace=3600).removed == [] and target.exists()


def test_gc_removes_staging_entries_of_dead_processes_only(ws: Workspace):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from selftrack.workspace.writes import HOST

    stale = ws.root / "tmp" / f"{HOST}.{dead.pid}.import-xyz"
    stale.mkdir()
    (stale / "half.mp4").write_bytes(b"x" * 100)
    with ws.staging_path(".npz") as mine, ws.staging_dir("train-") as long_job:
        mine.write_bytes(b"being written")
        os.utime(long_job, (time.time() - 86400, time.time() - 86400))  # a training run of a day: still ours
        gc_files(ws, grace=0)
        assert mine.exists() and Path(long_job).exists() and not stale.exists()


def test_concurrent_import_and_gc_loop_loses_nothing(tmp_path: Path):
    """The issue's repro, scaled down: import detection files in one process while another loops gc."""
    root = tmp_path / "ws"
    Workspace.init(root)
    files = tmp_path / "dets"
    files.mkdir()
    for i in range(150):
        (files / f"seq{i:04d}.txt").write_text(f"1,-1,{i},2,30,40,0.9\n2,-1,{i + 1},2,30,40,0.8\n")
    gc_loop = textwrap.dedent(
        f"""
        import time
        from selftrack.workspace import Workspace
        from selftrack.workspace.maintenance import gc_files
        end = time.time() + 60
        while time.time() < end:
            gc_files(Workspace({str(root)!r}), grace=0)
        """
    )
    collector = subprocess.Popen([sys.executable, "-c", gc_loop])
    try:
        for part in range(3):  # three imports into one dataset, each all-or-nothing
            script = (
                "from selftrack.workspace import Workspace, import_detections\n"
                f"import_detections(Workspace({str(root)!r}), 'many', sorted(__import__('pathlib').Path({str(files)!r}).glob('seq*{part}.txt')))"
            )
            subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    finally:
        collector.kill()
        collector.wait()
    ws = Workspace(root)
    items = ws.items("many")
    assert len(items) == 45
    for item in items:
        assert item.path.is_file() and sha256_file(item.path) == item.sha256
        item.load_detections()


# ---------------------------------------------------------------------------------------------- damaged catalogs
@pytest.mark.parametrize("damage", ["empty", "truncated", "garbage", "foreign"])
def test_a_damaged_catalog_next_to_item_files_is_refused_and_rebuilt_by_repair(ws: Workspace, damage: str):
    before = {(it.key, it.sha256, it.path) for it in ws.items("d")}
    content_hash = ws.dataset("d").content_hash
    ws.close()
    catalog = ws.root / "selftrack.sqlite"
    for extra in ("-wal", "-shm"):
        (ws.root / ("selftrack.sqlite" + extra)).unlink(missing_ok=True)
    if damage == "empty":
        catalog.write_bytes(b"")
    elif damage == "truncated":
        catalog.write_bytes(catalog.read_bytes()[: catalog.stat().st_size // 2])
    elif damage == "garbage":
        catalog.write_bytes(os.urandom(8192))
    else:  # a valid SQLite file without selftrack's tables (a wrong file copied over it)
        catalog.unlink()
        import sqlite3

        sqlite3.connect(catalog).execute("CREATE TABLE other(x)").connection.commit()
    with pytest.raises(CatalogError, match=r"refusing to open it as an empty workspace.*check --repair"):
        Workspace(ws.root)
    with pytest.raises(CatalogError):
        Workspace.init(ws.root)  # `selftrack init` over it must not wipe it either
    found = check_workspace(ws.root)
    assert not found.ok and found.catalog_problem and len(found.unregistered) == 5
    assert len(payload(ws)) == 5  # nothing was deleted
    repaired = check_workspace(ws.root, repair=True)
    assert repaired.ok and repaired.items_checked == 5
    assert any("moved to selftrack.sqlite.damaged-" in line for line in repaired.repaired)
    again = Workspace(ws.root)
    assert {(it.key, it.sha256, it.path) for it in again.items("d")} == before
    assert again.dataset("d").content_hash == content_hash


def test_an_empty_catalog_without_item_files_is_just_a_new_workspace(tmp_path: Path):
    root = tmp_path / "ws"
    root.mkdir()
    (root / "selftrack.sqlite").write_bytes(b"")
    assert Workspace(root).datasets() == []


def test_a_corrupt_page_in_use_is_one_clear_error(ws: Workspace):
    ws.close()
    catalog = ws.root / "selftrack.sqlite"
    import sqlite3

    sqlite3.connect(catalog).execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    data = bytearray(catalog.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    data[page : 2 * page] = os.urandom(page)  # the second page: a table's root
    catalog.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"selftrack\.sqlite"):
        w = Workspace(ws.root)
        for ds in w.datasets():
            w.items(ds.name)


# ---------------------------------------------------------------------------------------------- check / repair
def test_check_finds_a_file_deleted_by_hand_and_repair_drops_it(ws: Workspace):
    victim = ws.item("d", "k1")
    victim.path.unlink()
    report = check_workspace(ws.root)
    assert not report.ok and len(report.missing) == 1 and "d/k1" in report.missing[0]
    repaired = check_workspace(ws.root, repair=True)
    assert repaired.lost == ["d/k1: its file is gone and no copy was found; import it again"]
    assert Workspace(ws.root).keys("d") == ["k0", "k2", "k3", "k4"]
    assert check_workspace(ws.root).ok


def test_check_finds_damaged_content_and_repair_repoints_to_an_intact_copy(ws: Workspace):
    item = ws.item("d", "k2")
    good = item.path.read_bytes()
    item.path.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # bit rot, same size
    copy = item.path.with_name("k2-restored." + item.sha256[:12] + ".npz")
    copy.write_bytes(good)
    report = check_workspace(ws.root)
    assert len(report.damaged) == 1 and "differs from its recorded sha256" in report.damaged[0]
    repaired = check_workspace(ws.root, repair=True)
    assert repaired.ok and "now points at" in repaired.repaired[0]
    assert Workspace(ws.root).item("d", "k2").load_detections().equals(dets(2))


def test_a_computed_item_lost_by_hand_is_dropped_and_its_dataset_marked_not_done(tmp_path: Path):
    w = Workspace.init(tmp_path / "ws")
    w.create_dataset("out", DataType.DETECTIONS, kind="computed")
    w.put_detections("out", "a", dets(0))
    w.item("out", "a").path.unlink()
    report = check_workspace(w.root, repair=True)
    assert report.ok and "next run of its node recomputes it" in report.repaired[0]
    assert not Workspace(w.root).dataset("out").done


def test_a_committed_item_the_catalog_lost_is_re_registered_from_the_journal(ws: Workspace, tmp_path: Path):
    backup = tmp_path / "backup.sqlite"
    import sqlite3

    with sqlite3.connect(ws.catalog_path) as src, sqlite3.connect(backup) as dst:
        src.backup(dst)
    ws.put_detections("d", "after-backup", dets(7))
    ws.close()
    for extra in ("-wal", "-shm"):
        (ws.root / ("selftrack.sqlite" + extra)).unlink(missing_ok=True)
    os.replace(backup, ws.catalog_path)  # restore an older catalog
    report = check_workspace(ws.root)
    assert [u.split(" ")[0] for u in report.unregistered] == ["d/after-backup"]
    assert gc_files(Workspace(ws.root), grace=0).removed == []  # the journal vouches for it: gc keeps it
    assert check_workspace(ws.root, repair=True).ok
    assert Workspace(ws.root).item("d", "after-backup").load_detections().equals(dets(7))


# ---------------------------------------------------------------------------------------------- read-only
def test_opening_writes_nothing_and_read_only_workspaces_are_browsable(ws: Workspace):
    ws.close()
    stat = (ws.root / "selftrack.sqlite").stat()
    ro = Workspace(ws.root, read_only=True)
    assert ro.keys("d") == [f"k{i}" for i in range(5)]
    assert ro.item("d", "k0").load_detections().equals(dets(0))
    with pytest.raises(StoreError, match="read-only"):
        ro.put_detections("d", "new", dets(0))
    from selftrack.pipeline import JobStore, Pipeline

    assert Pipeline(ro).nodes() == {} and JobStore(ro).list() == []
    after = (ws.root / "selftrack.sqlite").stat()
    assert (after.st_mtime_ns, after.st_size) == (stat.st_mtime_ns, stat.st_size)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="POSIX permissions")
def test_a_workspace_without_write_permission_lists_its_datasets(tmp_path: Path):
    """As another user (root ignores permissions, so the test drops to 'nobody' when run as root)."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="selftrack-ro-"))
    try:
        base.chmod(0o755)
        w = Workspace.init(base / "ws")
        w.create_dataset("d", DataType.DETECTIONS)
        w.put_detections("d", "k", dets(0))
        w.close()
        for path in [base / "ws", *(base / "ws").rglob("*")]:
            path.chmod(0o555 if path.is_dir() else 0o444)
        # as root, drop to 'nobody' once Python and selftrack are loaded (the interpreter may live in /root)
        drop = "import os, zipfile, numpy, encodings.cp437\nos.setuid(65534)\n" if os.geteuid() == 0 else ""
        ws_path = str(base / "ws")
        code = (
            "from selftrack.workspace import Workspace\n"
            "from selftrack.cli.main import app\n"
            "import selftrack.pipeline, selftrack.workspace.maintenance\n" + drop + f"w = Workspace({ws_path!r})\n"
            "assert w.read_only, 'expected read-only'\n"
            "print(w.keys('d'), len(w.item('d', 'k').load_detections()))\n"
            "for cmd in (['datasets'], ['items', 'd'], ['nodes'], ['jobs'], ['check', '--quick']):\n"
            f"    app(['-w', {ws_path!r}, *cmd], standalone_mode=False)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("['k'] 2") and "1 item(s) checked" in proc.stdout
    finally:
        for path in [base, *base.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        import shutil

        shutil.rmtree(base)


def test_opening_a_workspace_keeps_the_locks_of_other_connections_in_this_process(ws: Workspace):
    """Found by the soak benchmark: reading the catalog's header with open()/close() dropped every POSIX lock
    this process held on it (SQLite's too), so another process could take the database exclusively under
    open connections (and checkpoint or delete the WAL): 'database disk image is malformed'."""
    ws.keys("d")  # this connection is open and has read
    for _ in range(3):
        Workspace(ws.root).keys("d")  # what a thread of the web app or an in-process task does
    check_workspace(ws.root)
    probe = (
        "import sqlite3\n"
        f"c = sqlite3.connect({str(ws.catalog_path)!r}, timeout=0.2)\n"
        "try:\n    print(c.execute('PRAGMA journal_mode=DELETE').fetchone()[0])\n"
        "except sqlite3.OperationalError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True).stdout.strip()
    assert out == "database is locked", f"another process took the catalog exclusively under an open connection ({out})"


def test_an_overwrite_never_unlinks_a_file_while_another_writer_may_be_placing_the_same_name(ws: Workspace):
    """The replaced file of an overwrite is removed at once only when the lock proves no writer is between
    placing and committing (that writer may be placing a file of the very same name); else gc removes it."""
    old = ws.item("d", "k0").path
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with Workspace(ws.root).lock.shared():
            holding.set()
            release.wait(10)

    t = threading.Thread(target=other_writer)
    t.start()
    assert holding.wait(10)
    ws.put_detections("d", "k0", dets(9), overwrite=True)
    assert old.exists(), "unlinked while another writer held the lock"
    release.set()
    t.join()
    assert gc_files(ws, grace=0).removed == [old] and not old.exists()
    ws.put_detections("d", "k1", dets(8), overwrite=True)  # nobody else writing: removed at once
    assert len(payload(ws)) == 5
