"""Rendering tracks onto videos: colours at the box edges of the decoded output, stacking, trails."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.render import render_video, render_videos, track_color
from selftrack.video import VideoWriter

BG = (40, 40, 40)
N = 16


def _video(path: Path, size: tuple[int, int], n: int = N, fps: int = 10) -> Path:
    w, h = size
    with VideoWriter(path, fps, size) as writer:
        for _ in range(n):
            writer.write(np.full((h, w, 3), BG, np.uint8))
    return path


def _decode(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _tracks(n: int = N) -> Detections:
    """Two tracks on a 160x120 canvas: id 3 moves right, id 11 moves down; plus an untracked box."""
    frames, boxes, ids = [], [], []
    for k in range(n):
        frames += [k, k, k]
        boxes += [[10 + 4 * k, 20, 40 + 4 * k, 60], [110, 10 + 3 * k, 150, 40 + 3 * k], [60, 90, 80, 110]]
        ids += [3, 11, -1]
    return Detections.create(frames, boxes, track_id=ids, canvas=(160, 120), num_frames=n)


def _close(pixel: np.ndarray, color: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(pixel.astype(int) - np.array(color)).max() <= tol)


def test_rendered_frames_have_track_colours_at_box_edges(tmp_path: Path):
    video = _video(tmp_path / "in.mp4", (320, 240))
    tracks = _tracks()
    calls: list[tuple[int, int]] = []
    info = render_video(
        video, [tracks], tmp_path / "out.mp4", thickness=6, label=False, progress=lambda d, t: calls.append((d, t))
    )
    assert info.codec == "h264" and info.frame_count == N and (info.width, info.height) == (320, 240)
    assert calls[-1] == (N, N) and len(calls) == N
    frames = _decode(tmp_path / "out.mp4")
    assert len(frames) == N
    for k in (0, 7, 15):
        f = frames[k]
        # Track 3 on the 320x240 frame: x1 = 2 * (10 + 4k), y from 40 to 120.
        x1 = 2 * (10 + 4 * k)
        assert _close(f[80, x1], track_color(3)), (k, f[80, x1])
        assert _close(f[80, 2 * (40 + 4 * k)], track_color(3))
        # Track 11: top edge at y = 2 * (10 + 3k), x from 220 to 300.
        assert _close(f[2 * (10 + 3 * k), 260], track_color(11))
        assert _close(f[80, x1 + 20], BG)  # inside a box: untouched
        assert _close(f[200, 10], BG)
    assert track_color(3) != track_color(11)


def test_several_videos_stack_vertically(tmp_path: Path):
    top = _video(tmp_path / "top.mp4", (320, 240))
    bottom = _video(tmp_path / "bottom.mp4", (160, 120), n=N - 4)
    tracks = _tracks()
    info = render_videos([(top, [tracks]), (bottom, [tracks])], tmp_path / "stack.mp4", thickness=4, label=False)
    assert (info.width, info.height) == (320, 360) and info.frame_count == N - 4  # stops with the shortest
    f = _decode(tmp_path / "stack.mp4")[5]
    # The same track on the bottom video, at its own scale (canvas 160x120 = that video's size), shifted by 240.
    assert _close(f[240 + 40, 10 + 4 * 5], track_color(3))
    assert _close(f[80, 2 * (10 + 4 * 5)], track_color(3))
    assert _close(f[300, 250], (0, 0, 0))  # right of the narrower bottom video: black padding


def test_trails_follow_the_track(tmp_path: Path):
    video = _video(tmp_path / "in.mp4", (320, 240))
    only3 = _tracks()
    only3 = only3[only3.track_id == 3]
    render_video(video, [only3], tmp_path / "trail.mp4", trail_length=10, thickness=6, label=False)
    render_video(video, [only3], tmp_path / "notrail.mp4", thickness=6, label=False)
    k = 12
    trail = _decode(tmp_path / "trail.mp4")[k]

    def centre_x(frame: int) -> int:  # centre of track 3 in output pixels (y is always 80)
        return 2 * (25 + 4 * frame)

    assert centre_x(k - 8) < 2 * (10 + 4 * k) - 10  # left of the current box
    assert _close(trail[80, centre_x(k - 8)], track_color(3))
    assert _close(_decode(tmp_path / "notrail.mp4")[k][80, centre_x(k - 8)], BG)
    assert _close(trail[80, centre_x(k - 11)], BG)  # older than the last 10 frames: gone


def test_resampled_render_and_errors(tmp_path: Path):
    video = _video(tmp_path / "in.mp4", (320, 240))
    info = render_video(video, [], tmp_path / "half.mp4", fps=5)
    assert info.frame_count == N // 2 and info.fps == 5
    with pytest.raises(ValidationError, match="no video"):
        render_videos([], tmp_path / "x.mp4")
    with pytest.raises(ValidationError, match="trail_length"):
        render_video(video, [], tmp_path / "x.mp4", trail_length=-1)
