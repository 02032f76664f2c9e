"""FramePixels: RGB regions of decoded frames, converted alone, equal the whole frame's conversion bit for bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from selftrack.video import ResizeSpec, VideoReader, write_video
from selftrack.video import regions as regions_module
from selftrack.video.regions import FramePixels


def random_regions(rng: np.random.Generator, w: int, h: int, n: int) -> list[tuple[int, int, int, int]]:
    """Regions of every kind: odd and even corners, 1 pixel to most of the frame, touching each edge."""
    out = [(0, 0, 1, 1), (w - 1, h - 1, w, h), (w - 17, 3, w, 40), (5, h - 9, 60, h)]
    for _ in range(n):
        rw, rh = int(rng.integers(1, w // 2)), int(rng.integers(1, h // 2))
        x1, y1 = int(rng.integers(0, w - rw + 1)), int(rng.integers(0, h - rh + 1))
        out.append((x1, y1, x1 + rw, y1 + rh))
    return out


@pytest.mark.parametrize(
    ("video", "frames"),
    [("pets09-s2l1/video.avi", [0, 1, 2, 40, 41]), ("mot17/MOT17-09/video.mp4", [0, 1, 2, 3])],
    ids=["PETS09-MS-MPEG4", "MOT17-09-H264-1080p"],
)
def test_regions_equal_the_whole_frames_conversion(shared_data: Path, video: str, frames: list[int]) -> None:
    path = shared_data / video
    rng = np.random.default_rng(3)
    with VideoReader(path) as reader:
        w, h = reader.output_size
        wanted = dict.fromkeys(frames)
        for k, frame in enumerate(reader.frames(0, max(frames) + 1)):
            if k in wanted:
                wanted[k] = frame
        for k, pixels in enumerate(reader.frame_pixels(0, max(frames) + 1)):
            if k not in wanted:
                continue
            assert pixels.regions, "these 4:2:0 videos take the region path"
            assert pixels.shape == wanted[k].shape
            rects = random_regions(rng, w, h, 40)
            for x1, y1, x2, y2 in rects:
                got = pixels.region(x1, y1, x2, y2)
                np.testing.assert_array_equal(got, wanted[k][y1:y2, x1:x2], err_msg=f"frame {k} {(x1, y1, x2, y2)}")
            for group in (rects[:3], rects[3:9], rects[9:12]):  # several converted in one pass
                for (x1, y1, x2, y2), got in zip(group, pixels.regions_of(group), strict=True):
                    np.testing.assert_array_equal(got, wanted[k][y1:y2, x1:x2], err_msg=f"{(x1, y1, x2, y2)}")
            assert pixels._rgb is None, "no region converted the whole frame"
            # regions as large as the frame: the whole frame is converted (once), and cut
            np.testing.assert_array_equal(pixels.region(0, 0, w, h), wanted[k])
            assert pixels._rgb is not None
            np.testing.assert_array_equal(pixels.region(3, 7, 99, 51), wanted[k][7:51, 3:99])


@pytest.mark.parametrize("fps", [None, 4.0])
def test_frame_pixels_of_a_range_match_frames(shared_data: Path, fps: float | None) -> None:
    """A range after a seek, and frames resampled to another rate (repeated or skipped source frames)."""
    with VideoReader(shared_data / "pets09-s2l1" / "video.avi", fps=fps) as reader:
        expected = list(reader.frames(200, 206))
        got = [p.region(100, 50, 300, 400) for p in reader.frame_pixels(200, 206)]
    assert len(got) == 6
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(g, e[50:400, 100:300])


def test_resized_and_odd_sized_frames_are_converted_whole(tmp_path: Path) -> None:
    x = np.arange(150)[None, :]
    y = np.arange(100)[:, None]
    clip = [np.stack([(x + 3 * i) % 256 + 0 * y, (y * 2) % 256 + 0 * x, (x + y) % 256], axis=-1).astype(np.uint8)
            for i in range(3)]  # fmt: skip
    path = tmp_path / "odd.mp4"
    write_video(path, clip, 10)
    for resize in (None, ResizeSpec(mode="fixed", width=64, height=48)):
        with VideoReader(path, resize=resize) as reader:
            whole = list(reader.frames())
            pixels = list(reader.frame_pixels())
        for p, frame in zip(pixels, whole, strict=True):
            assert not p.regions  # width 150 is not a multiple of 16; a resized frame is converted whole
            np.testing.assert_array_equal(p.region(3, 5, 40, 33), frame[5:33, 3:40])
            assert p.shape == frame.shape


def test_a_conversion_that_differs_turns_the_region_path_off(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first frame of each kind is checked: a region conversion off by one level is never used."""
    monkeypatch.setattr(regions_module, "_checked", {})
    real = regions_module._to_rgb
    monkeypatch.setattr(regions_module, "_to_rgb", lambda r, f: real(r, f) // 2 * 2)
    with VideoReader(shared_data / "pets09-s2l1" / "video.avi") as reader:
        frame = next(reader.frames())
        pixels = next(reader.frame_pixels())
    assert not pixels.regions
    np.testing.assert_array_equal(pixels.region(11, 21, 99, 201), frame[21:201, 11:99])
    forced = FramePixels(pixels.frame, pixels.rgb, regions=True)  # the broken path, had it not been checked
    assert not np.array_equal(forced.region(11, 21, 99, 201), frame[21:201, 11:99])
