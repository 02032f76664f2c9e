"""Re-id benchmark: self-supervised UNS20 training and the re-id tracker against the classic trackers.

Sections (``--sections``, default all):

- ``pets``: train a model on PETS09-S2L1 (its video and public detections only, no ground truth),
  then score on frames 1-400 (the ground truth's range) the classic trackers of
  ``selftrack.trackers`` (with their default thresholds, and with thresholds chosen by a grid on
  frames 1-400) and the re-id tracker's ablation rows (motion only, + post-processing, +
  appearance in the cost, + re-linking, + stitching, UNS20's inference, SkyhookML's tracker).
- ``synth``: the same on a generated plaza scene (``selftrack.synth``) where people cross, occlude
  each other and leave and come back; detections are the visible ground-truth boxes with jitter
  and misses.
- ``speed``: raw decoding and ``track_with_reid`` (decode + crop + CNN + tracking) frames per
  second on PETS09, and the training time and peak memory of the ``pets`` section.
- ``memory``: peak memory of training on generated videos of two lengths (same step budget).

Training runs in a child process (so its peak resident memory is its own, ``ru_maxrss``). Models,
appearance vectors and crop caches go to ``--work`` (default ``/tmp/selftrack-bench-reid``); a
second run reuses trained models unless ``--retrain``. The tables are written into
``BENCHMARKS.md`` between ``<!-- reid:start -->`` and ``<!-- reid:end -->``.

Usage (from the repository root)::

    python benchmarks/bench_reid.py                      # everything, writes BENCHMARKS.md
    python benchmarks/bench_reid.py --sections pets --no-write
    python benchmarks/bench_reid.py --tune               # re-run the grid for the re-id tracker
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from selftrack.core.detections import Detections  # noqa: E402
from selftrack.formats.mot import read_mot  # noqa: E402
from selftrack.metrics.evaluate import evaluate  # noqa: E402
from selftrack.trackers import drop_short_tracks, get_tracker, interpolate_tracks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
START, END = "<!-- reid:start -->", "<!-- reid:end -->"
PP = {"min_length": 4, "max_gap": 20}  # the post-processing every tracker may use (UNS20's)

# ---------------------------------------------------------------------------- configurations
CLASSIC_DEFAULTS: dict[str, dict[str, Any]] = {
    "sort": {},
    "bytetrack": {"frame_rate": 7.0},
    "ocsort": {},
}
CLASSIC_GRID: dict[str, list[dict[str, Any]]] = {
    "sort": [
        {"max_age": a, "min_hits": h, "iou_threshold": i, "min_score": s}
        for a, h, i, s in itertools.product((3, 10, 30), (1, 3), (0.1, 0.3), (0.5, 0.8))
    ],
    "bytetrack": [
        {"track_thresh": t, "track_buffer": b, "frame_rate": 7.0, "match_thresh": m}
        for t, b, m in itertools.product((0.5, 0.7, 0.8, 0.9), (10, 30, 90), (0.8, 0.9))
    ],
    "ocsort": [
        {"det_thresh": t, "max_age": a, "min_hits": h, "iou_threshold": i, "use_byte": u}
        for t, a, h, i, u in itertools.product((0.5, 0.8), (10, 30), (1, 3), (0.1, 0.3), (False, True))
    ],
}
# The re-id tracker's settings for PETS09, chosen on frames 1-400 by their mean HOTA over nine models
# (training seeds and variants); --tune runs the grid below on one model.
OURS_PETS: dict[str, Any] = {"high_score": 0.8, "reid_weight": 1.0, "relink_max_age": 30, "clean_crop_iou": 0.1}
# On the generated scene people leave the view for long and come back: offline stitching pays there.
OURS_SYNTH: dict[str, Any] = {
    "high_score": 0.5,
    "reid_weight": 1.0,
    "relink_max_age": 30,
    "clean_crop_iou": 0.1,
    "stitch_max_gap": 100,
}
OURS_GRID: dict[str, list[Any]] = {
    "high_score": [0.5, 0.8],
    "reid_weight": [1.0, 2.0],
    "max_age": [10, 20],
    "clean_crop_iou": [None, 0.1],
    "relink_max_age": [0, 30],
}
SKYHOOK = {
    "motion": "velocity",
    "matching": "greedy",
    "high_score": 0.0,
    "low_score": 0.0,
    "relink_max_age": 0,
    "clean_crop_iou": None,
    "output_box": "detection",
    "min_track_length": 0,
    "max_interpolation_gap": 0,
}


def ablation_rows(tuned: dict[str, Any]) -> list[tuple[str, bool, dict[str, Any]]]:
    """``(label, uses the model, params)``: each row adds one piece to the one before, then variants."""
    cost = {k: v for k, v in tuned.items() if k not in ("relink_max_age", "stitch_max_gap")} | {"relink_max_age": 0}
    motion = {k: v for k, v in cost.items() if k not in ("reid_weight", "clean_crop_iou")}
    relink = {**cost, "relink_max_age": tuned.get("relink_max_age") or 30}
    stitch = {**relink, "stitch_max_gap": tuned.get("stitch_max_gap") or 100}

    def mark(label: str, kw: dict[str, Any]) -> str:
        same = {k: v for k, v in kw.items() if v} == {k: v for k, v in tuned.items() if v}
        return label + (" (final)" if same else "")

    return [
        (
            "motion only (Kalman, two-stage), no post-processing",
            False,
            {**motion, "min_track_length": 0, "max_interpolation_gap": 0},
        ),
        ("motion + post-processing", False, motion),
        (mark("+ appearance in the matching cost", cost), True, cost),
        (mark("+ appearance re-linking of lost tracks (online)", relink), True, relink),
        (mark("+ offline stitching of fragments by appearance", stitch), True, stitch),
        ("final without the clean-crop history rule", True, {**tuned, "clean_crop_iou": None}),
        ("final with the detection box output instead of the Kalman box", True, {**tuned, "output_box": "detection"}),
        (
            "UNS20 inference as published (recurrent box matcher, greedy)",
            True,
            {"motion": "uns20", "high_score": tuned.get("high_score", 0.5)},
        ),
        ("SkyhookML reid_tracker (velocity, greedy, IoU + reid)", True, SKYHOOK),
    ]


# ---------------------------------------------------------------------------- helpers
def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return f"{cpu}, {os.cpu_count()} cores, load average {load:.1f} at the start, Python {platform.python_version()}"


def score(gt: Detections, tracks: Detections, frames: tuple[int, int] | None) -> dict[str, float]:
    s = evaluate(gt, tracks, frames=frames).summary()
    return {k: float(s[k]) for k in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW", "FP", "FN")}


def classic(det: Detections, gt: Detections, frames: tuple[int, int] | None, log: Any) -> list[dict[str, Any]]:
    """Every classic tracker with default and grid-tuned thresholds, each with and without post-processing."""
    rows = []
    for name in ("sort", "bytetrack", "ocsort"):
        candidates = [("defaults", CLASSIC_DEFAULTS[name])] + [("tuned", kw) for kw in CLASSIC_GRID[name]]
        best: dict[str, dict[str, Any]] = {}
        for config, kw in candidates:
            raw = get_tracker(name, **kw).track(det)
            for pp in (False, True):
                out = interpolate_tracks(drop_short_tracks(raw, PP["min_length"]), PP["max_gap"]) if pp else raw
                s = score(gt, out, frames)
                row = {"tracker": name, "config": config, "params": kw, "postprocess": pp, **s}
                key = "defaults" if config == "defaults" else "tuned"
                if key not in best or s["HOTA"] > best[key]["HOTA"]:
                    best[key] = row
        rows += [best["defaults"], best["tuned"]]
        log(f"  {name}: defaults HOTA {best['defaults']['HOTA']:.3f}, tuned HOTA {best['tuned']['HOTA']:.3f}")
    return rows


def child_train(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a child process: train, and report time, peak memory and validation losses."""
    import torch

    from selftrack.reid import ReidTrainParams, train_reid

    det = (
        read_mot(spec["det"], canvas=tuple(spec["canvas"]), num_frames=spec["num_frames"]) if spec.get("det") else None
    )
    if det is None:
        arrays = np.load(spec["det_npz"])
        det = Detections.create(
            arrays["frame"],
            arrays["xyxy"],
            arrays["score"],
            canvas=tuple(spec["canvas"]),
            num_frames=spec["num_frames"],
        )
    losses: list[dict[str, Any]] = []
    t = time.perf_counter()
    result = train_reid(
        [spec["video"]],
        [det],
        params=ReidTrainParams(**spec["params"]),
        cache_dir=spec["cache"],
        out_path=spec["out"],
        on_event=lambda kind, info: losses.append(info) if kind == "validation" else None,
    )
    return {
        "seconds": time.perf_counter() - t,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "best_val_loss": result.best_val_loss,
        "validation": losses,
        "torch_threads": torch.get_num_threads(),
        "stages": result.stages,
    }


def train_in_child(spec: dict[str, Any], log: Any) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, "--child-train", json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"training failed:\n{proc.stderr[-3000:]}")
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    Path(spec["out"] + ".train.json").write_text(json.dumps(info))
    log(
        f"  trained in {info['seconds'] / 60:.1f} min, peak RSS {info['peak_rss_mb']:.0f} MB, best val {info['best_val_loss']}"
    )
    return info


def ours(model: Any, det: Detections, feats: np.ndarray, params: dict[str, Any], uses_model: bool) -> Detections:
    from selftrack.reid import ReidTracker

    tracker = ReidTracker(model if uses_model else None, **params)
    return tracker.track(det, feats if uses_model else None)


def tune(
    model: Any, det: Detections, feats: np.ndarray, gt: Detections, frames: tuple[int, int], log: Any
) -> dict[str, Any]:
    keys = list(OURS_GRID)
    best: tuple[float, dict[str, Any]] | None = None
    for values in itertools.product(*(OURS_GRID[k] for k in keys)):
        kw = dict(zip(keys, values, strict=True))
        s = score(gt, ours(model, det, feats, kw, True), frames)
        if best is None or s["HOTA"] > best[0]:
            best = (s["HOTA"], kw)
            log(f"    tune: HOTA {s['HOTA']:.3f} IDF1 {s['IDF1']:.3f} {kw}")
    assert best is not None
    return best[1]


# ---------------------------------------------------------------------------- sections
def pets_train_spec(work: Path, seed: int) -> dict[str, Any]:
    d = DATA / "pets09-s2l1"
    return {
        "video": str(d / "video.avi"),
        "det": str(d / "det" / "det.txt"),
        "canvas": [768, 576],
        "num_frames": 795,
        "cache": str(work / "cache"),
        "out": str(work / f"pets-seed{seed}.pt"),
        "params": {"seed": seed},
    }


def section_pets(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    from selftrack.reid import embed_video, load_reid_model

    d = DATA / "pets09-s2l1"
    det = read_mot(d / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    gt = read_mot(d / "gt" / "gt.txt", canvas=(768, 576), num_frames=795)
    frames = (0, 400)
    log("PETS09-S2L1: classic trackers")
    res: dict[str, Any] = {"classic": classic(det, gt, frames, log), "seeds": []}
    tuned = dict(OURS_PETS)
    for seed in range(args.seeds):
        spec = pets_train_spec(work, seed)
        log(f"PETS09-S2L1: training (seed {seed})")
        if args.retrain or not Path(spec["out"] + ".train.json").is_file():
            train_in_child(spec, log)
        res.setdefault("training", []).append(json.loads(Path(spec["out"] + ".train.json").read_text()))
        model = load_reid_model(spec["out"])
        feats_path = Path(spec["out"] + ".feats.npy")
        if args.retrain or not feats_path.is_file():
            np.save(feats_path, embed_video(model, d / "video.avi", det))
        feats = np.load(feats_path)
        if args.tune and seed == 0:
            tuned = tune(model, det, feats, gt, frames, log)
        rows = []
        for label, uses_model, kw in ablation_rows(tuned):
            s = score(gt, ours(model, det, feats, kw, uses_model), frames)
            rows.append({"label": label, "params": kw, **s})
            log(f"  {label}: HOTA {s['HOTA']:.3f} IDF1 {s['IDF1']:.3f}")
        res["seeds"].append({"seed": seed, "model": spec["out"], "rows": rows})
    res["tuned"] = tuned
    results["pets"] = res


def rank1(model: Any, det: Detections, feats: np.ndarray, gt: Detections, gap: int, frames: int) -> float:
    """Re-identification accuracy: how often a person's crop scores highest against the same person
    ``gap`` frames later among everyone detected then (ids from the ground truth, for scoring only)."""
    from scipy.optimize import linear_sum_assignment

    from selftrack.core.boxes import iou_matrix
    from selftrack.reid.heads import NumpyHeads

    ids = np.full(len(det), -1)
    for f in range(frames):
        d, g = np.flatnonzero(det.frame == f), np.flatnonzero(gt.frame == f)
        if len(d) and len(g):
            iou = iou_matrix(det.xyxy[d], gt.xyxy[g])
            r, c = linear_sum_assignment(-iou)
            ok = iou[r, c] >= 0.5
            ids[d[r[ok]]] = gt.track_id[g[c[ok]]]
    heads = NumpyHeads(model.net)
    q, t = heads.query(feats), heads.target(feats)
    hits = []
    for f in range(frames - gap):
        a = np.flatnonzero((det.frame == f) & (ids >= 0))
        b = np.flatnonzero((det.frame == f + gap) & (ids >= 0))
        if len(a) < 2 or len(b) < 2:
            continue
        logits = heads.logits(q[a], t[b])
        same = ids[a][:, None] == ids[b][None, :]
        for i in np.flatnonzero(same.any(axis=1)):
            hits.append(bool(same[i, np.argmax(logits[i])]))
    return float(np.mean(hits)) if hits else float("nan")


def section_variants(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    """Models trained elsewhere (``--models label=path ...``, e.g. training ablations), tracked on PETS09."""
    from selftrack.reid import embed_video, load_reid_model

    d = DATA / "pets09-s2l1"
    det = read_mot(d / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    gt = read_mot(d / "gt" / "gt.txt", canvas=(768, 576), num_frames=795)
    tuned = results.get("pets", {}).get("tuned", OURS_PETS)
    rows = []
    for spec in args.models:
        label, path = spec.split("=", 1)
        model = load_reid_model(path)
        feats = embed_video(model, d / "video.avi", det)
        final = score(gt, ours(model, det, feats, tuned, True), (0, 400))
        uns20 = score(
            gt, ours(model, det, feats, {"motion": "uns20", "high_score": tuned["high_score"]}, True), (0, 400)
        )
        r1 = rank1(model, det, feats, gt, 28, 400)
        arch = model.arch
        rows.append(
            {
                "label": label,
                "final": final,
                "uns20": uns20,
                "rank1_4s": r1,
                "val_loss": model.training.get("stage1", {}).get("best_val_loss"),
                "arch": f"{arch.matcher}, widths {list(arch.widths)}, ensemble {arch.ensemble}",
                "params": {k: model.params.get(k) for k in ("augment", "batch_size", "seed", "stage1_steps")},
            }
        )
        log(f"  {label}: final HOTA {final['HOTA']:.3f} IDF1 {final['IDF1']:.3f}, rank-1 {r1:.3f}")
    results["variants"] = rows


def synth_scene(num_frames: int, seed: int = 21) -> tuple[Any, Detections]:
    from selftrack.synth import SceneConfig, generate_scene

    scene = generate_scene(
        SceneConfig(width=640, height=360, num_frames=num_frames, fps=10, num_objects=10, kind="plaza", seed=seed)
    )
    gt = scene.ground_truth
    rng = np.random.default_rng(seed)
    keep = (gt.data["visibility"] >= 0.3) & (rng.random(len(gt)) > 0.1)
    jitter = rng.normal(0.0, 2.0, (len(gt), 4))
    score_ = np.clip(rng.normal(0.85, 0.1, len(gt)), 0.3, 1.0)
    boxes = gt.xyxy + jitter
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2] + 1.0)  # a sliver at the frame edge stays a box
    det = Detections.create(gt.frame[keep], boxes[keep], score_[keep], canvas=gt.canvas, num_frames=gt.num_frames)
    return scene, det


def section_synth(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    from selftrack.reid import embed_video, load_reid_model
    from selftrack.synth import render_scene_video

    scene, det = synth_scene(600)
    gt = scene.ground_truth
    video = work / "synth-600.mp4"
    if not video.is_file():
        render_scene_video(scene, video)
    npz = work / "synth-600-det.npz"
    np.savez(npz, frame=det.frame, xyxy=det.xyxy, score=det.score)
    log("generated scene: classic trackers")
    res: dict[str, Any] = {"classic": classic(det, gt, None, log)}
    model_path = work / "synth-600.pt"
    spec = {
        "video": str(video),
        "det_npz": str(npz),
        "canvas": list(gt.canvas),
        "num_frames": gt.num_frames,
        "cache": str(work / "cache"),
        "out": str(model_path),
        "params": {"track_duration": 4.0},
    }
    if args.retrain or not Path(spec["out"] + ".train.json").is_file():
        log("generated scene: training")
        train_in_child(spec, log)
    res["training"] = json.loads(Path(spec["out"] + ".train.json").read_text())
    model = load_reid_model(model_path)
    feats = embed_video(model, video, det)
    tuned = dict(OURS_SYNTH)
    rows = []
    for label, uses_model, kw in ablation_rows(tuned):
        s = score(gt, ours(model, det, feats, kw, uses_model), None)
        rows.append({"label": label, "params": kw, **s})
        log(f"  {label}: HOTA {s['HOTA']:.3f} IDF1 {s['IDF1']:.3f}")
    res["rows"] = rows
    res["tuned"] = tuned
    results["synth"] = res


def section_speed(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    import torch

    from selftrack.reid import ReidTrackerParams, load_reid_model, track_with_reid
    from selftrack.video import VideoReader

    d = DATA / "pets09-s2l1"
    det = read_mot(d / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    model_path = Path(pets_train_spec(work, 0)["out"])
    if not model_path.is_file():
        log("speed: no PETS model yet, training one")
        train_in_child(pets_train_spec(work, 0), log)
    res: dict[str, Any] = {}
    t = time.perf_counter()
    with VideoReader(d / "video.avi") as reader:
        n = sum(1 for _ in reader.frames())
    res["decode_fps"] = n / (time.perf_counter() - t)
    tuned = results.get("pets", {}).get("tuned", OURS_PETS)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = load_reid_model(model_path)
        best = 0.0
        for _ in range(2):
            t = time.perf_counter()
            track_with_reid(model, d / "video.avi", det, ReidTrackerParams(**tuned))
            best = max(best, 795 / (time.perf_counter() - t))
        res[f"track_fps_{threads}_threads"] = best
        log(
            f"  track_with_reid with {threads} torch thread(s): {best:.0f} fps (decoding alone {res['decode_fps']:.0f} fps)"
        )
    results["speed"] = res


def section_memory(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    from selftrack.synth import render_scene_video

    res = []
    for frames in (600, 3000):
        scene, det = synth_scene(frames, seed=5)
        video = work / f"mem-{frames}.mp4"
        if not video.is_file():
            render_scene_video(scene, video)
        npz = work / f"mem-{frames}-det.npz"
        np.savez(npz, frame=det.frame, xyxy=det.xyxy, score=det.score)
        spec = {
            "video": str(video),
            "det_npz": str(npz),
            "canvas": list(scene.size),
            "num_frames": frames,
            "cache": str(work / f"mem-cache-{frames}"),
            "out": str(work / f"mem-{frames}.pt"),
            "params": {"stage1_steps": 300, "stage2_steps": 100, "eval_every": 100},
        }
        log(f"memory: training on a {frames}-frame video ({len(det)} boxes)")
        info = train_in_child(spec, log)
        cache_mb = sum(p.stat().st_size for p in Path(spec["cache"]).glob("crops-*.npy")) / 2**20
        res.append({"frames": frames, "boxes": len(det), "cache_mb": cache_mb, **info})
    results["memory"] = res


# ---------------------------------------------------------------------------- report
def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table(rows: list[dict[str, Any]], label_key: str) -> list[str]:
    out = ["| tracker | HOTA | DetA | AssA | MOTA | IDF1 | IDSW |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r[label_key]} | {pct(r['HOTA'])} | {pct(r['DetA'])} | {pct(r['AssA'])} | {pct(r['MOTA'])} | "
            f"{pct(r['IDF1'])} | {int(r['IDSW'])} |"
        )
    return out


def classic_label(r: dict[str, Any]) -> str:
    kw = ", ".join(f"{k}={v}" for k, v in r["params"].items())
    return f"{r['tracker']} ({r['config']}{': ' + kw if kw else ''}){' + post-processing' if r['postprocess'] else ''}"


def report(results: dict[str, Any], command: str, started: str) -> str:
    out = [START, "## Re-identification (UNS20, self-supervised)", ""]
    out += [f"Command: `{command}`  ", f"Machine: {results['machine']}  ", f"Date: {started}", ""]
    out += [
        "Post-processing (for every tracker that has it): drop tracks with fewer than 4 boxes, fill gaps of up to",
        "20 frames by interpolation (UNS20's). 'Tuned' thresholds were chosen by a grid on the scored frames",
        "themselves, for the classic trackers and for ours alike (the grids are in the script).",
        "",
    ]
    for key, title in (("pets", "PETS09-S2L1, public detections, frames 1-400"), ("synth", "Generated plaza scene")):
        if key not in results:
            continue
        res = results[key]
        out += [f"### {title}", ""]
        best = max(res["classic"], key=lambda r: r["HOTA"])
        classic_rows = [{**r, "name": classic_label(r)} for r in res["classic"]]
        seeds = res.get("seeds") or [{"seed": 0, "rows": res["rows"]}]
        ours_rows = [{**r, "name": r["label"]} for r in seeds[0]["rows"]]
        out += table(classic_rows + ours_rows, "name")
        h = [next(r for r in s_["rows"] if "(final)" in r["label"])["HOTA"] for s_ in seeds]
        i = [next(r for r in s_["rows"] if "(final)" in r["label"])["IDF1"] for s_ in seeds]
        out += [
            "",
            f"The table's re-id rows use the model trained with seed {seeds[0]['seed']}. A few ambiguous crossings "
            "decide several points of HOTA, so single models differ by up to +-3 HOTA (this one happens to do better "
            "without the clean-crop rule); the settings were chosen by their mean HOTA over nine models (seeds and "
            "training variants), where the clean-crop rule and re-linking each helped.",
            f"Final re-id tracker{f' (mean over {len(seeds)} training seeds)' if len(seeds) > 1 else ''} vs the best "
            f"classic tracker ({classic_label(best)}): HOTA {100 * (float(np.mean(h)) - best['HOTA']):+.1f}, IDF1 "
            f"{100 * (float(np.mean(i)) - best['IDF1']):+.1f} points.",
        ]
        if len(seeds) > 1:
            out.append(f"Per seed: HOTA {', '.join(pct(x) for x in h)}; IDF1 {', '.join(pct(x) for x in i)}.")
        out.append(f"Re-id tracker settings: `{json.dumps(res['tuned'])}`.")
        trainings = res.get("training")
        if trainings:
            for k, t in enumerate(trainings if isinstance(trainings, list) else [trainings]):
                loss = ", ".join(f"{s_}: {v:.3f}" for s_, v in t["best_val_loss"].items() if v is not None)
                out.append(
                    f"Training{f' (seed {k})' if isinstance(trainings, list) else ''}: {t['seconds'] / 60:.1f} min, "
                    f"peak RSS {t['peak_rss_mb']:.0f} MB, best validation loss {loss}."
                )
        out.append("")
    if results.get("variants"):
        out += ["### Training variants (PETS09-S2L1 frames 1-400, same tracker settings)", ""]
        if results.get("variants_note"):
            out += [results["variants_note"], ""]
        out += [
            "| model | architecture | training | stage-1 val loss | re-id rank-1 at 4 s | final HOTA | final IDF1 |"
            " UNS20-inference HOTA | UNS20-inference IDF1 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in results["variants"]:
            v = r["val_loss"]
            out.append(
                f"| {r['label']} | {r['arch']} | {r['params']} | {'-' if v is None else f'{v:.3f}'} | "
                f"{pct(r['rank1_4s'])} | {pct(r['final']['HOTA'])} | {pct(r['final']['IDF1'])} | "
                f"{pct(r['uns20']['HOTA'])} | {pct(r['uns20']['IDF1'])} |"
            )
        h = [r["final"]["HOTA"] for r in results["variants"]]
        out += ["", f"Mean final HOTA over these models: {pct(float(np.mean(h)))}.", ""]
    if "speed" in results:
        s = results["speed"]
        out += ["### Speed (PETS09-S2L1, 795 frames, 768x576)", ""]
        out += [
            f"- decoding alone: {s['decode_fps']:.0f} fps",
            f"- `track_with_reid` (decode, crop, CNN, track, post-process), 1 torch thread + decoding thread: "
            f"{s['track_fps_1_threads']:.0f} fps",
            f"- the same with 2 torch threads: {s['track_fps_2_threads']:.0f} fps",
            "",
        ]
    dev = results.get("device_cpu")
    if dev:
        out += ["### Idle 2-core measurement", ""]
        out += [
            f"The machine above is shared with other jobs, so its timings are inflated. The same code was also run on "
            f"an idle {dev['cpu']} pinned to 2 cores (`taskset -c 0,1`, CUDA hidden): training with the default "
            f"parameters on PETS09-S2L1 took {dev['train_seconds'] / 60:.1f} min (peak RSS "
            f"{dev['train_peak_rss_mb']:.0f} MB); decoding alone ran at {dev['decode_fps']:.0f} fps and "
            f"`track_with_reid` with the PETS09 settings at {dev['track_fps_1']:.0f} fps (1 torch thread + the decoding "
            f"thread; {dev['track_fps_2']:.0f} fps with 2 torch threads). {dev.get('note', '')}".rstrip(),
            "",
        ]
    if "memory" in results:
        out += ["### Training memory against video length (same step budget)", ""]
        out += ["| frames | boxes | crop cache MB | peak RSS MB | minutes |", "|---|---|---|---|---|"]
        for r in results["memory"]:
            out.append(
                f"| {r['frames']} | {r['boxes']} | {r['cache_mb']:.0f} | {r['peak_rss_mb']:.0f} | {r['seconds'] / 60:.1f} |"
            )
        out.append("")
    out += bars(results)
    out.append(END)
    return "\n".join(out) + "\n"


def bars(results: dict[str, Any]) -> list[str]:
    """The issue's acceptance bars, each with the number that decides it."""
    lines = ["### Bars", ""]
    pets = results.get("pets")
    if pets:
        final = [next(r for r in s["rows"] if "(final)" in r["label"]) for s in pets["seeds"]]
        h, i = float(np.mean([r["HOTA"] for r in final])), float(np.mean([r["IDF1"] for r in final]))
        tuned = max((r for r in pets["classic"]), key=lambda r: r["HOTA"])
        default = max((r for r in pets["classic"] if r["config"] == "defaults"), key=lambda r: r["HOTA"])
        for name, ref in (("tuned", tuned), ("default-threshold", default)):
            dh, di = 100 * (h - ref["HOTA"]), 100 * (i - ref["IDF1"])
            lines.append(
                f"- PETS09 vs the best {name} classic tracker: HOTA {dh:+.1f} (bar +6: "
                f"{'holds' if dh >= 6 else 'does not hold'}), IDF1 {di:+.1f} (bar +10: "
                f"{'holds' if di >= 10 else 'does not hold'}); mean over {len(final)} training seeds, per seed HOTA "
                f"{min(100 * (r['HOTA'] - ref['HOTA']) for r in final):+.1f} to "
                f"{max(100 * (r['HOTA'] - ref['HOTA']) for r in final):+.1f}."
            )
        trainings = pets.get("training") or []
        if trainings:
            worst = max(t["seconds"] for t in trainings) / 60
            rss = max(t["peak_rss_mb"] for t in trainings)
            lines.append(
                f"- Training on PETS09 <= 10 min and < 1.5 GB: {worst:.1f} min at most on the shared machine, peak "
                f"RSS {rss:.0f} MB ({'holds' if worst <= 10 and rss < 1536 else 'does not hold'})."
            )
    speed, dev = results.get("speed"), results.get("device_cpu")
    if speed or dev:
        parts = []
        if speed:
            parts.append(f"{speed['track_fps_1_threads']:.0f} fps on the shared machine")
        if dev:
            parts.append(f"{dev['track_fps_1']:.0f} fps on the idle 2-core machine")
        shared_ok = bool(speed) and speed["track_fps_1_threads"] >= 200
        idle_ok = bool(dev) and dev["track_fps_1"] >= 200
        verdict = (
            "holds"
            if shared_ok
            else "holds on the idle machine, not under the shared load"
            if idle_ok
            else "does not hold"
        )
        lines.append(f"- Re-id tracking >= 200 fps on 2 cores, decoding included: {', '.join(parts)} ({verdict}).")
    mem = results.get("memory")
    if mem and len(mem) >= 2:
        a, b = mem[0], mem[-1]
        lines.append(
            f"- Memory flat in video length: {a['frames']} frames {a['peak_rss_mb']:.0f} MB, {b['frames']} frames "
            f"{b['peak_rss_mb']:.0f} MB peak RSS (+{b['peak_rss_mb'] - a['peak_rss_mb']:.0f} MB while the crop cache on "
            f"disk grew by {b['cache_mb'] - a['cache_mb']:.0f} MB)."
        )
    lines.append("")
    return lines


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if START in text and END in text:
        head, rest = text.split(START, 1)
        text = head + section.rstrip("\n") + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=["pets", "synth", "speed", "memory"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-bench-reid"))
    parser.add_argument("--seeds", type=int, default=1, help="PETS models trained with seeds 0..N-1")
    parser.add_argument("--retrain", action="store_true", help="train again even when a model file exists")
    parser.add_argument("--tune", action="store_true", help="choose the re-id tracker's settings by grid")
    parser.add_argument("--models", nargs="*", default=[], help="label=path of extra models (section variants)")
    parser.add_argument("--variants-note", default="", help="how the --models were trained (for the report)")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument("--report-from", type=Path, help="write the section from a --json file of an earlier run")
    parser.add_argument("--device-json", type=Path, help="an idle 2-core measurement to add to the report")
    parser.add_argument("--child-train", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_train:
        print(json.dumps(child_train(json.loads(args.child_train))))
        return 0
    if args.report_from:
        saved = json.loads(args.report_from.read_text())
        if args.device_json:
            saved["device_cpu"] = json.loads(args.device_json.read_text())
        text = report(saved, saved.get("command", "python benchmarks/bench_reid.py"), saved.get("started", "?"))
        print(text)
        if not args.no_write:
            write_section(ROOT / "BENCHMARKS.md", text)
        return 0
    if not (DATA / "README.md").exists():
        print(f"real data folder {DATA} is missing", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    results: dict[str, Any] = {"machine": machine(), "variants_note": args.variants_note}

    def log(msg: str) -> None:
        print(msg, flush=True)

    sections = {
        "pets": section_pets,
        "variants": section_variants,
        "synth": section_synth,
        "speed": section_speed,
        "memory": section_memory,
    }
    command = "python benchmarks/bench_reid.py " + " ".join(a for a in (argv or sys.argv[1:]))
    results["command"], results["started"] = command.strip(), started
    for name in args.sections:
        sections[name](args.work, args, results, log)
        if args.json:  # keep what is done so far if a later section fails
            args.json.write_text(json.dumps(results, indent=1, default=str))
    text = report(results, command.strip(), started)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
