"""The example pipelines in examples/ validate, and the fixed-camera tutorial runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from selftrack.pipeline import LocalExecutor, Pipeline, run_node
from selftrack.video import VideoReader, VideoWriter, probe
from selftrack.workspace import DataType, Workspace, import_files, import_videos

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.yaml"))


@pytest.fixture(scope="module")
def clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "highway.mp4"
    with (
        VideoReader(shared_data / "videos" / "highway_cctv.avi") as reader,
        VideoWriter(out, reader.output_fps) as writer,
    ):
        for frame in reader.frames(0, 150):
            writer.write(frame)
    return out


def test_there_are_examples():
    assert {p.name for p in EXAMPLES} >= {"tutorial.yaml", "tutorial_fixed_camera.yaml", "resample_crop_sample.yaml"}


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_validates(example: Path, tmp_path: Path, clip: Path):
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [clip])
    weights = tmp_path / "detector.onnx"
    weights.write_bytes(b"not checked until the node runs")
    import_files(ws, "detector", [weights], data_type=DataType.MODEL)
    names = Pipeline(ws).load_yaml(example)
    assert names == list(yaml.safe_load(example.read_text())["nodes"])
    for name in names:
        assert Pipeline(ws).validate(name)[-1] == name


def test_fixed_camera_tutorial_runs_end_to_end(tmp_path: Path, clip: Path):
    """detect (moving objects) -> train re-id (a short budget) -> track with it -> render."""
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [clip])
    pipe = Pipeline(ws)
    pipe.load_yaml(EXAMPLES[[p.name for p in EXAMPLES].index("tutorial_fixed_camera.yaml")])
    pipe.update_node(
        "reid", params={"track_duration": 2.0, "stage1_steps": 30, "stage2_steps": 10, "eval_every": 10, "seed": 0}
    )
    result = run_node(ws, "render", executor=LocalExecutor(1))
    model = ws.items(result.outputs("reid")["model"])
    assert [m.key for m in model] == ["model"] and model[0].format == "pt"
    tracks = ws.item(result.outputs("tracks")["tracks"], "highway").load_detections()
    assert tracks.has_tracks and tracks.num_frames == 150
    video = ws.item(result.outputs("render")["video"], "highway")
    assert probe(video.path).frame_count == 150
    from selftrack.pipeline import JobStore

    losses = JobStore(ws).events(result.job_id, "loss")
    assert losses and all("loss" in e for e in losses)
