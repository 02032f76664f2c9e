"""Why does a self-supervised re-id model learn little on a scene? Diagnostics that use the ground truth.

Training never sees track ids; these diagnostics do, to measure what the model learnt and what its
training signal was worth. Nothing here chooses a default: they explain the re-id benchmark
(``bench_reid.py``) and its "chosen on / reported on" tables.

Subcommands (each prints JSON lines; scenes as in ``reid_sets.py``):

- ``masks SCENE...``: the IoU-chain candidate masks training learns from (``reid.candidates``) at the
  short and long appearance gaps: the share of a later frame's boxes that are candidates of a box,
  and the share of boxes whose true match is among them (recall); with ``--chain '{"min_iou": 0.3}'``
  for other chaining settings. Also the overlap of each box with its best and second-best box in
  the next frame (how much neighbours overlap, against how much one object overlaps itself).
- ``train SCENE NAME [--params JSON] [--oracle]``: train one model with ``ReidTrainParams`` overrides
  (``--oracle``: the candidate mask replaced by the ground-truth identities wherever a box has one,
  an upper bound for the mask) and report its losses and its rank-1: the share of boxes whose
  highest appearance logit, among the boxes of the frame 0.5 s or 2 s later that have a ground-truth
  identity, is the same object; over all frames and over the last 30 % (the validation tail of a
  short clip, never trained on).
- ``rank1 SCENE MODEL``: the rank-1 figures of a model trained elsewhere (e.g. by ``bench_reid.py``).
- ``track SCENE MODEL``: the re-id tracker with the model as trained, and with its validation loss
  replaced by a neutral and a perfect one (what the tracker would do if it trusted the model),
  against its motion-only mode.
- ``colour SCENE...``: the same rank-1 for a weight-free descriptor (HSV histograms of three stripes of
  each crop), and the re-id tracker with that descriptor as its appearance model: does the scene need a
  learnt model at all, and does the tracker gain when appearance is good?
- ``errors SCENE...``: which errors the motion-only tracker's online pass makes, by the ground truth: identity
  hops inside a track (runs of at least 5 boxes on one person, then on another), split into those after a gap
  (re-acquisitions, which the colour check tests) and those with no missed frame (hand-overs), and how many extra
  tracks each person is split over (fragments, which the colour check and stitching may join).
- ``ceiling SCENE...``: how far association alone could lift the motion-only tracker: its own boxes with
  identities from the ground truth (with and without its gaps filled; with its boxes or the detections'
  boxes; then also without its false positives, which no association removes), and every detection with
  its ground-truth identity.

Usage::

    python benchmarks/reid_diagnose.py masks pets09 mot17-09
    python benchmarks/reid_diagnose.py train mot17-09 tight --params '{"match_iou": 0.5}'
    python benchmarks/reid_diagnose.py track mot17-09 /tmp/selftrack-diag/models/mot17-09-tight.pt
    python benchmarks/reid_diagnose.py colour pets09 plaza mot17-09 tud-stadtmitte kitti-17
    python benchmarks/reid_diagnose.py ceiling mot17-09 tud-stadtmitte kitti-17
    python benchmarks/reid_diagnose.py errors pets09 mot17-09 tud-stadtmitte kitti-17 mot17-09-cmc
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import reid_sets  # noqa: E402

from selftrack.core.boxes import iou_matrix  # noqa: E402
from selftrack.core.detections import Detections  # noqa: E402
from selftrack.metrics.evaluate import evaluate  # noqa: E402
from selftrack.reid.heads import NumpyHeads  # noqa: E402


def gt_ids(det: Detections, gt: Detections, min_iou: float = 0.5) -> np.ndarray:
    """Ground-truth identity of each detection (optimal matching per frame at IoU >= ``min_iou``), -1 for none."""
    from scipy.optimize import linear_sum_assignment

    ids = np.full(len(det), -1)
    db, gb = det.frame_bounds(), gt.frame_bounds()
    for f in range(min(len(db), len(gb)) - 1):
        d, g = np.arange(db[f], db[f + 1]), np.arange(gb[f], gb[f + 1])
        if len(d) and len(g):
            iou = iou_matrix(det.xyxy[d], gt.xyxy[g])
            r, c = linear_sum_assignment(-iou)
            ok = iou[r, c] >= min_iou
            ids[d[r[ok]]] = gt.track_id[g[c[ok]]]
    return ids


def mask_stats(scene: reid_sets.Scene, chain: dict[str, Any], starts: int = 60) -> dict[str, Any]:
    """Candidate share and recall of the IoU-chain masks at the short and long appearance gaps (see module doc)."""
    from selftrack.reid.candidates import candidate_mask, match_gaps, pad_boxes

    det = scene.det
    assert scene.gt is not None
    ids, db = gt_ids(det, scene.gt), det.frame_bounds()
    gaps = match_gaps(4.0, scene.fps)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {"scene": scene.key, "fps": scene.fps, "chain": chain}
    for gap in (gaps[1], gaps[-1]):
        share, recall = [], []
        for start in rng.integers(0, max(1, len(db) - 1 - gap), starts):
            (m,) = candidate_mask(det.frame, det.xyxy, db, int(start), [int(start + gap)], **chain)
            a, b = np.arange(db[start], db[start + 1]), np.arange(db[start + gap], db[start + gap + 1])
            if len(a) == 0 or len(b) == 0:
                continue
            same = (ids[a][:, None] == ids[b][None, :]) & (ids[a][:, None] >= 0)
            share.append(m.mean())
            if same.any():
                recall.append((m & same).any(axis=1)[same.any(axis=1)].mean())
        out[f"gap {gap / scene.fps:.1f} s"] = {
            "candidate_share": round(float(np.mean(share)), 3),
            "recall": round(float(np.mean(recall)), 3),
        }
    best, second = [], []
    for f in range(len(db) - 2):
        a, b = np.arange(db[f], db[f + 1]), np.arange(db[f + 1], db[f + 2])
        if len(a) and len(b) > 1:
            iou = -np.sort(-iou_matrix(pad_boxes(det.xyxy[a], 10.0), pad_boxes(det.xyxy[b], 10.0)), axis=1)
            best += list(iou[:, 0])
            second += list(iou[:, 1])
    out["next_frame_best_iou_q10"] = round(float(np.quantile(best, 0.1)), 2)
    out["next_frame_second_iou_over_0.1"] = round(float(np.mean(np.array(second) > 0.1)), 3)
    out["boxes_per_frame"] = round(float(np.mean(np.diff(db))), 1)
    return out


def rank1(scene: reid_sets.Scene, model_path: Path, crop_cache: Path) -> dict[str, Any]:
    """Rank-1 of the model's appearance logits at 0.5 s and 2 s (see module doc), from the training crops."""
    import torch

    from selftrack.reid import load_reid_model
    from selftrack.reid.crops import build_crop_store
    from selftrack.reid.heads import NumpyHeads
    from selftrack.reid.model import ReidNet

    assert scene.gt is not None
    model = load_reid_model(model_path, "cpu")
    store = build_crop_store(
        scene.video, scene.det, crop_cache, crop_size=model.arch.crop_size, stretch=model.arch.crop_stretch
    )
    net = model.net.eval()
    with torch.no_grad():
        feats = np.concatenate(
            [
                net.embed(ReidNet.prepare(torch.from_numpy(store.take(np.arange(lo, min(len(store), lo + 512))))))
                .permute(1, 0, 2)
                .numpy()
                for lo in range(0, len(store), 512)
            ]
        )
    heads = NumpyHeads.from_net(net)
    q, t = heads.query(feats), heads.target(feats)
    return rank1_of(scene, lambda a, b: heads.logits(q[a], t[b]))


def rank1_of(scene: reid_sets.Scene, similarity: Any) -> dict[str, Any]:
    """Rank-1 at 0.5 s and 2 s of ``similarity(rows_a, rows_b)`` (a matrix; higher: more alike), see module doc."""
    assert scene.gt is not None
    ids, db = gt_ids(scene.det, scene.gt), scene.det.frame_bounds()
    n = len(db) - 1
    out: dict[str, Any] = {}
    for gap_s in (0.5, 2.0):
        gap = max(1, round(gap_s * scene.fps))
        hits: dict[str, list[bool]] = {"all": [], "tail": []}
        for f in range(n - gap):
            a = np.arange(db[f], db[f + 1])
            b = np.arange(db[f + gap], db[f + gap + 1])
            a, b = a[ids[a] >= 0], b[ids[b] >= 0]
            if len(a) < 2 or len(b) < 2:
                continue
            sim = similarity(a, b)
            same = ids[a][:, None] == ids[b][None, :]
            for i in np.flatnonzero(same.any(axis=1)):
                hit = bool(same[i, np.argmax(sim[i])])
                hits["all"].append(hit)
                if f >= 0.7 * n:
                    hits["tail"].append(hit)
        out[f"rank1 {gap_s} s"] = round(100 * float(np.mean(hits["all"])), 1)
        out[f"rank1 {gap_s} s, last 30 %"] = round(100 * float(np.mean(hits["tail"])), 1) if hits["tail"] else None
    return out


def train(scene: reid_sets.Scene, name: str, params: dict[str, Any], oracle: bool, work: Path) -> dict[str, Any]:
    """Train one model (see module doc) and report its losses, steps, time and rank-1."""
    from selftrack.reid import ReidTrainParams, train_reid
    from selftrack.reid.train import trainer

    assert scene.gt is not None
    if oracle:
        ids = gt_ids(scene.det, scene.gt)
        chained = trainer.Trainer._mask

        def gt_mask(self: trainer.Trainer, vi: int, start: int, target: int) -> np.ndarray:
            m = chained(self, vi, start, target)
            v = self.data[vi]
            ia, ib = ids[v.rows(start)], ids[v.rows(target)]
            return np.where((ia >= 0)[:, None], (ia[:, None] == ib[None, :]) & (ia[:, None] >= 0), m)

        trainer.Trainer._mask = gt_mask  # type: ignore[method-assign]
    out = work / "models" / f"{scene.key}-{name}.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    events: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    result = train_reid(
        [scene.video],
        [scene.det],
        params=ReidTrainParams(**params),
        cache_dir=work / "cache",
        out_path=out,
        on_event=lambda kind, info: events.append({"kind": kind, **info}) if kind in ("budget", "early_stop") else None,
    )
    seconds = time.perf_counter() - t0
    return {
        "scene": scene.key,
        "name": name,
        "params": params,
        "oracle": oracle,
        "model": str(out),
        "seconds": round(seconds),
        "steps": result.steps,
        "best_val_loss": result.best_val_loss,
        "budget": next((e for e in events if e["kind"] == "budget"), None),
        **rank1(scene, out, work / "cache"),
    }


def track(scene: reid_sets.Scene, model_path: Path, work: Path) -> dict[str, Any]:
    """The re-id tracker with the model's own validation figures, a neutral and a perfect one (see module doc)."""
    from selftrack.reid import ReidTracker, embed_video, load_reid_model

    def score(tracks: Detections) -> dict[str, float]:
        assert scene.gt is not None
        s = evaluate(scene.gt, tracks, frames=scene.frames).summary()
        return {k: round(100 * float(s[k]), 1) for k in ("HOTA", "AssA", "IDF1")}

    model = load_reid_model(model_path, "cpu")
    digest = hashlib.sha1(model_path.read_bytes()).hexdigest()[:12]
    cache = work / "feats" / f"{scene.key}-{model_path.stem}-{digest}.npy"  # one model may serve several scenes
    if not cache.is_file():
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, embed_video(model, scene.video, scene.det))
    feats = np.load(cache)
    out: dict[str, Any] = {"scene": scene.key, "model": str(model_path)}
    out["motion only"] = score(ReidTracker(None).track(scene.det, fps=scene.fps, transforms=scene.transforms))
    perfect = {"stage1": {"best_val_loss": 0.1, "initial_val_loss": 1.0}}
    for label, training in (("as trained", model.training), ("no validation figures", None), ("perfect", perfect)):
        model.training = training
        tracker = ReidTracker(model)
        tracks = tracker.track(scene.det, feats, fps=scene.fps, transforms=scene.transforms)
        out[label] = {
            **score(tracks),
            "trust": round(tracker.trust.trust, 2),
            "agreement": round(tracker.trust.agreement, 2),
        }
    return out


# ---------------------------------------------------------------------------- a weight-free colour descriptor
def colour_vectors(scene: reid_sets.Scene, crop_cache: Path) -> np.ndarray:
    """Per detection, HSV histograms (12 x 4 x 4 bins) of three horizontal stripes of its crop, square-rooted
    and normalised (so a dot product is the Hellinger similarity): the classic hand-made re-id descriptor.

    Crops are the training's (64 px, stretched), the central 60 % of the width (less background).
    """
    import cv2

    from selftrack.reid.crops import build_crop_store

    store = build_crop_store(scene.video, scene.det, crop_cache, crop_size=64, stretch=True)
    crops = store.take(np.arange(len(store)))
    out = np.empty((len(crops), 3 * 12 * 4 * 4), dtype=np.float32)
    for i, crop in enumerate(crops):
        h, w = crop.shape[:2]
        hsv = cv2.cvtColor(np.ascontiguousarray(crop[:, int(w * 0.2) : int(w * 0.8)]), cv2.COLOR_RGB2HSV)
        parts = []
        for k in range(3):
            stripe = hsv[int(h * (0.1 + 0.85 * k / 3)) : int(h * (0.1 + 0.85 * (k + 1) / 3))]
            hist = cv2.calcHist([stripe], [0, 1, 2], None, [12, 4, 4], [0, 180, 0, 256, 0, 256]).ravel()
            parts.append(np.sqrt(hist / max(float(hist.sum()), 1.0)))
        v = np.concatenate(parts)
        out[i] = v / max(float(np.linalg.norm(v)), 1e-12)
    return out


class ColourHeads(NumpyHeads):
    """The tracker's matcher interface (:class:`~selftrack.reid.heads.NumpyHeads`) over colour vectors.

    Logit ``scale * (similarity - centre)``, "no match" at 0: ``centre`` is the 99th percentile of the
    similarity of two boxes of the same frame (two different objects, no labels needed), so a pair is
    preferred to "no match" only when it is more alike than 99 % of pairs known to differ.
    """

    members, hidden_dim, kind, terminal = 1, 1, "cosine", 0.0

    def __init__(self, width: int, centre: float, scale: float = 20.0) -> None:  # no weights: not super().__init__
        self.width, self.centre, self.scale = width, centre, scale

    def query_target(self, feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return feats, feats

    def logits(self, queries: np.ndarray, targets: np.ndarray) -> np.ndarray:
        if len(queries) == 0 or len(targets) == 0:
            return np.zeros((len(queries), len(targets)), dtype=np.float32)
        return (self.scale * (queries[:, 0] @ targets[:, 0].T - self.centre)).astype(np.float32)


def colour(scene: reid_sets.Scene, crop_cache: Path) -> dict[str, Any]:
    """Rank-1 of the colour descriptor, and the re-id tracker with it as its appearance model."""
    from types import SimpleNamespace

    from selftrack.reid import ReidTracker

    vectors = colour_vectors(scene, crop_cache)
    out: dict[str, Any] = {"scene": scene.key, **rank1_of(scene, lambda a, b: vectors[a] @ vectors[b].T)}
    db = scene.det.frame_bounds()
    pairs = [
        (vectors[db[f] : db[f + 1]] @ vectors[db[f] : db[f + 1]].T)[np.triu_indices(db[f + 1] - db[f], 1)]
        for f in range(len(db) - 1)
    ]
    heads = ColourHeads(vectors.shape[1], float(np.percentile(np.concatenate(pairs), 99)))
    model = SimpleNamespace(
        heads=heads, training={"stage1": {"best_val_loss": 0.1, "initial_val_loss": 1.0}}, has_spatial=False, path=""
    )
    out["motion only"] = _score(scene, ReidTracker(None).track(scene.det, fps=scene.fps, transforms=scene.transforms))
    tracker = ReidTracker(model)  # type: ignore[arg-type]
    tracks = tracker.track(scene.det, vectors[:, None, :], fps=scene.fps, transforms=scene.transforms)
    out["colour appearance"] = {**_score(scene, tracks), "trust": round(tracker.trust.trust, 2)}
    return out


# ---------------------------------------------------------------------------- ceilings
def _score(scene: reid_sets.Scene, tracks: Detections) -> dict[str, float]:
    assert scene.gt is not None
    s = evaluate(scene.gt, tracks, frames=scene.frames).summary()
    return {k: round(100 * float(s[k]), 1) for k in ("HOTA", "DetA", "AssA", "IDF1")}


def _gt_labels(boxes: Detections, ids: np.ndarray) -> np.ndarray:
    """Track ids relabelled by ground truth: each track cut where its identity changes, then every piece
    mostly on one identity joined under it (pieces seen at the same time as one already joined stay apart)."""
    pieces = np.empty(len(boxes), dtype=np.int64)
    nxt = 0
    for t in np.unique(boxes.track_id):
        rows = np.flatnonzero(boxes.track_id == t)
        rows = rows[np.argsort(boxes.frame[rows], kind="stable")]
        current = None
        nxt += 1
        for r in rows:
            if ids[r] >= 0 and current is not None and ids[r] != current:
                nxt += 1
            current = ids[r] if ids[r] >= 0 else current
            pieces[r] = nxt
    labels, used = pieces.copy(), {}
    for piece in sorted(np.unique(pieces), key=lambda k: -int(np.sum(pieces == k))):
        rows = np.flatnonzero(pieces == piece)
        known = ids[rows][ids[rows] >= 0]
        if len(known) == 0 or np.bincount(known).max() <= len(rows) / 2:
            continue
        who = int(np.bincount(known).argmax())
        frames = set(boxes.frame[rows].tolist())
        if frames & used.get(who, set()):
            continue
        used.setdefault(who, set()).update(frames)
        labels[rows] = 10**6 + who
    return labels


def ceiling(scene: reid_sets.Scene) -> dict[str, Any]:
    """How far association alone could lift the motion-only re-id tracker (ground truth decides identities).

    - the tracker's own boxes, identities from ground truth (its switches cut, its pieces joined), then
      with gaps up to 2 s filled: what perfect long-range association of *its* boxes gives; the same with
      the detections' boxes instead of the filter's (``output_box="detection"``); and the better of the two
      with its false positives (boxes no ground-truth object overlaps by IoU 0.5) also dropped, which is
      detection, not association: a scene whose bar lies above the first rows and below this one cannot
      be won by association alone;
    - every detection with its ground-truth identity (unmatched ones dropped), then with 2-s gaps filled:
      what any tracker using these detections could reach.
    """
    from selftrack.reid import ReidTracker
    from selftrack.trackers.postprocess import interpolate_tracks

    assert scene.gt is not None
    gap = max(1, round(2.0 * scene.fps))
    out: dict[str, Any] = {"scene": scene.key}
    tracks = ReidTracker(None).track(scene.det, fps=scene.fps, transforms=scene.transforms)
    out["motion only"] = _score(scene, tracks)
    relabelled = tracks.replace(track_id=_gt_labels(tracks, gt_ids(tracks, scene.gt)))
    out["its boxes, identities from ground truth"] = _score(scene, relabelled)
    out["its boxes, identities from ground truth, gaps filled"] = _score(
        scene, interpolate_tracks(relabelled, gap, scene.transforms)
    )
    on_detections = ReidTracker(None, output_box="detection").track(
        scene.det, fps=scene.fps, transforms=scene.transforms
    )
    detection_ids = gt_ids(on_detections, scene.gt)
    on_detections = on_detections.replace(track_id=_gt_labels(on_detections, detection_ids))
    out["its detections' boxes, identities from ground truth, gaps filled"] = _score(
        scene, interpolate_tracks(on_detections, gap, scene.transforms)
    )
    for name, boxes, ids in (
        ("its boxes", relabelled, gt_ids(tracks, scene.gt)),
        ("its detections' boxes", on_detections, detection_ids),
    ):
        out[f"{name}, identities from ground truth, gaps filled, no false positives"] = _score(
            scene, interpolate_tracks(boxes[ids >= 0], gap, scene.transforms)
        )
    ids = gt_ids(scene.det, scene.gt)
    oracle = scene.det[ids >= 0].replace(track_id=ids[ids >= 0])
    out["every detection, identities from ground truth"] = _score(scene, oracle)
    out["every detection, identities from ground truth, gaps filled"] = _score(
        scene, interpolate_tracks(oracle, gap, scene.transforms)
    )
    return out


MIN_RUN = 5
"""Boxes on one person before a change of person counts as an identity hop (shorter: the matching's noise where
two people's boxes overlap)."""


def errors(scene: reid_sets.Scene) -> dict[str, Any]:
    """The motion-only online pass's identity hops and fragments, by the ground truth (see module doc)."""
    from selftrack.reid import ReidTracker

    assert scene.gt is not None
    raw = ReidTracker(None).track(scene.det, fps=scene.fps, transforms=scene.transforms, postprocess=False)
    raw = raw[np.lexsort((raw.track_id, raw.frame))]
    ids = gt_ids(raw, scene.gt)
    hops: list[dict[str, Any]] = []
    for tid in np.unique(raw.track_id):
        rows = np.flatnonzero(raw.track_id == tid)
        runs: list[list[int]] = []
        for row in rows[ids[rows] >= 0]:
            if runs and ids[runs[-1][-1]] == ids[row]:
                runs[-1].append(int(row))
            else:
                runs.append([int(row)])
        runs = [run for run in runs if len(run) >= MIN_RUN]
        for before, after in itertools.pairwise(runs):
            if ids[before[0]] == ids[after[0]]:
                continue
            lo, hi = int(raw.frame[before[-1]]), int(raw.frame[after[0]])
            seen = np.unique(raw.frame[rows[(raw.frame[rows] >= lo) & (raw.frame[rows] <= hi)]])
            gap = len(seen) > 1 and int(np.diff(seen).max()) >= 2
            hops.append(
                {
                    "track": int(tid),
                    "from": int(ids[before[0]]),
                    "to": int(ids[after[0]]),
                    "frames": [lo, hi],
                    "gap": gap,
                }
            )
    people = np.unique(ids[ids >= 0])
    return {
        "scene": scene.key,
        "hops after a gap": sum(h["gap"] for h in hops),
        "hops with no gap": sum(not h["gap"] for h in hops),
        "extra tracks per person": int(sum(len(np.unique(raw.track_id[ids == p])) - 1 for p in people)),
        "hops": hops,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-diag"), help="models, crops, vectors")
    sub = parser.add_subparsers(dest="cmd", required=True)
    masks = sub.add_parser("masks")
    masks.add_argument("scenes", nargs="+")
    masks.add_argument("--chain", default="{}", help="chain_reach keyword arguments (JSON)")
    tr = sub.add_parser("train")
    tr.add_argument("scene")
    tr.add_argument("name")
    tr.add_argument("--params", default="{}", help="ReidTrainParams overrides (JSON)")
    tr.add_argument("--oracle", action="store_true", help="ground-truth identities as the candidate mask")
    r1 = sub.add_parser("rank1")
    r1.add_argument("scene")
    r1.add_argument("model", type=Path)
    tk = sub.add_parser("track")
    tk.add_argument("scene")
    tk.add_argument("model", type=Path)
    for name in ("colour", "ceiling", "errors"):
        sub.add_parser(name).add_argument("scenes", nargs="+")
    args = parser.parse_args(argv)
    videos = args.work / "videos"
    if args.cmd in ("colour", "ceiling", "errors"):
        for key in args.scenes:
            scene = reid_sets.load(key, videos)
            if args.cmd == "colour":
                result = colour(scene, args.work / "cache")
            else:
                result = ceiling(scene) if args.cmd == "ceiling" else errors(scene)
            print(json.dumps(result), flush=True)
    elif args.cmd == "masks":
        for key in args.scenes:
            print(json.dumps(mask_stats(reid_sets.load(key, videos), json.loads(args.chain))), flush=True)
    elif args.cmd == "train":
        scene = reid_sets.load(args.scene, videos)
        print(json.dumps(train(scene, args.name, json.loads(args.params), args.oracle, args.work), default=str))
    elif args.cmd == "rank1":
        scene = reid_sets.load(args.scene, videos)
        print(
            json.dumps({"scene": args.scene, "model": str(args.model), **rank1(scene, args.model, args.work / "cache")})
        )
    else:
        print(json.dumps(track(reid_sets.load(args.scene, videos), args.model, args.work)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
