"""object_detection and render ops in a pipeline, and the detect/render commands, on real and generated video."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selftrack.formats import read_mot
from selftrack.pipeline import LocalExecutor, Pipeline, PipelineError, run_node
from selftrack.synth import generate_scene, render_scene_video
from selftrack.video import VideoReader, VideoWriter, probe
from selftrack.workspace import Workspace, import_videos

CLI = str(Path(sys.executable).with_name("selftrack"))


@pytest.fixture(scope="module")
def highway_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 120 frames of the CCTV motorway video."""
    out = tmp_path_factory.mktemp("clip") / "highway.mp4"
    with (
        VideoReader(shared_data / "videos" / "highway_cctv.avi") as reader,
        VideoWriter(out, reader.output_fps) as writer,
    ):
        for frame in reader.frames(0, 120):
            writer.write(frame)
    return out


def test_detect_track_render_pipeline(tmp_path: Path, highway_clip: Path):
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [highway_clip])
    pipe = Pipeline(ws)
    pipe.add_node(
        "detect",
        "object_detection",
        inputs={"video": "videos"},
        params={"detector": "motion", "resize": {"mode": "fixed", "width": 240, "height": 180}},
    )
    pipe.add_node(
        "tracks",
        "track",
        inputs={"detections": "detect"},
        params={"tracker": "sort", "tracker_params": {"min_hits": 2}},
    )
    pipe.add_node("show", "render", inputs={"video": "videos", "detections": ["tracks"]}, params={"trail_length": 5})
    result = run_node(ws, "show", executor=LocalExecutor(1))
    dets = ws.item(result.outputs("detect")["detections"], "highway").load_detections()
    assert dets.canvas == (240, 180) and dets.num_frames == 120
    per_frame = np.bincount(dets.frame, minlength=120)
    assert per_frame.max() <= 15 and (per_frame[20:] > 0).mean() > 0.7  # cars on a motorway, after warm-up
    video = ws.item(result.outputs("show")["video"], "highway")
    info = probe(video.path)
    assert (info.codec, info.pix_fmt, info.frame_count, info.size) == ("h264", "yuv420p", 120, (320, 240))
    head = video.path.read_bytes()[:200_000]
    assert head.find(b"moov") < head.find(b"mdat")  # faststart: plays while downloading


def test_yolo_without_model_is_refused_before_running(tmp_path: Path, highway_clip: Path):
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [highway_clip])
    with pytest.raises(PipelineError, match="node 'detect' \\(object_detection\\): input 'model' is not wired"):
        Pipeline(ws).add_node("detect", "object_detection", inputs={"video": "videos"})


def test_detect_and_render_commands_on_a_generated_scene(tmp_path: Path):
    scene = generate_scene(num_frames=60, seed=3)
    video = tmp_path / "scene.mp4"
    render_scene_video(scene, video)
    dets_file = tmp_path / "det.txt"
    proc = subprocess.run(
        [CLI, "detect", "--video", str(video), "--model", "motion", "--out", str(dets_file), "--max-dimension", "320"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    dets = read_mot(dets_file)
    # written in the video's own pixels although detection ran at 320 wide
    assert dets.xyxy[:, 2].max() > 320 and dets.xyxy[:, 2].max() <= 640
    tracks_file = tmp_path / "tracks.txt"
    assert (
        subprocess.run(
            [CLI, "track", "--detections", str(dets_file), "--video", str(video), "--out", str(tracks_file)],
            capture_output=True,
        ).returncode
        == 0
    )
    out = tmp_path / "out.mp4"
    proc = subprocess.run(
        [CLI, "render", "--video", str(video), "--tracks", str(tracks_file), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert probe(out).frame_count == 60
    bad = subprocess.run(
        [CLI, "detect", "--video", str(video), "--model", "nothere.onnx", "--out", str(dets_file)],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1 and "nothere.onnx: no such model file" in bad.stderr
