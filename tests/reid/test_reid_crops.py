"""Crops of detections: exact geometry (aspect kept, top-left, zero padding), canvas scaling, and the
on-disk cache (built by streaming, memory-mapped, reused without decoding again)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid import crops as crops_mod
from selftrack.reid.crops import build_crop_store, crop_boxes, frame_boxes
from selftrack.video import VideoReader, write_video


def _frame_with_block(h: int, w: int, box: tuple[int, int, int, int], color: tuple[int, int, int]) -> np.ndarray:
    frame = np.full((h, w, 3), 17, dtype=np.uint8)
    x1, y1, x2, y2 = box
    frame[y1:y2, x1:x2] = color
    return frame


def test_crop_at_crop_size_is_the_exact_pixels_top_left_with_zero_padding() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    out = crop_boxes(frame, np.array([[10, 20, 42, 84]]), crop_size=64)  # 32 x 64: longer side already 64
    assert out.shape == (1, 64, 64, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[0, :, :32], frame[20:84, 10:42])
    assert not out[0, :, 32:].any()


@pytest.mark.parametrize(
    ("box", "content"),
    [
        ((0, 0, 128, 64), (64, 32)),  # wide: width -> 64, height 32
        ((30, 10, 50, 110), (13, 64)),  # tall 20 x 100: width round(20 * 0.64) = 13
        ((5, 5, 21, 13), (64, 32)),  # small 16 x 8: enlarged 4x
    ],
)
def test_crop_keeps_aspect_ratio_and_pads_right_and_bottom(
    box: tuple[int, int, int, int], content: tuple[int, int]
) -> None:
    color = (200, 40, 90)
    frame = _frame_with_block(160, 200, box, color)
    out = crop_boxes(frame, np.array([box], dtype=float), crop_size=64)[0]
    cw, ch = content
    inner = out[1 : ch - 1, 1 : cw - 1]  # away from the edge where resampling may blend
    assert (inner == np.array(color, np.uint8)).all()
    assert not out[:, cw:].any()
    assert not out[ch:, :].any()


def test_fractional_and_out_of_frame_boxes() -> None:
    frame = np.full((50, 60, 3), 255, dtype=np.uint8)
    # x1 10.4 -> 10, x2 20.2 -> 21: 11 x 11 pixels enlarged to 64 x 64 (all white)
    out = crop_boxes(frame, np.array([[10.4, 5.0, 20.2, 15.6], [-30, -30, -5, -5], [50, 40, 90, 80]]), crop_size=64)
    assert (out[0] == 255).all()
    assert not out[1].any()  # nothing of the box is inside the frame
    # clipped to 10 x 10 pixels (50..60, 40..50): square, fills the crop
    assert (out[2] == 255).all()


def test_frame_boxes_scale_from_the_detection_canvas() -> None:
    det = Detections.create([0], [[10, 20, 30, 40]], canvas=(320, 180))
    np.testing.assert_allclose(frame_boxes(det, (640, 360)), [[20, 40, 60, 80]])
    np.testing.assert_allclose(frame_boxes(det, (320, 180)), [[10, 20, 30, 40]])
    bare = Detections.create([0], [[10, 20, 30, 40]])
    np.testing.assert_allclose(frame_boxes(bare, (640, 360)), [[10, 20, 30, 40]])


@pytest.fixture(scope="module")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(12)]
    path = tmp_path_factory.mktemp("video") / "v.mp4"
    write_video(path, iter(frames), 10, size=(128, 96))
    return path


def _detections() -> Detections:
    frames = [0, 0, 3, 7, 7, 7, 11]
    boxes = [
        [5, 5, 40, 60],
        [50, 10, 60, 30],
        [0, 0, 64, 48],
        [10, 10, 20, 20],
        [30, 40, 90, 90],
        [1, 2, 3, 4],
        [60, 20, 120, 95],
    ]
    return Detections.create(frames, boxes, canvas=(64, 48), num_frames=12)  # half the video's size


def test_crop_store_matches_crops_of_decoded_frames_with_canvas_scaling(small_video: Path, tmp_path: Path) -> None:
    det = _detections()
    store = build_crop_store(small_video, det, tmp_path, crop_size=32)
    assert store.crops.shape == (len(det), 32, 32, 3)
    assert isinstance(store.crops, np.memmap)
    with VideoReader(small_video) as reader:
        frames = list(reader.frames())
    boxes = det.xyxy * 2  # canvas 64x48 -> frames 128x96
    for i in range(len(det)):
        expected = crop_boxes(frames[int(det.frame[i])], boxes[i : i + 1], 32)[0]
        np.testing.assert_array_equal(store.crops[i], expected)
    np.testing.assert_array_equal(store.take(np.array([6, 0, 3])), store.crops[[6, 0, 3]])
    store.release()  # pages dropped; reading again still works
    assert store.crops[2].shape == (32, 32, 3)


def test_crop_cache_is_reused_without_decoding(
    small_video: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    det = _detections()
    first = build_crop_store(small_video, det, tmp_path, crop_size=32)
    files = sorted(p.name for p in tmp_path.iterdir())

    def no_decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(crops_mod, "VideoReader", no_decoding)
    again = build_crop_store(small_video, det, tmp_path, crop_size=32)
    assert again.path == first.path and again.key == first.key
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    np.testing.assert_array_equal(np.asarray(again.crops), np.asarray(first.crops))
    # other boxes or another crop size are another entry (and need decoding)
    with pytest.raises(AssertionError, match="cache"):
        build_crop_store(small_video, det, tmp_path, crop_size=16)
    moved = det.replace(xyxy=det.xyxy + 1)
    with pytest.raises(AssertionError, match="cache"):
        build_crop_store(small_video, moved, tmp_path, crop_size=32)


def test_crop_store_refuses_boxes_past_the_video(small_video: Path, tmp_path: Path) -> None:
    det = Detections.create([20], [[0, 0, 10, 10]])
    with pytest.raises(ValidationError, match="frame 20"):
        build_crop_store(small_video, det, tmp_path)
    assert not list(tmp_path.glob("*.npy"))


@pytest.mark.parametrize(
    ("video", "det", "frames"),
    [
        ("pets09-s2l1/video.avi", "pets09-s2l1/det/det.txt", (0, 30)),
        ("mot17/MOT17-09/video.mp4", "mot17/MOT17-09/det/det_refined.txt", (0, 6)),
    ],
    ids=["PETS09", "MOT17-09-1080p"],
)
@pytest.mark.parametrize("stretch", [False, True])
def test_crops_from_decoded_frames_equal_crops_from_rgb_frames(
    shared_data: Path, video: str, det: str, frames: tuple[int, int], stretch: bool
) -> None:
    """Crops cut from frames converted region by region (the tracker's path) are those of whole RGB frames."""
    from selftrack.formats import read_mot
    from selftrack.video import probe

    info = probe(shared_data / video)
    detections = read_mot(shared_data / det, canvas=info.size, num_frames=info.frame_count)
    bounds = detections.frame_bounds()
    boxes = frame_boxes(detections, info.size)
    rows = 0
    with VideoReader(shared_data / video) as reader:
        pairs = zip(reader.frames(*frames), reader.frame_pixels(*frames), strict=True)
        for f, (rgb, pixels) in enumerate(pairs, start=frames[0]):
            assert pixels.regions
            a, b = int(bounds[f]), int(bounds[f + 1])
            jittered = boxes[a:b] + np.array([-0.4, 0.3, 0.6, -0.2])  # fractional, and some past the frame's edge
            for xyxy in (boxes[a:b], jittered, np.array([[-20.0, -20.0, 30.5, 41.0], [700.0, 500.0, 2000.0, 1200.0]])):
                expected = crop_boxes(rgb, xyxy, 64, stretch=stretch)
                np.testing.assert_array_equal(crop_boxes(pixels, xyxy, 64, stretch=stretch), expected)
            assert pixels._rgb is None  # the whole frame was never converted
            rows += b - a
    assert rows > 20
