"""VideoWriter / write_video: browser-playable H.264 MP4, exact round trip, atomic writes."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from selftrack.core.errors import ValidationError, VideoError
from selftrack.video import VideoWriter, iter_frames, probe, write_video


def moving_gradient(width: int, height: int, n: int) -> list[np.ndarray]:
    """Smooth colour gradients drifting a few pixels per frame (compressible, so PSNR is meaningful)."""
    x = np.arange(width, dtype=np.float64)[None, :]
    y = np.arange(height, dtype=np.float64)[:, None]
    frames = []
    for i in range(n):
        r = 128 + 100 * np.sin(2 * np.pi * (x + 3 * i) / 160) + 0 * y
        g = 128 + 100 * np.cos(2 * np.pi * (y + 2 * i) / 120) + 0 * x
        b = 40 + 180 * (x + y + i) / (width + height + n)
        frames.append(np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8))
    return frames


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255**2 / mse))


@pytest.mark.parametrize(
    ("width", "height", "fps"),
    [(320, 240, Fraction(25)), (321, 241, Fraction(30000, 1001))],
)
def test_round_trip(tmp_path: Path, width: int, height: int, fps: Fraction) -> None:
    frames = moving_gradient(width, height, 30)
    path = tmp_path / "out.mp4"
    info = write_video(path, frames, fps)

    assert info == probe(path)
    assert info.codec == "h264"
    assert info.pix_fmt == "yuv420p"
    assert info.frame_count == 30
    assert info.fps == fps
    # yuv420p needs even sides: odd sizes are padded by one pixel at the right/bottom
    assert (info.width, info.height) == (width + width % 2, height + height % 2)

    decoded = list(iter_frames(path))
    assert len(decoded) == 30
    for i, (written, got) in enumerate(zip(frames, decoded, strict=True)):
        assert got.shape == (info.height, info.width, 3)
        assert psnr(written, got[:height, :width]) > 30, f"frame {i}"
    # frames come back in order (each is closest to the frame written at its index)
    errors = [[np.abs(w.astype(int) - d[:height, :width]).mean() for w in frames] for d in decoded[:10]]
    assert [int(np.argmin(row)) for row in errors] == list(range(10))


def test_odd_size_padding_repeats_the_edge(tmp_path: Path) -> None:
    frames = moving_gradient(161, 121, 5)
    path = tmp_path / "odd.mp4"
    write_video(path, frames, 10, crf=12)
    got = next(iter_frames(path))
    assert got.shape == (122, 162, 3)
    assert np.abs(got[:, 161].astype(int) - got[:, 160]).mean() < 4
    assert np.abs(got[121].astype(int) - got[120]).mean() < 4


def test_moov_atom_is_before_the_data(tmp_path: Path) -> None:
    path = tmp_path / "fast.mp4"
    write_video(path, moving_gradient(64, 48, 12), 25)
    data = path.read_bytes()
    assert data[4:8] == b"ftyp"
    assert 0 < data.find(b"moov") < data.find(b"mdat")


def test_float_fps_becomes_an_exact_fraction(tmp_path: Path) -> None:
    info = write_video(tmp_path / "a.mp4", moving_gradient(64, 48, 10), 12.5)
    assert info.fps == Fraction(25, 2)
    info = write_video(tmp_path / "b.mp4", moving_gradient(64, 48, 10), 30000 / 1001)
    assert info.fps == Fraction(30000, 1001)


def test_explicit_size_is_enforced(tmp_path: Path) -> None:
    path = tmp_path / "sized.mp4"
    with (
        pytest.raises(ValidationError, match=r"frame 0 is 64x48, but the video is 65x49"),
        VideoWriter(path, 10, (65, 49)) as w,
    ):
        w.write(np.zeros((48, 64, 3), np.uint8))
    assert not path.exists()
    with VideoWriter(path, 10, (65, 49)) as w:
        w.write(np.zeros((49, 65, 3), np.uint8))
    assert probe(path).size == (66, 50)


def test_exception_inside_with_block_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "atomic.mp4"
    with pytest.raises(RuntimeError, match="boom"), VideoWriter(path, 25) as w:
        for frame in moving_gradient(64, 48, 5):
            w.write(frame)
        raise RuntimeError("boom")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "keep.mp4"
    path.write_bytes(b"old video")
    with pytest.raises(ValidationError), VideoWriter(path, 25) as w:
        w.write(np.zeros((48, 64, 3), np.uint8))
        w.write(np.zeros((48, 66, 3), np.uint8))  # size changes: refused
    assert path.read_bytes() == b"old video"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.mp4"]


def test_successful_write_replaces_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "replace.mp4"
    path.write_bytes(b"old video")
    write_video(path, moving_gradient(64, 48, 3), 25)
    assert probe(path).frame_count == 3
    assert [p.name for p in tmp_path.iterdir()] == ["replace.mp4"]


def test_closing_without_frames_creates_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    with pytest.raises(VideoError, match="no frames"), VideoWriter(path, 25):
        pass
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(VideoError, match="no frames"):
        write_video(path, [], 25)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "bad",
    [np.zeros((48, 64, 3), np.float32), np.zeros((48, 64), np.uint8), np.zeros((48, 64, 4), np.uint8)],
)
def test_frames_must_be_rgb_uint8(tmp_path: Path, bad: np.ndarray) -> None:
    with pytest.raises(ValidationError, match="RGB uint8"), VideoWriter(tmp_path / "x.mp4", 25) as w:
        w.write(bad)
    assert list(tmp_path.iterdir()) == []


def test_bad_parameters(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "such" / "dir.mp4", 25)
    with pytest.raises(ValidationError, match="fps"):
        VideoWriter(tmp_path / "a.mp4", 0)
    with pytest.raises(ValidationError, match="crf"):
        VideoWriter(tmp_path / "a.mp4", 25, crf=60)
    assert list(tmp_path.iterdir()) == []
