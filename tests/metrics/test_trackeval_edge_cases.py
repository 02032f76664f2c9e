"""Metric-level parity with TrackEval on many small random scenes and on degenerate sequences.

Real files rarely hit TrackEval's special cases (a side with no boxes, frames where only one side
has boxes, id switches across empty frames, near-threshold IoUs). Here TrackEval's metric classes
are fed the same preprocessed data as ours, as its own ``tests/test_metrics.py`` does, and every
field must agree, per sequence and combined.
"""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.metrics import SequenceResult, prepare_sequence, score_prepared
from selftrack.metrics.preprocess import PreparedSequence

trackeval = pytest.importorskip("trackeval")
TOL = 1e-6


def trackeval_input(seq: PreparedSequence) -> dict:
    """Our prepared sequence in TrackEval's per-timestep dict layout."""
    gt_ids, tr_ids, sims = [], [], []
    blocks = {int(f): seq.block(t) for t, f in enumerate(seq.timestep_frames)}  # frames with any box
    empty = (np.zeros((0, 0)), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))
    for f in range(seq.num_frames):  # TrackEval gets every frame, the empty ones too
        sim, g, r = blocks.get(f, empty)
        gt_ids.append(g)
        tr_ids.append(r)
        sims.append(sim)
    return {
        "num_timesteps": seq.num_frames,
        "num_gt_ids": seq.num_gt_ids,
        "num_tracker_ids": seq.num_tracker_ids,
        "num_gt_dets": seq.num_gt_dets,
        "num_tracker_dets": seq.num_tracker_dets,
        "gt_ids": gt_ids,
        "tracker_ids": tr_ids,
        "similarity_scores": sims,
    }


METRICS = {
    "HOTA": trackeval.metrics.HOTA(),
    "CLEAR": trackeval.metrics.CLEAR({"THRESHOLD": 0.5, "PRINT_CONFIG": False}),
    "Identity": trackeval.metrics.Identity({"THRESHOLD": 0.5, "PRINT_CONFIG": False}),
}


def compare(ours: SequenceResult, theirs: dict) -> list[str]:
    d = ours.to_dict()
    mine = {"HOTA": {**d["HOTA"], **d["HOTA"]["per_alpha"]}, "CLEAR": d["CLEAR"], "Identity": d["Identity"]}
    bad = []
    for metric, fields in theirs.items():
        for name, value in fields.items():
            a, b = np.asarray(mine[metric][name], dtype=float), np.asarray(value, dtype=float)
            if a.shape != b.shape or np.max(np.abs(a - b)) > TOL:
                bad.append(f"{metric}.{name}: ours {a} trackeval {b}")
    return bad


def random_scene(seed: int) -> tuple[Detections, Detections]:
    """A few gt tracks drifting across 30 frames, with gaps; a noisy tracker with switches and FPs."""
    rng = np.random.default_rng(seed)
    n_frames, n_tracks = 30, int(rng.integers(1, 7))
    frames, ids, boxes = [], [], []
    for k in range(n_tracks):
        start, stop = sorted(rng.integers(0, n_frames, 2))
        pos = rng.uniform(0, 300, 2) + np.cumsum(rng.normal(0, 8, (stop - start + 1, 2)), axis=0)
        size = rng.uniform(20, 60, 2)
        for f, (x, y) in zip(range(start, stop + 1), pos, strict=True):
            if rng.random() < 0.9:
                frames.append(f)
                ids.append(k)
                boxes.append((x, y, x + size[0], y + size[1]))
    gt = Detections.create(frames, np.array(boxes).reshape(-1, 4), class_id=-1, track_id=ids)
    keep = rng.random(len(gt)) < 0.8
    tr_boxes = gt.xyxy[keep] + rng.normal(0, 6, (int(keep.sum()), 4))
    tr_boxes[:, 2:] = np.maximum(tr_boxes[:, 2:], tr_boxes[:, :2] + 1)
    tr_ids = gt.track_id[keep] + 100 * (gt.frame[keep] >= rng.integers(0, n_frames))  # some switch ids
    n_fp = int(rng.integers(0, 10))
    fp_xy = rng.uniform(0, 350, (n_fp, 2))
    tracks = Detections.create(
        np.concatenate([gt.frame[keep], rng.integers(0, n_frames, n_fp)]),
        np.vstack([tr_boxes, np.hstack([fp_xy, fp_xy + 40])]),
        class_id=-1,
        track_id=np.concatenate([tr_ids, 1000 + np.arange(n_fp)]),
    )
    return gt, tracks


def evaluate_both(gt: Detections, tracks: Detections, num_frames: int) -> tuple[SequenceResult, dict]:
    seq = prepare_sequence(gt, tracks, benchmark="none", num_frames=num_frames)
    data = trackeval_input(seq)
    return score_prepared(seq), {name: m.eval_sequence(data) for name, m in METRICS.items()}


def test_random_small_scenes_match_trackeval() -> None:
    ours_all, theirs_all = [], []
    for seed in range(40):
        gt, tracks = random_scene(seed)
        ours, theirs = evaluate_both(gt, tracks, 30)
        assert compare(ours, theirs) == [], f"seed {seed}"
        ours_all.append(ours)
        theirs_all.append(theirs)
    combined = SequenceResult.combine(ours_all)
    theirs_combined = {
        name: m.combine_sequences({i: t[name] for i, t in enumerate(theirs_all)}) for name, m in METRICS.items()
    }
    assert compare(combined, theirs_combined) == []


A, B = (0.0, 0.0, 100.0, 100.0), (500.0, 0.0, 600.0, 100.0)


def boxes(rows: list[tuple[int, int, tuple[float, ...]]]) -> Detections:
    if not rows:
        return Detections.empty()
    return Detections.create([r[0] for r in rows], [r[2] for r in rows], class_id=-1, track_id=[r[1] for r in rows])


@pytest.mark.parametrize(
    ("gt_rows", "tr_rows"),
    [
        pytest.param([(0, 1, A), (2, 2, B)], [], id="no-tracker-boxes"),
        pytest.param([], [(0, 1, A), (1, 1, B)], id="no-gt-boxes"),
        pytest.param([], [], id="both-empty"),
        pytest.param([(0, 1, A), (1, 1, A)], [(3, 1, A)], id="never-in-the-same-frame"),
        pytest.param(
            [(f, 1, A) for f in range(5)], [(0, 1, A), (1, 1, A), (3, 2, A), (4, 2, A)], id="switch-across-empty-frame"
        ),
        pytest.param([(0, 1, A)], [(0, 1, (0.0, 0.0, 100.0, 50.0))], id="iou-exactly-half"),
        pytest.param([(0, 1, A)], [(0, 1, (0.0, 0.0, 100.0, 60.0))], id="iou-at-an-alpha"),
    ],
)
def test_degenerate_sequences_match_trackeval(gt_rows: list, tr_rows: list) -> None:
    ours, theirs = evaluate_both(boxes(gt_rows), boxes(tr_rows), 6)
    assert compare(ours, theirs) == []
