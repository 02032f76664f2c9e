"""``detect_video``: frame indexing, ranges, class filtering and error cases, with a fake detector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.core.errors import ValidationError
from selftrack.detectors import Detector, FrameBoxes, detect_video
from selftrack.video import ResizeSpec, VideoWriter


class BrightnessDetector(Detector):
    """One 'bright' box per frame whose mean brightness is above 100, a 'dark' box otherwise.

    The score is the frame's mean brightness / 255, so a test can tell which frame a box came from.
    """

    def __init__(self) -> None:
        self.classes = {0: "dark", 1: "bright"}
        self.resets = 0
        self.batches: list[int] = []

    def reset(self) -> None:
        self.resets += 1

    def detect_batch(self, frames: np.ndarray) -> list[FrameBoxes]:
        self.batches.append(len(frames))
        out = []
        for f in frames:
            m = float(f.mean())
            out.append(FrameBoxes.create([[1, 2, 10, 20]], [m / 255], [int(m > 100)]))
        return out


class WrongCount(BrightnessDetector):
    def detect_batch(self, frames: np.ndarray) -> list[FrameBoxes]:
        return super().detect_batch(frames)[:-1]


@pytest.fixture(scope="module")
def ramp_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 flat grey frames, brightness 10 * k (k = 0..19), 64x48."""
    path = tmp_path_factory.mktemp("ramp") / "ramp.mp4"
    with VideoWriter(path, 10, (64, 48), crf=0) as writer:
        for k in range(20):
            writer.write(np.full((48, 64, 3), 10 * k, np.uint8))
    return path


def test_frames_are_indexed_and_batched(ramp_video: Path):
    det = BrightnessDetector()
    seen: list[tuple[int, int]] = []
    out = detect_video(det, ramp_video, batch_size=6, progress=lambda d, t: seen.append((d, t)))
    assert det.resets == 1 and det.batches == [6, 6, 6, 2]
    assert seen == [(6, 20), (12, 20), (18, 20), (20, 20)]
    np.testing.assert_array_equal(out.frame, np.arange(20))
    np.testing.assert_allclose(out.score * 255, 10 * np.arange(20), atol=2)  # each frame's own brightness
    assert out.canvas == (64, 48) and out.num_frames == 20 and out.classes == {0: "dark", 1: "bright"}
    assert out.source == str(ramp_video)


def test_range_resize_and_class_filter(ramp_video: Path):
    out = detect_video(
        BrightnessDetector(),
        ramp_video,
        start=5,
        stop=15,
        classes=["Bright"],
        resize=ResizeSpec(mode="fixed", width=32, height=24),
    )
    assert out.canvas == (32, 24) and out.num_frames == 15
    np.testing.assert_array_equal(out.frame, np.arange(11, 15))  # brightness 110.. only
    assert (out.class_id == 1).all()
    none = detect_video(BrightnessDetector(), ramp_video, stop=5, classes=["bright"])
    assert len(none) == 0 and none.canvas == (64, 48) and none.num_frames == 5


def test_errors_name_the_problem(ramp_video: Path):
    with pytest.raises(ValidationError, match=r"unknown class 'car'.*bright, dark"):
        detect_video(BrightnessDetector(), ramp_video, classes=["car"])
    with pytest.raises(ValidationError, match="returned 3 results for a batch of 4"):
        detect_video(WrongCount(), ramp_video, batch_size=4)
    with pytest.raises(ValidationError, match="batch_size"):
        detect_video(BrightnessDetector(), ramp_video, batch_size=0)
    with pytest.raises(ValidationError, match="2 boxes but 1 scores"):
        FrameBoxes.create(np.zeros((2, 4)), [0.5], [0, 0])
    with pytest.raises(ValidationError, match="RGB uint8"):
        from selftrack.detectors import MotionDetector

        MotionDetector().detect_batch(np.zeros((2, 10, 10), np.float32))


def test_prefetch_keeps_order_and_forwards_errors():
    from selftrack.detectors.base import prefetch

    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise ValueError("decoder died at frame 2")

    got = []
    with pytest.raises(ValueError, match="decoder died at frame 2"):
        for x in prefetch(broken()):
            got.append(x)
    assert got == [1]
