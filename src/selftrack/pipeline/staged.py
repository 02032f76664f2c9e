"""Outputs written by a worker that does not touch the catalog, committed later by the driver.

On a cluster, workers on other machines reach the workspace through a shared filesystem (NFS and the
like), where SQLite's locking cannot be trusted. So a remote task never opens the catalog: it writes
its payload files under ``<workspace>/tmp/<driver host>.<driver pid>.staged/<task>/`` and returns a list of
:class:`StagedItem` (what the catalog row would say). The driver, the one process that writes the
catalog, moves them into place with :func:`commit_staged` once the task has succeeded, through the
store's ordinary atomic ``put_file``.

A worker or node that dies mid-write leaves at most a stray staging folder, never a catalog row. The
folder is named by the task's cache key (the op, its params and the hashes of its inputs), and a task
that finished writes a ``manifest.json`` last: a rerun whose driver died after the task finished but
before the commit finds the manifest and commits it without computing again
(:func:`load_manifest`). Folders of tasks that never finished are overwritten by the next attempt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from selftrack.core.detections import Detections
from selftrack.core.errors import StoreError
from selftrack.workspace.store import Item, Workspace, sha256_file, write_npz

MANIFEST = "manifest.json"


@dataclass(frozen=True)
class StagedItem:
    """One output item waiting for the driver: the catalog row it will become."""

    dataset: str
    key: str
    file: str
    """Payload path relative to the workspace root (the staged file, or the input item's file for a link)."""
    format: str
    metadata: dict[str, Any]
    sha256: str
    size: int
    link: bool = False
    """The payload is an input item's file, hard-linked unchanged (``ctx.link_item``)."""


STAGED_SUFFIX = ".staged"


def staging_dir(root: str | os.PathLike[str], base: str, node: str, key: str, cache_key: str) -> Path:
    """A task's folder under ``base`` (the driver's ``tmp/<host>.<pid>.staged``, which gc keeps while the
    driver runs), named by node, key and cache key (two keys may have equal inputs, hence equal cache keys)."""
    name = hashlib.sha256(f"{node}\0{key}\0{cache_key}".encode()).hexdigest()[:40]
    return Path(root) / base / name


@dataclass
class StagedOutputs:
    """Writes one task's outputs under its staging folder, recording the rows for the driver."""

    root: Path
    base: str
    """The staging folder of the run, relative to the workspace root."""
    node: str
    key: str
    cache_key: str
    items: list[StagedItem] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.dir = staging_dir(self.root, self.base, self.node, self.key, self.cache_key)
        if self.dir.exists():  # an earlier attempt that did not finish (or a manifest nobody committed)
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def staging_path(self, suffix: str = "") -> Iterator[Path]:
        fd, name = tempfile.mkstemp(dir=self.dir, suffix=suffix, prefix="part-")
        os.close(fd)
        path = Path(name)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)

    def _record(self, item: StagedItem) -> Item:
        self.items = [it for it in self.items if (it.dataset, it.key) != (item.dataset, item.key)] + [item]
        return Item(item.dataset, item.key, item.format, item.metadata, self.root / item.file, item.size, item.sha256)

    def put_file(
        self,
        dataset: str,
        key: str,
        src: Path,
        *,
        format: str | None = None,
        metadata: dict[str, Any] | None = None,
        move: bool = True,
    ) -> Item:
        src = Path(src)
        if not src.is_file():
            raise StoreError(f"cannot stage {dataset}/{key}: {src} is not a file")
        fmt = (format or src.suffix.lstrip(".") or "bin").lower()
        final = self.dir / f"{len(self.items)}-{os.getpid()}.{fmt}"
        if move:
            os.replace(src, final)
        else:
            shutil.copyfile(src, final)
        with open(final, "rb+") as f:
            os.fsync(f.fileno())
        rel = str(final.relative_to(self.root))
        meta = json.loads(json.dumps(metadata or {}, sort_keys=True))
        return self._record(StagedItem(dataset, key, rel, fmt, meta, sha256_file(final), final.stat().st_size))

    def put_detections(
        self, dataset: str, key: str, detections: Detections, *, extra_metadata: dict[str, Any] | None = None
    ) -> Item:
        detections.validate()
        with self.staging_path(".npz") as staged:
            write_npz(staged, detections.to_arrays())
            meta = {**(extra_metadata or {}), "detections": detections.metadata()}
            return self.put_file(dataset, key, staged, format="npz", metadata=meta, move=True)

    def link_item(self, dataset: str, key: str, source: Item, *, metadata: dict[str, Any] | None = None) -> Item:
        rel = str(Path(source.path).relative_to(self.root))
        meta = json.loads(json.dumps(metadata or {}, sort_keys=True))
        return self._record(StagedItem(dataset, key, rel, source.format, meta, source.sha256, source.size, link=True))

    def write_manifest(self) -> None:
        """Written last, atomically: its presence means every payload of the task is complete."""
        tmp = self.dir / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps([asdict(it) for it in self.items]))
        os.replace(tmp, self.dir / MANIFEST)


def load_manifest(root: str | os.PathLike[str], node: str, key: str, cache_key: str) -> list[StagedItem] | None:
    """The staged items of a task that finished earlier with the same cache key (under any run's staging
    folder: the driver that ran it may have died), if all its files are there."""
    name = staging_dir(root, "", node, key, cache_key).name
    for path in sorted(Path(root, "tmp").glob(f"*{STAGED_SUFFIX}/{name}/{MANIFEST}")):
        found = _read_manifest(Path(root), path)
        if found is not None:
            return found
    return None


def _read_manifest(root: Path, path: Path) -> list[StagedItem] | None:
    try:
        items = [StagedItem(**row) for row in json.loads(path.read_text())]
    except (OSError, ValueError, TypeError):
        return None
    for it in items:
        f = root / it.file
        if not f.is_file() or f.stat().st_size != it.size:
            return None
    return items


def commit_staged(ws: Workspace, items: list[StagedItem]) -> list[Item]:
    """Move staged payloads into the workspace and write their catalog rows (driver only); then drop their folder."""
    out = []
    folders = set()
    for it in items:
        src = ws.root / it.file
        if not it.link:
            folders.add(src.parent)
        out.append(
            ws.put_file(
                it.dataset,
                it.key,
                src,
                format=it.format,
                metadata=it.metadata,
                move=not it.link,
                link=it.link,
                overwrite=True,
                sha256=it.sha256,
            )
        )
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
    return out
