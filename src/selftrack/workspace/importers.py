"""Import files into a workspace and export datasets back out.

Imports accept what users have on disk: one video, a folder of videos, a zip of videos, an image folder,
detection files in any format ``selftrack.formats`` reads. Every file is checked before anything is written
(a video is probed, a detection file parsed and validated against its video), so a bad file fails the import
with a message naming it and leaves the dataset as it was.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import cv2

from selftrack.core.detections import Detections
from selftrack.core.errors import FormatError, StoreError, UnsafeArchiveError, ValidationError
from selftrack.workspace.store import DataType, Item, Workspace, check_key

VIDEO_EXTENSIONS = frozenset({".mp4", ".avi", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"})
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
DEFAULT_MAX_ARCHIVE_BYTES = 32 * 1024**3
"""Refuse archives that would unpack to more than this (zip bombs); override per call. Also refused: more
than the free space of the workspace's disk, a compression ratio past :data:`MAX_COMPRESSION_RATIO`."""
MAX_COMPRESSION_RATIO = 200
"""Videos and images barely compress in a zip (ratio about 1); a detection text file about 5-10. An entry
unpacking to 200 times its compressed size is a bomb (the classic ones reach 1000 and more)."""
MAX_ARCHIVE_ENTRIES = 100_000

Progress = Callable[[int, int, str], None]
"""``progress(done, total, what)`` callback used by the CLI's progress bars and by jobs."""


# ---------------------------------------------------------------------------------------------- archives
def _check_entries(archive: Path, infos: list[zipfile.ZipInfo], max_bytes: int, free: int | None) -> None:
    """Refuse a zip before anything is written: traversal, links, clashes, nested archives, bombs."""
    if len(infos) > MAX_ARCHIVE_ENTRIES:
        raise UnsafeArchiveError(f"{archive}: {len(infos)} entries, more than the {MAX_ARCHIVE_ENTRIES} allowed")
    declared = 0
    files: set[PurePosixPath] = set()
    folders: set[PurePosixPath] = set()
    for info in infos:
        name = info.filename
        path = PurePosixPath(name.replace("\\", "/"))
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or ".." in path.parts:
            raise UnsafeArchiveError(f"{archive}: entry {name!r} escapes the extraction folder (path traversal)")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArchiveError(f"{archive}: entry {name!r} is a symbolic link; links are not allowed")
        folders.update(path.parents)
        if info.is_dir():
            folders.add(path)
            continue
        if path in files:
            raise UnsafeArchiveError(f"{archive}: entry {name!r} appears twice")
        files.add(path)
        if path.suffix.lower() in (".zip", ".7z", ".rar", ".tar", ".gz", ".tgz"):
            raise UnsafeArchiveError(
                f"{archive}: entry {name!r} is itself an archive; nested archives are not imported "
                "(unpack it and import its content, or import it on its own)"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > (1 << 20) and ratio > MAX_COMPRESSION_RATIO:
            raise UnsafeArchiveError(
                f"{archive}: entry {name!r} unpacks to {ratio:.0f} times its compressed size (a zip bomb?); refused"
            )
        declared += info.file_size
        if declared > max_bytes:
            raise UnsafeArchiveError(f"{archive}: unpacks to more than {max_bytes} bytes; refused")
    if free is not None and declared > free:
        raise UnsafeArchiveError(
            f"{archive}: unpacks to {declared} bytes but the workspace's disk has {free} bytes free; refused"
        )
    clash = sorted(files & folders)
    if clash:
        raise UnsafeArchiveError(
            f"{archive}: {str(clash[0])!r} is both a file and a folder of other entries; cannot unpack it"
        )


def check_zip(archive: Path, *, max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES) -> list[zipfile.ZipInfo]:
    """Refuse a zip before unpacking anything (the checks of :func:`safe_extract_zip`, free space aside).

    Reads the central directory only (cheap), so a server can refuse an uploaded archive at once.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise UnsafeArchiveError(f"{archive}: not a readable zip archive ({e})") from e
    with zf:
        infos = zf.infolist()
    _check_entries(archive, infos, max_bytes, None)
    return infos


def safe_extract_zip(
    archive: Path,
    dest: Path,
    *,
    max_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
    extensions: frozenset[str] | None = None,
) -> list[Path]:
    """Extract a zip, refusing path traversal, absolute paths, links, nested archives and zip bombs.

    Checks every entry before extracting anything (sizes, compression ratio, free disk space), then counts
    the bytes actually written against each entry's declared size (a header can lie), so a refused archive
    leaves nothing behind. With ``extensions``, only entries with those suffixes are written.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        raise UnsafeArchiveError(f"{archive}: not a readable zip archive ({e})") from e
    with zf:
        infos = zf.infolist()
        dest.mkdir(parents=True, exist_ok=True)
        _check_entries(archive, infos, max_bytes, shutil.disk_usage(dest).free)
        out: list[Path] = []
        written = 0
        try:
            for info in infos:
                path = PurePosixPath(info.filename.replace("\\", "/"))
                if info.is_dir() or (extensions is not None and path.suffix.lower() not in extensions):
                    continue
                target = dest / path
                target.parent.mkdir(parents=True, exist_ok=True)
                entry_bytes = 0
                with zf.open(info) as src, open(target, "wb") as dst:
                    while block := src.read(1 << 20):
                        entry_bytes += len(block)
                        written += len(block)
                        if entry_bytes > info.file_size or written > max_bytes:
                            raise UnsafeArchiveError(
                                f"{archive}: entry {info.filename!r} unpacks to more than it declares; refused"
                            )
                        dst.write(block)
                out.append(target)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as e:
            raise UnsafeArchiveError(f"{archive}: entry cannot be unpacked ({e})") from None
        except UnsafeArchiveError:
            for path in out:
                path.unlink(missing_ok=True)
            raise
        return out


def _collect(paths: Iterable[str | Path], extensions: frozenset[str], tmp: Path, max_bytes: int) -> list[Path]:
    """Expand files, folders (recursively) and zip archives into a sorted list of matching files."""
    found: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise StoreError(f"{p}: no such file or folder")
        if p.is_dir():
            found.extend(sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in extensions))
        elif p.suffix.lower() == ".zip":
            sub = Path(tempfile.mkdtemp(dir=tmp))
            found.extend(sorted(safe_extract_zip(p, sub, max_bytes=max_bytes, extensions=extensions)))
        elif p.suffix.lower() in extensions:
            found.append(p)
        else:
            raise StoreError(f"{p}: not a supported file (expected {', '.join(sorted(extensions))}, a folder or a zip)")
    return found


def _keys_for(files: list[Path]) -> dict[str, Path]:
    keys: dict[str, Path] = {}
    for f in files:
        key = check_key(f.stem)
        if key in keys:
            raise StoreError(f"two files give the same item key {key!r}: {keys[key]} and {f}")
        keys[key] = f
    return keys


def _check_target(ws: Workspace, dataset: str, data_type: DataType) -> None:
    """Refuse early (before any file is read) an existing dataset of another type."""
    ds = ws.find_dataset(dataset)
    if ds is not None and ds.data_type != data_type:
        raise StoreError(f"dataset {dataset!r} holds {ds.data_type}, not {data_type}; import into another dataset")


def _check_clash(ws: Workspace, dataset: str, keys: Iterable[str], overwrite: bool) -> None:
    if overwrite or ws.find_dataset(dataset) is None:
        return
    clash = [k for k in keys if ws.find_item(dataset, k) is not None]
    if clash:
        raise StoreError(f"dataset {dataset!r} already has items {clash} (use overwrite)")


# ---------------------------------------------------------------------------------------------- videos
def import_videos(
    ws: Workspace,
    dataset: str,
    paths: Iterable[str | Path],
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
) -> list[Item]:
    """Import video files, folders of videos or zips of videos into a video dataset (created if needed).

    Each video is probed first (codec, size, fps, frame count); the whole import is refused before any
    item is written if one of them cannot be read. Files are stored as they are: no re-encode, no
    SkyhookML-style forced 10 fps (resampling is an explicit op).
    """
    from selftrack.video import probe

    _check_target(ws, dataset, DataType.VIDEO)
    with ws.staging_dir("import-") as tmp, ws.batch(done=[dataset]):
        files = _keys_for(_collect(paths, VIDEO_EXTENSIONS, Path(tmp), max_archive_bytes))
        if not files:
            raise StoreError(f"no video files found in {', '.join(map(str, paths))}")
        infos = {key: probe(path) for key, path in files.items()}
        _check_clash(ws, dataset, files, overwrite)
        ws.create_dataset(dataset, DataType.VIDEO, exist_ok=True, done=False)
        items = []
        for i, (key, path) in enumerate(files.items()):
            meta = {"video": {**infos[key].to_dict(), "path": ""}, "filename": path.name}
            items.append(ws.put_file(dataset, key, path, metadata=meta, overwrite=overwrite))
            if progress:
                progress(i + 1, len(files), key)
    return items


def import_images(
    ws: Workspace,
    dataset: str,
    paths: Iterable[str | Path],
    *,
    overwrite: bool = False,
    progress: Progress | None = None,
    max_archive_bytes: int = DEFAULT_MAX_ARCHIVE_BYTES,
) -> list[Item]:
    """Import an image folder (or zip, or files) into an image dataset; each image is decoded once to check it."""
    _check_target(ws, dataset, DataType.IMAGE)
    with ws.staging_dir("import-") as tmp, ws.batch(done=[dataset]):
        files = _keys_for(_collect(paths, IMAGE_EXTENSIONS, Path(tmp), max_archive_bytes))
        if not files:
            raise StoreError(f"no image files found in {', '.join(map(str, paths))}")
        sizes = {}
        for key, path in files.items():
            img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if img is None:
                raise FormatError(f"{path}: not a readable image")
            sizes[key] = (int(img.shape[1]), int(img.shape[0]))
        _check_clash(ws, dataset, files, overwrite)
        ws.create_dataset(dataset, DataType.IMAGE, exist_ok=True, done=False)
        items = []
        for i, (key, path) in enumerate(files.items()):
            meta = {"width": sizes[key][0], "height": sizes[key][1], "filename": path.name}
            items.append(ws.put_file(dataset, key, path, metadata=meta, overwrite=overwrite))
            if progress:
                progress(i + 1, len(files), key)
    return items


def import_files(
    ws: Workspace,
    dataset: str,
    paths: Iterable[str | Path],
    *,
    data_type: DataType = DataType.FILE,
    overwrite: bool = False,
) -> list[Item]:
    """Import arbitrary files (e.g. model weights) as a file or model dataset, keyed by file stem."""
    files = list(map(Path, paths))
    for path in files:
        if not path.is_file():
            raise StoreError(f"{path}: no such file" + (" (a folder: name the files)" if path.is_dir() else ""))
    ws.create_dataset(dataset, data_type, exist_ok=True, done=False)
    with ws.batch(done=[dataset]):
        return [
            ws.put_file(dataset, check_key(path.stem), path, metadata={"filename": path.name}, overwrite=overwrite)
            for path in files
        ]


# ---------------------------------------------------------------------------------------------- detections
def detection_key(path: Path) -> str:
    """Item key for a detection file: MOTChallenge ``<seq>/det/det.txt`` and ``<seq>/gt/gt.txt`` give ``<seq>``."""
    if path.parent.name in ("det", "gt") and path.stem in ("det", "gt", "det_refined") and path.parent.parent.name:
        return path.parent.parent.name
    return path.stem


def attach_to_video(detections: Detections, video: Item | None, *, key: str) -> Detections:
    """Fill canvas and frame count from the item's video and check that the two agree.

    Detections may refer to a resized canvas (SkyhookML's CanvasDims, e.g. 960x544 for a 1080p video), so a
    canvas that is already set is kept; frames past the end of the video are an error (mismatched lengths
    were SkyhookML's "inputs have different lengths" crash, here caught at import).
    """
    if video is None:
        return detections
    info = video.video_info
    if len(detections) and int(detections.frame.max()) >= info.frame_count:
        raise ValidationError(
            f"detections for {key!r} reach frame {int(detections.frame.max())} (0-based) but video "
            f"{video.dataset}/{video.key} has {info.frame_count} frames (mismatched frame counts)"
        )
    if detections.num_frames is not None and detections.num_frames != info.frame_count:
        raise ValidationError(
            f"detections for {key!r} declare {detections.num_frames} frames but video {video.dataset}/{video.key} "
            f"has {info.frame_count} (mismatched frame counts)"
        )
    return detections.replace(canvas=detections.canvas or info.size, num_frames=info.frame_count)


def import_detections(
    ws: Workspace,
    dataset: str,
    paths: Iterable[str | Path],
    *,
    format: str = "auto",
    videos: str | None = None,
    data_type: DataType | str | None = None,
    canvas: tuple[int, int] | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
    **read_options: Any,
) -> list[Item]:
    """Import detection or track files (MOTChallenge, SkyhookML JSON, UA-DETRAC XML...) into a dataset.

    ``videos`` names the video dataset the detections belong to: each key must exist there, the canvas
    and frame count are taken from it, and boxes past the video's end are refused. The dataset type is
    ``tracks`` when the files carry track ids, ``detections`` otherwise, unless ``data_type`` says.
    """
    from selftrack.formats import read_detections

    files: dict[str, Path] = {}
    for p in map(Path, paths):
        candidates = (
            sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in (".txt", ".json", ".xml"))
            if p.is_dir()
            else [p]
        )
        for f in candidates:
            if not f.is_file():
                raise StoreError(f"{f}: no such file")
            key = check_key(detection_key(f))
            if key in files:
                raise StoreError(f"two files give the same item key {key!r}: {files[key]} and {f}")
            files[key] = f
    if not files:
        raise StoreError(f"no detection files found in {', '.join(map(str, paths))}")
    parsed: dict[str, Detections] = {}
    for key, path in files.items():
        options = {**read_options, **({"canvas": canvas} if canvas is not None else {})}
        dets = read_detections(path, format=format, **options)
        video = None
        if videos is not None:
            video = ws.find_item(videos, key)
            if video is None:
                raise StoreError(f"{path}: video dataset {videos!r} has no item {key!r} for these detections")
        parsed[key] = attach_to_video(dets, video, key=key)
    if data_type is None:
        data_type = DataType.TRACKS if all(d.has_tracks for d in parsed.values() if len(d)) else DataType.DETECTIONS
    ws.create_dataset(dataset, DataType(data_type), exist_ok=True, done=False)
    items = []
    with ws.batch(done=[dataset]):  # all or nothing: a killed import leaves no half dataset
        for i, (key, dets) in enumerate(parsed.items()):
            items.append(ws.put_detections(dataset, key, dets, overwrite=overwrite))
            if progress:
                progress(i + 1, len(parsed), key)
    return items


def import_labelled_images(
    ws: Workspace,
    dataset: str,
    source: str | Path,
    *,
    format: str,
    images_dataset: str | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> list[Item]:
    """Import a labelled image set (COCO JSON, or a YOLO folder) as one 1-frame detections item per image.

    ``source`` is the COCO JSON file, or a folder holding it (COCO) or the label files (YOLO: a ``labels/``
    folder beside ``images/``, or labels next to the images). Images found in the folder are imported into
    ``images_dataset`` when it is given. Item keys are the image file names without extension, the keys
    ``import_images`` gives, so labels and images join by key.
    """
    from selftrack.formats import read_coco, read_yolo

    source = Path(source)
    if format == "coco":
        jsons = [source] if source.is_file() else sorted(source.rglob("*.json"))
        if len(jsons) != 1:
            raise StoreError(f"{source}: expected one COCO JSON file, found {len(jsons)}")
        labelled = read_coco(jsons[0])
        root = jsons[0].parent
    elif format == "yolo":
        if not source.is_dir():
            raise StoreError(f"{source}: a YOLO label set is a folder (or a zip of one)")
        labels = next((p for p in sorted(source.rglob("labels")) if p.is_dir()), source)
        images = next((p for p in sorted(source.rglob("images")) if p.is_dir()), source)
        labelled = read_yolo(labels, images)
        root = images
    else:
        raise StoreError(f"labelled image sets are coco or yolo, not {format!r}")
    parsed: dict[str, Detections] = {}
    origin: dict[str, str] = {}
    for key, dets in labelled.images.items():
        short = check_key(PurePosixPath(key).name)
        if short in parsed:
            raise StoreError(f"{source}: two images give the key {short!r}: {origin[short]} and {key}")
        parsed[short], origin[short] = dets, key
    if images_dataset is not None:
        image_files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
        if image_files:
            import_images(ws, images_dataset, image_files, overwrite=overwrite)
    ws.create_dataset(dataset, DataType.DETECTIONS, exist_ok=True)
    items = []
    for i, (key, dets) in enumerate(parsed.items()):
        items.append(ws.put_detections(dataset, key, dets, overwrite=overwrite))
        if progress:
            progress(i + 1, len(parsed), key)
    return items
