"""``/api/datasets``: datasets, items, item files, boxes per frame window, proxies, export."""

from __future__ import annotations

import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from selftrack import pipeline
from selftrack.core.detections import Detections
from selftrack.render import track_color
from selftrack.render.colors import UNTRACKED_COLOR
from selftrack.server import catalog
from selftrack.server.state import AppState, St
from selftrack.server.worker import proxy_path
from selftrack.workspace import Dataset, DataType, Item, Workspace
from selftrack.workspace.exports import export_entries, item_export, zip_stream

router = APIRouter(prefix="/api/datasets", tags=["datasets"])

MAX_WINDOW = 2000
"""Most frames of boxes one request returns (the player asks for a few hundred at a time)."""


def get_dataset(ws: Workspace, name: str) -> Dataset:
    ds = ws.find_dataset(name)
    if ds is None:
        raise HTTPException(404, f"no dataset named {name!r}")
    return ds


def get_item(ws: Workspace, name: str, key: str) -> Item:
    get_dataset(ws, name)
    item = ws.find_item(name, key)
    if item is None:
        raise HTTPException(404, f"dataset {name!r} has no item {key!r}")
    return item


def inside_workspace(ws: Workspace, path: Path) -> Path:
    """The real path of an item file, refused unless it lies inside the workspace (no link out of it)."""
    real = path.resolve()
    if not real.is_relative_to(ws.root.resolve()):
        raise HTTPException(403, "this item's file lies outside the workspace; it is not served")
    if not real.is_file():
        raise HTTPException(404, "this item's file is missing from the workspace (run `selftrack check`)")
    return real


# ---------------------------------------------------------------------------------------------- datasets
@router.get("")
def list_datasets(
    st: St,
    offset: int = Query(0, ge=0),
    limit: int = Query(50, ge=1, le=500),
    q: str = Query("", description="Part of the name."),
    type: str = Query("", description="Data types, comma-separated (video,detections,...)."),
    kind: str = Query("", description="source or computed."),
) -> dict[str, Any]:
    """Datasets with their item count and size, a page at a time."""
    return catalog.datasets_page(st.ws, offset=offset, limit=limit, q=q, data_type=type, kind=kind)


class NewDataset(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    data_type: DataType


@router.post("", status_code=201)
def create_dataset(st: St, body: NewDataset) -> dict[str, Any]:
    """An empty source dataset (to import into)."""
    if st.ws.find_dataset(body.name) is not None:
        raise HTTPException(409, f"a dataset named {body.name!r} already exists")
    st.ws.create_dataset(body.name, body.data_type)
    return catalog.dataset_detail(st.ws, body.name)


@router.get("/{name}")
def dataset(st: St, name: str) -> dict[str, Any]:
    get_dataset(st.ws, name)
    return catalog.dataset_detail(st.ws, name)


@router.delete("/{name}")
def delete_dataset(st: St, name: str) -> dict[str, Any]:
    """Delete a dataset and its files. Refused (409, naming who) while a job writes or reads it, or while
    nodes read an imported dataset (rewire them first); under the workspace lock, as ``gc``."""
    get_dataset(st.ws, name)
    pipeline.delete_dataset(st.ws, name)
    return {"deleted": name}


@router.get("/{name}/items")
def list_items(
    st: St,
    name: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    q: str = Query("", description="Part of the key."),
) -> dict[str, Any]:
    """Items of a dataset, a page at a time, ordered by key."""
    get_dataset(st.ws, name)
    return catalog.items_page(st.ws, name, offset=offset, limit=limit, q=q)


@router.get("/{name}/metrics")
def metrics(st: St, name: str) -> dict[str, Any]:
    """The summaries of an ``evaluate`` output: one row per item and COMBINED."""
    get_dataset(st.ws, name)
    rows = [
        {"key": it.key, **it.metadata["summary"]}
        for it in st.ws.items(name)
        if isinstance(it.metadata.get("summary"), dict)
    ]
    rows.sort(key=lambda r: (r["key"] == "COMBINED", r["key"]))
    return {"rows": rows}


@router.get("/{name}/export")
def export(st: St, name: str, format: str | None = Query(None)) -> StreamingResponse:
    """The whole dataset as a zip, streamed as it is made (detections as MOTChallenge text by default, or
    skyhook-json / npz; videos and images stored as they are, not compressed again)."""
    get_dataset(st.ws, name)
    entries = export_entries(st.ws, name, format=format)  # a wrong format is refused before the zip starts
    return StreamingResponse(
        zip_stream(st.ws, entries, name),
        media_type="application/zip",
        headers={"Content-Disposition": _attachment(f"{name}.zip")},
    )


def _attachment(filename: str) -> str:
    quoted = quote(filename)
    return f"attachment; filename*=utf-8''{quoted}" if quoted != filename else f'attachment; filename="{filename}"'


# ---------------------------------------------------------------------------------------------- items
def _proxy_state(st: AppState, item: Item) -> dict[str, Any]:
    if "video" not in item.metadata:
        return {"state": "none"}
    if catalog.browser_playable(item.format, item.metadata["video"]):
        return {"state": "direct"}
    if proxy_path(st.root, item.sha256).is_file():
        return {"state": "ready"}
    row = st.ws.db.execute(
        "SELECT id FROM jobs WHERE kind = 'proxy' AND target = ? AND state IN ('queued', 'running') ORDER BY id DESC",
        (f"{item.dataset}/{item.key}",),
    ).fetchone()
    return {"state": "running", "job_id": row[0]} if row else {"state": "missing"}


@router.get("/{name}/items/{key}")
def item(st: St, name: str, key: str) -> dict[str, Any]:
    """An item: metadata, the overlays and videos that share its key, and how the browser can play it."""
    it = get_item(st.ws, name, key)
    ds = st.ws.dataset(name)
    overlays = catalog.datasets_with_key(st.ws, key, (DataType.DETECTIONS, DataType.TRACKS))
    videos = catalog.datasets_with_key(st.ws, key, (DataType.VIDEO,))
    out = {
        "dataset": name,
        "data_type": ds.data_type.value,
        "op": ds.metadata.get("op"),
        "key": key,
        "format": it.format,
        "size": it.size,
        "sha256": it.sha256,
        "metadata": it.metadata,
        "overlays": [
            {"dataset": d.name, "data_type": d.data_type.value, "node": d.metadata.get("node")} for d in overlays
        ],
        "videos": [d.name for d in videos],
        "playback": _proxy_state(st, it),
    }
    return out


@router.delete("/{name}/items/{key}")
def delete_item(st: St, name: str, key: str) -> dict[str, Any]:
    get_item(st.ws, name, key)
    st.ws.delete_item(name, key)
    return {"deleted": key}


@router.get("/{name}/items/{key}/file")
def item_file(st: St, name: str, key: str, download: bool = False) -> FileResponse:
    """The item's file as stored (range requests supported, so videos seek)."""
    it = get_item(st.ws, name, key)
    path = inside_workspace(st.ws, it.path)
    filename = it.metadata.get("filename") or f"{key}.{it.format}"
    return FileResponse(
        path,
        filename=filename if download else None,
        content_disposition_type="attachment" if download else "inline",
        media_type=_media_type(it.format),
    )


@router.get("/{name}/items/{key}/video")
def item_video(st: St, name: str, key: str) -> FileResponse:
    """What the player plays: the file itself if browsers can, else its H.264 proxy (POST .../proxy first)."""
    it = get_item(st.ws, name, key)
    playback = _proxy_state(st, it)
    if playback["state"] == "direct":
        return FileResponse(inside_workspace(st.ws, it.path), media_type=_media_type(it.format))
    if playback["state"] == "ready":
        return FileResponse(inside_workspace(st.ws, proxy_path(st.root, it.sha256)), media_type="video/mp4")
    raise HTTPException(409, f"{name}/{key} needs a browser-playable copy first (POST its /proxy)")


@router.post("/{name}/items/{key}/proxy")
def make_proxy(st: St, name: str, key: str) -> dict[str, Any]:
    """Start (once) the job that makes an H.264 copy of a video browsers cannot play; returns its state."""
    it = get_item(st.ws, name, key)
    playback = _proxy_state(st, it)
    if playback["state"] == "missing":
        job_id = st.runner.submit(
            "proxy", f"browser copy of {name}/{key}", f"{name}/{key}", {"dataset": name, "key": key}
        )
        playback = {"state": "running", "job_id": job_id}
    elif playback["state"] == "none":
        raise HTTPException(400, f"{name}/{key} is not a video")
    return playback


class _BoxCache:
    """Recently viewed detections, sorted by frame, so a window is two binary searches."""

    def __init__(self, size: int = 24) -> None:
        self.size = size
        self._d: OrderedDict[str, tuple[Detections, np.ndarray]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, item: Item) -> tuple[Detections, np.ndarray]:
        with self._lock:
            if item.sha256 in self._d:
                self._d.move_to_end(item.sha256)
                return self._d[item.sha256]
        dets = item.load_detections()
        order = np.argsort(dets.frame, kind="stable")
        dets = dets[order]
        value = (dets, dets.frame)
        with self._lock:
            self._d[item.sha256] = value
            while len(self._d) > self.size:
                self._d.popitem(last=False)
        return value


BOXES = _BoxCache()


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


@router.get("/{name}/items/{key}/boxes")
def boxes(
    st: St, name: str, key: str, start: int = Query(0, ge=0), count: int = Query(300, ge=1, le=MAX_WINDOW)
) -> dict[str, Any]:
    """Boxes of frames ``start .. start+count-1``: ``[x1, y1, x2, y2, track_id, score, class_id]`` per box, in
    canvas pixels, and each track's colour (the same as ``render`` draws)."""
    it = get_item(st.ws, name, key)
    if it.format != "npz":
        raise HTTPException(400, f"{name}/{key} holds no detections")
    dets, frames = BOXES.get(it)
    lo, hi = np.searchsorted(frames, start, "left"), np.searchsorted(frames, start + count, "left")
    window = dets[np.arange(lo, hi)]
    by_frame: dict[str, list[list[float]]] = {}
    xyxy = np.round(window.xyxy, 1).tolist()
    for f, box, tid, score, cls in zip(
        window.frame.tolist(),
        xyxy,
        window.track_id.tolist(),
        window.score.tolist(),
        window.class_id.tolist(),
        strict=True,
    ):
        by_frame.setdefault(str(f), []).append([*box, tid, round(score, 3), cls])
    colors = {str(t): _hex(track_color(t)) for t in sorted(set(window.track_id.tolist())) if t >= 0}
    return {
        "canvas": list(dets.canvas) if dets.canvas else None,
        "num_frames": dets.num_frames,
        "start": start,
        "stop": start + count,
        "frames": by_frame,
        "colors": colors,
        "untracked_color": _hex(UNTRACKED_COLOR),
        "classes": {str(k): v for k, v in dets.classes.items()},
    }


@router.get("/{name}/items/{key}/table")
def table(
    st: St,
    name: str,
    key: str,
    offset: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    frame: int | None = Query(None, ge=0, description="Start at this frame."),
) -> dict[str, Any]:
    """Rows of a detections/tracks item (frame, track, box, score, class), a page at a time."""
    it = get_item(st.ws, name, key)
    if it.format != "npz":
        raise HTTPException(400, f"{name}/{key} holds no detections")
    dets, frames = BOXES.get(it)
    if frame is not None:
        offset = int(np.searchsorted(frames, frame, "left"))
    page = dets[np.arange(offset, min(len(dets), offset + limit))]
    rows = [
        {"frame": f, "track_id": t, "x1": b[0], "y1": b[1], "x2": b[2], "y2": b[3], "score": round(s, 4), "class": c}
        for f, t, b, s, c in zip(
            page.frame.tolist(),
            page.track_id.tolist(),
            np.round(page.xyxy, 1).tolist(),
            page.score.tolist(),
            [dets.class_name(c) if c >= 0 else "" for c in page.class_id.tolist()],
            strict=True,
        )
    ]
    return {"total": len(dets), "offset": offset, "limit": limit, "rows": rows}


@router.get("/{name}/items/{key}/export")
def export_item(st: St, name: str, key: str, format: str | None = Query(None)) -> FileResponse:
    """One item in a chosen format (detections: mot by default, skyhook-json or npz; other items as stored)."""
    it = get_item(st.ws, name, key)
    entry, folder = item_export(st.ws, name, key, format=format)
    if folder is None:
        return FileResponse(inside_workspace(st.ws, it.path), filename=entry.name)
    return FileResponse(
        folder / entry.name, filename=entry.name, background=BackgroundTask(shutil.rmtree, folder, ignore_errors=True)
    )


def _media_type(fmt: str) -> str:
    return {
        "mp4": "video/mp4",
        "m4v": "video/mp4",
        "mov": "video/quicktime",
        "webm": "video/webm",
        "avi": "video/x-msvideo",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
        "bmp": "image/bmp",
        "json": "application/json",
        "txt": "text/plain; charset=utf-8",
        "yaml": "text/plain; charset=utf-8",
    }.get(fmt.lower(), "application/octet-stream")
