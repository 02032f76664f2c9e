"""The workspace store: an SQLite catalog of datasets and items, with item payloads as files.

Layout of a workspace folder::

    selftrack.sqlite            catalog (WAL mode): datasets, items (+ pipeline tables, added by higher layers)
    selftrack.lock              the workspace lock (writers: shared, gc: exclusive; see lock.py)
    items/<dataset id>/         payload files, named ``<key>.<hash12>.<ext>``, plus the dataset's
                                ``.dataset.json`` and ``.journal.jsonl`` (see journal.py)
    tmp/                        staging area for atomic writes (same filesystem as items/), entries named
                                ``<host>.<pid>.*`` so gc knows whether their writer still runs

Why this shape (and not SkyhookML's): SkyhookML kept one SQLite file per dataset plus a global one and hashed a
source dataset by its *name*, so adding items never invalidated cached outputs. Here one catalog holds
everything, each item records the sha256 of its payload, and a dataset's ``content_hash`` is a hash over its
(key, item hash, metadata) triples, updated in the same transaction as the item. Pipeline caching keys on it.

Atomicity: a payload is written to ``tmp/``, fsynced, renamed into ``items/`` under a name that contains its
hash (so it never overwrites the file an existing row points at), and only then is the row inserted or
updated, in one transaction; the writer holds the workspace lock's shared side from the rename to the
commit, so ``gc`` never takes a placed-but-uncommitted file for an orphan. A crash at any point leaves
either the old item or the new one visible, never a half-written file. :meth:`Workspace.batch` makes a
whole import all-or-nothing the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selftrack.core.errors import StoreError
from selftrack.workspace import journal
from selftrack.workspace.catalog import (
    CATALOG_NAME,
    CatalogError,
    connect,
    ensure_schema,
    inspect_file,
    inspect_open,
    is_read_only,
    payload_files,
    tables,
    way_out,
)
from selftrack.workspace.lock import WorkspaceLock
from selftrack.workspace.types import (
    EMPTY_HASH,
    NAME_RE,
    Dataset,
    DatasetKind,
    DataType,
    Item,
    check_key,
    sha256_file,
    write_npz,
)
from selftrack.workspace.writes import HOST, CommitGuard, ItemWriter

__all__ = [
    "CATALOG_NAME",
    "DataType",
    "Dataset",
    "DatasetKind",
    "Item",
    "Workspace",
    "check_key",
    "sha256_file",
    "write_npz",
]

SCHEMA_VERSION = 1

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    content_hash TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    format TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{{}}',
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (dataset_id, key)
);
INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', '{SCHEMA_VERSION}');
"""


class Workspace(ItemWriter):
    """A folder holding a catalog and the payload files of its datasets.

    Safe to open from several processes at once (SQLite WAL, one connection per thread, writes in
    ``BEGIN IMMEDIATE`` transactions), which is what the pipeline's worker processes do. Opening never writes
    to an existing catalog, so read-only workspaces (archives, shared mounts) can be browsed; a damaged
    catalog next to item files is refused with a :class:`~selftrack.workspace.catalog.CatalogError`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        create: bool = False,
        read_only: bool | None = None,
        recover: bool = False,
    ) -> None:
        self.root = Path(root).resolve()
        self.lock = WorkspaceLock(self.root)
        self.commit_guard: CommitGuard | None = None
        self._local = threading.local()
        self._schemas: list[str] = [_SCHEMA]
        catalog = self.root / CATALOG_NAME
        if not catalog.exists():
            if not recover and payload_files(self.root, limit=1):
                raise CatalogError(way_out(self.root, "is missing", len(payload_files(self.root))))
            if not create:
                raise StoreError(f"{self.root} is not a selftrack workspace (no {CATALOG_NAME}); run `selftrack init`")
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # a file of that name, a read-only or missing parent: one line, no traceback
                what = "it is a file" if self.root.is_file() else (exc.strerror or str(exc))
                raise StoreError(f"cannot create the workspace folder {self.root}: {what}") from None
        else:
            problem = inspect_file(catalog)
            files = len(payload_files(self.root)) if problem else 0
            if problem and (files or problem != "is empty (0 bytes)"):
                raise CatalogError(way_out(self.root, problem, files))
        self.read_only = is_read_only(self.root) if read_only is None else read_only
        if not self.read_only:
            (self.root / "items").mkdir(exist_ok=True)
            (self.root / "tmp").mkdir(exist_ok=True)
        try:
            problem = None if recover else inspect_open(self.db, catalog)
            if problem:
                raise CatalogError(way_out(self.root, problem, len(payload_files(self.root))))
            present = tables(self.db)
            if not {"meta", "datasets", "items"} <= present:
                files = 0 if recover else len(payload_files(self.root))
                if files:
                    raise CatalogError(way_out(self.root, "holds no selftrack catalog tables", files))
                if self.read_only:
                    raise StoreError(f"{self.root}: the catalog is empty and the workspace is read-only")
            ensure_schema(self.db, _SCHEMA, read_only=self.read_only)
            row = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except CatalogError:
            self.close()
            raise
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CatalogError(way_out(self.root, f"cannot be read ({exc})", len(payload_files(self.root)))) from None
        if row is not None and int(row[0]) > SCHEMA_VERSION:
            raise StoreError(f"{catalog}: catalog version {row[0]} is newer than this selftrack's ({SCHEMA_VERSION})")

    # ------------------------------------------------------------------ connection / transactions
    @classmethod
    def init(cls, root: str | os.PathLike[str]) -> Workspace:
        """Create (or open) a workspace folder."""
        return cls(root, create=True)

    @property
    def catalog_path(self) -> Path:
        return self.root / CATALOG_NAME

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or getattr(self._local, "pid", None) != os.getpid():
            conn = connect(self.catalog_path, read_only=self.read_only)
            self._local.conn = conn
            self._local.pid = os.getpid()
            if self.read_only:  # temp stand-ins for tables this workspace never created (per connection)
                for schema in self._schemas[1:]:
                    ensure_schema(conn, schema, read_only=True)
        return conn

    def ensure_schema(self, schema: str) -> None:
        """Create missing tables of a higher layer (pipeline, jobs) without writing when none is missing."""
        if schema not in self._schemas:
            self._schemas.append(schema)
        ensure_schema(self.db, schema, read_only=self.read_only)

    def check_writable(self, what: str) -> None:
        if self.read_only:
            raise StoreError(f"cannot {what}: the workspace {self.root} is read-only")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: takes the write lock up front, no upgrade deadlocks)."""
        db = self.db
        if db.in_transaction:  # nested: join the outer transaction
            yield db
            return
        self.check_writable("write to it")
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({str(self.root)!r})"

    # ------------------------------------------------------------------ datasets
    @staticmethod
    def _dataset_from_row(row: sqlite3.Row) -> Dataset:
        return Dataset(
            id=row["id"],
            name=row["name"],
            data_type=DataType(row["data_type"]),
            kind=DatasetKind(row["kind"]),
            metadata=json.loads(row["metadata"]),
            content_hash=row["content_hash"],
            done=bool(row["done"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )

    def dataset_folder(self, ds_id: int) -> Path:
        return self.root / "items" / str(ds_id)

    def _write_manifest(self, ds: Dataset) -> None:
        manifest = {"id": ds.id, "name": ds.name, "data_type": ds.data_type.value, "kind": ds.kind.value}
        journal.write_manifest(self.dataset_folder(ds.id), {**manifest, "metadata": ds.metadata})

    def create_dataset(
        self,
        name: str,
        data_type: DataType | str,
        *,
        kind: DatasetKind | str = DatasetKind.SOURCE,
        metadata: dict[str, Any] | None = None,
        exist_ok: bool = False,
        done: bool = True,
    ) -> Dataset:
        """Create an empty dataset. ``exist_ok`` returns an existing one of the same type instead.

        ``done=False`` for a dataset whose first items are still to come (an import: it becomes done when
        the import commits, so an interrupted first import leaves an empty dataset marked not done).
        """
        data_type = DataType(data_type)
        if not NAME_RE.match(name):
            raise StoreError(f"invalid dataset name {name!r}: start with a letter or digit, at most 200 characters")
        existing = self.find_dataset(name)
        if existing is not None:
            if exist_ok and existing.data_type == data_type:
                return existing
            raise StoreError(f"dataset {name!r} already exists (type {existing.data_type})")
        now = time.time()
        # The folder and its manifest exist before the row commits: hold the lock's shared side so a gc beside
        # us (which removes folders of no committed dataset) cannot take them away in between.
        with self.lock.shared(what=f"create dataset {name}"), self.transaction() as db:
            cur = db.execute(
                "INSERT INTO datasets(name, data_type, kind, metadata, content_hash, done, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name,
                    data_type.value,
                    DatasetKind(kind).value,
                    json.dumps(metadata or {}),
                    EMPTY_HASH,
                    int(done),
                    now,
                    now,
                ),
            )
            folder = self.dataset_folder(int(cur.lastrowid))
            if folder.exists():  # left by a dataset deleted with this id whose files were not all removed
                os.replace(folder, self.root / "tmp" / f"{HOST}.0.stale-{folder.name}-{os.urandom(4).hex()}")
            folder.mkdir(parents=True)
            ds = self._dataset_from_row(db.execute("SELECT * FROM datasets WHERE id = ?", (cur.lastrowid,)).fetchone())
            self._write_manifest(ds)
        return ds

    def find_dataset(self, name: str) -> Dataset | None:
        row = self.db.execute("SELECT * FROM datasets WHERE name = ?", (name,)).fetchone()
        return self._dataset_from_row(row) if row else None

    def dataset(self, name: str) -> Dataset:
        ds = self.find_dataset(name)
        if ds is None:
            known = ", ".join(d.name for d in self.datasets()) or "none"
            raise StoreError(f"no dataset named {name!r} in {self.root} (datasets: {known})")
        return ds

    def dataset_by_id(self, ds_id: int) -> Dataset:
        row = self.db.execute("SELECT * FROM datasets WHERE id = ?", (ds_id,)).fetchone()
        if row is None:
            raise StoreError(f"no dataset with id {ds_id}")
        return self._dataset_from_row(row)

    def datasets(self) -> list[Dataset]:
        return [self._dataset_from_row(r) for r in self.db.execute("SELECT * FROM datasets ORDER BY name")]

    def update_dataset_metadata(self, name: str, **changes: Any) -> Dataset:
        ds = self.dataset(name)
        meta = {**ds.metadata, **changes}
        with self.transaction() as db:
            db.execute(
                "UPDATE datasets SET metadata = ?, updated_at = ? WHERE id = ?", (json.dumps(meta), time.time(), ds.id)
            )
            ds = self.dataset_by_id(ds.id)
            self._write_manifest(ds)
        return ds

    def set_done(self, name: str, done: bool) -> None:
        """A computed dataset is marked done only once every item of its run was written."""
        with self.transaction() as db:
            db.execute("UPDATE datasets SET done = ?, updated_at = ? WHERE name = ?", (int(done), time.time(), name))

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset, its items and its files (the folder is marked deleted first, for crash safety)."""
        ds = self.dataset(name)
        folder = self.dataset_folder(ds.id)
        if folder.is_dir():
            (folder / ".deleted").write_text(name)
        with self.transaction() as db:
            db.execute("DELETE FROM items WHERE dataset_id = ?", (ds.id,))
            db.execute("DELETE FROM datasets WHERE id = ?", (ds.id,))
        shutil.rmtree(folder, ignore_errors=True)

    def _refresh_hash(self, db: sqlite3.Connection, ds_id: int) -> str:
        h = hashlib.sha256()
        any_row = False
        for row in db.execute("SELECT key, sha256, metadata FROM items WHERE dataset_id = ? ORDER BY key", (ds_id,)):
            any_row = True
            h.update(row["key"].encode() + b"\0" + row["sha256"].encode() + b"\0")
            h.update(hashlib.sha256(row["metadata"].encode()).digest())
        digest = h.hexdigest() if any_row else EMPTY_HASH
        db.execute("UPDATE datasets SET content_hash = ?, updated_at = ? WHERE id = ?", (digest, time.time(), ds_id))
        return digest

    # ------------------------------------------------------------------ items
    def _item_from_row(self, ds: Dataset, row: sqlite3.Row) -> Item:
        return Item(
            dataset=ds.name,
            key=row["key"],
            format=row["format"],
            metadata=json.loads(row["metadata"]),
            path=self.root / row["file"],
            size=row["size"],
            sha256=row["sha256"],
        )

    def items(self, dataset: str) -> list[Item]:
        ds = self.dataset(dataset)
        rows = self.db.execute("SELECT * FROM items WHERE dataset_id = ? ORDER BY key", (ds.id,))
        return [self._item_from_row(ds, r) for r in rows]

    def keys(self, dataset: str) -> list[str]:
        ds = self.dataset(dataset)
        return [r[0] for r in self.db.execute("SELECT key FROM items WHERE dataset_id = ? ORDER BY key", (ds.id,))]

    def find_item(self, dataset: str, key: str) -> Item | None:
        ds = self.dataset(dataset)
        row = self.db.execute("SELECT * FROM items WHERE dataset_id = ? AND key = ?", (ds.id, key)).fetchone()
        return self._item_from_row(ds, row) if row else None

    def item(self, dataset: str, key: str) -> Item:
        it = self.find_item(dataset, key)
        if it is None:
            raise StoreError(f"dataset {dataset!r} has no item {key!r}")
        return it
