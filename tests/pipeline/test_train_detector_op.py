"""train_detector and bootstrap_detector ops: wiring and errors everywhere, training where ultralytics is installed.

The training tests need the ``ultralytics`` extra, which lives in its own environment (``.venv-yolo``,
see .ci/run); elsewhere they skip with that reason. Without the extra, the ops must still import,
describe themselves and fail at run time with the install command.
"""

from __future__ import annotations

import importlib.util
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import selftrack.ops.bootstrap_detector
import selftrack.ops.train_detector  # registers the ops while they are not in the manifest
from selftrack.core import Detections
from selftrack.pipeline import JobStore, LocalExecutor, Pipeline, PipelineError, run_node
from selftrack.synth import generate_scene, render_scene_video
from selftrack.workspace import DataType, Workspace, import_images, import_videos

HAVE_ULTRALYTICS = importlib.util.find_spec("ultralytics") is not None
skip_without_ultralytics = pytest.mark.skipif(
    not HAVE_ULTRALYTICS, reason="needs the ultralytics extra (.venv-yolo; see .ci/run)"
)


@pytest.fixture(scope="module")
def yolo_config(tmp_path_factory: pytest.TempPathFactory):
    """Keep ultralytics' settings and fonts out of the home folder during the tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo_config")))
        yield


@pytest.fixture(scope="module")
def scene():
    return generate_scene(width=160, height=96, num_frames=80, num_objects=4, seed=2, fps=10)


@pytest.fixture
def image_ws(tmp_path: Path, scene) -> Workspace:
    """12 frames of a synthetic road as an image dataset, with their true boxes as 1-frame labels."""
    folder = tmp_path / "frames"
    folder.mkdir()
    truth = scene.ground_truth
    frames = [f for f in range(10, 80, 5) if len(truth.at_frame(f))][:12]
    for f in frames:
        cv2.imwrite(str(folder / f"f{f:03d}.png"), cv2.cvtColor(scene.frame(f), cv2.COLOR_RGB2BGR))
    ws = Workspace.init(tmp_path / "ws")
    import_images(ws, "images", [folder])
    ws.create_dataset("labels", DataType.DETECTIONS)
    for f in frames:
        boxes = truth.at_frame(f)
        ws.put_detections(
            "labels",
            f"f{f:03d}",
            Detections.create(np.zeros(len(boxes)), boxes.xyxy, canvas=scene.size, num_frames=1, classes={0: "car"}),
        )
    return ws


def _events(ws: Workspace, job_id: int, kind: str) -> list[dict]:
    return JobStore(ws).events(job_id, kind)


def test_op_modules_import_without_ultralytics_or_torch():
    code = (
        "import sys, selftrack.ops.train_detector, selftrack.ops.bootstrap_detector;"
        "print(sorted(m for m in ('ultralytics', 'torch', 'torchvision') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_ops_describe_their_ports_and_params():
    train = selftrack.ops.train_detector.TrainDetector.describe()
    assert [p["name"] for p in train["inputs"]] == ["images", "labels", "model"]
    assert [p["name"] for p in train["outputs"]] == ["model", "weights"]
    props = train["params_schema"]["properties"]
    assert props["validation_percent"]["default"] == 20 and props["model_size"]["enum"] == ["n", "s", "m", "l", "x"]
    boot = selftrack.ops.bootstrap_detector.BootstrapDetector.describe()
    assert [p["name"] for p in boot["outputs"]] == ["model", "weights", "pseudo_labels"]
    assert {"pseudo_labels", "motion", "epochs", "image_size"} <= set(boot["params_schema"]["properties"])


def test_bad_params_are_refused_when_the_node_is_added(image_ws: Workspace):
    pipe = Pipeline(image_ws)
    with pytest.raises(PipelineError, match="multiple of 32"):
        pipe.add_node(
            "train", "train_detector", inputs={"images": "images", "labels": "labels"}, params={"image_size": 100}
        )
    with pytest.raises(PipelineError, match="max_size_change"):
        pipe.add_node(
            "boot", "bootstrap_detector", inputs={"video": "images"}, params={"pseudo_labels": {"max_size_change": -1}}
        )


def test_labels_are_checked_before_anything_is_trained(image_ws: Workspace):
    pipe = Pipeline(image_ws)
    pipe.add_node(
        "train", "train_detector", inputs={"images": "images", "labels": "labels"}, params={"classes": ["bus"]}
    )
    result = run_node(image_ws, "train", executor=LocalExecutor(1), raise_on_error=False)
    assert (
        result.state.value == "failed"
        and "classes ['bus'] are not in the labels; their classes are: car" in result.error
    )
    image_ws.create_dataset("other", DataType.DETECTIONS)
    image_ws.put_detections("other", "nothing-matches", Detections.create([0], [[0, 0, 5, 5]], num_frames=1))
    pipe.update_node("train", params={}, inputs={"images": "images", "labels": "other"})
    result = run_node(image_ws, "train", executor=LocalExecutor(1), raise_on_error=False)
    assert result.state.value == "failed" and "has labels in ['other'] (keys must match)" in result.error


@pytest.mark.skipif(HAVE_ULTRALYTICS, reason="checks the error shown when the ultralytics extra is missing")
def test_without_the_extra_the_run_fails_with_the_install_command(image_ws: Workspace):
    Pipeline(image_ws).add_node("train", "train_detector", inputs={"images": "images", "labels": "labels"})
    result = run_node(image_ws, "train", executor=LocalExecutor(1), raise_on_error=False)
    assert result.state.value == "failed"
    assert "pip install 'selftrack[ultralytics]'" in (result.error or "")


# ---------------------------------------------------------------------------------------------- with ultralytics
@pytest.mark.ultralytics
@skip_without_ultralytics
@pytest.mark.usefixtures("yolo_config")
def test_train_on_images_then_detect_with_the_onnx_model(image_ws: Workspace):
    pipe = Pipeline(image_ws)
    pipe.add_node(
        "train",
        "train_detector",
        inputs={"images": "images", "labels": "labels"},
        params={"epochs": 2, "image_size": 96, "batch_size": 4, "validation_percent": 25},
    )
    pipe.add_node(
        "detect",
        "object_detection",
        inputs={"video": "images", "model": {"node": "train", "output": "model"}},
        params={"confidence_threshold": 0.0, "resize": {"mode": "keep"}},
    )
    result = run_node(image_ws, "detect", executor=LocalExecutor(1))
    outputs = result.outputs("train")
    onnx_items, pt_items = image_ws.items(outputs["model"]), image_ws.items(outputs["weights"])
    assert [(it.key, it.format) for it in onnx_items] == [("model", "onnx")]
    assert [(it.key, it.format) for it in pt_items] == [("model", "pt")]
    meta = onnx_items[0].metadata
    assert meta["names"] == ["car"] and meta["image_size"] == 96
    assert meta["train_images"] + meta["val_images"] == len(image_ws.keys("images")) and meta["val_images"] >= 1
    losses = _events(image_ws, result.job_id, "loss")
    assert [e["epoch"] for e in losses] == [1, 2] and [e["step"] for e in losses] == [1, 2]
    assert all(math.isfinite(e["train_loss"]) and e["train_loss"] > 0 and e["val_loss"] is not None for e in losses)
    dets = image_ws.items(result.outputs("detect")["detections"])
    assert len(dets) == len(image_ws.keys("images"))
    first = dets[0].load_detections()
    assert first.canvas == (160, 96) and first.classes == {0: "car"}


@pytest.mark.ultralytics
@skip_without_ultralytics
@pytest.mark.usefixtures("yolo_config")
def test_train_on_video_frames_with_detections(tmp_path: Path, scene):
    video = tmp_path / "road.mp4"
    render_scene_video(scene, video)
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [video])
    ws.create_dataset("boxes", DataType.TRACKS)
    ws.put_detections("boxes", "road", scene.ground_truth)
    Pipeline(ws).add_node(
        "train",
        "train_detector",
        inputs={"images": "videos", "labels": "boxes"},
        params={"epochs": 1, "image_size": 64, "batch_size": 8, "frames_per_video": 16, "resize": {"mode": "keep"}},
    )
    result = run_node(ws, "train", executor=LocalExecutor(1))
    meta = ws.item(result.outputs("train")["model"], "model").metadata
    assert meta["train_images"] + meta["val_images"] == 16 and meta["names"] == ["car"]
    assert len(_events(ws, result.job_id, "loss")) == 1


@pytest.mark.ultralytics
@skip_without_ultralytics
@pytest.mark.usefixtures("yolo_config")
def test_bootstrap_detector_trains_from_an_unlabelled_video(tmp_path: Path):
    road = generate_scene(width=192, height=108, num_frames=120, num_objects=5, seed=4, fps=10)
    video = tmp_path / "cam.mp4"
    render_scene_video(road, video)
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [video])
    Pipeline(ws).add_node(
        "boot",
        "bootstrap_detector",
        inputs={"video": "videos"},
        params={
            "epochs": 1,
            "image_size": 64,
            "batch_size": 8,
            "pseudo_labels": {
                "class_name": "vehicle",
                "skip_start_frames": 10,
                "min_track_length": 5,
                "frame_stride": 4,
            },
            "resize": {"mode": "keep"},
        },
    )
    result = run_node(ws, "boot", executor=LocalExecutor(1))
    outputs = result.outputs("boot")
    assert ws.dataset(outputs["pseudo_labels"]).data_type == DataType.TRACKS
    labels = ws.item(outputs["pseudo_labels"], "cam").load_detections()
    assert len(labels) > 0 and labels.classes == {0: "vehicle"} and labels.canvas == (192, 108)
    model = ws.item(outputs["model"], "model")
    assert model.format == "onnx" and model.metadata["names"] == ["vehicle"]
    stats = model.metadata["pseudo_labels"]["cam"]
    assert (
        stats["kept"] == len(labels)
        and stats["training_frames"] == model.metadata["train_images"] + model.metadata["val_images"]
    )
    assert [e["key"] for e in _events(ws, result.job_id, "pseudo_labels")] == ["cam"]
