"""Run peer tracker implementations on MOTChallenge detection files (inside ``.venv-peers``).

This script is executed by ``bench_trackers.py`` with the peers' virtual environment, never with
the project's: it imports only numpy and the peer packages (Roboflow ``trackers``, ``boxmot``), so
it must not import selftrack. It reads a JSON list of jobs on stdin, one per (peer, sequence,
config), and prints one JSON line per job. Each job's detections are parsed and cut into per-frame
inputs of the peer's own type first; the clock (CPU time of this process) runs around the loop of
``update`` calls only, and the best of ``repeat`` runs is reported. Results are written as MOTChallenge text files.

Job keys: ``peer`` (see ``PEERS``), ``det`` (path), ``num_frames``, ``params`` (constructor
keyword arguments), ``out`` (results path), ``repeat``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

warnings.filterwarnings("ignore")


def read_det(path: str, num_frames: int) -> list[np.ndarray]:
    """Per-frame ``(n, 6)`` arrays ``x1, y1, x2, y2, score, class`` (class 0) from a det file."""
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    frames: list[np.ndarray] = [np.zeros((0, 6)) for _ in range(num_frames)]
    if len(table) == 0:
        return frames
    f = table[:, 0].astype(np.int64) - 1
    boxes = np.zeros((len(table), 6))
    boxes[:, 0:2] = table[:, 2:4]
    boxes[:, 2:4] = table[:, 2:4] + table[:, 4:6]
    boxes[:, 4] = table[:, 6] if table.shape[1] > 6 else 1.0
    order = np.argsort(f, kind="stable")
    f, boxes = f[order], boxes[order]
    bounds = np.searchsorted(f, np.arange(num_frames + 1))
    return [boxes[bounds[i] : bounds[i + 1]] for i in range(num_frames)]


# ---------------------------------------------------------------------------- Roboflow trackers
def _roboflow(cls_name: str) -> Callable[[dict[str, Any]], Any]:
    def make(params: dict[str, Any]) -> Any:
        import trackers

        return getattr(trackers, cls_name)(**params)

    return make


def _roboflow_inputs(frames: list[np.ndarray]) -> list[Any]:
    import supervision as sv

    return [
        sv.Detections(xyxy=f[:, :4].copy(), confidence=f[:, 4].copy(), class_id=f[:, 5].astype(int)) for f in frames
    ]


def _roboflow_loop(tracker: Any, inputs: list[Any]) -> list[np.ndarray]:
    out = []
    for det in inputs:
        res = tracker.update(det)
        out.append((res.xyxy, res.tracker_id))
    return out


def _roboflow_rows(outputs: list[Any]) -> list[np.ndarray]:
    rows = []
    for xyxy, ids in outputs:
        keep = ids >= 0
        rows.append(np.concatenate([xyxy[keep], ids[keep, None].astype(float)], axis=1))
    return rows


# ---------------------------------------------------------------------------- boxmot
def _boxmot(cls_name: str, fixed: dict[str, Any]) -> Callable[[dict[str, Any]], Any]:
    def make(params: dict[str, Any]) -> Any:
        import boxmot

        return getattr(boxmot, cls_name)(**{**fixed, **params})

    return make


def _boxmot_inputs(frames: list[np.ndarray]) -> list[Any]:
    return [f.astype(np.float32) for f in frames]


def _boxmot_loop(tracker: Any, inputs: list[Any]) -> list[np.ndarray]:
    # No image: camera-motion compensation and re-id are off, and boxmot then skips image checks.
    return [tracker.update(det, None) for det in inputs]


def _boxmot_rows(outputs: list[Any]) -> list[np.ndarray]:
    return [np.asarray(o, dtype=float).reshape(-1, 8)[:, :5] for o in outputs]


PEERS: dict[str, tuple[Callable[[dict[str, Any]], Any], Callable, Callable, Callable]] = {
    "trackers.SORT": (_roboflow("SORTTracker"), _roboflow_inputs, _roboflow_loop, _roboflow_rows),
    "trackers.ByteTrack": (_roboflow("ByteTrackTracker"), _roboflow_inputs, _roboflow_loop, _roboflow_rows),
    "trackers.OC-SORT": (_roboflow("OCSORTTracker"), _roboflow_inputs, _roboflow_loop, _roboflow_rows),
    "trackers.BoT-SORT": (
        _roboflow("BoTSORTTracker"),
        _roboflow_inputs,
        _roboflow_loop,
        _roboflow_rows,
    ),
    "boxmot.ByteTrack": (_boxmot("ByteTrack", {}), _boxmot_inputs, _boxmot_loop, _boxmot_rows),
    "boxmot.OC-SORT": (_boxmot("OcSort", {}), _boxmot_inputs, _boxmot_loop, _boxmot_rows),
    "boxmot.BoT-SORT": (
        _boxmot("BotSort", {"use_embeddings": False, "use_cmc": False}),
        _boxmot_inputs,
        _boxmot_loop,
        _boxmot_rows,
    ),
    "boxmot.BoostTrack": (
        _boxmot("BoostTrack", {"use_embeddings": False, "use_cmc": False}),
        _boxmot_inputs,
        _boxmot_loop,
        _boxmot_rows,
    ),
}


def write_mot(path: str, rows: list[np.ndarray]) -> None:
    lines = []
    for f, r in enumerate(rows):
        for x1, y1, x2, y2, tid in r:
            lines.append(f"{f + 1},{int(tid)},{x1:.2f},{y1:.2f},{x2 - x1:.2f},{y2 - y1:.2f},1,-1,-1,-1")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + ("\n" if lines else ""))


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    make, to_inputs, loop, to_rows = PEERS[job["peer"]]
    frames = read_det(job["det"], int(job["num_frames"]))
    inputs = to_inputs(frames)
    loop(make(job["params"]), inputs[: min(10, len(inputs))])  # warm-up: lazy imports, caches
    best = float("inf")
    outputs: list[Any] = []
    for _ in range(max(1, int(job.get("repeat", 1)))):
        tracker = make(job["params"])
        start = time.process_time()
        outputs = loop(tracker, inputs)
        best = min(best, time.process_time() - start)
    write_mot(job["out"], to_rows(outputs))
    return {"peer": job["peer"], "out": job["out"], "seconds": best, "fps": len(inputs) / best if best > 0 else None}


def main() -> int:
    jobs = json.load(sys.stdin)
    for job in jobs:
        try:
            result = run_job(job)
        except Exception as exc:  # report and go on: one broken peer must not hide the others
            result = {"peer": job.get("peer"), "out": job.get("out"), "error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
