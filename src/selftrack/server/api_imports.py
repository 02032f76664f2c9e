"""``/api/uploads`` and ``/api/imports``: streamed uploads, then imports that run as jobs.

An upload is the raw request body (``PUT /api/uploads?filename=clip.mp4``), written to the workspace's
``tmp/uploads/<id>/`` as it arrives: never held in memory, refused at once when its declared size is over
the limit or the disk would run short, cut off when the bytes received pass the limit, and only renamed
into place when complete. Nothing becomes an item until an import job takes the finished file, so a
server killed mid-upload leaves a partial file in ``tmp/`` (cleaned at the next start) and no item.
Zip archives are checked (path traversal, links, size) as soon as they are complete.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
import uuid
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, Field

from selftrack.core.errors import UnsafeArchiveError
from selftrack.pipeline import garbage_collect
from selftrack.server.state import AppState, St
from selftrack.server.worker import UPLOADS
from selftrack.workspace import DataType, check_workspace
from selftrack.workspace.importers import check_zip

router = APIRouter(prefix="/api", tags=["import"])

_UNSAFE = re.compile(r"[^A-Za-z0-9._\- ()+\[\]]")
FLUSH_BYTES = 1 << 20
STALE_UPLOAD_SECONDS = 24 * 3600


def safe_filename(name: str) -> str:
    """A file name with no folder part and no odd characters (the key of the item comes from it)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _UNSAFE.sub("_", base)[:200].lstrip(".")
    if not base:
        raise HTTPException(400, f"invalid file name {name!r}")
    return base


def clean_stale_uploads(root: Path, max_age: float = STALE_UPLOAD_SECONDS) -> int:
    """Remove uploads no import took (a closed tab, a killed server); returns how many."""
    folder = root / UPLOADS
    removed = 0
    if folder.is_dir():
        for d in folder.iterdir():
            if time.time() - d.stat().st_mtime > max_age:
                shutil.rmtree(d, ignore_errors=True)
                removed += 1
    return removed


@router.put("/uploads", status_code=201)
async def upload(request: Request, filename: str = Query(..., description="The file's name.")) -> dict[str, Any]:
    """Stream one file (the raw request body) to the server; returns an upload id for ``/api/imports``."""
    st: AppState = request.app.state.selftrack
    config = st.config
    name = safe_filename(filename)
    if st.ws.read_only:
        raise HTTPException(409, f"the workspace {st.root} is read-only: {name} cannot be uploaded into it")
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise HTTPException(400, "invalid Content-Length")
        if int(declared) > config.max_upload_bytes:
            raise HTTPException(
                413, f"{name} is {int(declared)} bytes; the upload limit is {config.max_upload_bytes} bytes"
            )
    free = shutil.disk_usage(st.root).free
    if declared is not None and free - int(declared) < config.min_free_bytes:
        raise HTTPException(507, f"not enough free disk space for {name} ({free} bytes free)")
    upload_id = uuid.uuid4().hex
    folder = st.root / UPLOADS / upload_id
    folder.mkdir(parents=True)
    part = folder / (name + ".part")
    received = 0
    buffer: list[bytes] = []
    buffered = 0
    try:
        with open(part, "wb") as f:
            async for chunk in request.stream():
                received += len(chunk)
                if received > config.max_upload_bytes:
                    raise HTTPException(413, f"{name} is over the upload limit of {config.max_upload_bytes} bytes")
                buffer.append(chunk)
                buffered += len(chunk)
                if buffered >= FLUSH_BYTES:
                    data, buffer, buffered = b"".join(buffer), [], 0
                    await asyncio.to_thread(f.write, data)
                    if shutil.disk_usage(st.root).free < config.min_free_bytes:
                        raise HTTPException(507, f"the disk is nearly full; the upload of {name} was stopped")
            if buffer:
                await asyncio.to_thread(f.write, b"".join(buffer))
        if declared is not None and received != int(declared):
            raise HTTPException(400, f"{name}: the upload ended after {received} of {declared} bytes")
        final = folder / name
        part.rename(final)
        if final.suffix.lower() == ".zip":
            try:
                await asyncio.to_thread(check_zip, final, max_bytes=4 * config.max_upload_bytes)
            except UnsafeArchiveError as e:
                raise HTTPException(400, str(e).replace(str(final), name)) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {"id": upload_id, "filename": name, "size": received}


@router.delete("/uploads/{upload_id}")
def delete_upload(st: St, upload_id: str) -> dict[str, Any]:
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id):
        raise HTTPException(400, "invalid upload id")
    shutil.rmtree(st.root / UPLOADS / upload_id, ignore_errors=True)
    return {"deleted": upload_id}


ImportType = Literal["video", "image", "file", "model", "detections", "tracks", "labels"]


class ImportIn(BaseModel):
    dataset: str = Field(min_length=1, max_length=200, description="Dataset to import into (created if needed).")
    data_type: ImportType = Field(description="labels: detections or tracks, whichever the files hold.")
    uploads: list[str] = Field(default_factory=list, description="Upload ids from PUT /api/uploads.")
    paths: list[str] = Field(default_factory=list, description="Files or folders on the server.")
    format: Literal["auto", "mot", "skyhook-json", "detrac-xml", "coco", "yolo"] = "auto"
    videos: str | None = Field(None, description="Detections: the video dataset they belong to (checks lengths).")
    images_dataset: str | None = Field(None, description="COCO/YOLO: also import the images into this dataset.")
    overwrite: bool = False


@router.post("/imports", status_code=202)
def start_import(st: St, body: ImportIn) -> dict[str, Any]:
    """Import uploaded files or server-side paths into a dataset, as a job (probing videos takes time)."""
    if not body.uploads and not body.paths:
        raise HTTPException(400, "nothing to import: give uploads or paths")
    for upload_id in body.uploads:
        if not re.fullmatch(r"[0-9a-f]{32}", upload_id) or not (st.root / UPLOADS / upload_id).is_dir():
            raise HTTPException(400, f"no finished upload {upload_id!r}; upload the file again")
    for p in body.paths:
        if not Path(p).expanduser().exists():
            raise HTTPException(400, f"no such file or folder on the server: {p}")
    existing = st.ws.find_dataset(body.dataset)
    wanted = None if body.data_type == "labels" else DataType(body.data_type)
    if existing is not None and wanted is not None and existing.data_type != wanted:
        raise HTTPException(409, f"dataset {body.dataset!r} holds {existing.data_type.value}, not {wanted.value}")
    if body.videos and st.ws.find_dataset(body.videos) is None:
        raise HTTPException(400, f"no video dataset named {body.videos!r}")
    spec = body.model_dump()
    spec["paths"] = [str(Path(p).expanduser().resolve()) for p in body.paths]
    spec["max_archive_bytes"] = 4 * st.config.max_upload_bytes
    n = len(body.uploads) + len(body.paths)
    job_id = st.runner.submit("import", f"import {n} file(s) into {body.dataset}", body.dataset, spec)
    return {"job_id": job_id}


class GenerateIn(BaseModel):
    dataset: str = Field("scene-videos", min_length=1, max_length=200)
    ground_truth: str | None = Field("scene-ground-truth", description="Dataset for the exact tracks (optional).")
    frames: int = Field(300, ge=10, le=20000)
    people: int = Field(10, ge=1, le=64)
    seed: int = Field(0, ge=0)


@router.post("/imports/generated", status_code=202)
def generate(st: St, body: GenerateIn) -> dict[str, Any]:
    """Generate the demo's plaza scene (a fixed camera, people crossing) with its exact ground truth."""
    job_id = st.runner.submit("generate", f"generate a scene into {body.dataset}", body.dataset, body.model_dump())
    return {"job_id": job_id}


@router.get("/check")
def check(
    st: St, hashes: bool = Query(False, description="Hash every file (slow on big workspaces); else sizes only.")
) -> dict[str, Any]:
    """Verify every item's file (``selftrack check``): missing and damaged files, files the catalog lacks,
    unfinished datasets, orphans. Read-only; repairing needs ``selftrack check --repair`` with the server stopped
    when the catalog itself is damaged (the server cannot open it then)."""
    return check_workspace(st.root, hashes=hashes).to_dict()


@router.post("/gc")
def gc(st: St, dry_run: bool = False) -> dict[str, Any]:
    """Delete computed datasets no node's current outputs use (old params, removed nodes), then unreferenced
    files older than the grace period (under the workspace lock, as ``selftrack gc``)."""
    result = garbage_collect(st.ws, dry_run=dry_run)
    return {
        "deleted": result.datasets,
        "files_removed": len(result.files.removed),
        "bytes_freed": result.files.bytes_freed,
        "training_caches_removed": len(result.caches),
        "training_cache_bytes": result.cache_bytes,
        "dry_run": dry_run,
    }
