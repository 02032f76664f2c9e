"""Bootstrapping a detector for a fixed camera with no labels, on the two highway videos.

Usage: ``python benchmarks/bench_bootstrap.py [--epochs N] [--image-size PX] [--yolo-python PATH] [--reuse]
[--no-write]``, run with the core environment. Reads ``../shared/data`` (or ``$SELFTRACK_SHARED_DATA``), writes
its section into ``BENCHMARKS.md`` between ``<!-- bootstrap:start -->`` and ``<!-- bootstrap:end -->`` and its
figures into ``benchmarks/figures/``.

1. **Train** (in the ultralytics environment, ``--yolo-python``, default ``.venv-yolo/bin/python``; this
   script runs itself there with ``train``): pseudo-labels from the moving-object detector on
   ``highway_overpass_cdnet.avi`` and ``highway_cctv.avi``, training frames drawn only from the first
   70 % of each video; one YOLO11n trained from its yaml (no pretrained weights) on both; ONNX export.
2. **Evaluate** (here, with onnxruntime only: no ultralytics, no torch): the motion detector and the
   trained detector on the held-out last 30 % of each video. There is no ground truth for these
   videos, so the counts compare the two detectors: how many of the motion detector's consistent
   boxes (the pseudo-label filter applied to the held-out frames) the trained detector finds; the
   trained detector's boxes that no motion box covers, and those of them that persist (a SORT track
   of at least 10 frames); motion blobs that hold two or more trained-detector boxes (overlapping
   vehicles merged into one blob); the first 50 frames of each video (the background model is still
   learning; never used for training).
3. **Stopped vehicles**: the highway traffic never stops, so stopping is simulated: at 5 held-out
   frames, the motion detector is warmed on the 300 frames before, then the frame is repeated with
   fresh sensor noise (Gaussian, sigma 2 grey levels) for 150 frames, as if every vehicle in it stood
   still. Both detectors are run on the repeated frames.

Figures: ``bootstrap.png`` (both detectors side by side) and ``bootstrap_uncovered.png`` (a random
sample of the trained detector's boxes that no motion box covers, cropped, to check by eye).
``--reuse`` evaluates the model of the last training run again (the evaluation is deterministic).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_common import cpu_name, load_average, write_section
from scipy.optimize import linear_sum_assignment

from selftrack.core.boxes import area, iou_matrix
from selftrack.core.detections import Detections
from selftrack.detectors import MotionDetector, YoloOnnxDetector, detect_video
from selftrack.detectors.pseudo_labels import (
    BACKGROUND,
    KEPT,
    PseudoLabelParams,
    PseudoLabels,
    choose_frames,
    pseudo_labels_from_motion,
)
from selftrack.trackers import SortTracker
from selftrack.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
VIDEOS = {"cdnet": "highway_overpass_cdnet.avi", "cctv": "highway_cctv.avi"}
START, END = "<!-- bootstrap:start -->", "<!-- bootstrap:end -->"
FIGURES = ROOT / "benchmarks" / "figures"
TRAIN_FRACTION = 0.7
CONF = 0.25  # ultralytics' own default for predictions
PERSIST = 10
FREEZE_POINTS, FREEZE_WARMUP, FREEZE_FRAMES, FREEZE_NOISE = 5, 300, 150, 2.0
ON_SCREEN_TEXT = {"cctv": (505, np.array([[0.0, 78, 82, 94]]))}
"""The camera's "PEDESTRIAN ALARM" caption: from this frame on, at this box (not a vehicle; see the crops)."""
PSEUDO = PseudoLabelParams(class_name="vehicle", frame_stride=4, max_frames=120)


# ---------------------------------------------------------------------------- stage 1: train (ultralytics env)
def train_stage(work: Path, epochs: int, image_size: int, batch: int) -> None:
    """Pseudo-label, export the training frames of the first 70 %, train and export; write ``summary.json``."""
    from selftrack.detectors.bootstrap import pseudo_label_images, pseudo_label_videos
    from selftrack.detectors.train_yolo import YoloTrainParams, train_yolo
    from selftrack.detectors.yolo_dataset import export_yolo_dataset

    videos = {key: DATA / "videos" / name for key, name in VIDEOS.items()}
    t0 = time.perf_counter()
    labels = pseudo_label_videos(videos, PSEUDO)
    t_pseudo = time.perf_counter() - t0
    for key, pl in labels.items():
        cut = int(pl.motion.frame_count * TRAIN_FRACTION)
        pl.usable[cut:] = False  # the rest is held out for the evaluation
        pl.frames = choose_frames(pl.usable, PSEUDO.frame_stride, PSEUDO.max_frames)
        pl.stats["usable_frames"] = int(pl.usable.sum())
        pl.stats["training_frames"] = len(pl.frames)
        pl.stats["training_labels"] = int(np.isin(pl.labels.frame, pl.frames).sum())
        pl.stats |= caption_in_training(key, pl)
        print(key, pl.stats, flush=True)
    dataset = export_yolo_dataset(pseudo_label_images(videos, labels), work / "dataset", [PSEUDO.class_name], seed=0)
    params = YoloTrainParams(
        architecture="yolo11", model_size="n", epochs=epochs, image_size=image_size, batch_size=batch
    )
    t1 = time.perf_counter()
    trained = train_yolo(dataset.data_yaml, work / "run", params, log=lambda line: print(line, flush=True))
    t_train = time.perf_counter() - t1
    summary = {
        "onnx": str(trained.onnx),
        "params": params.model_dump(),
        "pseudo": {key: pl.stats for key, pl in labels.items()},
        "train_images": len(dataset.train),
        "val_images": len(dataset.val),
        "boxes": dataset.num_boxes,
        "seconds_pseudo": t_pseudo,
        "seconds_train": t_train,
        "epochs_run": len(trained.history),
        "best_epoch": trained.best_epoch,
        "val_metrics": trained.metrics,
        "history": [
            {"epoch": h.epoch, "train_loss": h.train_loss, "val_loss": h.val_loss, **h.metrics} for h in trained.history
        ],
        "host": machine(),
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=1))


def caption_in_training(key: str, pl: PseudoLabels) -> dict[str, int]:
    """How the training frames show the on-screen caption: frames it is in, painted out, left with background boxes.

    A frame has it painted out when ignored motion boxes cover at least a quarter of the caption's box;
    every other frame shows it unlabelled (a negative), some of them with background boxes on it.
    """
    if key not in ON_SCREEN_TEXT:
        return {}
    start, box = ON_SCREEN_TEXT[key]
    shown = pl.frames[pl.frames >= start].tolist()
    reason = pl.motion.data["reason"]
    painted = background = 0
    rows = pl.motion.frame_bounds()
    for f in shown:
        xyxy, why = pl.motion.xyxy[rows[f] : rows[f + 1]], reason[rows[f] : rows[f + 1]]
        ignored = xyxy[~np.isin(why, (KEPT, BACKGROUND))]
        if len(ignored) and inside(box, ignored).sum() >= 0.25:
            painted += 1
        elif (inside(xyxy[why == BACKGROUND], box)[:, 0] >= 0.5).any():
            background += 1
    return {
        "caption_from": int(start),
        "held_out_from": int(pl.motion.frame_count * TRAIN_FRACTION),
        "caption_frames": len(shown),
        "caption_painted_frames": painted,
        "caption_background_frames": background,
    }


# ---------------------------------------------------------------------------- stage 2: evaluate (core env)
def match(a: np.ndarray, b: np.ndarray, thr: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matches at IoU >= thr: ``(a matched, b matched)`` masks."""
    ma, mb = np.zeros(len(a), bool), np.zeros(len(b), bool)
    if len(a) and len(b):
        iou = iou_matrix(a, b)
        r, c = linear_sum_assignment(-iou)
        ok = iou[r, c] >= thr
        ma[r[ok]], mb[c[ok]] = True, True
    return ma, mb


def inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(len(a), len(b))``: fraction of each box of ``a`` that lies inside each box of ``b``."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    return inter / np.maximum(area(a)[:, None], 1e-9)


def classify_frame(motion: np.ndarray, yolo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per YOLO box: no motion box covers it; per motion box: it holds two or more YOLO boxes (a merged blob)."""
    cover = inside(yolo, motion)
    iou = iou_matrix(yolo, motion) if len(yolo) and len(motion) else np.zeros((len(yolo), len(motion)))
    uncovered = (iou.max(axis=1, initial=0) < 0.1) & (cover.max(axis=1, initial=0) < 0.5)
    merged = (cover >= 0.7).sum(axis=0) >= 2 if len(motion) else np.zeros(0, bool)
    return uncovered, merged


def track_lengths(dets: Detections) -> np.ndarray:
    """Length of the SORT track each box joins (0: none)."""
    rows = dets.replace(data={"row": np.arange(len(dets))})
    tracked = SortTracker(min_hits=2, max_age=2, output_box="detection").track(rows)
    track_id = np.full(len(dets), -1, np.int64)
    track_id[tracked.data["row"]] = tracked.track_id
    ids, counts = np.unique(track_id[track_id >= 0], return_counts=True)
    length = np.zeros(len(dets), np.int64)
    on_track = track_id >= 0
    length[on_track] = counts[np.searchsorted(ids, track_id[on_track])]
    return length


def evaluate_video(key: str, path: Path, model: Path, log) -> dict[str, Any]:
    motion = detect_video(MotionDetector(), path)
    n = motion.frame_count
    cut = int(n * TRAIN_FRACTION)
    pl = pseudo_labels_from_motion(motion, PSEUDO)
    det = YoloOnnxDetector(model, conf_threshold=CONF)
    t0 = time.process_time()
    yolo = detect_video(det, path, start=cut)
    cpu_ms = 1000 * (time.process_time() - t0) / (n - cut)
    early = detect_video(det, path, stop=50)
    length = track_lengths(yolo)
    held = np.arange(cut, n)
    rows: dict[str, float] = {"frames": len(held)}
    consistent = pl.labels.frames_range(cut, n)
    found = uncovered = persistent = merged_blobs = split_boxes = on_text = 0
    text_from, text_box = ON_SCREEN_TEXT.get(key, (n, np.zeros((0, 4))))
    per_frame_extra = np.zeros(n, int)
    extras: list[tuple[int, np.ndarray, bool]] = []
    bounds = yolo.frame_bounds()
    for f in held.tolist():
        m, y = motion.at_frame(f).xyxy, yolo.at_frame(f).xyxy
        found += int(match(consistent.at_frame(f).xyxy, y)[0].sum())
        unc, merged = classify_frame(m, y)
        uncovered += int(unc.sum())
        long = length[bounds[f] : bounds[f + 1]][unc] >= PERSIST
        persistent += int(long.sum())
        if f >= text_from:
            on_text += int((inside(y[unc], text_box).max(axis=1, initial=0) >= 0.5).sum())
        extras += [(f, box, bool(on_track)) for box, on_track in zip(y[unc], long, strict=True)]
        per_frame_extra[f] = int(unc.sum()) + int(merged.sum())
        merged_blobs += int(merged.sum())
        split_boxes += int((inside(y, m[merged]) >= 0.7).any(axis=1).sum()) if merged.any() else 0
    rows.update(
        motion_per_frame=len(motion.frames_range(cut, n)) / len(held),
        yolo_per_frame=len(yolo) / len(held),
        consistent=len(consistent),
        consistent_found=found,
        uncovered=uncovered,
        persistent=persistent,
        on_text=on_text,
        merged_blobs=merged_blobs,
        split_boxes=split_boxes,
        early_motion=len(motion.frames_range(0, 50)) / 50,
        early_yolo=len(early) / 50,
        cpu_ms=cpu_ms,
    )
    freeze = freeze_test(path, det, cut, n, ON_SCREEN_TEXT.get(key))
    rows.update(freeze["rows"])
    log(f"{key}: {rows}")
    best = int(np.argmax(per_frame_extra))
    return {
        "rows": rows,
        "figure_frame": best,
        "freeze_example": freeze["example"],
        "motion": motion,
        "yolo": yolo,
        "extras": extras,
    }


def freeze_test(
    path: Path, det: YoloOnnxDetector, cut: int, n: int, caption: tuple[int, np.ndarray] | None
) -> dict[str, Any]:
    """Repeat held-out frames with fresh noise: how many boxes each detector keeps as the scene stands still.

    Trained-detector boxes on the on-screen ``caption`` (from frame, box) are counted apart.
    """
    points = np.linspace(max(cut, FREEZE_WARMUP), n - 1, FREEZE_POINTS).round().astype(int)
    checks = (1, 25, 50, FREEZE_FRAMES)
    motion_counts = {c: [] for c in checks}
    yolo_counts = {c: [] for c in checks}
    caption_counts = {c: [] for c in checks}
    lost_after: list[int] = []
    rng = np.random.default_rng(0)
    example: dict[str, Any] = {}
    with VideoReader(path) as reader:
        for k in points.tolist():
            md = MotionDetector()
            md.reset()
            for frame in reader.frames(k - FREEZE_WARMUP, k):
                md.detect_batch(frame[None])
            still = reader.read_frame(k)
            first_zero = None
            for i in range(1, FREEZE_FRAMES + 1):
                noisy = np.clip(still + rng.normal(0, FREEZE_NOISE, still.shape), 0, 255).astype(np.uint8)
                boxes = md.detect_batch(noisy[None])[0]
                if first_zero is None and len(boxes) == 0:
                    first_zero = i
                if i in checks:
                    motion_counts[i].append(len(boxes))
                    ybox = det.detect_batch(noisy[None])[0]
                    yolo_counts[i].append(len(ybox))
                    on_caption = caption is not None and k >= caption[0]
                    on = inside(ybox.xyxy, caption[1]).max(axis=1, initial=0) >= 0.5 if on_caption else []
                    caption_counts[i].append(int(np.sum(on)))
                    if i == FREEZE_FRAMES and not example:
                        example = {"frame": noisy, "motion": boxes.xyxy, "yolo": ybox.xyxy, "k": k}
            lost_after.append(first_zero if first_zero is not None else FREEZE_FRAMES + 1)
    rows = {f"freeze_motion_{c}": float(np.mean(motion_counts[c])) for c in checks}
    rows |= {f"freeze_yolo_{c}": float(np.mean(yolo_counts[c])) for c in checks}
    rows |= {f"freeze_caption_{c}": float(np.mean(caption_counts[c])) for c in checks}
    rows["freeze_lost_median"] = float(np.median(lost_after))
    return {"rows": rows, "example": example}


# ---------------------------------------------------------------------------- figures
OVERLAY = {
    "bar": (0, 0, 0),
    "text": (255, 255, 255),
    "motion": (255, 50, 50),
    "trained": (40, 220, 40),
    "extra": (255, 215, 0),
}
"""RGB of what is drawn over the frames; they get palette entries of their own, so quantizing never dulls them."""
INK = {name: i + 1 for i, name in enumerate(OVERLAY)}


def panel(frame: np.ndarray, boxes: np.ndarray, kind: str, title: str, extra: np.ndarray | None = None):
    """A frame (RGB) under a title strip, and an ink layer (0: the picture shows through; else an ``INK`` value)."""
    bar = 18
    rgb = np.concatenate([np.zeros((bar, frame.shape[1], 3), np.uint8), frame], axis=0)
    ink = np.zeros(rgb.shape[:2], np.uint8)
    ink[:bar] = INK["bar"]
    for i, (x1, y1, x2, y2) in enumerate(np.round(boxes).astype(int)):
        colour = INK["extra"] if extra is not None and extra[i] else INK[kind]
        cv2.rectangle(ink, (x1, y1 + bar), (x2 - 1, y2 - 1 + bar), colour, 2)
    ink[:bar] = INK["bar"]  # a box at the top edge must not cover the title
    cv2.putText(ink, title, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.42, INK["text"], 1, cv2.LINE_8)
    return rgb, ink


def save_png(rgb: np.ndarray, ink: np.ndarray, path: Path, colours: int = 120) -> int:
    """Palette PNG (small enough for the repository) with exact overlay colours; returns its size in bytes."""
    from PIL import Image

    base = Image.fromarray(rgb).quantize(colours, dither=Image.Dither.NONE)
    index = np.asarray(base, dtype=np.uint8)
    palette = list(base.getpalette() or [])[: 3 * colours]
    palette += [0] * (3 * colours - len(palette))
    for name in OVERLAY:
        palette += list(OVERLAY[name])
    out = Image.fromarray(np.where(ink > 0, colours + ink - 1, index).astype(np.uint8), mode="P")
    out.putpalette(palette)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.save(path, optimize=True)
    return path.stat().st_size


def figure(results: dict[str, dict[str, Any]], path: Path) -> int:
    rows = []
    for key, res in results.items():
        f = res["figure_frame"]
        with VideoReader(DATA / "videos" / VIDEOS[key]) as reader:
            frame = reader.read_frame(f)
        m, y = res["motion"].at_frame(f).xyxy, res["yolo"].at_frame(f).xyxy
        unc, merged = classify_frame(m, y)
        ex = res["freeze_example"]
        e_unc, _ = classify_frame(ex["motion"], ex["yolo"])
        still = f"{key} {ex['k']} still {FREEZE_FRAMES} frames"
        rows.append(
            [
                panel(frame, m, "motion", f"{key} {f}: motion, {len(m)} boxes", merged),
                panel(frame, y, "trained", f"{key} {f}: trained YOLO, {len(y)} boxes", unc),
                panel(ex["frame"], ex["motion"], "motion", f"{still}: motion, {len(ex['motion'])}"),
                panel(ex["frame"], ex["yolo"], "trained", f"{still}: YOLO, {len(ex['yolo'])}", e_unc),
            ]
        )
    rgb = np.concatenate([np.concatenate([p[0] for p in row], axis=1) for row in rows], axis=0)
    ink = np.concatenate([np.concatenate([p[1] for p in row], axis=1) for row in rows], axis=0)
    return save_png(rgb, ink, path)


def crop_sheet(results: dict[str, dict[str, Any]], path: Path, per_video: int = 24, cols: int = 12) -> int:
    """A random sample of the trained detector's boxes that no motion box covers, cropped, for checking by eye."""
    rng = np.random.default_rng(0)
    tiles = []
    for key, res in results.items():
        extras = res["extras"]
        pick = sorted(rng.choice(len(extras), min(per_video, len(extras)), replace=False)) if extras else []
        with VideoReader(DATA / "videos" / VIDEOS[key]) as reader:
            for i in pick:
                f, box, long = extras[i]
                frame = reader.read_frame(f)
                x1, y1, x2, y2 = np.round(box).astype(int)
                h, w = frame.shape[:2]
                crop = frame[max(0, y1 - 6) : min(h, y2 + 6), max(0, x1 - 6) : min(w, x2 + 6)]
                tile = cv2.resize(crop, (64, 64), interpolation=cv2.INTER_AREA)
                ink = np.zeros((64, 64), np.uint8)
                ink[:10, :] = INK["bar"]
                label = f"{key} {f}{' P' if long else ''}"
                cv2.putText(ink, label, (1, 8), cv2.FONT_HERSHEY_SIMPLEX, 0.27, INK["text"], 1)
                tiles.append((tile, ink))
    if not tiles:
        return 0
    while len(tiles) % cols:
        tiles.append((np.zeros((64, 64, 3), np.uint8), np.full((64, 64), INK["bar"], np.uint8)))
    rows = [tiles[i : i + cols] for i in range(0, len(tiles), cols)]
    rgb = np.concatenate([np.concatenate([t[0] for t in row], axis=1) for row in rows], axis=0)
    ink = np.concatenate([np.concatenate([t[1] for t in row], axis=1) for row in rows], axis=0)
    return save_png(rgb, ink, path)


# ---------------------------------------------------------------------------- report
def report(summary: dict[str, Any], results: dict[str, dict[str, Any]], command: str, fig: Path, crops: Path) -> str:
    p = summary["params"]
    lines = [
        START,
        "## Bootstrapping a detector for a fixed camera (no labels)",
        "",
        f"Command: {command} — {dt.date.today().isoformat()} — training: {summary['host']}; evaluation: {machine()}.",
        "",
        "Pseudo-labels from the moving-object detector (MOG2 defaults), kept when they persist as a SORT track of "
        f"at least {PSEUDO.min_track_length} boxes that travels at least {PSEUDO.min_travel:g} x its box size, with a "
        "steady size, away from the frame edge; doubtful boxes painted grey, except static regions that never "
        f"moved (a static track of at least {PSEUDO.min_background_length} boxes whose centre's whole path is under "
        f"{PSEUDO.max_background_path:g} x its box size, that did not start where another track was and never "
        "touches the frame edge), left in the picture as *background*: negatives; training frames "
        f"every {PSEUDO.frame_stride}th usable frame of the **first {int(TRAIN_FRACTION * 100)} %** of each video "
        f"(at most {PSEUDO.max_frames} per video). One YOLO11n built from its yaml (no pretrained weights), "
        f"{summary['epochs_run']} epochs at {p['image_size']} px, batch {p['batch_size']}, on the CPU: "
        f"{summary['train_images']} training + {summary['val_images']} validation frames, {summary['boxes']} boxes; "
        f"pseudo-labelling {summary['seconds_pseudo']:.0f} s, training and export {summary['seconds_train'] / 60:.1f} min. "
        f"Validation against held-out *pseudo-labels* (best epoch {summary['best_epoch']}): "
        + ", ".join(f"{k} {v:.3f}" for k, v in summary["val_metrics"].items())
        + ".",
        "",
        "| video | motion boxes | kept | background | untracked | short track | static | unstable size | too small "
        "| low fill | at edge | usable frames (first 70 %) | training frames |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for key, s in summary["pseudo"].items():
        lines.append(
            f"| {VIDEOS[key]} | {s['motion_boxes']} | {s['kept']} | {s.get('background', 0)} | {s['untracked']} | "
            f"{s['short_track']} | {s['static']} | "
            f"{s['unstable_size']} | {s['too_small']} | {s['low_fill']} | {s['at_edge']} | {s['usable_frames']} | "
            f"{s['training_frames']} |"
        )
    lines += [
        "",
        f"### Held-out frames (last {100 - int(TRAIN_FRACTION * 100)} %), trained detector at score >= {CONF}, run with onnxruntime",
        "",
        "No ground truth exists for these videos: the rows compare the two detectors. *Consistent motion boxes*: the "
        "pseudo-label filter applied to the held-out frames (what the motion detector gets right); *found*: matched by a "
        "trained-detector box at IoU >= 0.5. *Not covered by motion*: trained-detector boxes that no motion box overlaps "
        f"(IoU < 0.1, less than half inside one); *persistent*: of those, the ones on a SORT track of >= {PERSIST} frames. "
        "*Merged blobs*: motion boxes holding two or more trained-detector boxes (each >= 70 % inside): overlapping "
        "vehicles the motion detector sees as one. *On the on-screen caption*: boxes at least half on the "
        '"PEDESTRIAN ALARM" text the CCTV camera shows from frame 505 on, false detections. '
        + caption_note(summary)
        + "",
        "",
        "| | " + " | ".join(VIDEOS[k] for k in results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, fmt) -> None:
        lines.append(f"| {label} | " + " | ".join(fmt(r["rows"]) for r in results.values()) + " |")

    row("held-out frames", lambda r: f"{r['frames']:.0f}")
    row("boxes per frame: motion / trained", lambda r: f"{r['motion_per_frame']:.2f} / {r['yolo_per_frame']:.2f}")
    row(
        "consistent motion boxes found by the trained detector",
        lambda r: (
            f"{r['consistent_found']} of {r['consistent']} ({r['consistent_found'] / max(1, r['consistent']):.0%})"
        ),
    )
    row(
        "trained boxes not covered by motion (persistent; on the on-screen caption)",
        lambda r: f"{r['uncovered']} ({r['persistent']}; {r['on_text']})",
    )
    row("merged motion blobs (trained boxes inside them)", lambda r: f"{r['merged_blobs']} ({r['split_boxes']})")
    row(
        "first 50 frames, boxes per frame: motion / trained",
        lambda r: f"{r['early_motion']:.2f} / {r['early_yolo']:.2f}",
    )
    row("trained detector CPU ms / frame (320x240, all threads)", lambda r: f"{r['cpu_ms']:.0f}")
    lines += [
        "",
        f"### Stopped vehicles (simulated: a held-out frame repeated with sensor noise, {FREEZE_POINTS} frames per video)",
        "",
        "| boxes per frame after the scene stands still for | "
        + " | ".join(f"{VIDEOS[k]}: motion / trained" for k in results)
        + " |",
        "|---|" + "---|" * len(results),
    ]
    for c in (1, 25, 50, FREEZE_FRAMES):
        lines.append(
            f"| {c} frame{'s' if c > 1 else ''} | "
            + " | ".join(
                f"{r['rows'][f'freeze_motion_{c}']:.1f} / {r['rows'][f'freeze_yolo_{c}']:.1f}"
                + (
                    f" ({r['rows'][f'freeze_caption_{c}']:.1f} on the caption)"
                    if r["rows"][f"freeze_caption_{c}"]
                    else ""
                )
                for r in results.values()
            )
            + " |"
        )
    lines.append(
        "| median frames until the motion detector has no box left | "
        + " | ".join(f"{r['rows']['freeze_lost_median']:.0f}" for r in results.values())
        + " |"
    )
    lines += [
        "",
        f"![motion detector vs the bootstrapped detector]({fig.relative_to(ROOT).as_posix()})",
        "",
        "Each row: a held-out frame (the one with the most trained-detector boxes not covered by motion plus merged "
        "blobs) with the motion detector's boxes (red; merged blobs yellow) and the trained detector's (green; those "
        f"no motion box covers yellow); then a held-out frame after the scene stood still for {FREEZE_FRAMES} frames.",
        "",
        f"![boxes no motion box covers]({crops.relative_to(ROOT).as_posix()})",
        "",
        "A random sample of the trained detector's held-out boxes that no motion box covers (P: on a persistent "
        "track), to judge by eye which are vehicles the motion detector missed and which are false detections.",
        END,
        "",
    ]
    return "\n".join(lines)


PAINTED_RUN = "commit 4d58e9a", 212
"""The run before background boxes existed (the caption painted out of every training frame): its caption count."""


def caption_note(summary: dict[str, Any]) -> str:
    """What the training frames showed of the caption (from the training run's own counts)."""
    s = summary["pseudo"].get("cctv", {})
    if "caption_frames" not in s:
        return ""
    shown, painted = s["caption_frames"] - s["caption_painted_frames"], s["caption_painted_frames"]
    return (
        f"The caption appears and stays, so its steady motion boxes are background: of the {s['caption_frames']} "
        f"training frames that show it (it appears at frame {s['caption_from']}, the held-out part starts at "
        f"{s['held_out_from']}), {shown} {'shows' if shown == 1 else 'show'} it unlabelled, as a negative "
        f"({s['caption_background_frames']} with background boxes on it), and {painted} "
        f"{'has' if painted == 1 else 'have'} it painted out (a passing vehicle merged with it into a doubtful box). "
        f"When it was painted out of every training frame ({PAINTED_RUN[0]}), nothing told the detector that it is "
        f"not a vehicle, and {PAINTED_RUN[1]} of the trained detector's held-out boxes were on it."
    )


def machine() -> str:
    return (
        f"{cpu_name()}, {os.cpu_count()} cores (nproc), load average {load_average():.1f} at start, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", nargs="?", choices=["all", "train"], default="all")
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--image-size", type=int, default=320)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "selftrack-bench-bootstrap")
    parser.add_argument("--yolo-python", default=str(ROOT / ".venv-yolo" / "bin" / "python"))
    parser.add_argument("--reuse", action="store_true", help="evaluate the model of a previous training run")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args(argv)
    if not (DATA / "README.md").exists():
        print(f"real data folder {DATA} is absent", file=sys.stderr)
        return 2
    work: Path = args.work.resolve()
    if args.stage == "train":
        work.mkdir(parents=True, exist_ok=True)
        train_stage(work, args.epochs, args.image_size, args.batch)
        return 0
    summary_path = work / "summary.json"
    if not (args.reuse and summary_path.is_file()):
        import shutil

        shutil.rmtree(work, ignore_errors=True)
        cmd = [
            args.yolo_python,
            __file__,
            "train",
            "--work",
            str(work),
            "--epochs",
            str(args.epochs),
            "--image-size",
            str(args.image_size),
            "--batch",
            str(args.batch),
        ]
        print("training:", shlex.join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    summary = json.loads(summary_path.read_text())
    results = {
        key: evaluate_video(key, DATA / "videos" / name, Path(summary["onnx"]), print) for key, name in VIDEOS.items()
    }
    fig, crops = FIGURES / "bootstrap.png", FIGURES / "bootstrap_uncovered.png"
    print(f"figure {fig}: {figure(results, fig) / 1024:.0f} KB; {crops}: {crop_sheet(results, crops) / 1024:.0f} KB")
    p = summary["params"]
    trained_with = {"--epochs": p["epochs"], "--image-size": p["image_size"], "--batch": p["batch_size"]}
    given = [f"{k} {v}" for k, v in trained_with.items() if v != parser.get_default(k.lstrip("-").replace("-", "_"))]
    command = "`" + " ".join(["python benchmarks/bench_bootstrap.py", *given]) + "`"
    if args.reuse:
        command += " (evaluation re-run with `--reuse`)"
    section = report(summary, results, command, fig, crops)
    if args.no_write:
        print(section)
    else:
        write_section(ROOT / "BENCHMARKS.md", section, START, END)
        print(f"wrote the bootstrap section of {ROOT / 'BENCHMARKS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
