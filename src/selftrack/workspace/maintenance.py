"""Workspace maintenance: ``gc`` of unreferenced files, and ``check`` / ``check --repair``.

``gc`` follows Git's rules: it runs under the workspace lock's exclusive side (writers hold the shared side
while they have placed-but-uncommitted files, see lock.py), and removes only files that no catalog row
references, that no dataset journal vouches for, and that are older than a grace period (default one hour;
the lock makes the grace period a second line of defence, for filesystems whose locks are per client).
Staging entries under ``tmp/`` are named ``<host>.<pid>.*``: those of a dead process on this host go at once,
others after the grace period.

``check`` verifies every item (file present, size and sha256 as recorded), and lists files no row references
(orphans), journal-vouched files the catalog lacks, staging leftovers and datasets not marked done.
``check --repair`` re-registers what can be proven (a file whose content hashes to what a journal or a row
records) and drops rows whose file is gone for good (a computed dataset is then marked not done, so the next
run recomputes the item; a source item is reported as lost). A catalog that is missing, empty, truncated or
corrupt is moved aside and rebuilt from the dataset folders' ``.dataset.json`` and journals.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from selftrack.core.errors import StoreError
from selftrack.workspace import journal
from selftrack.workspace.catalog import CATALOG_NAME, CatalogError
from selftrack.workspace.store import HOST, Workspace
from selftrack.workspace.types import Dataset, DatasetKind, sha256_file

DEFAULT_GRACE = 3600.0
"""Seconds an unreferenced file must be old before ``gc`` removes it (Git keeps loose objects two weeks;
here writers are also excluded by the lock, so an hour covers clocks and per-client NFS locks)."""


def pid_alive(pid: int) -> bool:
    """Whether a process of this host exists (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def staging_owner_alive(name: str) -> bool | None:
    """For a ``tmp/`` entry named ``<host>.<pid>.*``: whether its writer runs; ``None`` when unknown."""
    parts = name.split(".", 2)
    if len(parts) < 3 or not parts[1].isdigit() or parts[0] != HOST:
        return None
    return pid_alive(int(parts[1]))


def _age(path: Path, now: float) -> float:
    st = path.lstat()
    return now - max(st.st_mtime, st.st_ctime)  # ctime: a hard link or a rename makes an old file young again


@dataclass
class GcReport:
    removed: list[Path] = field(default_factory=list)
    bytes_freed: int = 0
    kept_young: int = 0
    kept_vouched: list[Path] = field(default_factory=list)


def gc_files(ws: Workspace, *, grace: float = DEFAULT_GRACE, dry_run: bool = False) -> GcReport:
    """Remove unreferenced item files and dead staging entries older than ``grace`` (under the exclusive lock)."""
    ws.check_writable("collect garbage")
    with ws.lock.exclusive(what="gc"):
        return gc_files_locked(ws, grace, dry_run)


def gc_files_locked(ws: Workspace, grace: float, dry_run: bool) -> GcReport:
    report = GcReport()
    now = time.time()
    known = {r[0] for r in ws.db.execute("SELECT file FROM items")}
    live = {int(r[0]) for r in ws.db.execute("SELECT id FROM datasets")}

    def remove(path: Path) -> None:
        report.removed.append(path)
        if dry_run:
            return
        size = path.lstat().st_size if path.exists() else 0
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        report.bytes_freed += size

    items = ws.root / "items"
    for folder in sorted(items.iterdir()) if items.is_dir() else []:
        if not folder.is_dir():
            if _age(folder, now) >= grace:
                remove(folder)
            continue
        is_live = folder.name.isdigit() and int(folder.name) in live
        deleted = (folder / ".deleted").exists()
        if is_live and deleted and not dry_run:  # a delete that crashed before its commit: the dataset stays
            (folder / ".deleted").unlink(missing_ok=True)
        vouched = set() if (deleted and not is_live) else {r["file"] for r in journal.replay(folder).values()}
        remaining = 0
        for path in sorted(folder.iterdir()):
            if path.name.startswith("."):
                continue
            rel = f"items/{folder.name}/{path.name}"
            if rel in known:
                remaining += 1
            elif rel in vouched:
                report.kept_vouched.append(path)
                remaining += 1
            elif _age(path, now) < grace:
                report.kept_young += 1
                remaining += 1
            else:
                remove(path)
        if not is_live and remaining == 0:
            remove(folder)  # the manifest, journal and marker of a deleted dataset
        elif is_live and not dry_run:
            _compact_journal(ws, int(folder.name), folder, vouched - known)
    tmp = ws.root / "tmp"
    for entry in sorted(tmp.iterdir()) if tmp.is_dir() else []:
        alive = staging_owner_alive(entry.name)
        if alive is False or (alive is None and _age(entry, now) >= grace):
            remove(entry)
    return report


def _compact_journal(ws: Workspace, ds_id: int, folder: Path, unregistered: set[str]) -> None:
    """Rewrite a journal from the catalog when it has grown well past it (never while it vouches for a file
    the catalog lacks: that claim is evidence ``check --repair`` may need)."""
    path = folder / journal.JOURNAL
    if unregistered or not path.exists():
        return
    rows = ws.db.execute("SELECT * FROM items WHERE dataset_id = ? ORDER BY key", (ds_id,)).fetchall()
    with open(path, "rb") as f:
        lines = sum(1 for _ in f)
    if lines <= 2 * len(rows) + 16:
        return
    journal.rewrite(
        folder,
        [journal.put_record(r["key"], r["file"], r["format"], r["size"], r["sha256"], r["metadata"]) for r in rows],
    )


# ---------------------------------------------------------------------------------------------- check / repair
@dataclass
class CheckReport:
    """What ``selftrack check`` found and, with ``--repair``, what it did.

    ``missing``, ``damaged`` and ``unregistered`` are problems found; a repair handles each of them (listed
    in ``repaired``, or in ``lost`` when nothing could be proven). ``orphans`` and ``stale_staging`` are for
    information: ``gc`` removes them once older than its grace period.
    """

    catalog_problem: str | None = None
    items_checked: int = 0
    missing: list[str] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    stale_staging: list[str] = field(default_factory=list)
    not_done: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    repair_run: bool = False

    @property
    def ok(self) -> bool:
        """Nothing left to fix: after a repair, nothing lost; otherwise nothing found."""
        if self.repair_run:
            return not self.lost
        return not (self.catalog_problem or self.missing or self.damaged or self.unregistered)

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "ok": self.ok}


def _verify(path: Path, size: int, sha: str, full: bool) -> str | None:
    """``None`` when the file is what the row says; else what is wrong."""
    if not path.is_file():
        return "missing"
    if path.stat().st_size != size:
        return f"size {path.stat().st_size}, recorded {size}"
    if full and sha256_file(path) != sha:
        return "content differs from its recorded sha256"
    return None


def check_workspace(root: str | os.PathLike[str], *, repair: bool = False, hashes: bool = True) -> CheckReport:
    """Verify a workspace; with ``repair``, fix what can be proven (see the module docstring)."""
    root = Path(root).resolve()
    try:
        ws = Workspace(root)
    except CatalogError as exc:
        if not repair:
            report = CheckReport(catalog_problem=str(exc))
            report.unregistered = [f"{name}/{key}" for name, key in _recoverable(root, hashes)]
            return report
        return rebuild_catalog(root)
    try:
        if repair:
            ws.check_writable("repair it")
            with ws.lock.exclusive(what="check --repair", timeout=600):
                return _check(ws, repair=True, hashes=hashes)
        return _check(ws, repair=False, hashes=hashes)
    finally:
        ws.close()


def _check(ws: Workspace, *, repair: bool, hashes: bool) -> CheckReport:
    report = CheckReport(repair_run=repair)
    now = time.time()
    vouched: set[str] = set()
    for ds in ws.datasets():
        folder = ws.dataset_folder(ds.id)
        rows = ws.db.execute("SELECT * FROM items WHERE dataset_id = ? ORDER BY key", (ds.id,)).fetchall()
        for row in rows:
            report.items_checked += 1
            problem = _verify(ws.root / row["file"], row["size"], row["sha256"], hashes)
            if problem is not None:
                found = report.missing if problem == "missing" else report.damaged
                found.append(f"{ds.name}/{row['key']} ({row['file']}: {problem})")
                if repair:
                    _repair_item(ws, ds, row, folder, report)
        if repair and not folder.joinpath(journal.MANIFEST).exists():
            ws._write_manifest(ds)
        registered = {r["key"] for r in rows}
        for key, rec in sorted(journal.replay(folder).items()):
            if key in registered or _verify(ws.root / rec["file"], rec["size"], rec["sha256"], True) is not None:
                continue
            vouched.add(rec["file"])
            report.unregistered.append(f"{ds.name}/{key} ({rec['file']}: complete, vouched by the journal)")
            if repair:
                _register(ws, ds.id, rec)
                report.repaired.append(f"{ds.name}/{key}: re-registered from its journal (hash verified)")
    known = {r[0] for r in ws.db.execute("SELECT file FROM items")}
    for folder in sorted((ws.root / "items").iterdir()) if (ws.root / "items").is_dir() else []:
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            rel = f"items/{folder.name}/{path.name}"
            if not path.name.startswith(".") and rel not in known and rel not in vouched:
                report.orphans.append(f"{rel} ({_age(path, now) / 3600:.1f} h old)")
    for entry in sorted((ws.root / "tmp").iterdir()) if (ws.root / "tmp").is_dir() else []:
        if staging_owner_alive(entry.name) is False:
            report.stale_staging.append(f"tmp/{entry.name}")
            if repair:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
    report.not_done = [f"{ds.name} ({ds.kind.value})" for ds in ws.datasets() if not ds.done]
    return report


def _register(ws: Workspace, ds_id: int, rec: dict[str, Any]) -> None:
    with ws.transaction() as db:
        db.execute(
            "INSERT OR REPLACE INTO items(dataset_id, key, format, metadata, file, size, sha256, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                ds_id,
                rec["key"],
                rec["format"],
                json.dumps(rec["metadata"], sort_keys=True),
                rec["file"],
                rec["size"],
                rec["sha256"],
                time.time(),
            ),
        )
        ws._refresh_hash(db, ds_id)


def _repair_item(ws: Workspace, ds: Dataset, row: sqlite3.Row, folder: Path, report: CheckReport) -> None:
    """Point the row at another file of the dataset folder holding the same content, or drop it."""
    name = f"{ds.name}/{row['key']}"
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.name.split(".")[-2:-1] != [row["sha256"][:12]]:
            continue
        if path.stat().st_size == row["size"] and sha256_file(path) == row["sha256"]:
            rel = f"items/{folder.name}/{path.name}"
            with ws.transaction() as db:
                db.execute("UPDATE items SET file = ? WHERE dataset_id = ? AND key = ?", (rel, ds.id, row["key"]))
            report.repaired.append(f"{name}: now points at {rel} (same sha256)")
            return
    with ws.transaction() as db:
        db.execute("DELETE FROM items WHERE dataset_id = ? AND key = ?", (ds.id, row["key"]))
        ws._refresh_hash(db, ds.id)
        if ds.kind == DatasetKind.COMPUTED:
            db.execute("UPDATE datasets SET done = 0 WHERE id = ?", (ds.id,))
        journal.append(folder, [{"op": "del", "key": row["key"]}])
    if ds.kind == DatasetKind.COMPUTED:
        report.repaired.append(f"{name}: dropped; the next run of its node recomputes it")
    else:
        report.lost.append(f"{name}: its file is gone and no copy was found; import it again")


def _recoverable(root: Path, hashes: bool) -> list[tuple[str, str]]:
    """(dataset, key) of every journal item whose file is present (and, with ``hashes``, intact)."""
    out = []
    for folder in sorted((root / "items").iterdir()) if (root / "items").is_dir() else []:
        manifest = journal.read_manifest(folder) if folder.is_dir() else None
        if manifest is None or (folder / ".deleted").exists():
            continue
        for key, rec in sorted(journal.replay(folder).items()):
            if _verify(root / rec["file"], rec["size"], rec["sha256"], hashes) is None:
                out.append((manifest["name"], key))
    return out


def rebuild_catalog(root: Path) -> CheckReport:
    """Move a damaged catalog aside and rebuild datasets and items from the dataset folders (hash-verified)."""
    report = CheckReport(repair_run=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    catalog = root / CATALOG_NAME
    for suffix in ("", "-wal", "-shm"):
        path = root / (CATALOG_NAME + suffix)
        if path.exists():
            aside = root / f"{CATALOG_NAME}.damaged-{stamp}{suffix}"
            os.replace(path, aside)
            if not suffix:
                report.repaired.append(f"the damaged catalog was moved to {aside.name}")
    if catalog.exists():
        raise StoreError(f"{catalog}: could not move the damaged catalog aside")
    ws = Workspace(root, create=True, recover=True)
    with ws.lock.exclusive(what="check --repair", timeout=600):
        for folder in sorted((root / "items").iterdir()):
            manifest = journal.read_manifest(folder) if folder.is_dir() and folder.name.isdigit() else None
            if manifest is None or (folder / ".deleted").exists():
                continue
            kind = manifest.get("kind", "source")
            with ws.transaction() as db:
                db.execute(
                    "INSERT INTO datasets(id, name, data_type, kind, metadata, content_hash, done, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, '', ?, ?, ?)",
                    (
                        int(folder.name),
                        manifest["name"],
                        manifest["data_type"],
                        kind,
                        json.dumps(manifest.get("metadata") or {}),
                        int(kind == "source"),
                        time.time(),
                        time.time(),
                    ),
                )
            for key, rec in sorted(journal.replay(folder).items()):
                problem = _verify(root / rec["file"], rec["size"], rec["sha256"], True)
                if problem is None:
                    _register(ws, int(folder.name), rec)
                    report.items_checked += 1
                else:
                    report.lost.append(f"{manifest['name']}/{key} ({rec['file']}: {problem})")
            with ws.transaction() as db:
                ws._refresh_hash(db, int(folder.name))
            report.repaired.append(f"dataset {manifest['name']} ({kind}) rebuilt from its journal")
    report.not_done = [f"{ds.name} ({ds.kind.value})" for ds in ws.datasets() if not ds.done]
    report.repaired.append(
        "pipeline nodes and job history were only in the damaged catalog: recreate nodes with "
        "`selftrack run PIPELINE.yaml` (computed datasets are reused where their cache keys still match)"
    )
    return report
