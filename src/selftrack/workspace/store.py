"""The workspace store: an SQLite catalog of datasets and items, with item payloads as files.

Layout of a workspace folder::

    selftrack.sqlite            catalog (WAL mode): datasets, items (+ pipeline tables, added by higher layers)
    items/<dataset id>/         payload files, named ``<key>.<hash12>.<ext>``
    tmp/                        staging area for atomic writes (same filesystem as items/)

Why this shape (and not SkyhookML's): SkyhookML kept one SQLite file per dataset plus a global one and hashed a
source dataset by its *name*, so adding items never invalidated cached outputs. Here one catalog holds
everything, each item records the sha256 of its payload, and a dataset's ``content_hash`` is a hash over its
(key, item hash) pairs, updated in the same transaction as the item. Pipeline caching keys on that hash.

Atomicity: a payload is written to ``tmp/``, fsynced, renamed into ``items/`` under a name that contains its
hash (so it never overwrites the file an existing row points at), and only then is the row inserted or
updated, in one transaction. A crash at any point leaves either the old item or the new one visible, never a
half-written file; stray files are removed by :meth:`Workspace.gc_files`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import StoreError
from selftrack.core.video_info import VideoInfo

CATALOG_NAME = "selftrack.sqlite"
SCHEMA_VERSION = 1


class DataType(StrEnum):
    """Kinds of dataset. ``tracks`` is ``detections`` with track ids: every op that takes detections takes it."""

    VIDEO = "video"
    DETECTIONS = "detections"
    TRACKS = "tracks"
    IMAGE = "image"
    FILE = "file"
    MODEL = "model"

    def accepts(self, other: DataType) -> bool:
        """Whether a dataset of type ``other`` can feed an input declared as ``self``."""
        return self == other or (self == DataType.DETECTIONS and other == DataType.TRACKS)


class DatasetKind(StrEnum):
    SOURCE = "source"  # imported by the user
    COMPUTED = "computed"  # output of a pipeline node


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS datasets (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    data_type TEXT NOT NULL,
    kind TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    content_hash TEXT NOT NULL,
    done INTEGER NOT NULL DEFAULT 1,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    format TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    file TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (dataset_id, key)
);
"""

_EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_KEY_RE = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-\[\]():+@]{0,199}$")


def check_key(key: str) -> str:
    """Item keys are strings (SkyhookML: the file name without extension); no path separators."""
    if not isinstance(key, str) or not _KEY_RE.match(key) or key in (".", ".."):
        raise StoreError(f"invalid item key {key!r}: 1-200 characters, no '/', '\\' or control characters")
    return key


def _file_stem(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", key)[:80] or "item"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez`` with fixed zip timestamps, so equal arrays give byte-equal files (and equal hashes).

    ``np.savez`` stamps each member with the current time, which would change an item's hash, and every
    downstream cache key, when identical detections are written again.
    """
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for name in sorted(arrays):
            info = zipfile.ZipInfo(name + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(arrays[name]), allow_pickle=False)


@dataclass(frozen=True)
class Item:
    """One item of a dataset: a key, a payload file and its metadata (a snapshot of the catalog row)."""

    dataset: str
    key: str
    format: str
    metadata: dict[str, Any]
    path: Path
    size: int
    sha256: str

    @property
    def video_info(self) -> VideoInfo:
        if "video" not in self.metadata:
            raise StoreError(f"item {self.dataset}/{self.key} is not a video")
        return VideoInfo.from_dict({**self.metadata["video"], "path": str(self.path)})

    def load_detections(self) -> Detections:
        """Detections/tracks payload (``.npz`` arrays + metadata kept in the catalog)."""
        if self.format != "npz":
            raise StoreError(f"item {self.dataset}/{self.key} holds {self.format!r}, not detections")
        with np.load(self.path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return Detections.from_arrays(arrays, self.metadata.get("detections", {}), source=f"{self.dataset}/{self.key}")


@dataclass(frozen=True)
class Dataset:
    """A dataset row (snapshot). Methods that change it go through the workspace."""

    id: int
    name: str
    data_type: DataType
    kind: DatasetKind
    metadata: dict[str, Any]
    content_hash: str
    done: bool
    created_at: float
    updated_at: float


class Workspace:
    """A folder holding a catalog and the payload files of its datasets.

    Safe to open from several processes at once (SQLite WAL, one connection per thread, writes in
    ``BEGIN IMMEDIATE`` transactions), which is what the pipeline's worker processes do.
    """

    def __init__(self, root: str | os.PathLike[str], *, create: bool = False) -> None:
        self.root = Path(root).resolve()
        catalog = self.root / CATALOG_NAME
        if not catalog.exists():
            if not create:
                raise StoreError(f"{self.root} is not a selftrack workspace (no {CATALOG_NAME}); run `selftrack init`")
            self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "items").mkdir(exist_ok=True)
        (self.root / "tmp").mkdir(exist_ok=True)
        self._local = threading.local()
        self._init_schema()

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
            conn = sqlite3.connect(self.catalog_path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = conn
            self._local.pid = os.getpid()
        return conn

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: takes the write lock up front, no upgrade deadlocks)."""
        db = self.db
        if db.in_transaction:  # nested: join the outer transaction
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    def _init_schema(self) -> None:
        with self.transaction() as db:
            for stmt in _SCHEMA.strip().split(";"):
                if stmt.strip():
                    db.execute(stmt)
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

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

    def create_dataset(
        self,
        name: str,
        data_type: DataType | str,
        *,
        kind: DatasetKind | str = DatasetKind.SOURCE,
        metadata: dict[str, Any] | None = None,
        exist_ok: bool = False,
    ) -> Dataset:
        """Create an empty dataset. ``exist_ok`` returns an existing one of the same type instead."""
        data_type = DataType(data_type)
        if not _NAME_RE.match(name):
            raise StoreError(f"invalid dataset name {name!r}: start with a letter or digit, at most 200 characters")
        existing = self.find_dataset(name)
        if existing is not None:
            if exist_ok and existing.data_type == data_type:
                return existing
            raise StoreError(f"dataset {name!r} already exists (type {existing.data_type})")
        now = time.time()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO datasets(name, data_type, kind, metadata, content_hash, done, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 1, ?, ?)",
                (name, data_type.value, DatasetKind(kind).value, json.dumps(metadata or {}), _EMPTY_HASH, now, now),
            )
            ds_id = cur.lastrowid
        (self.root / "items" / str(ds_id)).mkdir(parents=True, exist_ok=True)
        return self.dataset(name)

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
        return self.dataset(name)

    def set_done(self, name: str, done: bool) -> None:
        """A computed dataset is marked done only once every item of its run was written."""
        with self.transaction() as db:
            db.execute("UPDATE datasets SET done = ?, updated_at = ? WHERE name = ?", (int(done), time.time(), name))

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset, its items and its files."""
        ds = self.dataset(name)
        with self.transaction() as db:
            db.execute("DELETE FROM items WHERE dataset_id = ?", (ds.id,))
            db.execute("DELETE FROM datasets WHERE id = ?", (ds.id,))
        shutil.rmtree(self.root / "items" / str(ds.id), ignore_errors=True)

    def _refresh_hash(self, db: sqlite3.Connection, ds_id: int) -> str:
        h = hashlib.sha256()
        for row in db.execute("SELECT key, sha256, metadata FROM items WHERE dataset_id = ? ORDER BY key", (ds_id,)):
            h.update(row["key"].encode() + b"\0" + row["sha256"].encode() + b"\0")
            h.update(hashlib.sha256(row["metadata"].encode()).digest())
        digest = (
            h.hexdigest()
            if db.execute("SELECT 1 FROM items WHERE dataset_id = ?", (ds_id,)).fetchone()
            else _EMPTY_HASH
        )
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

    @contextlib.contextmanager
    def staging_path(self, suffix: str = "") -> Iterator[Path]:
        """A temp path on the workspace's filesystem; removed afterwards unless it was moved away."""
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", suffix=suffix)
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

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
        ds = self.dataset(dataset)
        src = Path(src)
        if not src.is_file():
            raise StoreError(f"cannot add {dataset}/{key}: {src} is not a file")
        fmt = (format or src.suffix.lstrip(".") or "bin").lower()
        if not overwrite and self.find_item(dataset, key) is not None:
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
            rel = Path("items") / str(ds.id) / f"{_file_stem(key)}.{digest[:12]}.{fmt}"
            final = self.root / rel
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, final)
        size = final.stat().st_size
        old_file: str | None = None
        with self.transaction() as db:
            row = db.execute("SELECT file FROM items WHERE dataset_id = ? AND key = ?", (ds.id, key)).fetchone()
            if row is not None:
                if not overwrite:
                    raise StoreError(f"dataset {dataset!r} already has an item {key!r} (use overwrite)")
                old_file = row["file"]
            db.execute(
                "INSERT OR REPLACE INTO items(dataset_id, key, format, metadata, file, size, sha256, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (ds.id, key, fmt, json.dumps(metadata or {}, sort_keys=True), str(rel), size, digest, time.time()),
            )
            self._refresh_hash(db, ds.id)
        if old_file and old_file != str(rel):
            (self.root / old_file).unlink(missing_ok=True)
        return self.item(dataset, key)

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
        (self.root / row["file"]).unlink(missing_ok=True)

    # ------------------------------------------------------------------ maintenance
    def gc_files(self) -> list[Path]:
        """Delete payload files no catalog row points at (left by a crash between rename and commit)."""
        known = {r[0] for r in self.db.execute("SELECT file FROM items")}
        removed: list[Path] = []
        for path in (self.root / "items").rglob("*"):
            if path.is_file() and str(path.relative_to(self.root)) not in known:
                path.unlink()
                removed.append(path)
        for path in (self.root / "tmp").iterdir():
            if path.is_file() and time.time() - path.stat().st_mtime > 3600:
                path.unlink()
                removed.append(path)
        return removed
