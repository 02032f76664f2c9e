"""Short training runs on a generated scene: the loss goes down, the model file is weights-only
loadable and complete, runs are deterministic, and stop / resume continue the same run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid import ReidTrainParams, load_reid_model, train_reid
from selftrack.synth import SceneConfig, generate_scene, render_scene_video

TINY = {
    "crop_size": 32,
    "encoder_widths": (8, 16, 16, 16, 16),
    "matcher": "cosine",  # learns in a few dozen steps; UNS20's MLP needs a few hundred to leave its plateau
    "lr": 5e-3,
    "track_duration": 2.0,
    "stage1_steps": 24,
    "stage2_steps": 8,
    "batch_size": 4,
    "eval_every": 8,
    "val_sequences": 8,
    "val_fraction": 0.25,
    "min_detections": 1,
    "log_every": 1,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def scene_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Detections]:
    """A 120-frame plaza scene and its boxes with jitter and misses, without track ids."""
    scene = generate_scene(
        SceneConfig(width=256, height=144, num_frames=120, fps=10, num_objects=5, kind="plaza", seed=5)
    )
    path = tmp_path_factory.mktemp("scene") / "scene.mp4"
    render_scene_video(scene, path)
    gt = scene.ground_truth
    rng = np.random.default_rng(0)
    keep = rng.random(len(gt)) > 0.05
    jitter = rng.normal(0.0, 1.0, (len(gt), 4))
    det = Detections.create(
        gt.frame[keep],
        gt.xyxy[keep] + jitter[keep],
        0.9,
        canvas=gt.canvas,
        num_frames=gt.num_frames,
        source="scene dets",
    )
    return path, det


def _train(
    scene_video: tuple[Path, Detections], tmp: Path, name: str, events: list | None = None, **kw: Any
) -> tuple[Any, list[tuple[str, dict]]]:
    events = [] if events is None else events
    path, det = scene_video
    params = ReidTrainParams(**{**TINY, **kw.pop("params", {})})
    result = train_reid(
        [path],
        [det],
        params=params,
        cache_dir=tmp / "cache",
        out_path=tmp / name,
        on_event=lambda kind, info: events.append((kind, info)),
        **kw,
    )
    return result, events


@pytest.fixture(scope="module")
def trained(scene_video: tuple[Path, Detections], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, list, Path]:
    tmp = tmp_path_factory.mktemp("train")
    result, events = _train(scene_video, tmp, "model.pt")
    return result, events, tmp


def test_training_lowers_the_loss_and_writes_a_weights_only_model(trained: tuple[Any, list, Path]) -> None:
    result, events, _ = trained
    assert result.stages == ["appearance", "spatial"] and not result.stopped
    vals = [info for kind, info in events if kind == "validation" and info["stage"] == 1]
    assert vals[0]["step"] == 0 and vals[-1]["step"] == TINY["stage1_steps"]
    assert result.best_val_loss["stage1"] < vals[0]["val_loss"]  # better than the untrained model
    steps = [info for kind, info in events if kind == "step" and info["stage"] == 1]
    assert len(steps) == TINY["stage1_steps"] and all(np.isfinite(s["loss"]) for s in steps)
    assert {"crops", "stage", "step", "validation", "checkpoint", "done"} <= {k for k, _ in events}

    payload = torch.load(result.path, weights_only=True)
    assert payload["format"] == "selftrack-reid"
    assert payload["architecture"]["widths"] == list(TINY["encoder_widths"])
    assert payload["params"]["crop_size"] == 32 and payload["stages"] == ["appearance", "spatial"]
    video = payload["provenance"]["videos"][0]
    assert video["boxes"] > 0 and video["fps"] == 10.0 and video["detections"] == "scene dets"
    assert all(isinstance(v, torch.Tensor) for v in payload["state_dict"].values())
    model = load_reid_model(result.path)
    assert model.has_spatial and model.arch.crop_size == 32


def test_training_is_deterministic_with_a_seed(
    trained: tuple[Any, list, Path], scene_video: tuple[Path, Detections], tmp_path: Path
) -> None:
    mlp = {"matcher": "mlp", "stage1_steps": 10, "stage2_steps": 4}
    first, _ = _train(scene_video, tmp_path, "mlp1.pt", params=mlp)
    again, _ = _train(scene_video, tmp_path, "mlp2.pt", params=mlp)
    a = torch.load(first.path, weights_only=True)["state_dict"]
    b = torch.load(again.path, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    reference, _, _ = trained
    other, _ = _train(scene_video, tmp_path, "seed1.pt", params={"seed": 1})
    c = torch.load(reference.path, weights_only=True)["state_dict"]
    d = torch.load(other.path, weights_only=True)["state_dict"]
    assert not all(torch.equal(c[k], d[k]) for k in c)


def test_stop_then_resume_continues_the_same_run(
    trained: tuple[Any, list, Path], scene_video: tuple[Path, Detections], tmp_path: Path
) -> None:
    events: list[tuple[str, dict]] = []

    def stop_after_ten() -> bool:
        return sum(kind == "step" for kind, _ in events) >= 10

    stopped, _ = _train(scene_video, tmp_path, "resumed.pt", events=events, should_stop=stop_after_ten)
    assert stopped.stopped and ("stopped", {"stage": 1, "step": 10}) in events
    assert load_reid_model(stopped.path).stages == ["appearance"]  # a usable model is left behind
    resumed, events = _train(scene_video, tmp_path, "resumed.pt", resume=True)
    assert not resumed.stopped
    assert [info for kind, info in events if kind == "resumed"] == [{"stage": 1, "step": 10}]
    reference, _, _ = trained
    a = torch.load(reference.path, weights_only=True)["state_dict"]
    b = torch.load(resumed.path, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_stop_during_crop_extraction_returns_cleanly(scene_video: tuple[Path, Detections], tmp_path: Path) -> None:
    result, events = _train(scene_video, tmp_path, "never.pt", should_stop=lambda: True)
    assert result.stopped and result.stages == [] and not result.path.exists()
    assert ("stopped", {"stage": 0, "step": 0}) in events
    assert not list((tmp_path / "cache").glob("crops-*.npy"))  # no half-written cache entry is left


def test_bad_inputs_are_refused(scene_video: tuple[Path, Detections], tmp_path: Path) -> None:
    path, det = scene_video
    with pytest.raises(ValidationError, match="2 videos but 1"):
        train_reid([path, path], [det], cache_dir=tmp_path, out_path=tmp_path / "m.pt")
    with pytest.raises(ValidationError, match="no usable training sequence"):
        train_reid(
            [path],
            [det],
            params=ReidTrainParams(**{**TINY, "min_detections": 50}),
            cache_dir=tmp_path,
            out_path=tmp_path / "m.pt",
        )
    with pytest.raises(ValidationError, match="not found"):
        load_reid_model(tmp_path / "missing.pt")


def test_model_files_that_are_not_ours_get_a_one_line_error(tmp_path: Path) -> None:
    text = tmp_path / "notes.pt"
    text.write_text("not a model\n")
    with pytest.raises(ValidationError, match=r"notes\.pt: not a readable re-id model file \(not a PyTorch file\)"):
        load_reid_model(text)
    code = tmp_path / "code.pt"
    torch.save({"format": "selftrack-reid", "hook": print}, code)  # a pickle that would call a function
    with pytest.raises(
        ValidationError, match=r"code\.pt: not a selftrack re-id model: it holds Python objects"
    ) as info:
        load_reid_model(code)
    assert "\n" not in str(info.value) and "weights_only=False" not in str(info.value)
    plain = tmp_path / "plain.pt"
    torch.save({"format": "something-else"}, plain)
    with pytest.raises(ValidationError, match="not a selftrack re-id model"):
        load_reid_model(plain)


def test_augmentation_mirrors_only_the_pasted_part_and_keeps_padding_zero() -> None:
    from selftrack.reid.model import ReidNet
    from selftrack.reid.train import augment_crops

    crops = np.zeros((2, 8, 8, 3), dtype=np.uint8)
    crops[:, :, :5] = np.arange(5, dtype=np.uint8)[None, None, :, None] * 40 + 20  # content 5 px wide
    x = ReidNet.prepare(torch.from_numpy(crops))
    widths = np.array([5, 5])
    seen_flip = seen_plain = False
    for seed in range(8):
        y = augment_crops(x, widths, np.random.default_rng(seed))
        assert y.shape == x.shape and float(y.min()) >= 0.0 and float(y.max()) <= 1.0
        assert not y[..., 5:].any()  # padding stays zero
        row = y[0, 0, 0, :5]
        if row[0] > row[-1]:
            seen_flip = True
        else:
            seen_plain = True
    assert seen_flip and seen_plain


def test_the_default_budget_scales_with_the_data() -> None:
    params = ReidTrainParams()
    assert params.stage1_steps is None and params.stage2_steps is None and params.eval_every is None
    small, mid, big = params.resolved(100), params.resolved(1000), params.resolved(1e6)
    assert (small.stage1_steps, mid.stage1_steps, big.stage1_steps) == (300, 500, 3000)  # clamped at both ends
    assert mid.stage2_steps == 100 and mid.eval_every == 25
    fixed = ReidTrainParams(stage1_steps=40, stage2_steps=5, eval_every=10).resolved(1e6)
    assert (fixed.stage1_steps, fixed.stage2_steps, fixed.eval_every) == (40, 5, 10)  # what is set is kept


def test_early_stopping_ends_a_stage_that_stops_improving(scene_video: tuple[Path, Detections], tmp_path: Path) -> None:
    # a learning rate below float32 resolution changes no weight: no validation after step 0 improves; the
    # patience counts from the first learning-rate drop (60 % of 24 steps), so the stage ends at the
    # first validation after it, step 16 of 24
    result, events = _train(scene_video, tmp_path, "early.pt", params={"lr": 1e-12, "patience": 1})
    stops = [info for kind, info in events if kind == "early_stop"]
    assert [s["stage"] for s in stops] == [1] and stops[0]["step"] == 16
    assert result.steps == {"stage1": 16, "stage2": TINY["stage2_steps"]}  # stage 2: one validation, at its end
    stored = torch.load(result.path, weights_only=True)["training"]["stage1"]
    assert stored["initial_val_loss"] is not None and stored["best_val_loss"] == stored["initial_val_loss"]
    assert stored["steps"] == TINY["stage1_steps"] and stored["steps_run"] == 16
    budget = [info for kind, info in events if kind == "budget"]
    assert budget and budget[0]["stage1_steps"] == TINY["stage1_steps"]
