"""The background-subtraction detector: synthetic scenes with known objects, then real traffic footage."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from selftrack.detectors import MotionDetector, MotionParams, detect_video
from selftrack.detectors.motion import components_to_boxes
from selftrack.render import render_video
from selftrack.video import probe

H, W = 120, 200
EMPTY_FRAMES = 30  # frames of background only, before the object enters


def _scene(n: int, *, shadow: bool = True, gap: int = 0, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """A textured static background with sensor noise; from frame 30 a red 20x40 block moves right 10 px/frame.

    ``shadow`` darkens the background beside the block (as a cast shadow does, same hue, 60 %
    brightness); ``gap`` cuts a vertical background-coloured slit of that width through the block.
    Returns the frames and the block's box per frame (``()`` when absent).
    """
    rng = np.random.default_rng(seed)
    bg = (rng.integers(90, 150, size=(H, W, 1)) * np.array([1.0, 0.9, 0.8])).astype(np.int16)
    frames, truth = [], []
    for k in range(n):
        f = bg + rng.integers(-3, 4, size=bg.shape)
        box: tuple[int, ...] = ()
        if k >= EMPTY_FRAMES:
            x = 10 + 10 * (k - EMPTY_FRAMES)
            if shadow:
                f[60:80, x + 20 : x + 45] = f[60:80, x + 20 : x + 45] * 0.6
            f[40:80, x : x + 20] = (200, 30, 30)
            if gap:
                f[40:80, x + 8 : x + 8 + gap] = bg[40:80, x + 8 : x + 8 + gap]
            box = (x, 40, x + 20, 80)
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
        truth.append(box)
    return np.stack(frames), truth


def test_moving_block_is_boxed_exactly_and_its_shadow_dropped():
    frames, truth = _scene(45)
    det = MotionDetector()
    results = det.detect_batch(frames[:20]) + det.detect_batch(frames[20:])  # state carries across batches
    assert all(len(r) == 0 for r in results[:EMPTY_FRAMES])
    for r, box in zip(results[EMPTY_FRAMES:], truth[EMPTY_FRAMES:], strict=True):
        assert len(r) == 1
        np.testing.assert_allclose(r.xyxy[0], box, atol=1)
        assert 0.9 < r.score[0] <= 1.0
    # Without shadow detection the darkened strip is foreground and widens the box.
    no_shadow = MotionDetector(MotionParams(detect_shadows=False)).detect_batch(frames)
    assert no_shadow[-1].xyxy[0, 2] >= truth[-1][2] + 20


def test_fragments_are_merged_and_score_is_fill_ratio():
    frames, truth = _scene(40, shadow=False, gap=8)
    split = MotionDetector(MotionParams(merge_distance=0)).detect_batch(frames)[-1]
    assert len(split) == 2  # the slit cuts the block in two
    merged = MotionDetector(MotionParams(merge_distance=6)).detect_batch(frames)[-1]
    assert len(merged) == 1
    np.testing.assert_allclose(merged.xyxy[0], truth[-1], atol=1)
    np.testing.assert_allclose(merged.score[0], 12 / 20, atol=0.03)  # 12 of 20 columns are foreground


def test_warmup_min_area_and_reset():
    frames, _ = _scene(40, shadow=False)
    warm = MotionDetector(MotionParams(warmup_frames=35)).detect_batch(frames)
    assert [len(r) for r in warm[:35]] == [0] * 35 and len(warm[35]) == 1
    assert all(len(r) == 0 for r in MotionDetector(MotionParams(min_area=801)).detect_batch(frames))  # block: 800 px
    det = MotionDetector()
    assert len(det.detect_batch(frames)[EMPTY_FRAMES]) == 1
    det.reset()  # a new video: a new background model, warmed up again before any box
    warmup = MotionParams().warmup_frames
    again = det.detect_batch(frames[EMPTY_FRAMES : EMPTY_FRAMES + warmup])
    assert [len(r) for r in again] == [0] * warmup


def test_components_to_boxes_by_hand():
    mask = np.zeros((10, 12), np.uint8)
    mask[1:4, 2:5] = 255  # 9 px
    mask[6:9, 7:11] = 255  # 12 px, with a hole
    mask[7, 8] = 0
    labels = np.zeros((10, 12), np.int32)
    labels[0:5, 0:6] = 1
    labels[5:10, 6:12] = 2
    res = components_to_boxes(mask, labels, 3, min_area=5)
    np.testing.assert_array_equal(res.xyxy, [[2, 1, 5, 4], [7, 6, 11, 9]])
    np.testing.assert_allclose(res.score, [1.0, 11 / 12])
    assert len(components_to_boxes(mask, labels, 3, min_area=10)) == 1


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["highway_overpass_cdnet.avi", "highway_cctv.avi"])
def test_highway_footage(shared_data: Path, tmp_path: Path, name: str):
    """Cars on real fixed-camera footage: a plausible number of boxes, rendered to a playable MP4."""
    path = shared_data / "videos" / name
    n = 200
    dets = detect_video(MotionDetector(), path, stop=n)
    info = probe(path)
    assert dets.canvas == (info.width, info.height) and dets.num_frames == n
    counts = np.bincount(dets.frame, minlength=n)
    warmup = MotionParams().warmup_frames
    assert counts[:warmup].sum() == 0
    assert counts.max() <= 15
    assert (counts[warmup:] >= 1).mean() >= 0.8  # traffic is always passing in these clips
    assert ((dets.score > 0) & (dets.score <= 1)).all()
    # Boxes are object-sized: not the whole frame, not specks.
    frac = dets.area / (info.width * info.height)
    assert frac.max() < 0.3 and np.median(frac) > 0.002

    out = tmp_path / f"{path.stem}_motion.mp4"
    shown = 40  # rendering every frame would only repeat the same check
    rendered = render_video(path, [dets], out, stop=shown)
    assert rendered.codec == "h264" and rendered.frame_count == shown
    assert (rendered.width, rendered.height) == (info.width, info.height)
    with av.open(str(out)) as container:
        frame = next(f for k, f in enumerate(container.decode(video=0)) if k == shown - 5)
        cv2.imwrite(str(tmp_path / f"{path.stem}_frame{shown - 5}.png"), frame.to_ndarray(format="bgr24"))
    assert (tmp_path / f"{path.stem}_frame{shown - 5}.png").stat().st_size > 1000
