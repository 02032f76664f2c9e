"""Format sniffing and the one-call readers/writers the store's import and export use."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from selftrack.core.detections import Detections
from selftrack.core.errors import FormatError
from selftrack.formats._text import PathLike
from selftrack.formats.detrac import read_detrac_xml
from selftrack.formats.mot import read_mot, write_mot
from selftrack.formats.skyhook import read_skyhook_json, write_skyhook_json

FORMATS = ("mot", "skyhook-json", "coco", "detrac-xml", "yolo")
"""Names :func:`detect_format` returns; ``mot`` and ``skyhook-json`` are one video's detections,
``detrac-xml`` is read-only, ``coco`` and ``yolo`` are labelled image sets (:mod:`selftrack.formats.coco`,
:mod:`selftrack.formats.yolo`)."""

_SNIFF_BYTES = 1 << 16


def detect_format(path: PathLike) -> str:
    """Tell a file's format from its name and first bytes (one of :data:`FORMATS`).

    A folder is YOLO labels; ``.xml`` is UA-DETRAC; JSON starting with ``[`` or holding
    ``"Detections"`` is SkyhookML, with ``"images"``/``"annotations"`` COCO; a text file whose first
    record is ``class cx cy w h`` with normalised values is YOLO, one with 6, 7, 9 or 10 values MOT.

    Raises:
        FormatError: the format cannot be told (pass it explicitly).
    """
    path = Path(path)
    if path.is_dir():
        if any(path.rglob("*.txt")):
            return "yolo"
        raise FormatError(f"{path}: a folder, but without YOLO label (.txt) files")
    with open(path, "rb") as fh:
        head = fh.read(_SNIFF_BYTES).decode("utf-8-sig", errors="replace")
    stripped = head.lstrip()
    if path.suffix.lower() == ".xml" or stripped.startswith("<"):
        if "<sequence" in head:
            return "detrac-xml"
        raise FormatError(f"{path}: XML, but not a UA-DETRAC annotation (no <sequence> element)")
    if path.suffix.lower() == ".json" or stripped[:1] in ("[", "{"):
        return _json_format(path, stripped)
    return _text_format(path, stripped)


def read_detections(path: PathLike, format: str = "auto", **kwargs: Any) -> Detections:
    """Read one video's detections from a MOT, SkyhookML JSON or UA-DETRAC XML file.

    ``kwargs`` go to the format's reader (e.g. ``canvas``, ``num_frames`` for MOT; ``metadata`` for
    SkyhookML JSON).

    Raises:
        FormatError: unknown format, or a labelled image set (COCO, YOLO), which holds many images
            rather than one video: read those with ``read_coco`` / ``read_yolo``.
    """
    fmt = detect_format(path) if format == "auto" else format
    if fmt == "mot":
        return read_mot(path, **kwargs)
    if fmt == "skyhook-json":
        return read_skyhook_json(path, **kwargs)
    if fmt == "detrac-xml":
        return read_detrac_xml(path, **kwargs)
    if fmt in ("coco", "yolo"):
        raise FormatError(f"{path}: a {fmt} set of labelled images, not one video's detections (use read_{fmt})")
    raise FormatError(f"{path}: unknown format {fmt!r}; expected one of {FORMATS}")


def write_detections(detections: Detections, path: PathLike, format: str = "auto", **kwargs: Any) -> None:
    """Write one video's detections as ``mot`` or ``skyhook-json`` (``auto``: by suffix, ``.json`` or else MOT)."""
    fmt = format
    if fmt == "auto":
        fmt = "skyhook-json" if Path(path).suffix.lower() == ".json" else "mot"
    if fmt == "mot":
        write_mot(detections, path, **kwargs)
    elif fmt == "skyhook-json":
        write_skyhook_json(detections, path, **kwargs)
    else:
        raise FormatError(f"{path}: cannot write one video's detections as {fmt!r}; use 'mot' or 'skyhook-json'")


def _json_format(path: Path, head: str) -> str:
    if head.startswith("["):
        return "skyhook-json"
    if head.startswith("{"):
        if '"Detections"' in head:
            return "skyhook-json"
        if '"images"' in head or '"annotations"' in head:
            return "coco"
        try:  # keys may come after a long first value: look at the whole object
            obj = json.loads(path.read_text(encoding="utf-8-sig"))
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            obj = None
        if isinstance(obj, dict) and "Detections" in obj:
            return "skyhook-json"
        if isinstance(obj, dict) and "images" in obj:
            return "coco"
    raise FormatError(f"{path}: JSON, but neither SkyhookML detections (a list per frame) nor COCO")


def _text_format(path: Path, head: str) -> str:
    for line in head.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        tokens = [t for t in line.replace(",", " ").split() if t]
        try:
            values = [float(t) for t in tokens]
        except ValueError:
            break
        if "," not in line and len(values) in (5, 6) and all(0 <= v <= 1 for v in values[1:5]):
            return "yolo"
        if len(values) in (6, 7, 9, 10):
            return "mot"
        break
    else:
        if path.suffix.lower() == ".txt":
            return "mot"  # an empty .txt: a MOT file of a video where nothing was detected
    raise FormatError(f"{path}: cannot tell the format (not MOT, YOLO, SkyhookML JSON, COCO or UA-DETRAC XML)")
