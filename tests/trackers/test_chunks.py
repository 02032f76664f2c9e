"""Long videos in chunks: the plan covers every frame once, and stitched tracks equal the whole-video run's."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.formats.mot import read_mot
from selftrack.metrics.evaluate import evaluate
from selftrack.ops.track import TrackParams, run_tracker
from selftrack.trackers import get_tracker
from selftrack.trackers.chunks import frame_ranges, match_overlap, plan_chunks, stitch_chunks


@pytest.mark.parametrize(
    ("n", "chunk", "overlap"), [(1000, 200, 50), (1001, 200, 50), (1030, 200, 50), (90, 40, 0), (5, 200, 50)]
)
def test_plan_keeps_every_frame_exactly_once_and_overlaps_neighbours(n, chunk, overlap):
    chunks = plan_chunks(n, chunk, overlap)
    kept = np.concatenate([np.arange(c.keep_from, c.keep_to) for c in chunks])
    assert np.array_equal(kept, np.arange(n))
    for a, b in itertools.pairwise(chunks):
        assert b.start == a.stop - overlap  # the later chunk re-tracks the earlier one's last frames
        assert a.stop - overlap <= b.keep_from < a.stop or overlap == 0  # the cut lies inside the overlap
        assert b.keep_from - b.start >= overlap // 2  # the later tracker ran half the overlap before its boxes count
    assert chunks[0].start == 0 and chunks[-1].stop == n
    assert all(c.stop - c.start <= chunk + 2 * overlap for c in chunks)


def test_plan_merges_a_tail_shorter_than_the_overlap_and_refuses_nonsense():
    chunks = plan_chunks(1030, 200, 50)  # 1000..1030 is 30 frames < 50: part of the chunk before
    assert [(c.start, c.stop) for c in chunks][-1] == (750, 1030)
    assert len(plan_chunks(240, 200, 50)) == 1  # fits one chunk plus its overlap: not split
    assert frame_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(ValidationError, match="chunk_frames"):
        plan_chunks(100, 0, 10)
    with pytest.raises(ValidationError, match="overlap_frames"):
        plan_chunks(100, 10, -1)


def _walkers(num_frames: int = 400, people: int = 6, seed: int = 0) -> Detections:
    """People walking left to right in lanes, entering and leaving at different times (exact boxes)."""
    rng = np.random.default_rng(seed)
    frames, boxes = [], []
    for i in range(people):
        t0 = int(rng.integers(0, num_frames // 2))
        t1 = int(min(num_frames, t0 + rng.integers(100, 300)))
        y = 40 + 60 * i
        for f in range(t0, t1):
            x = 10 + 2.0 * (f - t0)
            frames.append(f)
            boxes.append([x, y, x + 30, y + 50])
    return Detections.create(frames, boxes, np.full(len(frames), 0.9), canvas=(1000, 500), num_frames=num_frames)


def test_stitched_chunks_of_a_clean_scene_give_the_whole_runs_tracks():
    dets = _walkers()
    whole = get_tracker("bytetrack").track(dets)
    chunked = run_tracker(dets, TrackParams(tracker="bytetrack", chunk_frames=70, overlap_frames=20))
    assert len(chunked) == len(whole)
    assert evaluate(whole, chunked, benchmark="none").identity.idf1 == pytest.approx(1.0)
    assert len(chunked.track_ids) == len(whole.track_ids) == 6
    # ids count from 1 in order of first appearance, like a tracker's own
    first_frames = [int(chunked.frame[chunked.track_id == t].min()) for t in chunked.track_ids]
    assert first_frames == sorted(first_frames)


def test_overlap_matching_follows_boxes_not_ids():
    dets = _walkers(num_frames=120, people=3, seed=1)
    a = get_tracker("sort").track(dets.frames_range(0, 100))
    b = get_tracker("sort").track(dets.frames_range(60, 120).shift_frames(-60, num_frames=60)).shift_frames(60)
    b = b.replace(track_id=b.track_id + 100)  # other numbering entirely
    pairs = match_overlap(a, b, 60, 100)
    for tb, ta in pairs.items():
        fa = a[(a.track_id == ta) & (a.frame == 80)]
        fb = b[(b.track_id == tb) & (b.frame == 80)]
        if len(fa) and len(fb):
            assert np.allclose(fa.xyxy, fb.xyxy, atol=5)
    assert len(pairs) == len(set(a.track_id[(a.frame >= 60)]) & set(a.track_id))


def test_stitch_refuses_a_plan_of_another_length():
    with pytest.raises(ValidationError, match="chunks"):
        stitch_chunks([Detections.empty()], plan_chunks(1000, 200, 50))


@pytest.mark.realdata
@pytest.mark.parametrize("tracker", ["bytetrack", "ocsort"])
def test_chunked_tracking_of_pets09_equals_the_whole_video_run(shared_data: Path, tracker: str):
    """795 frames in 4 chunks of 200 with 50 frames of overlap: same identities as one pass, same scores."""
    folder = shared_data / "pets09-s2l1"
    dets = read_mot(folder / "det" / "det.txt", kind="det", num_frames=795)
    gt = read_mot(folder / "gt" / "gt.txt", kind="gt", num_frames=795)
    whole = run_tracker(dets, TrackParams(tracker=tracker))
    chunked = run_tracker(dets, TrackParams(tracker=tracker, chunk_frames=200, overlap_frames=50))
    agreement = evaluate(whole, chunked, benchmark="none").identity.idf1
    assert agreement >= 0.99
    a = evaluate(gt, whole, frames=(0, 400), benchmark="mot15")
    b = evaluate(gt, chunked, frames=(0, 400), benchmark="mot15")
    assert abs(a.hota.hota - b.hota.hota) <= 0.005
    assert b.clear.idsw <= a.clear.idsw + 1
