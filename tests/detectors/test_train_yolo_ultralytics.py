"""YOLO training with the ultralytics extra: a few epochs on a tiny synthetic dataset, offline.

Runs in the environment that has the extra (``.venv-yolo``, see .ci/run); skipped elsewhere. The
checks are about the plumbing (epochs reported, weights and ONNX written and loadable, stop
requests honoured, starting from the user's weights), not accuracy: two epochs learn nothing.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selftrack.detectors import YoloOnnxDetector
from selftrack.detectors.train_yolo import EpochStats, YoloTrainParams, train_yolo
from selftrack.detectors.ultralytics_setup import FONT_NAMES
from selftrack.detectors.yolo_dataset import YoloDataset, export_yolo_dataset, video_training_images
from selftrack.synth import generate_scene, render_scene_video

pytestmark = [
    pytest.mark.ultralytics,
    pytest.mark.skipif(
        importlib.util.find_spec("ultralytics") is None, reason="needs the ultralytics extra (.venv-yolo; see .ci/run)"
    ),
]

SIZE = (160, 96)


@pytest.fixture(scope="module")
def yolo_config(tmp_path_factory: pytest.TempPathFactory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("YOLO_CONFIG_DIR", str(tmp_path_factory.mktemp("yolo_config")))
        yield Path(os.environ["YOLO_CONFIG_DIR"])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> YoloDataset:
    """16 frames of a synthetic road with their true boxes."""
    root = tmp_path_factory.mktemp("yolo")
    scene = generate_scene(width=SIZE[0], height=SIZE[1], num_frames=80, num_objects=4, seed=5, fps=10)
    video = root / "road.mp4"
    render_scene_video(scene, video)
    frames = np.unique(scene.ground_truth.frame)[::4][:16]
    images = video_training_images(video, scene.ground_truth, frames, ["car"], prefix="road", group_frames=10)
    return export_yolo_dataset(images, root / "dataset", ["car"], val_percent=25)


@pytest.fixture(scope="module")
def trained(dataset: YoloDataset, yolo_config: Path, tmp_path_factory: pytest.TempPathFactory):
    seen: list[EpochStats] = []
    lines: list[str] = []
    result = train_yolo(
        dataset.data_yaml,
        tmp_path_factory.mktemp("run"),
        YoloTrainParams(architecture="yolov8", epochs=2, image_size=96, batch_size=4),
        on_epoch=seen.append,
        log=lines.append,
    )
    return result, seen, lines


def test_training_reports_every_epoch_and_writes_both_models(trained):
    result, seen, lines = trained
    assert [s.epoch for s in seen] == [1, 2] and seen == result.history
    for s in seen:
        assert s.epochs == 2 and math.isfinite(s.train_loss) and s.train_loss > 0
        assert s.val_loss is not None and math.isfinite(s.val_loss)
        assert set(s.losses) == {
            "train_box_loss",
            "train_cls_loss",
            "train_dfl_loss",
            "val_box_loss",
            "val_cls_loss",
            "val_dfl_loss",
        }
        assert math.isclose(s.train_loss, sum(v for k, v in s.losses.items() if k.startswith("train_")), rel_tol=1e-6)
        assert {"mAP50", "mAP50-95", "precision", "recall"} <= set(s.metrics)
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: train loss")
    assert result.weights.suffix == ".pt" and result.weights.is_file()
    assert result.onnx.suffix == ".onnx" and result.onnx.is_file()
    assert result.names == ["car"] and 1 <= result.best_epoch <= 2


def test_the_onnx_export_runs_in_the_core_detector(trained):
    result, _, _ = trained
    det = YoloOnnxDetector(result.onnx, conf_threshold=0.0, max_detections=5)
    assert det.classes == {0: "car"} and det.input_size == (96, 96) and det.layout == "v8"
    frames = np.random.default_rng(0).integers(0, 255, (2, SIZE[1], SIZE[0], 3), dtype=np.uint8)
    out = det.detect_batch(frames)
    assert len(out) == 2
    for boxes in out:
        assert 1 <= len(boxes) <= 5
        assert (boxes.xyxy[:, [0, 2]] <= SIZE[0]).all() and (boxes.xyxy[:, [1, 3]] <= SIZE[1]).all()


def test_the_weights_load_in_the_ultralytics_detector_and_the_fonts_are_local(trained, yolo_config: Path):
    from selftrack.detectors import UltralyticsDetector

    result, _, _ = trained
    det = UltralyticsDetector(result.weights, imgsz=96)
    assert det.classes == {0: "car"}
    settings = Path(importlib.import_module("ultralytics.utils").USER_CONFIG_DIR)
    assert all((settings / name).is_file() for name in FONT_NAMES)
    assert os.environ["YOLO_OFFLINE"] == "1" and os.environ["YOLO_AUTOINSTALL"] == "0"


DETECT_IN_A_FRESH_PROCESS = """
import json, os, sys
import numpy as np
from selftrack.detectors import UltralyticsDetector

det = UltralyticsDetector(sys.argv[1], imgsz=96, conf_threshold=0.0, max_detections=5)
import ultralytics.utils as u

frames = np.random.default_rng(0).integers(0, 255, (2, 96, 160, 3), dtype=np.uint8)
out = det.detect_batch(frames)
print(json.dumps({
    "env": [os.environ["YOLO_OFFLINE"], os.environ["YOLO_AUTOINSTALL"]],
    "online": u.ONLINE, "autoinstall": u.AUTOINSTALL, "settings": str(u.USER_CONFIG_DIR),
    "boxes": [b.xyxy.tolist() for b in out],
}))
"""


def test_the_ultralytics_detector_alone_sets_ultralytics_up_offline(trained, tmp_path: Path):
    """Loading ``.pt`` weights, with no training before it in the process, gets training's offline set-up.

    The user's environment asks for the opposite (online, auto-install) and a settings folder with no
    fonts: the detector must override the first two and put the fonts in the folder.
    """
    result, _, _ = trained
    config = tmp_path / "config"
    env = {**os.environ, "YOLO_OFFLINE": "0", "YOLO_AUTOINSTALL": "1", "YOLO_CONFIG_DIR": str(config)}
    run = subprocess.run(
        [sys.executable, "-c", DETECT_IN_A_FRESH_PROCESS, str(result.weights)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["env"] == ["1", "0"] and out["online"] is False and out["autoinstall"] is False
    settings = Path(out["settings"])
    assert settings.is_relative_to(config) and all((settings / name).is_file() for name in FONT_NAMES)
    assert len(out["boxes"]) == 2
    for frame_boxes in out["boxes"]:
        xyxy = np.asarray(frame_boxes).reshape(-1, 4)
        assert 1 <= len(xyxy) <= 5  # score threshold 0: boxes, at most max_detections
        assert (xyxy[:, [0, 2]] <= SIZE[0] + 1e-3).all() and (xyxy[:, [1, 3]] <= 96 + 1e-3).all()


def test_fine_tuning_from_user_weights_keeps_their_classes(trained, dataset: YoloDataset, tmp_path: Path):
    result, _, _ = trained
    again = train_yolo(
        dataset.data_yaml, tmp_path, YoloTrainParams(epochs=1, image_size=96, batch_size=4), weights=result.weights
    )
    assert len(again.history) == 1 and again.names == ["car"] and again.onnx.is_file()


def test_a_stop_request_aborts_training(dataset: YoloDataset, tmp_path: Path, yolo_config: Path):
    class Stop(Exception):
        pass

    batches = []

    def check_stop() -> None:
        batches.append(1)
        if len(batches) == 2:
            raise Stop

    with pytest.raises(Stop):
        train_yolo(
            dataset.data_yaml, tmp_path, YoloTrainParams(epochs=3, image_size=64, batch_size=4), check_stop=check_stop
        )
    assert len(batches) == 2
    assert not list(tmp_path.rglob("*.onnx"))
