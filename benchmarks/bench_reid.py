"""Re-id benchmark: self-supervised UNS20 training and the re-id tracker against the classic trackers.

Sections (``--sections``, default all):

- ``pets``: models trained on PETS09-S2L1 (its video and public detections only, no ground truth),
  scored on frames 1-400 (the ground truth's range): the classic trackers of ``selftrack.trackers``
  (with their default thresholds, and with thresholds chosen by a grid on frames 1-400) and, for
  every model, the re-id tracker's ablation rows (motion only, + post-processing, + appearance in
  the cost, + re-linking, + stitching = the final setting, variants, UNS20's inference, SkyhookML's
  tracker). Tables give the mean and the worst model; the bars are judged model by model.
- ``synth``: the same on a generated plaza scene (``selftrack.synth``) where people cross, occlude
  each other and leave and come back; detections are the visible ground-truth boxes with jitter
  and misses.
- ``variants``: models trained elsewhere (``--models label=path``), tracked on PETS09.
- ``speed``: raw decoding and ``track_with_reid`` (decode + crop + CNN + tracking) frames per
  second on PETS09.
- ``memory``: peak memory of training on generated videos of two lengths (same step budget).

Models: ``--seeds N`` trains seeds 0..N-1 of each scene on this machine (in a child process, so its
peak resident memory is its own); ``--pretrained DIR`` instead evaluates the models
``DIR/pets-seed*.pt`` and ``DIR/synth-seed*.pt`` (with their ``.train.json``) trained elsewhere, and
``--pretrained-note`` says where and how, for the report. The re-id tracker runs with one setting
for both scenes: the ``ReidTrackerParams`` defaults (``--set key=value`` overrides them, for
experiments). Models, appearance vectors and crop caches go to ``--work``. The tables are written
into ``BENCHMARKS.md`` between ``<!-- reid:start -->`` and ``<!-- reid:end -->``; subsections of
sections not run this time (speed, idle machine, memory, training variants) and their bars are
kept from the section already there (``--no-keep`` drops them).

Usage (from the repository root)::

    python benchmarks/bench_reid.py                      # everything, writes BENCHMARKS.md
    python benchmarks/bench_reid.py --sections pets synth --pretrained /tmp/seedmodels \
        --pretrained-note "trained on ..."
    python benchmarks/bench_reid.py --sections pets --seeds 2 --no-write
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import configparser  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from bench_common import cpu_name, load_average, write_section  # noqa: E402

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
# The re-id tracker runs with one setting on both scenes: the ReidTrackerParams defaults, chosen on
# PETS09 frames 1-400 and the generated plaza by their mean and worst HOTA over 8 + 4 training seeds.
OURS: dict[str, Any] = {}
NO_STITCH = {"stitch_max_seconds": 0.0, "stitch_max_gap": 0}
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
    **NO_STITCH,
}
FINAL = "+ offline stitching of fragments by appearance (final)"
REENTRY_OFF = "final with re-entries as new tracks (stitch_reentry off)"


def ablation_rows(final: dict[str, Any]) -> list[tuple[str, bool, dict[str, Any]]]:
    """``(label, uses the model, params)``: each row adds one piece to the one before, then variants."""
    from selftrack.reid import ReidTrackerParams

    relink = {**final, **NO_STITCH}
    cost = {**relink, "relink_max_age": 0}
    motion = {k: v for k, v in cost.items() if k not in ("reid_weight", "clean_crop_iou")}
    high = final.get("high_score", ReidTrackerParams().association.high_score)
    return [
        (
            "motion only (Kalman, two-stage), no post-processing",
            False,
            {**motion, "min_track_length": 0, "max_interpolation_gap": 0},
        ),
        ("motion + post-processing", False, motion),
        ("+ appearance in the matching cost", True, cost),
        ("+ appearance re-linking of lost tracks (online)", True, relink),
        (FINAL, True, final),
        ("final without the clean-crop history rule", True, {**final, "clean_crop_iou": None}),
        (
            "final without the appearance-checked history (history_needs_appearance off)",
            True,
            {**final, "history_needs_appearance": False},
        ),
        ("final without the border rules (border_margin unset)", True, {**final, "border_margin": None}),
        ("final with online re-linking to boxes at the border", True, {**final, "relink_at_border": True}),
        ("final with stitch_window 8 (the earlier default)", True, {**final, "stitch_window": 8}),
        (REENTRY_OFF, True, {**final, "stitch_reentry": False}),
        ("final with the detection box output instead of the Kalman box", True, {**final, "output_box": "detection"}),
        (
            "UNS20 inference as published (recurrent box matcher, greedy)",
            True,
            {"motion": "uns20", "high_score": high, "clean_crop_iou": None, **NO_STITCH},
        ),
        ("SkyhookML reid_tracker (velocity, greedy, IoU + reid)", True, SKYHOOK),
    ]


# ---------------------------------------------------------------------------- helpers
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


def ours(
    model: Any, det: Detections, feats: np.ndarray, params: dict[str, Any], uses_model: bool, fps: float
) -> Detections:
    from selftrack.reid import ReidTracker

    tracker = ReidTracker(model if uses_model else None, **params)
    return tracker.track(det, feats if uses_model else None, fps=fps)


# ---------------------------------------------------------------------------- models
def pets_fps() -> float:
    """PETS09-S2L1's frame rate from its ``seqinfo.ini`` (7; the AVI's header says 10)."""
    ini = configparser.ConfigParser()
    ini.read(DATA / "pets09-s2l1" / "seqinfo.ini")
    return float(ini["Sequence"]["frameRate"])


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


def synth_train_spec(work: Path, seed: int, video: Path, npz: Path, gt: Detections) -> dict[str, Any]:
    return {
        "video": str(video),
        "det_npz": str(npz),
        "canvas": list(gt.canvas or (0, 0)),
        "num_frames": gt.num_frames,
        "cache": str(work / "cache"),
        "out": str(work / f"synth-seed{seed}.pt"),
        "params": {"track_duration": 4.0, "seed": seed},
    }


def model_list(kind: str, args: argparse.Namespace, spec_of: Any, log: Any) -> list[dict[str, Any]]:
    """The models of one scene: ``{"seed", "path", "training"}``, pre-trained (``--pretrained``) or trained here."""
    models = []
    if args.pretrained:
        paths = sorted(
            args.pretrained.glob(f"{kind}-seed*.pt"), key=lambda p: int(re.sub(r"\D", "", p.stem.split("seed")[-1]))
        )
        if not paths:
            raise SystemExit(f"--pretrained {args.pretrained}: no {kind}-seed*.pt models there")
        for path in paths:
            info = Path(str(path) + ".train.json")
            seed = int(path.stem.split("seed")[-1])
            models.append(
                {"seed": seed, "path": str(path), "training": json.loads(info.read_text()) if info.is_file() else None}
            )
        return models
    for seed in range(args.seeds):
        spec = spec_of(seed)
        if args.retrain or not Path(spec["out"] + ".train.json").is_file():
            log(f"{kind}: training seed {seed}")
            train_in_child(spec, log)
        training = json.loads(Path(spec["out"] + ".train.json").read_text())
        models.append({"seed": seed, "path": spec["out"], "training": training})
    return models


def features(model: Any, path: str, video: Path, det: Detections, work: Path) -> np.ndarray:
    """Appearance vectors of every detection, cached in ``work/feats`` by the model file's content."""
    from selftrack.reid import embed_video

    digest = hashlib.sha1(Path(path).read_bytes() + str(video).encode()).hexdigest()[:16]
    cache = work / "feats" / f"{Path(path).stem}-{digest}.npy"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, embed_video(model, video, det))
    return np.load(cache)


def evaluate_models(
    models: list[dict[str, Any]],
    video: Path,
    det: Detections,
    gt: Detections,
    frames: tuple[int, int] | None,
    fps: float,
    work: Path,
    log: Any,
) -> list[dict[str, Any]]:
    """Every ablation row for every model: ``[{"seed", "model", "rows": [{"label", "params", metrics...}]}]``."""
    from selftrack.reid import load_reid_model

    out = []
    for m in models:
        model = load_reid_model(m["path"], "cpu")
        feats = features(model, m["path"], video, det, work)
        rows = []
        for label, uses_model, kw in ablation_rows(OURS):
            s = score(gt, ours(model, det, feats, kw, uses_model, fps), frames)
            rows.append({"label": label, "params": kw, **s})
        final = next(r for r in rows if r["label"] == FINAL)
        log(f"  seed {m['seed']}: final HOTA {final['HOTA']:.3f} IDF1 {final['IDF1']:.3f}")
        out.append({"seed": m["seed"], "model": m["path"], "rows": rows})
    return out


# ---------------------------------------------------------------------------- sections
def section_pets(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    d = DATA / "pets09-s2l1"
    det = read_mot(d / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    gt = read_mot(d / "gt" / "gt.txt", canvas=(768, 576), num_frames=795)
    frames = (0, 400)
    log("PETS09-S2L1: classic trackers")
    res: dict[str, Any] = {"classic": classic(det, gt, frames, log), "fps": pets_fps()}
    models = model_list("pets", args, lambda seed: pets_train_spec(work, seed), log)
    res["training"] = [m["training"] for m in models]
    res["trained_here"] = not args.pretrained
    log(f"PETS09-S2L1: re-id tracker, {len(models)} models")
    res["seeds"] = evaluate_models(models, d / "video.avi", det, gt, frames, res["fps"], work, log)
    res["settings"] = resolved_settings()
    results["pets"] = res


def resolved_settings() -> dict[str, Any]:
    """The re-id tracker's settings in full (defaults with ``OURS`` applied)."""
    from selftrack.reid import ReidTrackerParams

    return ReidTrackerParams(**OURS).flat()


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
    from selftrack.reid import ReidTrackerParams, load_reid_model

    d = DATA / "pets09-s2l1"
    det = read_mot(d / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    gt = read_mot(d / "gt" / "gt.txt", canvas=(768, 576), num_frames=795)
    fps = pets_fps()
    uns20_kw = {
        "motion": "uns20",
        "high_score": ReidTrackerParams(**OURS).association.high_score,
        "clean_crop_iou": None,
        **NO_STITCH,
    }
    rows = []
    for spec in args.models:
        label, path = spec.split("=", 1)
        model = load_reid_model(path, "cpu")
        feats = features(model, path, d / "video.avi", det, work)
        final = score(gt, ours(model, det, feats, OURS, True, fps), (0, 400))
        uns20 = score(gt, ours(model, det, feats, uns20_kw, True, fps), (0, 400))
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
    from selftrack.synth import render_scene_video

    scene, det = synth_scene(600)
    gt = scene.ground_truth
    video = work / "synth-600.mp4"
    if not video.is_file():
        render_scene_video(scene, video)
    npz = work / "synth-600-det.npz"
    np.savez(npz, frame=det.frame, xyxy=det.xyxy, score=det.score)
    log("generated scene: classic trackers")
    res: dict[str, Any] = {"classic": classic(det, gt, None, log), "fps": float(scene.config.fps)}
    models = model_list("synth", args, lambda seed: synth_train_spec(work, seed, video, npz, gt), log)
    res["training"] = [m["training"] for m in models]
    res["trained_here"] = not args.pretrained
    log(f"generated scene: re-id tracker, {len(models)} models")
    res["seeds"] = evaluate_models(models, video, det, gt, None, res["fps"], work, log)
    res["settings"] = resolved_settings()
    results["synth"] = res


def section_speed(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    import torch

    from selftrack.reid import ReidTrackerParams, load_reid_model, track_with_reid
    from selftrack.video import VideoReader

    d = DATA / "pets09-s2l1"
    det = read_mot(d / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    model_path = args.pretrained / "pets-seed0.pt" if args.pretrained else Path(pets_train_spec(work, 0)["out"])
    if not model_path.is_file():
        log("speed: no PETS model yet, training one")
        train_in_child(pets_train_spec(work, 0), log)
    res: dict[str, Any] = {}
    t = time.perf_counter()
    with VideoReader(d / "video.avi") as reader:
        n = sum(1 for _ in reader.frames())
    res["decode_fps"] = n / (time.perf_counter() - t)
    for threads in (1, 2):
        torch.set_num_threads(threads)
        model = load_reid_model(model_path)
        best = 0.0
        for _ in range(2):
            t = time.perf_counter()
            track_with_reid(model, d / "video.avi", det, ReidTrackerParams(**OURS))
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


def seeds_table(seeds: list[dict[str, Any]]) -> list[str]:
    """Each ablation row: mean over the models, and the worst model's HOTA and IDF1."""
    out = [
        "| re-id tracker | HOTA | worst HOTA | DetA | AssA | MOTA | IDF1 | worst IDF1 | IDSW |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, row in enumerate(seeds[0]["rows"]):
        vals = {m: [s["rows"][k][m] for s in seeds] for m in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")}
        mean = {m: float(np.mean(v)) for m, v in vals.items()}
        out.append(
            f"| {row['label']} | {pct(mean['HOTA'])} | {pct(min(vals['HOTA']))} | {pct(mean['DetA'])} | "
            f"{pct(mean['AssA'])} | {pct(mean['MOTA'])} | {pct(mean['IDF1'])} | {pct(min(vals['IDF1']))} | "
            f"{mean['IDSW']:.1f} |"
        )
    return out


def seeds_mean(seeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ablation rows with each metric averaged over the models."""
    metrics = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")
    return [
        {"label": row["label"], **{m: float(np.mean([s["rows"][k][m] for s in seeds])) for m in metrics}}
        for k, row in enumerate(seeds[0]["rows"])
    ]


def classic_label(r: dict[str, Any]) -> str:
    kw = ", ".join(f"{k}={v}" for k, v in r["params"].items())
    return f"{r['tracker']} ({r['config']}{': ' + kw if kw else ''}){' + post-processing' if r['postprocess'] else ''}"


def final_rows(res: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"seed": s["seed"], **next(r for r in s["rows"] if r["label"] == FINAL)} for s in res["seeds"]]


def best_classic(res: dict[str, Any], config: str | None = None) -> dict[str, Any]:
    return max((r for r in res["classic"] if config is None or r["config"] == config), key=lambda r: r["HOTA"])


def holds(final: dict[str, Any], ref: dict[str, Any]) -> bool:
    return 100 * (final["HOTA"] - ref["HOTA"]) >= 6 and 100 * (final["IDF1"] - ref["IDF1"]) >= 10


def training_line(trainings: list[dict[str, Any] | None], here: bool) -> str:
    """Training time (and, for models trained on this machine, peak memory) and validation losses."""
    done = [t for t in trainings if t]
    if not done:
        return ""
    secs = [t["seconds"] for t in done]
    rss = [t["peak_rss_mb"] for t in done]
    losses = [t["best_val_loss"].get("stage1") for t in done if t["best_val_loss"].get("stage1") is not None]
    where = "" if here else ", where they were trained"
    line = f"Training ({len(done)} models{where}): {min(secs):.0f}-{max(secs):.0f} s each"
    if here:
        line += f", peak RSS {min(rss):.0f}-{max(rss):.0f} MB"
    if losses:
        line += f", best stage-1 validation loss {min(losses):.3f}-{max(losses):.3f}"
    return line + "."


def report(results: dict[str, Any], command: str, started: str, kept: dict[str, Any] | None = None) -> str:
    kept = kept or {"subsections": [], "bars": [], "date": "?"}
    out = [START, "## Re-identification (UNS20, self-supervised)", ""]
    out += [f"Command: `{command}`  ", f"Machine: {results['machine']}  ", f"Date: {started}", ""]
    if results.get("models_note"):
        out += [f"Models: {results['models_note']}", ""]
    out += [
        "Post-processing (for every tracker that has it): drop tracks with fewer than 4 boxes, fill gaps of up to",
        "20 frames by interpolation (UNS20's). The classic trackers' 'tuned' thresholds were chosen by a grid on",
        "the scored frames themselves. The re-id tracker runs with one setting on both scenes, the",
        "`ReidTrackerParams` defaults, chosen on PETS09 frames 1-400 and the generated scene by the mean and the",
        "worst HOTA over the models below; its rows give the mean over the models and the worst model.",
        "",
    ]
    settings = next((results[k]["settings"] for k in ("pets", "synth") if k in results), None)
    if settings:
        out += [f"Re-id tracker settings: `{json.dumps(settings)}`.", ""]
    titles = (("pets", "PETS09-S2L1, public detections, frames 1-400"), ("synth", "Generated plaza scene"))
    for key, title in titles:
        if key not in results:
            continue
        res = results[key]
        out += [f"### {title}", ""]
        out += table([{**r, "name": classic_label(r)} for r in res["classic"]], "name")
        out += ["", *seeds_table(res["seeds"]), ""]
        best = best_classic(res)
        out += [
            f"Final re-id tracker per model, against the best classic tracker ({classic_label(best)}: HOTA "
            f"{pct(best['HOTA'])}, IDF1 {pct(best['IDF1'])}; the bar is +6 HOTA and +10 IDF1; frame rate "
            f"{res['fps']:g} fps for the limits in seconds):",
            "",
            "| model | HOTA | IDF1 | AssA | IDSW | HOTA vs best classic | IDF1 vs best classic | bar |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in final_rows(res):
            out.append(
                f"| seed {r['seed']} | {pct(r['HOTA'])} | {pct(r['IDF1'])} | {pct(r['AssA'])} | {int(r['IDSW'])} | "
                f"{100 * (r['HOTA'] - best['HOTA']):+.1f} | {100 * (r['IDF1'] - best['IDF1']):+.1f} | "
                f"{'holds' if holds(r, best) else 'does not hold'} |"
            )
        line = training_line(res.get("training") or [], bool(res.get("trained_here")))
        out += [""] + ([line, ""] if line else [])
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
        if results.get("speed_machine"):
            out += [f"Measured on {results['speed_machine']} (`--sections speed`), ReidTrackerParams defaults.", ""]
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
            f"`track_with_reid` with the default settings at {dev['track_fps_1']:.0f} fps (1 torch thread + the decoding "
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
    if "pets" in results and "synth" in results:
        gain = {}
        for key in ("pets", "synth"):
            rows = {r["label"]: r for r in seeds_mean(results[key]["seeds"])}
            gain[key] = 100 * (rows[REENTRY_OFF]["HOTA"] - rows[FINAL]["HOTA"])
        out += [
            "### Re-entries",
            "",
            "PETS09's ground truth gives a person who leaves the view and comes back a new identity; the "
            "generated scene's keeps one identity per person. The final setting joins re-entries (`stitch_reentry`), "
            f"as re-identification should; counting them as new tracks changes HOTA by {gain['pets']:+.1f} on PETS09 "
            f"and {gain['synth']:+.1f} on the generated scene (mean over the models).",
            "",
        ]
    for _title, text, section in kept["subsections"]:
        if not produced(results, section):
            note = f"_Kept from the run of {kept['date']} (with the code and settings of then); not measured again._"
            body = text if "_Kept from the run of" in text else text.replace("\n\n", f"\n\n{note}\n\n", 1)
            out += [body.rstrip("\n"), ""]
    out += bars(results, kept)
    out.append(END)
    return "\n".join(out) + "\n"


def produced(results: dict[str, Any], section: str) -> bool:
    """Whether this run measured what a kept part of the previous report shows."""
    if section == "pets-training":
        return bool(results.get("pets", {}).get("trained_here"))
    if section == "speed":
        return "speed" in results or "device_cpu" in results
    return section in results


def bars(results: dict[str, Any], kept: dict[str, Any] | None = None) -> list[str]:
    """The issue's acceptance bars, each with the numbers that decide it, model by model."""
    lines = ["### Bars", ""]
    for key, name in (("pets", "PETS09"), ("synth", "Generated plaza")):
        res = results.get(key)
        if not res:
            continue
        final = final_rows(res)
        for label, ref in (("tuned", best_classic(res)), ("default-threshold", best_classic(res, "defaults"))):
            dh = [100 * (r["HOTA"] - ref["HOTA"]) for r in final]
            di = [100 * (r["IDF1"] - ref["IDF1"]) for r in final]
            ok = sum(holds(r, ref) for r in final)
            failing = [f"seed {r['seed']}" for r in final if not holds(r, ref)]
            lines.append(
                f"- {name} vs the best {label} classic tracker ({ref['tracker']}, HOTA {pct(ref['HOTA'])}, IDF1 "
                f"{pct(ref['IDF1'])}): +6 HOTA and +10 IDF1 hold for {ok} of {len(final)} models"
                f"{' (not for ' + ', '.join(failing) + ')' if failing else ''}; worst model HOTA {min(dh):+.1f}, "
                f"IDF1 {min(di):+.1f}; mean HOTA "
                f"{float(np.mean(dh)):+.1f}, IDF1 {float(np.mean(di)):+.1f}."
            )
    pets = results.get("pets")
    if pets and pets.get("trained_here"):
        trainings = [t for t in pets.get("training") or [] if t]
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
    for line, section in (kept or {}).get("bars", []):
        if not produced(results, section):
            lines.append(line if "(kept from the run of" in line else f"{line} (kept from the run of {kept['date']})")
    lines.append("")
    return lines


KEEP_SUBSECTIONS = {
    "Training variants": "variants",
    "Speed": "speed",
    "Idle 2-core": "speed",
    "Training memory": "memory",
}
KEEP_BARS = {"- Re-id tracking": "speed", "- Memory flat": "memory", "- Training on PETS09": "pets-training"}


def previous_parts(path: Path) -> dict[str, Any]:
    """Subsections and bar lines of the section already in ``path``, to keep those this run does not measure."""
    parts: dict[str, Any] = {"subsections": [], "bars": [], "date": "?"}
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START not in text or END not in text:
        return parts
    body = text.split(START, 1)[1].split(END, 1)[0]
    date = re.search(r"^Date: (.*?)\s*$", body, re.MULTILINE)
    parts["date"] = date.group(1) if date else "?"
    for chunk in re.split(r"(?m)^(?=### )", body)[1:]:
        title = chunk.splitlines()[0][4:].strip()
        if title == "Bars":
            for line in chunk.splitlines():
                section = next((s for p, s in KEEP_BARS.items() if line.startswith(p)), None)
                if section:
                    parts["bars"].append((line.rstrip(), section))
            continue
        section = next((s for p, s in KEEP_SUBSECTIONS.items() if title.startswith(p)), None)
        if section:
            parts["subsections"].append((title, chunk.rstrip() + "\n", section))
    return parts


def machine() -> str:
    return (
        f"{cpu_name()}, {os.cpu_count()} cores, load average {load_average():.1f} at the start, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=["pets", "synth", "speed", "memory"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-bench-reid"))
    parser.add_argument("--seeds", type=int, default=1, help="models of each scene trained here with seeds 0..N-1")
    parser.add_argument("--retrain", action="store_true", help="train again even when a model file exists")
    parser.add_argument(
        "--pretrained", type=Path, help="evaluate DIR/pets-seed*.pt and DIR/synth-seed*.pt instead of training"
    )
    parser.add_argument("--pretrained-note", default="", help="where and how the --pretrained models were trained")
    parser.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="override re-id tracker defaults (JSON values)"
    )
    parser.add_argument("--no-keep", action="store_true", help="drop the previous report's unmeasured subsections")
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
    for item in args.set:
        key, _, value = item.partition("=")
        try:
            OURS[key] = json.loads(value)
        except json.JSONDecodeError:
            OURS[key] = value
    kept = None if args.no_keep else previous_parts(ROOT / "BENCHMARKS.md")
    if args.report_from:
        saved = json.loads(args.report_from.read_text())
        if args.device_json:
            saved["device_cpu"] = json.loads(args.device_json.read_text())
        text = report(saved, saved.get("command", "python benchmarks/bench_reid.py"), saved.get("started", "?"), kept)
        print(text)
        if not args.no_write:
            write_section(ROOT / "BENCHMARKS.md", text, START, END)
        return 0
    if not (DATA / "README.md").exists():
        print(f"real data folder {DATA} is missing", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    results: dict[str, Any] = {"machine": machine(), "variants_note": args.variants_note}
    if "speed" in args.sections:
        results["speed_machine"] = results["machine"]
    if args.pretrained:
        results["models_note"] = args.pretrained_note or f"pre-trained models from {args.pretrained}."
    else:
        results["models_note"] = (
            f"trained on this machine from each scene's video and detections only, seeds 0-{args.seeds - 1}, the "
            "default training parameters (ReidTrainParams)."
        )

    def log(msg: str) -> None:
        print(msg, flush=True)

    sections = {
        "pets": section_pets,
        "variants": section_variants,
        "synth": section_synth,
        "speed": section_speed,
        "memory": section_memory,
    }
    shown = list(sys.argv[1:] if argv is None else argv)
    for k, arg in enumerate(shown[:-1]):  # the notes are printed in full under the command
        if arg in ("--pretrained-note", "--variants-note"):
            shown[k + 1] = "NOTE"
    command = shlex.join(["python", "benchmarks/bench_reid.py", *shown])
    results["command"], results["started"] = command, started
    for name in args.sections:
        sections[name](args.work, args, results, log)
        if args.json:  # keep what is done so far if a later section fails
            args.json.write_text(json.dumps(results, indent=1, default=str))
    text = report(results, command, started, kept)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", text, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
