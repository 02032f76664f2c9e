"""Rendered videos play in a real browser: Chromium decodes our H.264 MP4s and the frames show the tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from selftrack.core import Detections
from selftrack.detectors import MotionDetector, detect_video
from selftrack.render import render_video, track_color
from selftrack.trackers import get_tracker
from selftrack.video import VideoReader, VideoWriter


def test_rendered_motion_tracks_play_in_chromium(browser, serve_dir, shared_data: Path, tmp_path: Path):
    src = tmp_path / "highway.mp4"
    with (
        VideoReader(shared_data / "videos" / "highway_overpass_cdnet.avi") as reader,
        VideoWriter(src, reader.output_fps) as writer,
    ):
        for frame in reader.frames(0, 150):
            writer.write(frame)
    dets = detect_video(MotionDetector(), src)
    tracks = get_tracker("sort", min_hits=2).track(dets)
    assert tracks.has_tracks
    render_video(src, [tracks], tmp_path / "rendered.mp4", trail_length=8)
    (tmp_path / "index.html").write_text(
        '<html><body style="margin:0;background:#000">'
        '<video id="v" src="rendered.mp4" muted autoplay playsinline></video></body></html>'
    )
    page = browser.new_page()
    page.goto(serve_dir(tmp_path) + "/index.html")
    page.wait_for_function("document.getElementById('v').currentTime > 1.0", timeout=30_000)
    state = page.evaluate(
        "(() => { const v = document.getElementById('v');"
        " return {w: v.videoWidth, h: v.videoHeight, error: v.error && v.error.code, dur: v.duration}; })()"
    )
    assert state["error"] is None
    assert (state["w"], state["h"]) == (320, 240)
    assert abs(state["dur"] - 150 / 60) < 0.1
    shown_at = page.evaluate("(() => { const v = document.getElementById('v'); v.pause(); return v.currentTime; })()")
    shot = tmp_path / "playing.png"
    page.locator("#v").screenshot(path=str(shot))
    page.close()
    # the browser shows the rendered frame of that moment (boxes and trails drawn), not a black or stale picture
    import cv2

    seen = cv2.cvtColor(cv2.imread(str(shot)), cv2.COLOR_BGR2RGB).astype(np.int16)
    assert seen.shape == (240, 320, 3)
    with VideoReader(tmp_path / "rendered.mp4") as rendered:
        index = min(int(shown_at * float(rendered.output_fps)), rendered.frame_count - 1)
        nearby = [rendered.read_frame(k).astype(np.int16) for k in range(max(0, index - 1), min(150, index + 2))]
        first = rendered.read_frame(0).astype(np.int16)
    error = min(np.abs(seen - frame).mean() for frame in nearby)
    assert error < 4, error  # colour conversion only (1.2 measured)
    assert np.abs(seen - first).mean() > 2 * error  # and it is that moment's frame, the cars have moved


def test_track_colours_survive_encoding_and_browser_decoding(browser, serve_dir, tmp_path: Path):
    # a still grey video with one big tracked box: the colour the browser shows on the box edge (a 12 px line
    # centred on y=60) is the track's
    src = tmp_path / "grey.mp4"
    with VideoWriter(src, 10, size=(320, 240)) as writer:
        for _ in range(20):
            writer.write(np.full((240, 320, 3), 128, np.uint8))
    box = Detections.create(
        np.arange(20), np.tile([[60, 60, 260, 180]], (20, 1)), track_id=np.full(20, 7), canvas=(320, 240)
    )
    render_video(src, [box], tmp_path / "out.mp4", trail_length=0, thickness=12, label=False)
    (tmp_path / "index.html").write_text(
        '<html><body style="margin:0"><video id="v" src="out.mp4" muted autoplay playsinline></video>'
        '<canvas id="c" width="320" height="240"></canvas></body></html>'
    )
    page = browser.new_page()
    page.goto(serve_dir(tmp_path) + "/index.html")
    page.wait_for_function("document.getElementById('v').currentTime > 0.5", timeout=30_000)
    rgb = page.evaluate(
        "(() => { const v = document.getElementById('v'); v.pause(); const c = document.getElementById('c');"
        " const g = c.getContext('2d'); g.drawImage(v, 0, 0, 320, 240);"
        " return Array.from(g.getImageData(160, 60, 1, 1).data.slice(0, 3)); })()"
    )
    expected = np.array(track_color(7))
    assert np.abs(np.array(rgb) - expected).max() < 40, (rgb, expected)
    page.close()
