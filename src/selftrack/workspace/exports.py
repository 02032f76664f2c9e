"""Export a dataset's items: as files in a folder (``selftrack export``), or as a zip streamed as it is made.

Each item is exported either as it is stored (videos, images, files, and detections as ``npz``), read
straight from the store, or converted (detections and tracks as MOTChallenge text or SkyhookML JSON).

The zip of a dataset (the web app's download) is written while it is sent: nothing is copied first, and a
converted item is written to one small staging file at a time, in a ``tmp/`` folder named
``<host>.<pid>.export-*`` so that ``gc`` removes it if the server dies mid-export. Payloads that are
compressed already (H.264 and other videos, JPEG, PNG, archives) are *stored* in the zip: deflating them
again costs CPU and saves nothing. Text, JSON and ``npz`` arrays (stored uncompressed by
:func:`~selftrack.workspace.types.write_npz`) are deflated.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from selftrack.core.errors import StoreError
from selftrack.workspace.store import DataType, Item, Workspace

DETECTION_EXPORT_FORMATS = ("mot", "skyhook-json", "npz")

COMPRESSED_FORMATS = frozenset(
    {
        *("mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "ts", "wmv", "flv"),
        *("jpg", "jpeg", "png", "webp", "gif"),
        *("zip", "gz", "tgz", "bz2", "xz", "zst", "7z"),
    }
)
"""Item formats whose bytes are compressed already: stored in a zip as they are."""

CHUNK = 1 << 20
"""Bytes read from an item file at a time (and about what one chunk of a streamed zip holds)."""

Progress = Callable[[int, int, str], None]


@dataclass(frozen=True)
class ExportEntry:
    """One exported file: its name, the item it comes from, and the format it is converted to (if any)."""

    name: str
    item: Item
    convert: str | None = None
    """``mot`` or ``skyhook-json`` for detections written in that format; ``None``: the item's file as stored."""
    mot_kind: str = "det"

    @property
    def compressed(self) -> bool:
        """Whether the payload is compressed already (then a zip stores it instead of deflating it)."""
        return self.convert is None and self.item.format.lower() in COMPRESSED_FORMATS

    def write(self, target: Path) -> None:
        """Write this file to ``target``: a copy of the item's file, or its detections converted."""
        if self.convert is None:
            self.item.check_file()
            shutil.copyfile(self.item.path, target)
            return
        from selftrack.formats import write_detections

        kwargs = {"kind": self.mot_kind} if self.convert == "mot" else {}
        write_detections(self.item.load_detections(), target, format=self.convert, **kwargs)


def export_entries(
    ws: Workspace, dataset: str, *, format: str | None = None, keys: Iterable[str] | None = None
) -> list[ExportEntry]:
    """What exporting ``dataset`` writes, one entry per item (ordered by key); a format that does not fit
    the dataset's type is refused here, before anything is written."""
    ds = ws.dataset(dataset)
    wanted = set(keys) if keys is not None else None
    items = [it for it in ws.items(dataset) if wanted is None or it.key in wanted]
    entries = []
    if ds.data_type in (DataType.DETECTIONS, DataType.TRACKS):
        fmt = format or "mot"
        if fmt not in DETECTION_EXPORT_FORMATS:
            raise StoreError(f"cannot export {ds.data_type} as {fmt!r}; choose one of {DETECTION_EXPORT_FORMATS}")
        kind = "results" if ds.data_type == DataType.TRACKS else "det"
        for it in items:
            if fmt == "npz":
                entries.append(ExportEntry(f"{it.key}.npz", it))
            else:
                entries.append(ExportEntry(f"{it.key}.{'txt' if fmt == 'mot' else 'json'}", it, fmt, kind))
    else:
        if format not in (None, "native"):
            raise StoreError(f"{ds.data_type} datasets export their files as they are; no format {format!r}")
        entries = [ExportEntry(it.metadata.get("filename", f"{it.key}.{it.format}"), it) for it in items]
    return entries


def export_dataset(
    ws: Workspace,
    dataset: str,
    out_dir: str | Path,
    *,
    format: str | None = None,
    keys: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Write a dataset's items to ``out_dir``: videos, images and files as they are; detections and tracks as
    MOTChallenge text (default), SkyhookML JSON or the raw ``.npz``."""
    entries = export_entries(ws, dataset, format=format, keys=keys)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i, entry in enumerate(entries):
        target = out / entry.name
        entry.write(target)
        written.append(target)
        if progress:
            progress(i + 1, len(entries), entry.item.key)
    return written


class _Sink:
    """A write-only, unseekable file for ``zipfile``: it keeps what was written until :meth:`take`.

    ``zipfile`` then writes each entry's sizes and CRC after its data (a data descriptor), so an entry is
    sent as it is read and the archive never has to be rewound.
    """

    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def write(self, data: bytes) -> int:
        if data:
            self._chunks.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self._chunks = b"".join(self._chunks), []
        return data


def zip_stream(ws: Workspace, entries: list[ExportEntry], folder: str) -> Iterator[bytes]:
    """The zip of ``entries`` (under ``folder/``), a chunk at a time, made while it is read.

    Item files are read in place; a converted item is written to a staging file that is removed once it
    is in the zip. Closing the iterator early (the client went away) removes the staging folder too.
    """
    sink = _Sink()
    with contextlib.ExitStack() as stack:
        staging: Path | None = None
        zf = stack.enter_context(zipfile.ZipFile(sink, "w", allowZip64=True))  # type: ignore[arg-type]
        for entry in entries:
            arcname = f"{folder}/{entry.name}"
            if entry.convert is None:
                entry.item.check_file()
                yield from _add_file(zf, sink, entry.item.path, arcname, entry.compressed)
                continue
            if staging is None:
                staging = Path(stack.enter_context(ws.staging_dir("export-")))
            converted = staging / entry.name
            entry.write(converted)
            try:
                yield from _add_file(zf, sink, converted, arcname, compressed=False)
            finally:
                converted.unlink(missing_ok=True)
    yield sink.take()  # the central directory, written when the zip closed


def _add_file(zf: zipfile.ZipFile, sink: _Sink, path: Path, arcname: str, compressed: bool) -> Iterator[bytes]:
    info = zipfile.ZipInfo.from_file(path, arcname)
    info.compress_type = zipfile.ZIP_STORED if compressed else zipfile.ZIP_DEFLATED
    with open(path, "rb") as src, zf.open(info, "w") as dest:
        while chunk := src.read(CHUNK):
            dest.write(chunk)
            if data := sink.take():
                yield data
    if data := sink.take():
        yield data


def item_export(ws: Workspace, dataset: str, key: str, format: str | None = None) -> tuple[ExportEntry, Path | None]:
    """One item's export: the entry, and the staging folder its converted file was written to (the caller
    removes it once sent), or ``None`` when the item's own file is the export."""
    (entry,) = export_entries(ws, dataset, format=format, keys=[key]) or [None]
    if entry is None:
        raise StoreError(f"dataset {dataset!r} has no item {key!r}")
    if entry.convert is None:
        return entry, None
    folder = Path(tempfile.mkdtemp(dir=ws.root / "tmp", prefix=ws.staging_name("export-")))
    try:
        entry.write(folder / entry.name)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return entry, folder
