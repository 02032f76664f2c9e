"""Per-dataset journals: what the catalog says, written beside the item files, so a lost catalog can be rebuilt.

Each dataset folder ``items/<id>/`` holds ``.dataset.json`` (name, type, kind, metadata) and
``.journal.jsonl``, one line per committed change: ``{"op": "put", key, file, format, size, sha256,
metadata}`` or ``{"op": "del", key}``. A line is appended inside the catalog transaction that makes the
change, just before it commits; SQLite's write lock serialises those transactions, so lines of concurrent
writers never interleave.

``selftrack check --repair`` replays a journal and registers an item only when its file is there and hashes
to the journal's sha256 (what "re-register what can be proven" means). A line whose transaction then
failed to commit names a complete, hash-verified file, so registering it loses nothing and invents nothing.
``gc`` rewrites journals from the catalog (they only grow otherwise).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

MANIFEST = ".dataset.json"
JOURNAL = ".journal.jsonl"


def write_manifest(folder: Path, dataset: dict[str, Any]) -> None:
    """Replace ``.dataset.json`` atomically (a reader sees the old or the new one)."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{MANIFEST}.{secrets.token_hex(4)}.tmp"
    tmp.write_text(json.dumps(dataset, sort_keys=True))
    os.replace(tmp, folder / MANIFEST)


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("name"), str) else None


def append(folder: Path, records: list[dict[str, Any]]) -> None:
    """Append records, one JSON line each, in one ``write`` (O_APPEND), fsynced before the catalog commits: a
    catalog lost after a power cut is rebuilt from journals that hold every change it had committed."""
    if not records:
        return
    folder.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
    fd = os.open(folder / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def replay(folder: Path) -> dict[str, dict[str, Any]]:
    """The items the journal says the dataset holds: ``{key: put record}``. Torn or foreign lines are skipped."""
    state: dict[str, dict[str, Any]] = {}
    try:
        text = (folder / JOURNAL).read_text(errors="replace")
    except OSError:
        return state
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line cut by a crash
        if not isinstance(record, dict) or not isinstance(record.get("key"), str):
            continue
        if record.get("op") == "put" and isinstance(record.get("file"), str) and isinstance(record.get("sha256"), str):
            state[record["key"]] = record
        elif record.get("op") == "del":
            state.pop(record["key"], None)
    return state


def rewrite(folder: Path, records: list[dict[str, Any]]) -> None:
    """Replace the journal with ``records`` (the catalog's current rows), atomically."""
    tmp = folder / f".{JOURNAL}.{secrets.token_hex(4)}.tmp"
    tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    os.replace(tmp, folder / JOURNAL)


def put_record(key: str, file: str, format: str, size: int, sha256: str, metadata: str) -> dict[str, Any]:
    return {
        "op": "put",
        "key": key,
        "file": file,
        "format": format,
        "size": size,
        "sha256": sha256,
        "metadata": json.loads(metadata),
    }
