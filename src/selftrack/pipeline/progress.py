"""Job progress by stage: each stage counts its own unit towards a fixed total, with its own rate and ETA.

A job runs the nodes of its plan in order; each node is one or more **stages**. A per-item node (detect,
track, render) is one stage counted in frames (or in items, when the inputs do not say how many frames
they hold), its total fixed when the node starts from the frame counts of its input items. A
whole-dataset node declares its stages itself (:meth:`selftrack.pipeline.op.Reporter.stage`): re-id
training is ``crops`` (frames decoded), ``appearance`` and ``spatial`` (optimizer steps). A stage's total
never changes once it starts and its ``done`` never goes down, so its percentage only rises; its rate
is its own (units per second since it started) and its ETA is what is left of it at that rate. Mixing
units (frames of one node plus steps of the next, as one count) is what made the old bar jump back.

Everything is in the workspace's ``job_stages`` table, so the CLI, the web app and ``selftrack job``
read the same thing. :meth:`JobProgress.to_dict` (``selftrack job ID --json``, the web API) is::

    {
      "state": "running",                 # queued | running | done | failed | stopped | interrupted
      "elapsed": 312.5,                   # seconds since the job started (until it finished)
      "fraction": 0.41,                   # whole job, 0..1, never decreasing: see JobProgress.fraction
      "items_done": 1, "items_total": 2,  # items (keys) computed / to compute, all nodes together
      "current": "reid",                  # the node running now
      "nodes_done": 1, "nodes_total": 4,  # nodes of the plan finished (computed or up to date)
      "eta_seconds": 438.0,               # the current stage's ETA (null: not known yet)
      "stage": {...},                     # the current stage (the last one when the job is over), or null
      "stages": [                         # every stage so far, in order
        {"node": "detect", "name": "detect", "unit": "frames", "done": 1394, "total": 1394,
         "part": 1, "parts": 1, "state": "done", "fraction": 1.0, "elapsed": 116.2,
         "rate": 12.0, "eta_seconds": 0.0, "started_at": 1700000000.0, "finished_at": 1700000116.2},
        {"node": "reid", "name": "appearance", "unit": "steps", "done": 640, "total": 2000,
         "part": 2, "parts": 3, "state": "running", "fraction": 0.32, "elapsed": 206.0,
         "rate": 3.1, "eta_seconds": 438.0, "started_at": ..., "finished_at": null}
      ]
    }

``part``/``parts``: the stage's place among its node's stages (re-id training: crops 1/3, appearance 2/3,
spatial 3/3). A stage's ``state`` is ``running``, ``done``, or the job's end state when the job ended
during it (``stopped``, ``failed``, ``interrupted``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from selftrack.workspace.store import Workspace

_SCHEMA = """
CREATE TABLE IF NOT EXISTS job_stages (
    id INTEGER PRIMARY KEY,
    job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    node TEXT NOT NULL,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    total REAL NOT NULL,
    done REAL NOT NULL DEFAULT 0,
    part INTEGER NOT NULL DEFAULT 1,
    parts INTEGER NOT NULL DEFAULT 1,
    weights TEXT,
    state TEXT NOT NULL DEFAULT 'running',
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS job_stages_job ON job_stages(job_id, id)
"""


def ensure_stage_schema(ws: Workspace) -> None:
    ws.ensure_schema(_SCHEMA)  # writes only when a table is missing (read-only workspaces stay browsable)


@dataclass
class StageProgress:
    """One stage of a job: ``done`` of ``total`` ``unit`` (frames, boxes, steps, epochs, items)."""

    node: str
    name: str
    unit: str
    done: float
    total: float
    part: int = 1
    parts: int = 1
    state: str = "running"
    started_at: float = 0.0
    finished_at: float | None = None
    id: int = 0

    def elapsed(self, now: float | None = None) -> float:
        end = self.finished_at if self.finished_at is not None else (now if now is not None else time.time())
        return max(0.0, end - self.started_at)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total > 0 else (1.0 if self.state == "done" else 0.0)

    def rate(self, now: float | None = None) -> float | None:
        """Units per second since the stage started (``None`` before the first unit)."""
        seconds = self.elapsed(now)
        return self.done / seconds if self.done > 0 and seconds > 0 else None

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Seconds left at the stage's own rate (0 once finished, ``None`` until there is a rate)."""
        if self.state != "running":
            return 0.0 if self.state == "done" else None
        rate = self.rate(now)
        return max(0.0, (self.total - self.done) / rate) if rate else None

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        return {
            "node": self.node,
            "name": self.name,
            "unit": self.unit,
            "done": _number(self.done),
            "total": _number(self.total),
            "part": self.part,
            "parts": self.parts,
            "state": self.state,
            "fraction": self.fraction,
            "elapsed": self.elapsed(now),
            "rate": self.rate(now),
            "eta_seconds": self.eta_seconds(now),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }


def _number(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 3)


@dataclass
class JobProgress:
    """Where a job stands: its stages (see the module docstring for the JSON shape), items and plan."""

    state: str
    elapsed: float
    items_done: int
    items_total: int
    current: str
    nodes_done: int = 0
    nodes_total: int = 0
    stages: list[StageProgress] = field(default_factory=list)
    plan: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stage(self) -> StageProgress | None:
        """The running stage, else the last one."""
        running = [s for s in self.stages if s.state == "running"]
        return running[-1] if running else (self.stages[-1] if self.stages else None)

    @property
    def eta_seconds(self) -> float | None:
        stage = self.stage
        return stage.eta_seconds() if stage is not None and stage.state == "running" else None

    @property
    def fraction(self) -> float:
        """The whole job, 0..1: each node of the plan counts equally, a running node by the part of its stages done.

        Only rises: a node's stages are declared in order and each one's ``done`` only rises.
        """
        if self.state == "done":
            return 1.0
        if not self.plan:
            return 0.0
        latest: dict[str, StageProgress] = {}
        for s in self.stages:
            latest[s.node] = s
        total = 0.0
        for step in self.plan:
            if step.get("state") == "done":
                total += 1.0
            elif step.get("state") == "running" and step["node"] in latest:
                s = latest[step["node"]]
                total += ((s.part - 1) + s.fraction) / max(1, s.parts)
        return min(1.0, total / len(self.plan))

    def to_dict(self) -> dict[str, Any]:
        now = time.time()
        stage = self.stage
        return {
            "state": self.state,
            "elapsed": self.elapsed,
            "fraction": self.fraction,
            "items_done": self.items_done,
            "items_total": self.items_total,
            "current": self.current,
            "nodes_done": self.nodes_done,
            "nodes_total": self.nodes_total,
            "eta_seconds": self.eta_seconds,
            "stage": stage.to_dict(now) if stage is not None else None,
            "stages": [s.to_dict(now) for s in self.stages],
        }


# ------------------------------------------------------------------------------------------ writing stages
def start_stage(
    ws: Workspace,
    job_id: int,
    node: str,
    name: str,
    unit: str,
    total: float,
    *,
    part: int = 1,
    parts: int = 1,
    weights: Mapping[str, float] | None = None,
) -> int:
    """Open a stage (closing the job's running one as done). ``weights``: a per-item stage's planned units per key."""
    now = time.time()
    with ws.transaction() as db:
        db.execute(
            "UPDATE job_stages SET state = 'done', finished_at = ?, updated_at = ? WHERE job_id = ? AND state = 'running'",
            (now, now, job_id),
        )
        cur = db.execute(
            "INSERT INTO job_stages(job_id, node, name, unit, total, part, parts, weights, started_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job_id,
                node,
                name,
                unit,
                float(total),
                part,
                parts,
                json.dumps(dict(weights)) if weights else None,
                now,
                now,
            ),
        )
        return int(cur.lastrowid)


def advance_stage(ws: Workspace, stage_id: int, done: float) -> None:
    """Set a stage's ``done`` (never lower than before, never above its total)."""
    with ws.transaction() as db:
        db.execute(
            "UPDATE job_stages SET done = MIN(total, MAX(done, ?)), updated_at = ? WHERE id = ? AND state = 'running'",
            (float(done), time.time(), stage_id),
        )


def finish_stage(ws: Workspace, stage_id: int, state: str = "done") -> None:
    with ws.transaction() as db:
        db.execute(
            "UPDATE job_stages SET state = ?, finished_at = ?, updated_at = ? WHERE id = ? AND state = 'running'",
            (state, time.time(), time.time(), stage_id),
        )


def finish_running_stages(ws: Workspace, job_id: int, state: str) -> None:
    """The job ended (done, failed, stopped, interrupted): its running stage ends with it."""
    now = time.time()
    with ws.transaction() as db:
        db.execute(
            "UPDATE job_stages SET state = ?, finished_at = ?, updated_at = ? WHERE job_id = ? AND state = 'running'",
            (state, now, now, job_id),
        )


# ------------------------------------------------------------------------------------------ reading stages
def read_stages(ws: Workspace, job_id: int) -> list[StageProgress]:
    """The job's stages in order; a per-item stage's ``done`` is summed from its items' progress."""
    rows = ws.db.execute("SELECT * FROM job_stages WHERE job_id = ? ORDER BY id", (job_id,)).fetchall()
    out = []
    for r in rows:
        done = float(r["done"])
        if r["weights"]:
            done = _weighted_done(ws, job_id, r["node"], json.loads(r["weights"]))
            done = min(float(r["total"]), done)
        out.append(
            StageProgress(
                node=r["node"],
                name=r["name"],
                unit=r["unit"],
                done=done,
                total=float(r["total"]),
                part=r["part"],
                parts=r["parts"],
                state=r["state"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                id=r["id"],
            )
        )
    return out


def _weighted_done(ws: Workspace, job_id: int, node: str, weights: dict[str, float]) -> float:
    """Planned units of each item times the fraction its worker reported (whole once the item is done)."""
    rows = ws.db.execute(
        "SELECT key, state, frames_done, frames_total FROM job_items WHERE job_id = ? AND node = ?", (job_id, node)
    ).fetchall()
    done = 0.0
    for r in rows:
        weight = float(weights.get(r["key"], 0.0))
        if r["state"] == "done":
            done += weight
        elif r["frames_total"]:
            done += weight * min(1.0, r["frames_done"] / r["frames_total"])
    return done


def planned_units(items: list[Mapping[str, Any]]) -> float | None:
    """Frames one item's work covers, from its input items' metadata (``None``: they do not say).

    The largest frame count among the inputs: a video's ``frame_count`` or detections' ``num_frames``.
    """
    counts = []
    for meta in items:
        if isinstance(meta.get("video"), Mapping) and meta["video"].get("frame_count"):
            counts.append(int(meta["video"]["frame_count"]))
        elif isinstance(meta.get("detections"), Mapping) and meta["detections"].get("num_frames"):
            counts.append(int(meta["detections"]["num_frames"]))
    return float(max(counts)) if counts else None


class StageReporter:
    """A whole-dataset op's stages and progress, written to the job (throttled to twice a second).

    ``stage(name, unit, total)`` opens a stage; ``progress(done, total)`` advances the current one. An op
    that declares no stage gets one named after the node, in the op's ``progress_unit``; a ``progress``
    call whose total differs from the stage's opens the next stage rather than changing the total.
    """

    def __init__(self, ws: Workspace, job_id: int, node: str, default_unit: str = "items") -> None:
        self.ws = ws
        self.job_id = job_id
        self.node = node
        self.default_unit = default_unit
        self.stage_id: int | None = None
        self.total: float | None = None
        self.count = 0
        self._last = 0.0
        self._done = 0.0

    def stage(self, name: str, unit: str, total: float, *, part: int = 1, parts: int = 1) -> None:
        self.flush()
        self.stage_id = start_stage(self.ws, self.job_id, self.node, name, unit, total, part=part, parts=parts)
        self.total = float(total)
        self.count += 1
        self._done = 0.0

    def progress(self, done: float, total: float) -> None:
        if self.stage_id is None or (total and self.total is not None and float(total) != self.total):
            name = self.node if self.count == 0 else f"{self.node} ({self.count + 1})"
            self.stage(name, self.default_unit, total)
        self._done = float(done)
        now = time.monotonic()
        if now - self._last > 0.5 or (self.total is not None and done >= self.total):
            self._last = now
            self.flush()

    def flush(self) -> None:
        if self.stage_id is not None:
            advance_stage(self.ws, self.stage_id, self._done)

    def finish(self) -> None:
        self.flush()
        if self.stage_id is not None:
            finish_stage(self.ws, self.stage_id)


def start_item_stage(ws: Workspace, job_id: int, node: str, inputs: Mapping[str, list[Mapping[str, Any]]]) -> int:
    """The stage of a per-item node: frames when every item's inputs give a frame count, else items.

    ``inputs``: the metadata of each key's input items. The total is fixed here, before any item runs.
    """
    planned = {key: planned_units(metas) for key, metas in inputs.items()}
    if planned and all(v for v in planned.values()):
        weights = {k: float(v or 0) for k, v in planned.items()}
        unit = "frames"
    else:
        weights = {k: 1.0 for k in planned}
        unit = "items"
    return start_stage(ws, job_id, node, node, unit, sum(weights.values()), weights=weights)
