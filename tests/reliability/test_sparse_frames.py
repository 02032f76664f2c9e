"""Tracking and evaluation skip the frames nobody needs, with results equal to stepping every frame.

Trackers step only frames with boxes, plus the empty frames a live track ages on (issue 13: a file naming
frame 10^8 must not cost 10^8 steps); evaluation scores only frames with boxes. Both must give exactly what
stepping every frame gives.
"""

from __future__ import annotations

import numpy as np
import pytest

from selftrack.core import Detections
from selftrack.metrics import evaluate
from selftrack.trackers import get_tracker


def sparse_video(seed: int) -> Detections:
    """Bursts of a few moving boxes separated by gaps of 0 to 200 empty frames."""
    rng = np.random.default_rng(seed)
    frames, boxes, scores = [], [], []
    f = 0
    for _ in range(12):
        start = rng.uniform(0, 500, (int(rng.integers(1, 5)), 2))
        for k in range(int(rng.integers(1, 15))):
            for x, y in start:
                if rng.random() < 0.85:
                    frames.append(f)
                    boxes.append([x + 3 * k, y + k, x + 3 * k + 30, y + k + 60])
                    scores.append(rng.uniform(0.05, 1.0))
            f += 1
        f += int(rng.choice([0, 1, 5, 40, 200]))
    return Detections.create(frames, boxes, scores, num_frames=f + 10)


@pytest.mark.parametrize("name", ["iou", "sort", "bytetrack", "ocsort"])
@pytest.mark.parametrize("seed", range(4))
def test_skipping_idle_frames_changes_nothing(name: str, seed: int, monkeypatch: pytest.MonkeyPatch):
    dets = sparse_video(seed)
    fast = get_tracker(name).track(dets)
    every = get_tracker(name)
    monkeypatch.setattr(every, "_idle", lambda: False)  # the reference: every frame stepped
    slow = every.track(dets)
    assert fast.equals(slow) and np.array_equal(fast.track_id, slow.track_id)
    online = get_tracker(name)  # frame by frame through update(), which skips the same way
    online.adapt(dets.score)  # the auto preset's choice from the whole video, as track() makes it
    parts = [online.update(dets.at_frame(f), f) for f in np.unique(dets.frame)]
    assert Detections.concat(parts).equals(fast)


def test_evaluation_over_far_apart_frames_equals_the_dense_one():
    dets = sparse_video(7)
    first = np.searchsorted(dets.frame, dets.frame)  # first row of each box's frame
    lane = np.arange(len(dets)) - first  # 0, 1, 2... within a frame: unique ids per frame
    gt = Detections.create(dets.frame, dets.xyxy, 1.0, track_id=lane, num_frames=dets.num_frames)
    tracks = Detections.create(
        dets.frame, dets.xyxy + 2.0, 0.9, track_id=(lane + dets.frame // 50) % 9, num_frames=dets.num_frames
    )
    shift = 10_000_000
    far = evaluate(
        gt.shift_frames(shift, gt.frame_count + shift), tracks.shift_frames(shift, tracks.frame_count + shift)
    )
    near = evaluate(gt, tracks)
    assert 0 < near.hota.hota < 1
    assert far.hota.hota == pytest.approx(near.hota.hota) and far.clear.mota == pytest.approx(near.clear.mota)
    assert far.identity.idf1 == pytest.approx(near.identity.idf1)
