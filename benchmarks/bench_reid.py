"""Re-id benchmark: self-supervised UNS20 models and the re-id tracker, with one honest protocol.

Scenes (``benchmarks/reid_sets.py``), each trained on its own video and detections, no labels:

- group A: PETS09-S2L1 (scored on frames 1-400) and the generated plaza;
- group B: MOT17-09 (1080p, refined detections), TUD-Stadtmitte and KITTI-17 (public detections);
- MOT17-09 filmed by a moving camera (known pan and zoom; every tracker gets the transforms);
- the tutorial's traffic camera (``highway``: motion-detector boxes, no ground truth).

Protocol: a handful of candidate re-id tracker settings (``CANDIDATES``, "defaults" being the
``ReidTrackerParams`` defaults) run on every model of every scene. The setting chosen on group A
(best mean HOTA over A's scenes, each the mean over its models) is reported on group B, and the one
chosen on B is reported on A; every table says which. The defaults are what group A chooses: the
report says whether they still are. Tables give the mean over the training seeds and the worst.
The colour check's settings (``COLOUR_GRID``, ``--sections colour``) are chosen the same way, with the
motion part alone (no model), since the check decides only where the learned model is not trusted.

Against: our classic trackers and the best tracker of ``benchmarks/bench_trackers.py`` (ours and
the peers', defaults and per-detector thresholds) on the same detections (``--trackers-json``, the
``--json`` output of a bench_trackers run on the sets pets09, mot17-09-refined, tud-stadtmitte,
kitti-17), and the re-id tracker's own motion-only mode (no model).

Highway: ``detect --model motion`` boxes, ``train-reid`` and ``track --tracker reid`` with defaults
(the tutorial): boxes kept against our ByteTrack's, and a contact sheet of every track longer than
3 s (first, middle and last crop) in ``benchmarks/figures/highway_tracks.png``.

Usage (from the repository root)::

    python benchmarks/bench_reid.py --seeds 3 --trackers-json /tmp/trackers.json
    python benchmarks/bench_reid.py --sections scenes --scenes pets09 plaza --seeds 1 --no-write

Models, appearance vectors and crop caches go to ``--work`` (kept between runs: a model is
trained again only when its scene, seed or the training defaults change).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import reid_sets  # noqa: E402
from bench_common import cpu_name, load_average, write_section  # noqa: E402

from selftrack.core.detections import Detections  # noqa: E402
from selftrack.metrics.evaluate import evaluate  # noqa: E402
from selftrack.trackers import drop_short_tracks, get_tracker, interpolate_tracks  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = reid_sets.DATA
START, END = "<!-- reid:start -->", "<!-- reid:end -->"
FIGURE = ROOT / "benchmarks" / "figures" / "highway_tracks.png"
METRICS = ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW")
SCENES = (*reid_sets.GROUP_A, *reid_sets.GROUP_B, "mot17-09-cmc")
GROUP_TITLE = {"A": "A (PETS09 1-400 + plaza)", "B": "B (MOT17-09 + TUD-Stadtmitte + KITTI-17)"}
HARNESS_SET = {
    "pets09": "pets09",
    "mot17-09": "mot17-09-refined",
    "tud-stadtmitte": "tud-stadtmitte",
    "kitti-17": "kitti-17",
}
PP = {"min_length": 4, "max_gap": 20}  # the post-processing every tracker may use (UNS20's)

# ---------------------------------------------------------------------------- settings
NO_STITCH = {"stitch.max_seconds": 0.0, "stitch.max_gap": 0, "colour.enabled": False}
NO_COLOUR = {"colour.enabled": False}
CANDIDATES: dict[str, dict[str, Any]] = {  # the defaults first, then from least to most reliance on appearance
    "defaults": {},
    "no colour check": NO_COLOUR,
    "no stitching": {"stitch.max_seconds": 0.0},
    "no online re-linking": {"relink.max_age": 0},
    "appearance weight 0.5": {"association.reid_weight": 0.5},
    "stitching accepts 0.5 % false joins": {"stitch.max_false_joins": 0.005},
    "stitching from agreement 0.5": {"stitch.min_agreement": 0.5},
    "trust from agreement 0.6-0.9": {"appearance.trust_none": 0.6, "appearance.trust_full": 0.9},
    "trust from agreement 0.5-0.8": {"appearance.trust_none": 0.5, "appearance.trust_full": 0.8},
    "stitching accepts 5 % false joins": {"stitch.max_false_joins": 0.05},
    "appearance weight 2": {"association.reid_weight": 2.0},
    "continuations within 1 box height a second": {"stitch.speed": 1.0},
    "output the Kalman box for every kind of detections": {"motion.output_box": "kalman"},
    "lost tracks kept 10 frames by motion (the previous default)": {"motion.max_age": 10},
    "gaps filled up to 20 frames (the previous default)": {"max_interpolation_gap": 20},
    "output the detection for every kind of detections": {"motion.output_box": "detection"},
}
MOTION_TIE = 0.003  # below this gain in mean HOTA on A + C, a candidate does not replace the defaults (as TIE)
PREVIOUS_DEFAULTS = "the previous defaults (lost tracks kept 10 frames, the Kalman box, gaps filled up to 20 frames)"
MOTION_CANDIDATES: dict[str, dict[str, Any]] = {  # the motion part alone (no model), chosen on A + C
    "defaults": {},
    PREVIOUS_DEFAULTS: {
        "motion.max_age": 10,
        "motion.output_box": "kalman",
        "max_interpolation_gap": 20,
    },
    "gaps filled up to 20 frames": {"max_interpolation_gap": 20},
    "lost tracks kept 10 frames": {"motion.max_age": 10},
    "lost tracks kept 1 s": {"motion.max_age_seconds": 1.0},
    "lost tracks kept 1.5 s": {"motion.max_age_seconds": 1.5},
    "lost tracks kept 3 s": {"motion.max_age_seconds": 3.0},
    "output the Kalman box for every kind of detections": {"motion.output_box": "kalman"},
    "output the detection for every kind of detections": {"motion.output_box": "detection"},
    "least IoU with the prediction 0.2": {"association.min_iou": 0.2},
    "low-score boxes from IoU 0.3": {"association.low_min_iou": 0.3},
    "SkyhookML's greedy matching (a track takes its best box or none)": {"association.matching": "greedy"},
}
ABLATION: list[tuple[str, bool, dict[str, Any]]] = [
    (
        "motion only (no model), no post-processing",
        False,
        {"min_track_length": 0, "max_interpolation_gap": 0, **NO_COLOUR},
    ),
    ("motion only (no model)", False, NO_COLOUR),
    ("motion only + colour check (no model)", False, {}),
    ("+ appearance in the matching cost", True, {**NO_STITCH, "relink.max_age": 0}),
    ("+ online re-linking of lost tracks", True, NO_STITCH),
    ("+ offline stitching", True, NO_COLOUR),
    ("+ colour check when the model is not trusted (= defaults)", True, {}),
    (
        "UNS20 inference as published",
        True,
        {
            "motion.model": "uns20",
            "motion.max_age": 10,
            "max_interpolation_gap": 20,
            "appearance.clean_crop_iou": None,
            **NO_STITCH,
        },
    ),
    (
        "SkyhookML reid_tracker (velocity, greedy, IoU + reid)",
        True,
        {
            "motion.model": "velocity",
            "motion.max_age": 10,
            "association.matching": "greedy",
            "association.high_score": 0.0,
            "association.low_score": 0.0,
            "relink.max_age": 0,
            "appearance.clean_crop_iou": None,
            "motion.output_box": "detection",
            "min_track_length": 0,
            "max_interpolation_gap": 0,
            **NO_STITCH,
        },
    ),
]
MOTION_ONLY = "motion only (no model)"
COLOUR_GRID: dict[str, dict[str, Any]] = {  # the colour check's settings (``ColourParams``), the defaults first
    f"{crops} crops, cut below {cut}, join above {join}": {
        "colour.crops": crops,
        "colour.cut_below": cut,
        "colour.join_above": join,
    }
    for crops, cut, join in [
        (20, 0.5, 0.95),
        *[
            (c, k, j)
            for c in (5, 10, 15, 20)
            for k in (0.5, 0.8, 0.95)
            for j in (0.9, 0.95, 0.99)
            if (c, k, j) != (20, 0.5, 0.95)
        ],
    ]
}


# ---------------------------------------------------------------------------- training
def training_digest() -> str:
    """Changes with the training defaults and code, so models trained otherwise are not reused."""
    import selftrack.reid as reid
    from selftrack.reid import ReidTrainParams

    h = hashlib.sha1(ReidTrainParams().model_dump_json().encode())
    folder = Path(reid.__file__).parent
    for name in ("train/trainer.py", "train/__init__.py", "sampling.py", "candidates.py", "crops.py", "losses.py"):
        h.update((folder / name).read_bytes())
    return h.hexdigest()[:8]


def child_train(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a child process: train one model, report time, peak memory and the losses."""
    from selftrack.reid import ReidTrainParams, train_reid

    scene = reid_sets.load(spec["scene"], Path(spec["work"]) / "videos")
    events: list[dict[str, Any]] = []
    t = time.perf_counter()
    result = train_reid(
        [scene.video],
        [scene.det],
        params=ReidTrainParams(seed=spec["seed"]),
        cache_dir=Path(spec["work"]) / "cache",
        out_path=spec["out"],
        on_event=lambda kind, info: events.append({"kind": kind, **info}) if kind in ("budget", "early_stop") else None,
    )
    import torch

    stored = torch.load(spec["out"], map_location="cpu", weights_only=True)["training"]
    return {
        "seconds": time.perf_counter() - t,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "best_val_loss": result.best_val_loss,
        "initial_val_loss": {k: stored[k].get("initial_val_loss") for k in ("stage1", "stage2")},
        "steps": result.steps,
        "events": events,
    }


def model_for(scene: str, seed: int, work: Path, log: Any) -> tuple[Path, dict[str, Any]]:
    """The model of ``scene`` and ``seed`` (trained in a child process unless already in ``work``)."""
    out = work / "models" / f"{scene}-s{seed}-{training_digest()}.pt"
    info = Path(str(out) + ".json")
    if not info.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        log(f"{scene}: training seed {seed}")
        spec = {"scene": scene, "seed": seed, "work": str(work), "out": str(out)}
        proc = subprocess.run(
            [sys.executable, __file__, "--child-train", json.dumps(spec)], capture_output=True, text=True, check=False
        )
        if proc.returncode != 0:
            raise RuntimeError(f"training failed:\n{proc.stderr[-3000:]}")
        info.write_text(proc.stdout.strip().splitlines()[-1])
    training = json.loads(info.read_text())
    log(
        f"  {scene} seed {seed}: {training['seconds'] / 60:.1f} min, steps {training['steps']}, "
        f"best val {training['best_val_loss']}"
    )
    return out, training


def features(model: Any, path: Path, scene: reid_sets.Scene, work: Path) -> np.ndarray:
    """Appearance vectors of every detection, cached by the model file's content."""
    from selftrack.reid import embed_video

    digest = hashlib.sha1(path.read_bytes() + str(scene.video).encode()).hexdigest()[:16]
    cache = work / "feats" / f"{path.stem}-{digest}.npy"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, embed_video(model, scene.video, scene.det))
    return np.load(cache)


# ---------------------------------------------------------------------------- scoring
def score(scene: reid_sets.Scene, tracks: Detections) -> dict[str, float]:
    assert scene.gt is not None
    s = evaluate(scene.gt, tracks, frames=scene.frames).summary()
    return {k: float(s[k]) for k in METRICS}


def reid_run(
    scene: reid_sets.Scene,
    model: Any,
    feats: np.ndarray | None,
    params: dict[str, Any],
    colour: np.ndarray | None = None,
) -> Detections:
    from selftrack.reid import ReidTracker

    tracker = ReidTracker(model, **params)
    return tracker.track(scene.det, feats, fps=scene.fps, transforms=scene.transforms, colour=colour)


def colours(scene: reid_sets.Scene, work: Path) -> np.ndarray:
    """Colour looks of every detection (``reid.colour``), cached by video and detections."""
    from selftrack.reid import colour_video
    from selftrack.reid.crops import detections_digest

    digest = hashlib.sha1((str(scene.video) + detections_digest(scene.det)).encode()).hexdigest()[:16]
    cache = work / "colour" / f"{scene.key}-{digest}.npy"
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, colour_video(scene.video, scene.det))
    return np.load(cache)


def classic_rows(scene: reid_sets.Scene) -> list[dict[str, Any]]:
    """Our classic trackers with their defaults (the frame rate where they take one), with post-processing."""
    rows = []
    for name in ("sort", "bytetrack", "ocsort"):
        out = get_tracker(name, frame_rate=scene.fps).track(scene.det, transforms=scene.transforms)
        out = interpolate_tracks(drop_short_tracks(out, PP["min_length"]), PP["max_gap"], scene.transforms)
        rows.append({"label": f"{name} (ours, defaults) + post-processing", **score(scene, out)})
    return rows


def harness_best(trackers_json: Path | None, scene_key: str) -> dict[str, Any] | None:
    """The best run of the tracker harness on this scene's sequence (any implementation, any config)."""
    if trackers_json is None or scene_key not in HARNESS_SET:
        return None
    data = json.loads(trackers_json.read_text())
    best = None
    for run, results in data.items():
        if run == "bytetrack_ablation_hota":
            continue
        for seq_key, r in results.items():
            if seq_key.split("/")[0] != HARNESS_SET[scene_key]:
                continue
            row = {
                "label": f"best of the tracker harness: {run}",
                "HOTA": r["HOTA"]["HOTA"],
                "IDF1": r["Identity"]["IDF1"],
                "AssA": r["HOTA"]["AssA"],
                "DetA": r["HOTA"]["DetA"],
                "MOTA": r["CLEAR"]["MOTA"],
                "IDSW": r["CLEAR"]["IDSW"],
            }
            if best is None or row["HOTA"] > best["HOTA"]:
                best = row
    return best


def section_scenes(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    from selftrack.reid import load_reid_model

    out = results.setdefault("scenes", {})
    for key in args.scenes:
        scene = reid_sets.load(key, work / "videos")
        log(f"{key}: {scene.title}, {len(scene.det)} boxes, {scene.fps:g} fps")
        res: dict[str, Any] = {"title": scene.title, "fps": scene.fps, "detector": scene.detector}
        res["classic"] = classic_rows(scene)
        res["harness"] = harness_best(args.trackers_json, key)
        colour = colours(scene, work)
        res["motion"] = {
            label: score(scene, reid_run(scene, None, None, kw, colour)) for label, m, kw in ABLATION if not m
        }
        res["models"] = []
        for seed in range(args.seeds):
            path, training = model_for(key, seed, work, log)
            model = load_reid_model(path, "cpu")
            feats = features(model, path, scene, work)
            rows = {label: score(scene, reid_run(scene, model, feats, kw, colour)) for label, m, kw in ABLATION if m}
            cand = {name: score(scene, reid_run(scene, model, feats, kw, colour)) for name, kw in CANDIDATES.items()}
            from selftrack.reid import ReidTracker

            probe = ReidTracker(model)
            probe.track(scene.det, feats, fps=scene.fps, transforms=scene.transforms, colour=colour)
            res["models"].append(
                {"seed": seed, "training": training, "ablation": rows, "candidates": cand, "settings": probe.settings()}
            )
            log(
                f"  seed {seed}: defaults HOTA {100 * cand['defaults']['HOTA']:.1f} IDF1 {100 * cand['defaults']['IDF1']:.1f}"
            )
        out[key] = res


def section_motion(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    """The re-id tracker's motion part alone (no model) under each of MOTION_CANDIDATES, on A, C and B."""
    out: dict[str, Any] = {"scenes": {}}
    for key in (*reid_sets.GROUP_A, *reid_sets.GROUP_C, *reid_sets.GROUP_B):
        scene = reid_sets.load(key, work / "videos")
        out["scenes"][key] = {
            "title": scene.title,
            "fps": scene.fps,
            "scores": {name: score(scene, reid_run(scene, None, None, kw)) for name, kw in MOTION_CANDIDATES.items()},
        }
        log(f"motion {key}: defaults HOTA {100 * out['scenes'][key]['scores']['defaults']['HOTA']:.1f}")
    results["motion"] = out


def section_colour(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    """The colour check's settings (COLOUR_GRID) with the motion part alone (no model), on A and B: where the
    colour check decides (a model that is not trusted, or none), with nothing learnt to mix in."""
    out: dict[str, Any] = {"scenes": {}}
    for key in (*reid_sets.GROUP_A, *reid_sets.GROUP_B):
        scene = reid_sets.load(key, work / "videos")
        colour = colours(scene, work)
        scores = {"motion only": score(scene, reid_run(scene, None, None, NO_COLOUR))}
        for name, kw in COLOUR_GRID.items():
            scores[name] = score(scene, reid_run(scene, None, None, kw, colour))
        out["scenes"][key] = {"title": scene.title, "scores": scores}
        log(f"colour {key}: defaults HOTA {100 * scores[next(iter(COLOUR_GRID))]['HOTA']:.1f}")
    results["colour"] = out


def report_colour(colour: dict[str, Any]) -> list[str]:
    scenes = colour["scenes"]
    groups = {"A": reid_sets.GROUP_A, "B": reid_sets.GROUP_B}

    def mean(name: str, group: str) -> float:
        return float(np.mean([scenes[k]["scores"][name]["HOTA"] for k in groups[group]]))

    chosen = {}
    for g in groups:
        top = max(mean(n, g) for n in COLOUR_GRID)
        chosen[g] = next(n for n in COLOUR_GRID if mean(n, g) >= top - TIE)
    keys = [*reid_sets.GROUP_A, *reid_sets.GROUP_B]
    out = [
        "### The colour check's settings",
        "",
        "The colour check (`reid.tracker.colour`) decides only where the learned model is not trusted, so its "
        "settings are chosen with the motion part alone (no model): on group A, reported on group B, and the "
        f"reverse. Means within {100 * TIE:.1f} HOTA of the best are ties, won by the first in the table's order "
        "(the defaults first). HOTA / IDF1 per scene; the first row is the motion part without the colour check.",
        "",
        "| setting | A mean HOTA | B mean HOTA | " + " | ".join(scenes[k]["title"].split(",")[0] for k in keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    for name in ["motion only", *COLOUR_GRID]:
        mark = "".join(f" **chosen on {g}**" for g, c in chosen.items() if c == name)
        cells = " | ".join(
            f"{pct(scenes[k]['scores'][name]['HOTA'])} / {pct(scenes[k]['scores'][name]['IDF1'])}" for k in keys
        )
        a = "-" if name == "motion only" else pct(mean(name, "A"))
        b = "-" if name == "motion only" else pct(mean(name, "B"))
        out.append(f"| {name}{mark} | {a} | {b} | {cells} |")
    first = next(iter(COLOUR_GRID))
    out += [
        "",
        f"Chosen on group A: **{chosen['A']}**"
        + (" = the `ColourParams` defaults." if chosen["A"] == first else " (not the defaults: change them to it)."),
        "",
    ]
    return out


def report_motion(motion: dict[str, Any]) -> list[str]:
    scenes = motion["scenes"]
    choose = [k for k in (*reid_sets.GROUP_A, *reid_sets.GROUP_C) if k in scenes]
    held = [k for k in reid_sets.GROUP_B if k in scenes]

    def mean(keys: list[str], name: str, metric: str = "HOTA") -> float:
        return float(np.mean([scenes[k]["scores"][name][metric] for k in keys]))

    best = max(MOTION_CANDIDATES, key=lambda name: mean(choose, name))
    chosen = best if mean(choose, best) - mean(choose, "defaults") >= MOTION_TIE else "defaults"
    out = [
        "### The motion part: chosen on A + C, reported on B",
        "",
        "The re-id tracker without a model (what it falls back to when its appearance model is weak: group B's "
        "trust is 0) under each candidate setting. Chosen on group A and group C (MOT17-02/04/05/10 refined, "
        "MOT17-02/04 public Faster R-CNN, TUD-Campus public: detections and ground truth only, no video), "
        f"reported on group B. The mean is over scenes; a setting less than {100 * MOTION_TIE:.1f} HOTA above the "
        "defaults on A + C is a tie, and a tie keeps the defaults.",
        "",
        "| candidate setting | A + C mean HOTA | B mean HOTA | B mean IDF1 |",
        "|---|---|---|---|",
    ]
    for name in MOTION_CANDIDATES:
        mark = " **chosen on A + C**" if name == chosen else ""
        out.append(
            f"| {name}{mark} | {pct(mean(choose, name))} | {pct(mean(held, name))} | {pct(mean(held, name, 'IDF1'))} |"
        )
    out += [
        "",
        "Per scene, HOTA / IDF1, the defaults against the previous defaults (A and C chose; B is held out):",
        "",
        "| scene | group | fps | defaults | previous defaults |",
        "|---|---|---|---|---|",
    ]
    for key in (*choose, *held):
        r = scenes[key]
        d, p = r["scores"]["defaults"], r["scores"][PREVIOUS_DEFAULTS]
        group = "B" if key in held else ("A" if key in reid_sets.GROUP_A else "C")
        out.append(
            f"| {r['title']} | {group} | {r['fps']:g} | {pct(d['HOTA'])} / {pct(d['IDF1'])} | "
            f"{pct(p['HOTA'])} / {pct(p['IDF1'])} |"
        )
    return [*out, ""]


# ---------------------------------------------------------------------------- protocol
def mean_worst(models: list[dict[str, Any]], part: str, name: str) -> dict[str, float]:
    vals = {m: [x[part][name][m] for x in models] for m in METRICS}
    out = {m: float(np.mean(v)) for m, v in vals.items()}
    out["worst HOTA"] = float(min(vals["HOTA"]))
    out["worst IDF1"] = float(min(vals["IDF1"]))
    return out


TIE = 0.003
"""Mean HOTA differences up to this (0.3 point, about the spread of one scene's mean over three training seeds)
are ties: the first candidate of ``CANDIDATES`` among the tied wins, the defaults first, then the settings that
rely least on appearance. The motion part's choice (``MOTION_TIE``) uses the same margin."""


def choose(scenes: dict[str, Any], group: tuple[str, ...]) -> tuple[str, dict[str, float]]:
    """The candidate with the best mean HOTA over ``group``'s scenes (see ``TIE``)."""
    score_of: dict[str, float] = {}
    for name in CANDIDATES:
        per = [mean_worst(scenes[k]["models"], "candidates", name) for k in group if k in scenes]
        score_of[name] = float(np.mean([p["HOTA"] for p in per]))
    top = max(score_of.values())
    best = next(n for n in CANDIDATES if score_of[n] >= top - TIE)
    return best, score_of


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def group_of(key: str) -> str:
    return "A" if key in reid_sets.GROUP_A else "B"


def report_scenes(results: dict[str, Any]) -> list[str]:
    scenes = results["scenes"]
    have_a = all(k in scenes for k in reid_sets.GROUP_A)
    have_b = all(k in scenes for k in reid_sets.GROUP_B)
    out: list[str] = []
    chosen: dict[str, str] = {}
    if have_a:
        chosen["A"], score_a = choose(scenes, reid_sets.GROUP_A)
    if have_b:
        chosen["B"], score_b = choose(scenes, reid_sets.GROUP_B)
    if have_a or have_b:
        out += [
            "### Protocol: choose on one group, report on the other",
            "",
            "Mean HOTA over each group's scenes (each the mean over its models) for every candidate setting of the "
            "re-id tracker; the setting chosen on a group is reported on the other. Means within "
            f"{100 * TIE:.1f} HOTA of the best (about the spread over training seeds) are ties, won by the first "
            "of them in the table's order (the defaults first).",
            "",
            "| candidate setting | group A mean HOTA | group B mean HOTA |",
            "|---|---|---|",
        ]
        for name in CANDIDATES:
            a = pct(score_a[name]) if have_a else "-"
            b = pct(score_b[name]) if have_b else "-"
            mark = "".join(f" **chosen on {g}**" for g, c in chosen.items() if c == name)
            out.append(f"| {name}{mark} | {a} | {b} |")
        out.append("")
        if "A" in chosen:
            same = chosen["A"] == "defaults"
            out += [
                f"Chosen on group A: **{chosen['A']}**"
                + (
                    " = the `ReidTrackerParams` defaults."
                    if same
                    else " (not the defaults: the defaults must be changed to it)."
                ),
                "",
            ]
    for key in SCENES:
        if key not in scenes:
            continue
        res = scenes[key]
        g = group_of(key) if key != "mot17-09-cmc" else "B"
        out += [f"### {res['title']}", ""]
        if key == "mot17-09-cmc":
            where = (
                "in neither group, moving camera, every tracker given the camera transforms. The re-id rows use the "
                "defaults, chosen on group A (the motion part on A + C): reported here, held out"
            )
        elif g == "A":
            where = (
                f"group A. The re-id defaults were chosen on group A (the motion part on A + C), this scene included "
                f"(in-sample); the last row, "
                f"chosen on group {GROUP_TITLE['B']}, is reported here held out"
            )
        else:
            where = (
                f"group B. The re-id defaults were chosen on group {GROUP_TITLE['A']} (the motion part on A + C, see "
                '"The motion part") and are reported here held out; the last row, if any, was chosen on group B '
                "(in-sample)"
            )
        out += [
            f"Detections: {res['detector']}; {res['fps']:g} fps. Chosen on / reported on: this scene is in {where}. "
            f"Our classic trackers run with their defaults (`preset=auto`, chosen on groups A + C), the harness "
            f"row is the best of every implementation and configuration of `bench_trackers.py` (its tuned ones chosen "
            f"on the scenes they are reported on). "
            f"{len(res['models'])} models (training seeds), mean and worst.",
            "",
            "| tracker | HOTA | worst HOTA | DetA | AssA | MOTA | IDF1 | worst IDF1 | IDSW |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        rows = list(res["classic"])
        if res.get("harness"):
            rows.append(res["harness"])
        for r in rows:
            out.append(
                f"| {r['label']} | {pct(r['HOTA'])} | | {pct(r['DetA'])} | {pct(r['AssA'])} | {pct(r['MOTA'])} | "
                f"{pct(r['IDF1'])} | | {int(r['IDSW'])} |"
            )
        for label, r in res["motion"].items():
            out.append(
                f"| re-id tracker, {label} | {pct(r['HOTA'])} | | {pct(r['DetA'])} | {pct(r['AssA'])} | "
                f"{pct(r['MOTA'])} | {pct(r['IDF1'])} | | {int(r['IDSW'])} |"
            )
        lines = [(f"re-id tracker, {lab}", "ablation", lab) for lab, m, _ in ABLATION if m]
        for grp in ("B", "A") if g == "A" else ("B",):
            if chosen.get(grp) and chosen[grp] != "defaults":
                lines.append((f"re-id tracker, chosen on {grp}: {chosen[grp]}", "candidates", chosen[grp]))
        for text, part, name in lines:
            r = mean_worst(res["models"], part, name)
            out.append(
                f"| {text} | {pct(r['HOTA'])} | {pct(r['worst HOTA'])} | {pct(r['DetA'])} | {pct(r['AssA'])} | "
                f"{pct(r['MOTA'])} | {pct(r['IDF1'])} | {pct(r['worst IDF1'])} | {r['IDSW']:.1f} |"
            )
        out += ["", training_table(res["models"]), ""]
    return out


def training_table(models: list[dict[str, Any]]) -> str:
    rows = ["| seed | minutes | peak MB | stage-1 steps (run / budget) | best / initial val loss | trust at the end |"]
    rows.append("|---|---|---|---|---|---|")
    for m in models:
        t = m["training"]
        budget = next((e for e in t.get("events", []) if e["kind"] == "budget"), {})
        val, val0 = t["best_val_loss"].get("stage1"), (t.get("initial_val_loss") or {}).get("stage1")
        losses = "-" if val is None else f"{val:.3f} / {val0:.3f}" if val0 else f"{val:.3f}"
        trust = next((s for s in m.get("settings", []) if s.startswith("appearance trust")), "")
        rows.append(
            f"| {m['seed']} | {t['seconds'] / 60:.1f} | {t['peak_rss_mb']:.0f} | {t['steps'].get('stage1')} / "
            f"{budget.get('stage1_steps', '?')} "
            f"| {losses} | {trust.split(' (')[0].replace('appearance trust ', '')} |"
        )
    return "\n".join(rows)


# ---------------------------------------------------------------------------- highway
def section_highway(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    """The tutorial on the traffic camera, as the README runs it: detect, train-reid, track, all defaults."""
    video, _ = reid_sets.highway()
    folder = work / "highway"
    folder.mkdir(parents=True, exist_ok=True)
    exe = str(Path(sys.executable).with_name("selftrack"))
    det_path, model, tracks_path = folder / "motion.txt", folder / "reid.pt", folder / "tracks.txt"
    steps: list[tuple[list[str], Path]] = [
        ([exe, "detect", "--video", str(video), "--model", "motion", "--out", str(det_path)], det_path),
        (
            [exe, "train-reid", "--video", str(video), "--detections", str(det_path), "--out", str(model)],
            model,
        ),
        (
            [
                exe,
                "track",
                "--tracker",
                "reid",
                "--detections",
                str(det_path),
                "--video",
                str(video),
                "--model",
                str(model),
                "--out",
                str(tracks_path),
            ],
            tracks_path,
        ),
    ]
    res: dict[str, Any] = {"commands": [], "logs": []}
    for cmd, made in steps:
        shown = shlex.join(["selftrack", *cmd[1:]]).replace(str(folder), "OUT").replace(str(DATA), "../shared/data")
        res["commands"].append(shown)
        if made.is_file() and not args.retrain:
            continue
        log(f"highway: {shown}")
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{shown} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        res["logs"].append({"command": shown, "seconds": time.perf_counter() - t, "stdout": proc.stdout[-1500:]})
    from selftrack.formats import read_detections
    from selftrack.video import probe

    info = probe(video)
    det = read_detections(det_path, canvas=info.size, num_frames=info.frame_count)
    tracks = read_detections(tracks_path, canvas=info.size, num_frames=info.frame_count)
    bt = get_tracker("bytetrack", frame_rate=float(info.fps)).track(det)
    from selftrack.reid import track_with_reid
    from selftrack.trackers import INTERPOLATED

    again = track_with_reid(model, video, det)  # the same defaults in-process, to tell detected boxes from filled-in
    made_up = np.asarray(again.data.get(INTERPOLATED, np.zeros(len(again), bool)), dtype=bool)
    res.update(
        motion_boxes=len(det),
        reid_boxes=int((~made_up).sum()),
        reid_boxes_all=len(tracks),
        reid_tracks=len(tracks.track_ids),
        same_as_cli=len(again) == len(tracks),
        bytetrack_boxes=len(bt),
        bytetrack_tracks=len(bt.track_ids),
        fps=float(info.fps),
    )
    res["sheet"] = contact_sheet(video, tracks, float(info.fps), FIGURE)
    log(
        f"highway: re-id keeps {res['reid_boxes']} of {len(det)} motion boxes, ByteTrack {len(bt)}; "
        f"{res['sheet']['tracks']} tracks longer than 3 s in {FIGURE.name}"
    )
    results["highway"] = res


def contact_sheet(video: Path, tracks: Detections, fps: float, path: Path, min_seconds: float = 3.0) -> dict[str, Any]:
    """One row per track longer than ``min_seconds``: its first, middle and last box, labelled with id and frames."""
    import cv2

    from selftrack.video import VideoReader

    long_ = []
    for tid, t in sorted(tracks.tracks().items()):
        if (int(t.frame[-1]) - int(t.frame[0]) + 1) / fps > min_seconds:
            picks = [0, len(t) // 2, len(t) - 1]
            long_.append((tid, [(int(t.frame[i]), t.xyxy[i]) for i in picks]))
    wanted: dict[int, list[tuple[int, int, np.ndarray]]] = {}
    for row, (_, picks) in enumerate(long_):
        for col, (f, box) in enumerate(picks):
            wanted.setdefault(f, []).append((row, col, box))
    size, label_w = 72, 150
    sheet = np.full((max(1, len(long_)) * (size + 4), label_w + 3 * (size + 4), 3), 255, np.uint8)
    with VideoReader(video) as reader:
        for f, frame in enumerate(reader.frames(0, (max(wanted) + 1) if wanted else 0)):
            for row, col, box in wanted.get(f, []):
                x1, y1, x2, y2 = (round(float(v)) for v in box)
                pad = 4
                crop = frame[max(0, y1 - pad) : y2 + pad, max(0, x1 - pad) : x2 + pad]
                if crop.size == 0:
                    continue
                scale = size / max(crop.shape[:2])
                crop = cv2.resize(crop, (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))))
                y0, x0 = row * (size + 4) + 2, label_w + col * (size + 4) + 2
                sheet[y0 : y0 + crop.shape[0], x0 : x0 + crop.shape[1]] = crop
    for row, (tid, picks) in enumerate(long_):
        text = f"id {tid}: {picks[0][0]}-{picks[-1][0]}"
        cv2.putText(sheet, text, (4, row * (size + 4) + size // 2 + 6), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return {"tracks": len(long_), "path": str(path.relative_to(ROOT)), "bytes": path.stat().st_size}


# ---------------------------------------------------------------------------- crops
def child_crops(spec: dict[str, Any]) -> dict[str, Any]:
    """Run in a child process: decode alone, or build the crop cache, timing it and its peak memory."""
    from selftrack.formats.mot import read_mot
    from selftrack.reid.crops import build_crop_store
    from selftrack.video import VideoReader

    def rss_mb(field: str) -> float:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
        return float("nan")

    video = Path(spec["video"])
    start = rss_mb("VmRSS")  # after the imports (torch comes with selftrack.reid): what the work adds is measured
    t = time.perf_counter()
    if spec["what"] == "decode":
        with VideoReader(video) as reader:
            frames = sum(1 for _ in reader.frames())
    else:
        det = read_mot(spec["det"], canvas=tuple(spec["canvas"]), num_frames=spec["frames"])
        build_crop_store(video, det, spec["cache"])
        frames = spec["frames"]
    seconds = time.perf_counter() - t
    return {"fps": frames / seconds, "peak_rss_mb": rss_mb("VmHWM") - start}


def section_crops(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    """Cutting training crops from 1080p frames against decoding alone, and the memory of each."""
    import shutil

    rows = []
    for key, folder, det in (
        ("MOT17-09 (1920x1080)", DATA / "mot17" / "MOT17-09", "det/det_refined.txt"),
        ("TUD-Stadtmitte (640x480)", DATA / "mot15" / "TUD-Stadtmitte", "det/det.txt"),
    ):
        from selftrack.video import probe

        info = probe(folder / "video.mp4")
        row: dict[str, Any] = {"video": key, "frames": info.frame_count}
        for what in ("decode", "crops"):
            cache = work / "crop-bench"
            shutil.rmtree(cache, ignore_errors=True)
            spec = {
                "what": what,
                "video": str(folder / "video.mp4"),
                "det": str(folder / det),
                "canvas": [info.width, info.height],
                "frames": info.frame_count,
                "cache": str(cache),
            }
            best: dict[str, Any] | None = None
            for _ in range(2):
                shutil.rmtree(cache, ignore_errors=True)
                proc = subprocess.run(
                    [sys.executable, __file__, "--child-crops", json.dumps(spec)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                got = json.loads(proc.stdout.strip().splitlines()[-1])
                best = got if best is None or got["fps"] > best["fps"] else best
            assert best is not None
            row[what] = best
        log(f"crops: {key}: decode {row['decode']['fps']:.1f} fps, crops {row['crops']['fps']:.1f} fps")
        rows.append(row)
    results["crops"] = {"rows": rows, "machine": machine()}


# ---------------------------------------------------------------------------- report
def bars(results: dict[str, Any]) -> list[str]:
    out = ["### Bars", ""]
    scenes = results.get("scenes", {})
    for key in reid_sets.GROUP_B:
        res = scenes.get(key)
        if not res or not res.get("harness"):
            continue
        r, ref = mean_worst(res["models"], "candidates", "defaults"), res["harness"]
        dh, di = 100 * (r["HOTA"] - ref["HOTA"]), 100 * (r["IDF1"] - ref["IDF1"])
        wh, wi = 100 * (r["worst HOTA"] - ref["HOTA"]), 100 * (r["worst IDF1"] - ref["IDF1"])
        ok = dh >= 3 and di >= 5 and wh >= 3 and wi >= 5
        out.append(
            f"- {key}: re-id tracker (defaults, chosen on A and, for the motion part, A + C) against the best of the "
            "tracker harness "
            f"({ref['label'].split(': ', 1)[1]}: HOTA {pct(ref['HOTA'])}, IDF1 {pct(ref['IDF1'])}): "
            f"mean {dh:+.1f} HOTA / {di:+.1f} IDF1, worst model {wh:+.1f} / {wi:+.1f} "
            f"(bar +3 / +5): **{'met' if ok else 'not met'}**."
        )
    for key in SCENES:
        res = scenes.get(key)
        if not res:
            continue
        motion = res["motion"][MOTION_ONLY]
        per = [m["candidates"]["defaults"]["HOTA"] for m in res["models"]]
        ok = min(per) >= motion["HOTA"] - 1e-9
        out.append(
            f"- {key}: re-id tracker (defaults) against its own motion-only mode (HOTA {pct(motion['HOTA'])}): "
            f"mean {100 * (np.mean(per) - motion['HOTA']):+.1f}, worst model {100 * (min(per) - motion['HOTA']):+.1f}: "
            f"**{'at least as good' if ok else 'worse'}**."
        )
    pets = scenes.get("pets09")
    if pets and pets.get("harness"):
        r, ref = mean_worst(pets["models"], "candidates", "defaults"), pets["harness"]
        out.append(
            f"- pets09: margin over the best of the tracker harness {100 * (r['HOTA'] - ref['HOTA']):+.1f} HOTA / "
            f"{100 * (r['IDF1'] - ref['IDF1']):+.1f} IDF1 (mean; worst model {100 * (r['worst HOTA'] - ref['HOTA']):+.1f} "
            "HOTA); the previous report's margin over the best classic tracker was +7.6 HOTA / +16.0 IDF1."
        )
    hw = results.get("highway")
    if not hw and "highway" in results.get("kept", {}):
        out.append("- highway: not measured by this run (its subsection above is kept from the previous report).")
    if hw:
        share = hw["reid_boxes"] / max(hw["bytetrack_boxes"], 1)
        out.append(
            f"- highway: the re-id tracker keeps {hw['reid_boxes']} detected boxes, ByteTrack {hw['bytetrack_boxes']} "
            f"({100 * share:.0f} %, bar 90 %): **{'met' if share >= 0.9 else 'not met'}**."
        )
    return [*out, ""]


def report(results: dict[str, Any]) -> str:
    out = [
        START,
        "## Re-identification (UNS20, self-supervised)",
        "",
        f"Command: `{results['command']}`  ",
        f"Machine: {results['machine']}  ",
        f"Date: {results['started']}",
        "",
        "Every model is trained on its scene's own video and detections (no labels) with the default training "
        "parameters (`ReidTrainParams`: step budget scaled to the data, early stopping on validation). Every "
        "re-id row uses one setting for every scene. Post-processing: our classic trackers' rows drop tracks under "
        "4 boxes and fill gaps up to 20 frames (UNS20's); the re-id tracker drops tracks under 4 boxes and fills "
        "gaps up to 2 s (the time it keeps a lost track), its defaults since 2026-12-05 (chosen on A + C, see "
        "\"The motion part\"); the harness rows are the trackers' own output. Frame rates: each sequence's "
        "seqinfo.ini (PETS09 7 fps; TUD-Stadtmitte, which has none, the video's 25).",
        "",
    ]
    if "scenes" in results:
        out += report_scenes(results)
    if "colour" in results:
        out += report_colour(results["colour"])
    if "motion" in results:
        out += report_motion(results["motion"])
    elif "motion" in results.get("kept", {}):
        out += [_kept(results["kept"]["motion"]), ""]
    hw = results.get("highway")
    if not hw and "highway" in results.get("kept", {}):
        out += [_kept(results["kept"]["highway"]), ""]
    if hw:
        out += [
            "### The tutorial on a traffic camera (highway_overpass_cdnet.avi, defaults only)",
            "",
            "Commands, as the README gives them:",
            "",
            *[f"    {c}" for c in hw["commands"]],
            "",
            f"The moving-object detector found {hw['motion_boxes']} boxes. The re-id tracker outputs "
            f"{hw['reid_boxes_all']} boxes in {hw['reid_tracks']} tracks, {hw['reid_boxes']} of them detected boxes "
            f"(the rest filled in); our ByteTrack with its defaults keeps {hw['bytetrack_boxes']} in "
            f"{hw['bytetrack_tracks']} tracks.",
            "",
            f"![every track longer than 3 s: first, middle and last box]({hw['sheet']['path']})",
            "",
            f"Every track longer than 3 s ({hw['sheet']['tracks']} tracks): its first, middle and last box.",
            "",
        ]
    crops = results.get("crops")
    if not crops and "crops" in results.get("kept", {}):
        out += [_kept(results["kept"]["crops"]), ""]
    if crops:
        out += [
            "### Training crops from the video: cutting them against decoding alone",
            "",
            f"Each figure is the better of two runs in a fresh process ({crops['machine']}); peak memory is what the "
            "work adds to the process's resident peak (after the imports). Crops are cut while the video streams frame by frame (the next frame decodes "
            "in a second thread), so memory holds a frame or two, not a batch of them.",
            "",
            "| video | frames | decoding alone, fps | decoding + cutting every box's crop, fps | share | added peak MB, "
            "decoding | added peak MB, crops |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in crops["rows"]:
            d, c = r["decode"], r["crops"]
            out.append(
                f"| {r['video']} | {r['frames']} | {d['fps']:.1f} | {c['fps']:.1f} | {100 * c['fps'] / d['fps']:.0f} % | "
                f"{d['peak_rss_mb']:.0f} | {c['peak_rss_mb']:.0f} |"
            )
        out.append("")
    for part in ("speed", "memory"):
        if part in results.get("kept", {}):
            out += [_kept(results["kept"][part]), ""]
    out += bars(results)
    out.append(END)
    return "\n".join(out) + "\n"


def _kept(text: str) -> str:
    """A subsection of the previous report, marked as not measured by this run."""
    text = text.rstrip("\n")
    note = "_Kept from the previous report (measured then, with the code of then); not measured by this run._"
    if note not in text:
        title, _, body = text.partition("\n")
        text = f"{title}\n\n{note}\n{body}"
    return text


def kept_parts(path: Path) -> dict[str, str]:
    """Subsections of the previous report that a run may not measure: speed and memory (never measured by this
    script), the highway tutorial and the crop cutting (when their sections are not run)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if START not in text:
        return {}
    body = text.split(START, 1)[1].split(END, 1)[0]
    out = {}
    for title, part in (
        ("### Speed", "speed"),
        ("### Training memory", "memory"),
        ("### The tutorial on a traffic camera", "highway"),
        ("### Training crops from the video", "crops"),
        ("### The motion part", "motion"),
    ):
        if title in body:
            chunk = title + body.split(title, 1)[1]
            nxt = chunk.find("\n### ", 4)
            out[part] = chunk if nxt < 0 else chunk[:nxt]
    return out


def machine() -> str:
    return (
        f"{cpu_name()}, {os.cpu_count()} cores, load average {load_average():.1f} at the start, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["scenes", "colour", "motion", "highway", "crops"],
        choices=["scenes", "colour", "motion", "highway", "crops"],
    )
    parser.add_argument("--scenes", nargs="+", default=list(SCENES), choices=list(SCENES))
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-bench-reid"))
    parser.add_argument("--seeds", type=int, default=3, help="models of each scene, seeds 0..N-1")
    parser.add_argument("--retrain", action="store_true", help="run the highway commands again")
    parser.add_argument("--trackers-json", type=Path, help="--json output of bench_trackers.py (the harness)")
    parser.add_argument(
        "--rescore-classic",
        action="store_true",
        help="with --report-from: run our classic trackers' rows again with the current code",
    )
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    parser.add_argument(
        "--report-from", type=Path, help="write the section from --json files of earlier runs (comma-separated)"
    )
    parser.add_argument("--child-train", help=argparse.SUPPRESS)
    parser.add_argument("--child-crops", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child_train:
        print(json.dumps(child_train(json.loads(args.child_train))))
        return 0
    if args.child_crops:
        print(json.dumps(child_crops(json.loads(args.child_crops))))
        return 0
    if args.report_from:
        results = {}
        commands = []
        for path in str(args.report_from).split(","):  # several runs (scenes split between processes) merge
            part = json.loads(Path(path).read_text())
            scenes = {**results.get("scenes", {}), **part.get("scenes", {})}
            commands.append(part["command"])
            results = {**results, **part, "scenes": scenes}
        results["command"] = "` and `".join(commands)
        for key, res in results.get("scenes", {}).items():
            res["harness"] = harness_best(args.trackers_json, key) or res.get("harness")
            if args.rescore_classic:  # the classic trackers' rows again, with today's code (no model: seconds)
                res["classic"] = classic_rows(reid_sets.load(key, args.work / "videos"))
    else:
        if not (DATA / "README.md").exists():
            print(f"real data folder {DATA} is missing", file=sys.stderr)
            return 2
        args.work.mkdir(parents=True, exist_ok=True)
        shown = shlex.join(["python", "benchmarks/bench_reid.py", *(sys.argv[1:] if argv is None else argv)])
        results = {
            "command": shown,
            "machine": machine(),
            "started": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        }

        def log(msg: str) -> None:
            print(msg, flush=True)

        for name in args.sections:
            sections = {"scenes": section_scenes, "colour": section_colour, "motion": section_motion}
            {**sections, "highway": section_highway, "crops": section_crops}[name](args.work, args, results, log)
            if args.json:  # keep what is done so far if a later section fails
                args.json.write_text(json.dumps(results, indent=1, default=str))
    results["kept"] = kept_parts(ROOT / "BENCHMARKS.md")
    text = report(results)
    print(text)
    if args.json and not args.report_from:
        args.json.write_text(json.dumps(results, indent=1, default=str))
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", text, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
