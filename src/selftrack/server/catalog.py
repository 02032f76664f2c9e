"""Read-only views of the catalog for the app: pages of datasets and items, overlays, node states.

The store's own methods load whole datasets (what the engine wants); a page of a 10,000-item dataset
must not, so the listing queries are here, as SQL with LIMIT/OFFSET over the catalog's primary keys.
"""

from __future__ import annotations

import json
import time
from typing import Any

from selftrack.core.errors import SelftrackError
from selftrack.pipeline import JobStore, Pipeline, current_outputs
from selftrack.workspace import Dataset, DataType, Workspace

BROWSER_CODECS = {("h264", "mp4"), ("h264", "m4v"), ("h264", "mov"), ("vp8", "webm"), ("vp9", "webm"), ("av1", "mp4")}
"""Codec and container pairs Chromium and Firefox play; other videos get an H.264 proxy."""


def dataset_state(done: bool, n_items: int) -> str:
    """A dataset's state, the one rule the Datasets page and the Pipeline page (a node's outputs) both show:
    ``done``; ``partial`` when it has items but was not finished (a stopped, failed or partial run); ``not
    computed`` when it has none yet (a run stopped before its first item)."""
    if done:
        return "done"
    return "partial" if n_items else "not computed"


def dataset_summary(row: Any) -> dict[str, Any]:
    meta = json.loads(row["metadata"])
    return {
        "name": row["name"],
        "data_type": row["data_type"],
        "kind": row["kind"],
        "done": bool(row["done"]),
        "state": dataset_state(bool(row["done"]), row["n_items"]),
        "items": row["n_items"],
        "size": row["n_bytes"],
        "node": meta.get("node"),
        "op": meta.get("op"),
        "output": meta.get("output"),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def datasets_page(
    ws: Workspace, *, offset: int = 0, limit: int = 50, q: str = "", data_type: str = "", kind: str = ""
) -> dict[str, Any]:
    where, args = ["1 = 1"], []
    if q:
        where.append("d.name LIKE ? ESCAPE '\\'")
        args.append("%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    if data_type:
        marks = ",".join("?" * len(data_type.split(",")))
        where.append(f"d.data_type IN ({marks})")
        args.extend(data_type.split(","))
    if kind:
        where.append("d.kind = ?")
        args.append(kind)
    cond = " AND ".join(where)
    total = ws.db.execute(f"SELECT COUNT(*) FROM datasets d WHERE {cond}", args).fetchone()[0]
    rows = ws.db.execute(
        "SELECT d.*, (SELECT COUNT(*) FROM items i WHERE i.dataset_id = d.id) AS n_items,"
        " (SELECT COALESCE(SUM(size), 0) FROM items i WHERE i.dataset_id = d.id) AS n_bytes"
        f" FROM datasets d WHERE {cond} ORDER BY d.kind DESC, d.name LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    return {"total": total, "offset": offset, "limit": limit, "datasets": [dataset_summary(r) for r in rows]}


def dataset_detail(ws: Workspace, name: str) -> dict[str, Any]:
    ds = ws.dataset(name)
    row = ws.db.execute(
        "SELECT d.*, COUNT(i.key) AS n_items, COALESCE(SUM(i.size), 0) AS n_bytes FROM datasets d"
        " LEFT JOIN items i ON i.dataset_id = d.id WHERE d.id = ? GROUP BY d.id",
        (ds.id,),
    ).fetchone()
    out = dataset_summary(row)
    out["metadata"] = ds.metadata
    out["content_hash"] = ds.content_hash
    formats = ws.db.execute(
        "SELECT format, COUNT(*) FROM items WHERE dataset_id = ? GROUP BY format", (ds.id,)
    ).fetchall()
    out["formats"] = {r[0]: r[1] for r in formats}
    out["is_metrics"] = bool(
        ws.db.execute(
            "SELECT 1 FROM items WHERE dataset_id = ? AND json_extract(metadata, '$.summary') IS NOT NULL LIMIT 1",
            (ds.id,),
        ).fetchone()
    )
    return out


def item_summary(row: Any) -> dict[str, Any]:
    meta = json.loads(row["metadata"])
    out: dict[str, Any] = {"key": row["key"], "format": row["format"], "size": row["size"]}
    if "video" in meta:
        v = meta["video"]
        out["video"] = {k: v.get(k) for k in ("width", "height", "fps", "frame_count", "codec", "duration")}
    if "detections" in meta:
        d = meta["detections"]
        out["detections"] = {k: d.get(k) for k in ("num_boxes", "num_tracks", "num_frames", "canvas")}
    if "width" in meta and "height" in meta:
        out["image"] = {"width": meta["width"], "height": meta["height"]}
    if "summary" in meta:
        out["summary"] = meta["summary"]
    if "filename" in meta:
        out["filename"] = meta["filename"]
    return out


def items_page(ws: Workspace, dataset: str, *, offset: int = 0, limit: int = 100, q: str = "") -> dict[str, Any]:
    ds = ws.dataset(dataset)
    where, args = "dataset_id = ?", [ds.id]
    if q:
        where += " AND key LIKE ? ESCAPE '\\'"
        args.append("%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    total = ws.db.execute(f"SELECT COUNT(*) FROM items WHERE {where}", args).fetchone()[0]
    rows = ws.db.execute(
        f"SELECT key, format, size, metadata FROM items WHERE {where} ORDER BY key LIMIT ? OFFSET ?",
        [*args, limit, offset],
    ).fetchall()
    return {"total": total, "offset": offset, "limit": limit, "items": [item_summary(r) for r in rows]}


def datasets_with_key(ws: Workspace, key: str, types: tuple[DataType, ...]) -> list[Dataset]:
    """Datasets of the given types holding an item ``key`` (the overlays and videos an item page offers)."""
    marks = ",".join("?" * len(types))
    rows = ws.db.execute(
        f"SELECT d.name FROM items i JOIN datasets d ON d.id = i.dataset_id WHERE i.key = ? AND d.data_type IN ({marks})"
        " ORDER BY d.kind DESC, d.updated_at DESC",
        (key, *[t.value for t in types]),
    ).fetchall()
    return [ws.dataset(r[0]) for r in rows]


def browser_playable(format: str, video: dict[str, Any]) -> bool:
    return (str(video.get("codec", "")).lower(), format.lower()) in BROWSER_CODECS and video.get("pix_fmt") in (
        "yuv420p",
        "yuvj420p",
        "",
        None,
    )


# ---------------------------------------------------------------------------------------------- node states
def node_states(ws: Workspace, pipeline: Pipeline, jobs: JobStore) -> dict[str, dict[str, Any]]:
    """Per node: its current output datasets and a state: running, queued, failed, done, partial, stale or
    not computed (SkyhookML only knew "View" or "Not Computed").

    ``stale``: something the node reads changed after a run last brought it up to date (an input item
    written later, a parent recomputed, the node's params or wiring edited), or a parent is not up to
    date itself. "Brought up to date" is the end of the latest run job (from the app, the CLI or the
    API) whose plan finished this node fully; the engine's cache keys then decide exactly what a new run
    recomputes, so this view never needs to know how they are made.
    """
    nodes = pipeline.nodes()
    order = Pipeline.topological_order(nodes)
    edited = {r[0]: r[1] for r in ws.db.execute("SELECT name, updated_at FROM nodes")}
    active: dict[str, dict[str, Any]] = {}
    failed: dict[str, dict[str, Any]] = {}
    verified: dict[str, float] = {}
    seen: set[str] = set()
    for r in ws.db.execute(
        "SELECT id, state, plan, error, finished_at, created_at FROM jobs WHERE kind = 'run' ORDER BY id DESC LIMIT 500"
    ):
        for step in json.loads(r["plan"] or "[]"):
            n = step.get("node")
            if n not in nodes:
                continue
            if step.get("state") == "done" and not step.get("partial") and n not in verified:
                verified[n] = r["finished_at"] or time.time()
            if n in seen:
                continue
            if r["state"] in ("queued", "running"):
                if step.get("state") in ("running", "pending"):
                    active[n] = {"job_id": r["id"], "state": "running" if step.get("state") == "running" else "queued"}
                    seen.add(n)
                continue
            seen.add(n)
            if r["state"] == "failed" and step.get("state") == "running":
                failed[n] = {"job_id": r["id"], "error": r["error"]}
    for r in ws.db.execute("SELECT id, target FROM jobs WHERE kind = 'run' AND state = 'queued'"):
        if r["target"] in nodes and r["target"] not in active:  # no plan yet: its target waits
            active[r["target"]] = {"job_id": r["id"], "state": "queued"}

    def written_at(ds: Dataset) -> float:
        row = ws.db.execute("SELECT MAX(created_at) FROM items WHERE dataset_id = ?", (ds.id,)).fetchone()
        return row[0] or ds.created_at

    out: dict[str, dict[str, Any]] = {}
    memo: dict[str, dict[str, str | None]] = {}  # a parent's outputs are resolved once for all its children
    for name in order:
        node = nodes[name]
        try:
            outputs = current_outputs(ws, name, memo)
        except SelftrackError:
            outputs = {}
        changed = edited.get(name, 0.0)
        parent_behind = False
        for refs in node.inputs.values():
            for ref in refs:
                if ref.dataset is not None:
                    ds = ws.find_dataset(ref.dataset)
                    changed = max(changed, written_at(ds) if ds else 0.0)
                elif ref.node in out:
                    parent = out[ref.node]
                    parent_behind |= parent["state"] != "done"
                    changed = max(changed, parent["written_at"])
        outs: dict[str, Any] = {}
        states = []
        written = 0.0
        for port in node.op_class.outputs:
            ds_name = outputs.get(port.name)
            ds = ws.find_dataset(ds_name) if ds_name else None
            if ds is None:
                outs[port.name] = {"dataset": None, "state": "not computed", "data_type": port.types[0].value}
                states.append("not computed")
                continue
            n_items = ws.db.execute("SELECT COUNT(*) FROM items WHERE dataset_id = ?", (ds.id,)).fetchone()[0]
            written = max(written, written_at(ds))
            if not ds.done:
                s = dataset_state(ds.done, n_items)
            elif parent_behind or (name in verified and changed > verified[name]):
                s = "stale"
            else:
                s = "done"
            outs[port.name] = {"dataset": ds.name, "state": s, "items": n_items, "data_type": ds.data_type.value}
            states.append(s)
        state = _node_state(states)
        info: dict[str, Any] = {}
        if name in active:
            state, info = active[name]["state"], active[name]
        elif name in failed and state != "done":
            state, info = "failed", failed[name]
        out[name] = {"state": state, "outputs": outs, "written_at": written, **info}
    return out


def _node_state(output_states: list[str]) -> str:
    """A node's state from its outputs': not computed only when none has an item; some items anywhere
    (an output partial, or one computed and another not) make it partial; then stale; else done."""
    if output_states and all(s == "not computed" for s in output_states):
        return "not computed"
    if any(s in ("partial", "not computed") for s in output_states):
        return "partial"
    return "stale" if "stale" in output_states else "done"
