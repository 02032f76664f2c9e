"""Opening the SQLite catalog safely: refuse a damaged one, read a read-only one, write no schema on open.

Why this care (issue 13): SQLite treats a zero-byte file as an empty database, so a catalog truncated by a
full disk or a bad copy used to open as an *empty workspace*, silently re-initialised, and ``gc`` then
deleted every item file as unreferenced, source videos included. A catalog that is empty, truncated, not
SQLite, or without selftrack's tables, next to existing item files, is now refused with what to do
(``selftrack check --repair`` rebuilds it from the item files and their journals). And opening never
writes: an archived or shared read-only workspace is browsable.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from selftrack.core.errors import StoreError

CATALOG_NAME = "selftrack.sqlite"


class CatalogError(StoreError):
    """The catalog cannot be used as it is (missing, empty, truncated, corrupt); the message says what to do."""


def payload_files(root: Path, limit: int | None = None) -> list[Path]:
    """Item files under ``items/`` (journals and manifests, the dot files, excluded), at most ``limit``."""
    found: list[Path] = []
    items = root / "items"
    if not items.is_dir():
        return found
    for folder in sorted(items.iterdir()):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and not path.name.startswith("."):
                found.append(path)
                if limit is not None and len(found) >= limit:
                    return found
    return found


def inspect_file(path: Path) -> str | None:
    """What is wrong with the catalog file, judged from its size alone (SQLite opens a 0-byte file as empty).

    The file is never opened from Python: closing *any* descriptor of a file drops every POSIX lock the
    process holds on it, SQLite's included, and another process may then checkpoint and delete the WAL
    under our connections, the classic way to corrupt an SQLite database. The soak benchmark did corrupt one
    that way when this function read the header with ``open()`` beside open connections. What needs the
    header is asked of SQLite itself (:func:`inspect_open`).
    """
    return "is empty (0 bytes)" if path.stat().st_size == 0 else None


def inspect_open(conn: sqlite3.Connection, path: Path) -> str | None:
    """What is wrong with an opened catalog that SQLite does not say on its own: a file cut short.

    SQLite reads pages lazily, so a catalog truncated by a full disk or a bad copy opens and only fails on
    some later query. The page count it knows (from the header) times the page size must fit in the file,
    unless a WAL holds pages not yet copied back (then nothing can be said without reading it).
    """
    page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size
    if (not wal.exists() or wal.stat().st_size == 0) and size < pages * page_size:
        return f"is truncated ({size} of {pages * page_size} bytes)"
    return None


def way_out(root: Path, problem: str, files: int) -> str:
    kept = f"the {files} item file(s) under items/ are untouched. " if files else ""
    return (
        f"the catalog {root / CATALOG_NAME} {problem}; refusing to open it as an empty workspace: {kept}"
        f"Restore {CATALOG_NAME} from a backup, or run `selftrack -w {root} check --repair` to rebuild the "
        "catalog from the item files and their journals (the damaged file is kept aside)"
    )


def is_read_only(root: Path) -> bool:
    """Whether this process can write the workspace (the folder and the catalog file)."""
    catalog = root / CATALOG_NAME
    return not os.access(root, os.W_OK) or (catalog.exists() and not os.access(catalog, os.W_OK))


def connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit). Read-only: no WAL switch, no writes.

    A read-only WAL database needs its ``-shm`` file; when the folder cannot hold one, ``immutable=1``
    reads the main file as is (an archived workspace was closed cleanly, so the WAL was checkpointed).
    """
    if not read_only:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
    else:
        uri = "file:" + quote(str(path))
        try:
            conn = sqlite3.connect(
                uri + "?mode=ro", uri=True, timeout=60, isolation_level=None, check_same_thread=False
            )
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:
            conn = sqlite3.connect(
                uri + "?mode=ro&immutable=1", uri=True, timeout=60, isolation_level=None, check_same_thread=False
            )
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def split_statements(schema: str) -> list[str]:
    return [s.strip() for s in schema.strip().split(";") if s.strip()]


def ensure_schema(conn: sqlite3.Connection, schema: str, *, read_only: bool) -> None:
    """Create the tables of ``schema`` that are missing, and only those (opening must not write).

    On a read-only workspace missing tables become empty TEMP tables of this connection (they shadow
    nothing and vanish with it), so ``nodes`` or ``jobs`` of a workspace that never ran a pipeline read
    as empty instead of failing.
    """
    existing = tables(conn)
    statements = split_statements(schema)
    missing = [s for s in statements if s.upper().startswith("CREATE TABLE") and _table_name(s) not in existing]
    if not missing:
        return
    if read_only:
        temp = tables_temp(conn)
        for stmt in missing:
            if _table_name(stmt) not in temp:
                conn.execute(stmt.replace("CREATE TABLE IF NOT EXISTS", "CREATE TEMP TABLE", 1))
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        for stmt in statements:
            conn.execute(stmt)
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def tables_temp(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_temp_master WHERE type = 'table'")}


def _table_name(stmt: str) -> str:
    words = stmt.replace("(", " ").split()
    return words[5] if words[:5] == ["CREATE", "TABLE", "IF", "NOT", "EXISTS"] else words[2]
