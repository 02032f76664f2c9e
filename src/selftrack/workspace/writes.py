"""Writing items: staging, atomic placement, all-or-nothing batches, commit guards and journal lines.

The write protocol (why each step): the payload is staged in ``tmp/`` (same filesystem) and fsynced; under
the workspace lock's shared side it is renamed into ``items/<dataset id>/`` under a name holding its hash
(never over a file a row points at), and its row is committed in one transaction that also appends the
dataset's journal line; the lock is released after the commit. A crash leaves the old item or the new one,
never half of one, and ``gc`` (exclusive side) never mistakes a placed-but-uncommitted file for an orphan.
:meth:`ItemWriter.batch` stretches the same protocol over many items (imports): one commit at the end.

``ItemWriter`` is the item-writing half of :class:`~selftrack.workspace.store.Workspace` (a mixin), kept in
its own module so the catalog and its reads stay readable.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from selftrack.core.detections import Detections
from selftrack.core.errors import StoreError
from selftrack.workspace import journal
from selftrack.workspace.lock import WorkspaceLock
from selftrack.workspace.types import Dataset, Item, check_key, file_stem, sha256_file, write_npz

if TYPE_CHECKING:
    pass

CommitGuard = Callable[[sqlite3.Connection], None]
"""Called inside a write transaction just before item rows are committed; raising aborts the commit (a pool
worker uses it to refuse committing once its job is no longer running, see ``pipeline/executors.py``)."""


def host_tag() -> str:
    import re
    import socket

    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


HOST = host_tag()
"""This host's name as it appears in ``tmp/`` entry names (``<host>.<pid>.*``): no dots, so names parse."""


@dataclass
class _Row:
    """An item row about to be committed; its file is already in place under ``items/``."""

    dataset_id: int
    key: str
    format: str
    metadata: str
    file: str
    size: int
    sha256: str
    overwrite: bool


@dataclass
class _Batch:
    rows: list[_Row] = field(default_factory=list)
    keys: set[tuple[int, str]] = field(default_factory=set)


class ItemWriter:
    """Item writes of a workspace (mixed into :class:`~selftrack.workspace.store.Workspace`)."""

    root: Path
    lock: WorkspaceLock
    commit_guard: CommitGuard | None
    _local: threading.local

    if TYPE_CHECKING:  # provided by Workspace

        @property
        def db(self) -> sqlite3.Connection: ...
        def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...
        def check_writable(self, what: str) -> None: ...
        def dataset(self, name: str) -> Dataset: ...
        def dataset_by_id(self, ds_id: int) -> Dataset: ...
        def dataset_folder(self, ds_id: int) -> Path: ...
        def find_item(self, dataset: str, key: str) -> Item | None: ...
        def item(self, dataset: str, key: str) -> Item: ...
        def _refresh_hash(self, db: sqlite3.Connection, ds_id: int) -> str: ...

    def staging_name(self, what: str = "") -> str:
        """Prefix of a ``tmp/`` entry: ``<host>.<pid>.`` tells gc whether its writer still runs."""
        return f"{HOST}.{os.getpid()}.{what}"

    @contextlib.contextmanager
    def staging_path(self, suffix: str = "") -> Iterator[Path]:
        """A temp path on the workspace's filesystem; removed afterwards unless it was moved away."""
        self.check_writable("write to it")
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix=self.staging_name(), suffix=suffix)
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def staging_dir(self, what: str = "") -> tempfile.TemporaryDirectory[str]:
        """A temp folder on the workspace's filesystem (removed on exit; gc removes it if its owner died)."""
        self.check_writable("write to it")
        return tempfile.TemporaryDirectory(dir=self.root / "tmp", prefix=self.staging_name(what))

    def _batch(self) -> _Batch | None:
        return getattr(self._local, "batch", None)

    @contextlib.contextmanager
    def batch(self, *, done: Iterable[str] = ()) -> Iterator[None]:
        """All-or-nothing writes: items this thread puts inside the block are committed together at its end.

        Files are placed as they come (under the lock's shared side, held for the whole block), rows are
        committed in one transaction when the block exits, and datasets named in ``done`` are marked done in
        that same transaction. An exception or a kill before that commits nothing (placed files become
        orphans for ``gc``). Imports use it: a killed import never leaves half a dataset behind.
        """
        if self._batch() is not None:
            yield
            return
        batch = self._local.batch = _Batch()
        old: list[str] = []
        try:
            with self.lock.shared(what="import"):
                yield
                self._local.batch = None
                old = self._commit_rows(batch.rows, done=list(done))
        except BaseException:
            self._unlink_unreferenced([r.file for r in batch.rows])  # placed, never committed
            raise
        finally:
            self._local.batch = None
        self._unlink_unreferenced(old)

    def put_file(
        self,
        dataset: str,
        key: str,
        src: str | os.PathLike[str],
        *,
        format: str | None = None,
        metadata: dict[str, Any] | None = None,
        move: bool = False,
        link: bool = False,
        overwrite: bool = False,
        sha256: str | None = None,
    ) -> Item:
        """Add (or replace, with ``overwrite``) an item whose payload is the file ``src``.

        ``move`` renames ``src`` (it must be on the workspace filesystem, e.g. from :meth:`staging_path`)
        instead of copying it. ``link`` hard-links it (for items passed through unchanged by ops such as
        sample or split: no copy of a video, and deleting one item never breaks the other). ``sha256``
        skips hashing when the caller already knows the digest (e.g. the source item's).
        """
        check_key(key)
        self.check_writable(f"add {dataset}/{key}")
        ds = self.dataset(dataset)
        src = Path(src)
        if not src.is_file():
            raise StoreError(f"cannot add {dataset}/{key}: {src} is not a file")
        fmt = (format or src.suffix.lstrip(".") or "bin").lower()
        batch = self._batch()
        if not overwrite and (self.find_item(dataset, key) is not None or (batch and (ds.id, key) in batch.keys)):
            raise StoreError(f"dataset {dataset!r} already has an item {key!r} (use overwrite)")
        # Stage: copy into tmp/ (same filesystem) and fsync, so the final rename is atomic.
        with self.staging_path(suffix="." + fmt) as staged:
            if move:
                os.replace(src, staged)
            elif link:
                staged.unlink()
                try:
                    os.link(src, staged)
                except OSError:  # another filesystem: fall back to a copy
                    shutil.copyfile(src, staged)
            else:
                shutil.copyfile(src, staged)
            if not link:
                with open(staged, "rb+") as f:
                    os.fsync(f.fileno())
            digest = sha256 or sha256_file(staged)
            rel = Path("items") / str(ds.id) / f"{file_stem(key)}.{digest[:12]}.{fmt}"
            final = self.root / rel
            meta = json.dumps(metadata or {}, sort_keys=True)
            row = _Row(ds.id, key, fmt, meta, str(rel), staged.stat().st_size, digest, overwrite)
            placed = False
            try:
                with self.lock.shared(what=f"add {dataset}/{key}"):
                    final.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(staged, final)
                    placed = True
                    if batch is not None:  # committed when the batch ends
                        batch.rows.append(row)
                        batch.keys.add((ds.id, key))
                        return Item(dataset, key, fmt, json.loads(meta), final, row.size, digest)
                    old = self._commit_rows([row])
            except BaseException:
                if placed and batch is None:
                    self._unlink_unreferenced([row.file])  # placed, never committed
                raise
        self._unlink_unreferenced(old)
        return self.item(dataset, key)

    def _commit_rows(self, rows: list[_Row], *, done: Iterable[str] = ()) -> list[str]:
        """Insert rows (their files are in place) in one transaction; returns the files they replaced."""
        old: list[str] = []
        now = time.time()
        with self.transaction() as db:
            if self.commit_guard is not None and rows:
                self.commit_guard(db)
            records: dict[int, list[dict[str, Any]]] = {}
            for row in rows:
                if db.execute("SELECT 1 FROM datasets WHERE id = ?", (row.dataset_id,)).fetchone() is None:
                    raise StoreError(f"cannot add item {row.key!r}: its dataset was deleted meanwhile")
                prev = db.execute(
                    "SELECT file FROM items WHERE dataset_id = ? AND key = ?", (row.dataset_id, row.key)
                ).fetchone()
                if prev is not None:
                    if not row.overwrite:
                        name = self.dataset_by_id(row.dataset_id).name
                        raise StoreError(f"dataset {name!r} already has an item {row.key!r} (use overwrite)")
                    if prev["file"] != row.file:
                        old.append(prev["file"])
                db.execute(
                    "INSERT OR REPLACE INTO items(dataset_id, key, format, metadata, file, size, sha256, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (row.dataset_id, row.key, row.format, row.metadata, row.file, row.size, row.sha256, now),
                )
                records.setdefault(row.dataset_id, []).append(
                    journal.put_record(row.key, row.file, row.format, row.size, row.sha256, row.metadata)
                )
            for ds_id in records:
                self._refresh_hash(db, ds_id)
            for name in done:
                db.execute("UPDATE datasets SET done = 1, updated_at = ? WHERE name = ?", (now, name))
            for ds_id, recs in records.items():  # last: a journal line only for a transaction about to commit
                journal.append(self.dataset_folder(ds_id), recs)
        return old

    def _unlink_unreferenced(self, files: list[str]) -> None:
        """Remove files an overwrite or a delete left unreferenced, if that is safe right now, else leave them to gc.

        Another writer may have just placed a file of the same name (same key stem, same content) and be about
        to commit it: unlinking it then would lose that item. Holding the lock's exclusive side proves that no
        writer is between placing and committing; when the lock is busy the files wait for ``gc``.
        """
        if not files:
            return
        try:
            with self.lock.exclusive(timeout=0, what="remove replaced files"):
                for rel in files:  # two keys with the same stem and content share a file name: keep it while used
                    if self.db.execute("SELECT 1 FROM items WHERE file = ?", (rel,)).fetchone() is None:
                        (self.root / rel).unlink(missing_ok=True)
        except StoreError:
            pass  # writers are busy: gc removes these files once they are older than its grace period

    def put_detections(
        self,
        dataset: str,
        key: str,
        detections: Detections,
        *,
        overwrite: bool = False,
        extra_metadata: dict[str, Any] | None = None,
    ) -> Item:
        """Store detections/tracks as ``.npz`` arrays; canvas, classes and frame count go in the metadata."""
        detections.validate()
        with self.staging_path(suffix=".npz") as staged:
            write_npz(staged, detections.to_arrays())
            meta = {**(extra_metadata or {}), "detections": detections.metadata()}
            return self.put_file(dataset, key, staged, format="npz", metadata=meta, move=True, overwrite=overwrite)

    def delete_item(self, dataset: str, key: str) -> None:
        ds = self.dataset(dataset)
        with self.transaction() as db:
            row = db.execute("SELECT file FROM items WHERE dataset_id = ? AND key = ?", (ds.id, key)).fetchone()
            if row is None:
                raise StoreError(f"dataset {dataset!r} has no item {key!r}")
            db.execute("DELETE FROM items WHERE dataset_id = ? AND key = ?", (ds.id, key))
            self._refresh_hash(db, ds.id)
            journal.append(self.dataset_folder(ds.id), [{"op": "del", "key": key}])
        self._unlink_unreferenced([row["file"]])
