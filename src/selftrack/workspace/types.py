"""The workspace's value types: data types, dataset and item snapshots, keys, file hashing.

Kept apart from :mod:`selftrack.workspace.store` (the catalog and its writes) so that readers of items
(ops, the CLI, the web app) depend on plain data, and the store stays one concern.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import StoreError
from selftrack.core.video_info import VideoInfo


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


EMPTY_HASH = hashlib.sha256(b"").hexdigest()
_KEY_RE = re.compile(r"^[^/\\\x00-\x1f]{1,200}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.\-\[\]():+@]{0,199}$")


def check_key(key: str) -> str:
    """Item keys are strings (SkyhookML: the file name without extension); no path separators."""
    if not isinstance(key, str) or not _KEY_RE.match(key) or key in (".", ".."):
        raise StoreError(f"invalid item key {key!r}: 1-200 characters, no '/', '\\' or control characters")
    return key


def file_stem(key: str) -> str:
    """The key as a file-name stem (item files are ``<stem>.<hash12>.<format>``)."""
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

    def check_file(self) -> None:
        """Raise a clear error when the item's file is gone (deleted by hand, a lost disk)."""
        if not self.path.is_file():
            raise StoreError(
                f"item {self.dataset}/{self.key}: its file {self.path} is missing (deleted outside selftrack?); "
                "run `selftrack check` to list what is missing and `selftrack check --repair` to drop it"
            )

    def load_detections(self) -> Detections:
        """Detections/tracks payload (``.npz`` arrays + metadata kept in the catalog)."""
        if self.format != "npz":
            raise StoreError(f"item {self.dataset}/{self.key} holds {self.format!r}, not detections")
        self.check_file()
        try:
            with np.load(self.path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(
                f"item {self.dataset}/{self.key}: {self.path} is not a readable detections file ({exc}); "
                "run `selftrack check`"
            ) from None
        missing = {"frame", "xyxy", "score", "class_id", "track_id"} - set(arrays)
        if missing:
            raise StoreError(f"item {self.dataset}/{self.key}: {self.path} lacks arrays {sorted(missing)}")
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
