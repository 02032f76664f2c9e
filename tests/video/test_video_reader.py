"""VideoReader / iter_frames: streaming decode, random access, resampling, resizing, broken files."""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from selftrack.core.errors import ValidationError, VideoError
from selftrack.video import ResizeSpec, VideoReader, iter_frames, probe, write_video
from selftrack.video import reader as reader_module


def digests(frames: Iterable[np.ndarray]) -> list[str]:
    """One hash per frame: compares whole videos without holding them in memory."""
    return [hashlib.sha1(f.tobytes()).hexdigest() for f in frames]


def gradient_video(path: Path, n: int, fps: Fraction | float = 25, size: tuple[int, int] = (160, 120)) -> Path:
    """An H.264 clip (libx264 uses B-frames, keyframe every 250 frames) whose frames all differ."""
    w, h = size
    x = np.arange(w)[None, :]
    y = np.arange(h)[:, None]
    frames = (
        np.stack([(x + 2 * i) % 256 + 0 * y, (y + i) % 256 + 0 * x, np.full((h, w), (7 * i) % 256)], axis=-1).astype(
            np.uint8
        )
        for i in range(n)
    )
    write_video(path, frames, fps)
    return path


def truncated_copy(src: Path, dst: Path, fraction: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


# -- streaming decode -------------------------------------------------------------------------------------


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["highway_cctv.avi", "street_8_frames.mp4"])
def test_streamed_frame_count_equals_probe(shared_data: Path, name: str) -> None:
    path = shared_data / "videos" / name
    info = probe(path)
    n = 0
    with VideoReader(path) as reader:
        assert reader.info == info
        assert reader.output_size == info.size
        assert reader.output_fps == info.fps
        assert reader.frame_count == len(reader) == info.frame_count
        for frame in reader:
            assert frame.dtype == np.uint8
            assert frame.shape == (info.height, info.width, 3)
            n += 1
    assert n == info.frame_count


def test_frames_are_rgb(tmp_path: Path) -> None:
    red_left_blue_right = np.zeros((64, 96, 3), np.uint8)
    red_left_blue_right[:, :48, 0] = 220
    red_left_blue_right[:, 48:, 2] = 220
    path = tmp_path / "rgb.mp4"
    write_video(path, [red_left_blue_right] * 3, 10)
    frame = next(iter_frames(path))
    left, right = frame[:, :40].reshape(-1, 3).mean(0), frame[:, 56:].reshape(-1, 3).mean(0)
    assert left[0] > 180 and left[2] < 40
    assert right[2] > 180 and right[0] < 40


# -- random access ----------------------------------------------------------------------------------------


def assert_random_access_matches(path: Path, indices: list[int]) -> None:
    """read_frame(i) in a scrambled order (backward jumps included) equals the i-th streamed frame."""
    wanted = set(indices)
    sequential = {i: f for i, f in enumerate(iter_frames(path)) if i in wanted}
    assert set(sequential) == wanted
    order = indices + indices[::-1] + indices[1::2]
    with VideoReader(path) as reader:
        for i in order:
            np.testing.assert_array_equal(reader.read_frame(i), sequential[i], err_msg=f"frame {i}")


@pytest.mark.realdata
def test_random_access_pets09(shared_data: Path) -> None:
    # MS-MPEG4 AVI, keyframes every 250 frames: seeks by timestamp
    assert_random_access_matches(shared_data / "pets09-s2l1" / "video.avi", [0, 794, 250, 1, 249, 251, 612, 400])


@pytest.mark.realdata
def test_random_access_avi_with_packed_b_frames(shared_data: Path) -> None:
    # DivX-style packed B-frames: timestamps are unusable, access decodes forward from the start
    assert_random_access_matches(shared_data / "videos" / "highway_cctv.avi", [0, 747, 3, 300, 2, 301])


def test_random_access_h264_with_b_frames(tmp_path: Path) -> None:
    path = gradient_video(tmp_path / "g.mp4", 300)
    assert_random_access_matches(path, [0, 299, 250, 5, 249, 251, 120, 121])


def test_read_frame_out_of_range(tmp_path: Path) -> None:
    path = gradient_video(tmp_path / "g.mp4", 10)
    with VideoReader(path) as reader, pytest.raises(ValidationError, match="frame 10 is out of range"):
        reader.read_frame(10)
    with VideoReader(path) as reader, pytest.raises(ValidationError, match="out of range"):
        reader.read_frame(-1)


def test_frame_ranges_and_batches(tmp_path: Path) -> None:
    path = gradient_video(tmp_path / "g.mp4", 300)
    everything = digests(iter_frames(path))
    assert len(everything) == 300
    assert digests(iter_frames(path, start=245, stop=256)) == everything[245:256]  # crosses a keyframe
    with VideoReader(path) as reader:
        assert digests(reader.frames(298)) == everything[298:]
        assert digests(reader.frames(7, 7)) == []
        with pytest.raises(ValidationError, match="outside 0:300"):
            reader.frames(0, 301)
        batches = list(reader.read_batches(64))
    assert [first for first, _ in batches] == [0, 64, 128, 192, 256]
    assert [len(b) for _, b in batches] == [64, 64, 64, 64, 44]
    assert batches[0][1].shape == (64, 120, 160, 3)
    assert digests(f for _, b in batches for f in b) == everything


# -- resampling and resizing ------------------------------------------------------------------------------


@pytest.mark.realdata
def test_resample_25_to_10_fps(shared_data: Path) -> None:
    path = shared_data / "videos" / "highway_cctv.avi"  # 748 frames at 25 fps
    source = digests(iter_frames(path))
    with VideoReader(path, fps=10) as reader:
        assert reader.output_fps == 10
        # output frame k shows time k/10 s, i.e. source frame floor(2.5 k); ceil(748 / 2.5) = 300 of them
        assert reader.frame_count == 300
        resampled = digests(reader)
        assert reader.source_index(299) == 747
    assert len(resampled) == 300
    assert resampled == [source[(5 * k) // 2] for k in range(300)]
    assert digests(iter_frames(path, fps=10, start=100, stop=103)) == [source[250], source[252], source[255]]


def test_resample_upwards_repeats_frames(tmp_path: Path) -> None:
    path = gradient_video(tmp_path / "g.mp4", 20, fps=10)
    source = digests(iter_frames(path))
    up = digests(iter_frames(path, fps=Fraction(25)))
    assert len(up) == 50  # ceil(20 * 25 / 10)
    assert up == [source[(2 * k) // 5] for k in range(50)]


def test_same_fps_is_identity(tmp_path: Path) -> None:
    path = gradient_video(tmp_path / "g.mp4", 12, fps=25)
    assert digests(iter_frames(path, fps=25.0)) == digests(iter_frames(path))


@pytest.mark.realdata
def test_resize_scale_down_1080p_to_960x544(shared_data: Path) -> None:
    path = shared_data / "videos" / "street_8_frames.mp4"
    spec = ResizeSpec(mode="scale-down", max_dimension=960, multiple=32)
    full = list(iter_frames(path, stop=2))
    with VideoReader(path, resize=spec) as reader:
        assert reader.output_size == (960, 544)
        small = list(reader.frames(0, 2))
        assert small[0].shape == (544, 960, 3)
        np.testing.assert_array_equal(reader.read_frame(1), small[1])
    for big, got in zip(full, small, strict=True):
        expected = cv2.resize(big, (960, 544), interpolation=cv2.INTER_AREA)
        assert np.abs(expected.astype(int) - got).mean() < 3


def test_resize_fixed_and_combined_with_resampling(tmp_path: Path) -> None:
    path = gradient_video(tmp_path / "g.mp4", 20, fps=10)
    spec = ResizeSpec(mode="fixed", width=100, height=50)
    frames = list(iter_frames(path, fps=5, resize=spec))
    assert len(frames) == 10
    assert {f.shape for f in frames} == {(50, 100, 3)}


# -- broken files -----------------------------------------------------------------------------------------


@pytest.mark.realdata
def test_truncated_avi(shared_data: Path, tmp_path: Path) -> None:
    original = shared_data / "videos" / "highway_cctv.avi"
    cut = truncated_copy(original, tmp_path / "cut.avi")
    with pytest.raises(VideoError, match="truncated") as err:
        VideoReader(cut)
    assert str(cut) in str(err.value)
    with pytest.raises(VideoError, match=r"cut\.avi"):
        list(iter_frames(cut))

    with VideoReader(cut, allow_truncated=True) as reader:
        good = digests(reader)
        assert len(good) == reader.frame_count
        assert 0.5 * 748 < len(good) < 748
        last = reader.read_frame(len(good) - 1)
    # every good frame is the original's frame at the same index: nothing shifted, nothing half-decoded
    assert good == digests(iter_frames(original, stop=len(good)))
    assert hashlib.sha1(last.tobytes()).hexdigest() == good[-1]


def test_truncated_mp4(tmp_path: Path) -> None:
    original = gradient_video(tmp_path / "full.mp4", 120)  # faststart: the index survives the cut
    cut = truncated_copy(original, tmp_path / "cut.mp4")
    with pytest.raises(VideoError, match=r"cut\.mp4: truncated") as err:
        probe(cut)
    assert "of the 120 frames" in str(err.value)
    full = digests(iter_frames(original))
    # Cuts at many points: wherever the last packet is cut off, the frames kept are the first frames of
    # the original, in order (a B-frame's reference decoded past a lost packet must not fill the gap).
    for fraction in np.linspace(0.3, 0.95, 14):
        truncated_copy(original, cut, fraction)
        good = digests(iter_frames(cut, allow_truncated=True))
        assert 0 < len(good) < 120, fraction
        assert good == full[: len(good)], f"cut at {fraction:.2f}: frames out of order or corrupt"


def _lost_before_whole(path: Path) -> int | None:
    """Display index of the first frame whose packet is missing while a later frame's packet is whole (a cut
    inside a B-frame group that no packet flags as corrupt); ``None`` when the file has no such hole."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = [(int(p.pts), int(p.duration)) for p in container.demux(stream) if p.pts is not None]
    packets.sort()
    for k, ((pts, duration), (after, _)) in enumerate(itertools.pairwise(packets)):
        if duration and after > pts + duration:
            return k + 1
    return None


def test_truncated_mp4_with_a_lost_frame_before_whole_ones(tmp_path: Path) -> None:
    # Cut inside the last B-frame group, a file can keep whole packets of frames shown after a lost one
    # (display order 46, 48; 47's packet cut off) with no packet flagged corrupt: the decoder then
    # outputs 46 and 48 as if they were consecutive. Frames stop before the hole instead.
    original = gradient_video(tmp_path / "full.mp4", 150, size=(176, 144))
    full = digests(iter_frames(original))
    cut, holes = tmp_path / "cut.mp4", 0
    for fraction in np.linspace(0.2, 0.98, 80):
        truncated_copy(original, cut, fraction)
        hole = _lost_before_whole(cut)
        if hole is None:
            continue
        holes += 1
        good = digests(iter_frames(cut, allow_truncated=True))
        assert len(good) <= hole and good == full[: len(good)], f"cut at {fraction:.3f}: frames past the hole"
    assert holes > 0  # the encoder's B-frame groups gave at least one such cut


def test_decoder_stopping_short_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A container that promises more frames than its stream holds (and that the probe cannot catch):
    # PyAV just stops, so the reader must compare what it got with what was promised.
    path = gradient_video(tmp_path / "g.mp4", 8)
    real_probe_details = reader_module.probe_details

    def overstated(p, *, allow_truncated=False):
        details = real_probe_details(p, allow_truncated=allow_truncated)
        return replace(details, info=replace(details.info, frame_count=13), pts=None)

    monkeypatch.setattr(reader_module, "probe_details", overstated)
    with pytest.raises(VideoError, match=r"g\.mp4: decoding failed at frame 8 of 13 .*expected 13 frames, got 8"):
        list(iter_frames(path))
    with VideoReader(path) as reader, pytest.raises(VideoError, match="frame 8 of 13"):
        reader.read_frame(10)
    with VideoReader(path, allow_truncated=True) as reader, pytest.raises(VideoError, match="frame 10 could not"):
        reader.read_frame(10)
    with caplog.at_level(logging.WARNING, logger="selftrack.video"):
        assert len(list(iter_frames(path, allow_truncated=True))) == 8
    assert "frame 8 of 13" in caplog.text


def test_random_bytes(tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 100_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoError, match=r"junk\.avi"):
        VideoReader(junk)
    with pytest.raises(VideoError, match=r"junk\.avi"):
        list(iter_frames(junk, allow_truncated=True))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match=r"missing\.mp4: no such file"):
        VideoReader(tmp_path / "missing.mp4")
