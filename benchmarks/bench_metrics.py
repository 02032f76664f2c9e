"""Time ``selftrack.metrics.evaluate`` on MOT17-04 (47k scored gt boxes) against a perturbed copy.

Usage: ``python benchmarks/bench_metrics.py [--repeat N]``. Reads ``../shared/data`` (or
``$SELFTRACK_SHARED_DATA``). Prints the seconds of preprocessing + HOTA + CLEAR + Identity; the
target is well under one second on one CPU core.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

from selftrack.core.detections import Detections
from selftrack.formats.mot import parse_seqinfo, read_mot
from selftrack.metrics import evaluate

DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def perturbed(gt: Detections, seed: int = 0) -> Detections:
    """Pedestrian and distractor boxes, 10% dropped, jittered, with a quarter of the tracks split."""
    rng = np.random.default_rng(seed)
    src = gt[np.isin(gt.class_id, [1, 2, 7, 8, 12])]
    src = src[rng.random(len(src)) >= 0.1]
    xywh = src.xywh + rng.normal(0.0, 0.05, (len(src), 4)) * src.xywh[:, [2, 3, 2, 3]]
    xywh[:, 2:] = np.maximum(xywh[:, 2:], 2.0)
    ids = src.track_id.copy()
    split = np.isin(ids, rng.choice(np.unique(ids), len(np.unique(ids)) // 4, replace=False))
    ids[split & (src.frame >= rng.integers(0, gt.frame_count))] += 100_000
    return Detections.from_xywh(src.frame, xywh, 1.0, -1, ids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    folder = DATA / "mot17" / "MOT17-04"
    gt = read_mot(folder / "gt" / "gt.txt")
    tracks = perturbed(gt)
    num_frames = int(parse_seqinfo(folder)["seqLength"])
    evaluate(gt, tracks, num_frames=num_frames)  # warm-up (imports, caches)
    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        result = evaluate(gt, tracks, num_frames=num_frames, name="MOT17-04")
        times.append(time.perf_counter() - start)
    print(result.table())
    print(f"MOT17-04: {len(gt)} gt boxes ({result.num_gt_dets} scored), {len(tracks)} tracker boxes")
    print(f"evaluate(): best {min(times):.3f} s, median {float(np.median(times)):.3f} s over {args.repeat} runs")


if __name__ == "__main__":
    main()
