"""The re-id tracker's association against the ground truth: where its identity errors are and what fixing them gives.

Nothing here chooses a default; these analyses explain the group-B tables of ``bench_reid.py`` (run them through
``reid_diagnose.py``, which loads the scenes):

- ``errors``: the motion-only online pass's identity hops inside a track (runs of at least ``MIN_RUN`` boxes on
  one person, then on another), split into those after a gap (re-acquisitions, which the colour check tests)
  and those with no missed frame (hand-overs), and how many extra tracks each person is split over (fragments,
  which the colour check and stitching may join);
- ``ceiling``: how far association alone could lift the motion-only tracker: its own boxes with identities from
  the ground truth (with and without its gaps filled; with its boxes or the detections' boxes; then also without
  its false positives, which no association removes), and every detection with its ground-truth identity;
- ``split``: the two halves of that perfect association apart: only cutting each track where its identity
  changes (no joins), only joining each person's tracks (no cuts), and both, each with gaps filled; and, beside
  them, the harness's IoU tracker (SkyhookML's greedy matching, no second choice) with its identity hops, to see
  whether the best classic tracker on a scene avoids the re-id tracker's errors or makes the same ones.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import reid_sets

from selftrack.core.boxes import iou_matrix
from selftrack.core.detections import Detections
from selftrack.metrics.evaluate import evaluate


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


def score(scene: reid_sets.Scene, tracks: Detections) -> dict[str, float]:
    assert scene.gt is not None
    s = evaluate(scene.gt, tracks, frames=scene.frames).summary()
    return {k: round(100 * float(s[k]), 1) for k in ("HOTA", "DetA", "AssA", "IDF1")}


def _cut(boxes: Detections, ids: np.ndarray) -> np.ndarray:
    """Track ids with each track cut where its ground-truth identity changes (boxes with none stay with the piece
    before them): the pieces, numbered from 1."""
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
    return pieces


def _join(boxes: Detections, ids: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """``pieces`` with every piece mostly on one identity joined under it, largest first (a piece seen at the same
    time as one already joined stays apart)."""
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


def _gt_labels(boxes: Detections, ids: np.ndarray) -> np.ndarray:
    """Track ids relabelled by ground truth: each track cut where its identity changes, then the pieces joined."""
    return _join(boxes, ids, _cut(boxes, ids))


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
    out["motion only"] = score(scene, tracks)
    relabelled = tracks.replace(track_id=_gt_labels(tracks, gt_ids(tracks, scene.gt)))
    out["its boxes, identities from ground truth"] = score(scene, relabelled)
    out["its boxes, identities from ground truth, gaps filled"] = score(
        scene, interpolate_tracks(relabelled, gap, scene.transforms)
    )
    on_detections = ReidTracker(None, output_box="detection").track(
        scene.det, fps=scene.fps, transforms=scene.transforms
    )
    detection_ids = gt_ids(on_detections, scene.gt)
    on_detections = on_detections.replace(track_id=_gt_labels(on_detections, detection_ids))
    out["its detections' boxes, identities from ground truth, gaps filled"] = score(
        scene, interpolate_tracks(on_detections, gap, scene.transforms)
    )
    for name, boxes, ids in (
        ("its boxes", relabelled, gt_ids(tracks, scene.gt)),
        ("its detections' boxes", on_detections, detection_ids),
    ):
        out[f"{name}, identities from ground truth, gaps filled, no false positives"] = score(
            scene, interpolate_tracks(boxes[ids >= 0], gap, scene.transforms)
        )
    ids = gt_ids(scene.det, scene.gt)
    oracle = scene.det[ids >= 0].replace(track_id=ids[ids >= 0])
    out["every detection, identities from ground truth"] = score(scene, oracle)
    out["every detection, identities from ground truth, gaps filled"] = score(
        scene, interpolate_tracks(oracle, gap, scene.transforms)
    )
    return out


MIN_RUN = 5
"""Boxes on one person before a change of person counts as an identity hop (shorter: the matching's noise where
two people's boxes overlap)."""


def identity_hops(tracks: Detections, ids: np.ndarray) -> list[dict[str, Any]]:
    """Each change of person inside a track, between runs of at least ``MIN_RUN`` boxes on one person (``ids``:
    the boxes' ground-truth identities, -1 for none), with the frames between the runs and whether the track
    missed a frame there (a re-acquisition after a gap, else a hand-over)."""
    hops: list[dict[str, Any]] = []
    for tid in np.unique(tracks.track_id):
        rows = np.flatnonzero(tracks.track_id == tid)
        rows = rows[np.argsort(tracks.frame[rows], kind="stable")]
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
            lo, hi = int(tracks.frame[before[-1]]), int(tracks.frame[after[0]])
            seen = np.unique(tracks.frame[rows[(tracks.frame[rows] >= lo) & (tracks.frame[rows] <= hi)]])
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
    return hops


def errors(scene: reid_sets.Scene) -> dict[str, Any]:
    """The motion-only online pass's identity hops and fragments, by the ground truth (see module doc)."""
    from selftrack.reid import ReidTracker

    assert scene.gt is not None
    raw = ReidTracker(None).track(scene.det, fps=scene.fps, transforms=scene.transforms, postprocess=False)
    ids = gt_ids(raw, scene.gt)
    hops = identity_hops(raw, ids)
    people = np.unique(ids[ids >= 0])
    return {
        "scene": scene.key,
        "hops after a gap": sum(h["gap"] for h in hops),
        "hops with no gap": sum(not h["gap"] for h in hops),
        "extra tracks per person": int(sum(len(np.unique(raw.track_id[ids == p])) - 1 for p in people)),
        "hops": hops,
    }


def split(scene: reid_sets.Scene) -> dict[str, Any]:
    """Perfect association of the motion-only tracker's boxes in halves (cuts only, joins only, both), and the
    harness's IoU tracker's hops beside the online pass's (see module doc)."""
    from selftrack.reid import ReidTracker
    from selftrack.trackers.iou_tracker import IouTracker
    from selftrack.trackers.postprocess import interpolate_tracks

    assert scene.gt is not None
    gap = max(1, round(2.0 * scene.fps))
    tracker = ReidTracker(None)
    raw = tracker.track(scene.det, fps=scene.fps, transforms=scene.transforms, postprocess=False)
    tracks = tracker.finish(raw)
    ids = gt_ids(tracks, scene.gt)
    out: dict[str, Any] = {"scene": scene.key, "motion only": score(scene, tracks)}
    for name, labels in (
        ("cuts only", _cut(tracks, ids)),
        ("joins only", _join(tracks, ids, tracks.track_id)),
        ("cuts and joins", _gt_labels(tracks, ids)),
    ):
        fixed = tracks.replace(track_id=labels)
        out[f"{name} (ground truth)"] = score(scene, fixed)
        out[f"{name} (ground truth), gaps filled"] = score(scene, interpolate_tracks(fixed, gap, scene.transforms))
    online = {(h["from"], h["to"]) for h in identity_hops(raw, gt_ids(raw, scene.gt))}
    iou = IouTracker().track(scene.det, transforms=scene.transforms)
    iou_hops = identity_hops(iou, gt_ids(iou, scene.gt))
    out["IoU tracker"] = {
        **score(scene, iou),
        "hops": len(iou_hops),
        "hops the re-id online pass also makes": sum((h["from"], h["to"]) in online for h in iou_hops),
        "person pairs of the re-id online pass's hops": len(online),
    }
    return out
