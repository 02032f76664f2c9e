"""The ONNX twin of a re-id model: same vectors as torch, cached by content, and tracking without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from selftrack.formats import read_mot
from selftrack.reid import InferenceModel, ReidTrackerParams, load_reid_model, load_tracking_model, track_with_reid
from selftrack.reid.checkpoint import atomic_save, model_payload
from selftrack.reid.crops import crop_boxes
from selftrack.reid.embed import AppearanceEncoder
from selftrack.reid.heads import NumpyHeads
from selftrack.reid.model import ReidArch, ReidNet
from selftrack.video import VideoReader


def _model_file(path: Path, arch: ReidArch, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    net = ReidNet(arch)
    with torch.no_grad():  # untrained nets have zero biases: give them some, so the twin must carry them
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    atomic_save(model_payload(net, stages=["appearance", "spatial"], params={"seed": seed}, provenance={},
                              training={"stage1": {"best_val_loss": 0.5}}), path)  # fmt: skip
    return path


def _pets_crops(shared_data: Path, size: int) -> np.ndarray:
    pets = shared_data / "pets09-s2l1"
    det = read_mot(pets / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    with VideoReader(pets / "video.avi") as reader:
        crops = [crop_boxes(reader.read_frame(f), det.xyxy[det.frame == f], size) for f in (0, 200, 400)]
    return np.concatenate(crops)


@pytest.mark.realdata
@pytest.mark.parametrize(
    "arch",
    [
        ReidArch(),
        ReidArch(crop_size=32, widths=(8, 16, 16, 16, 16), ensemble=3, matcher="mlp", matcher_width=32),
        ReidArch(widths=(64,) * 6, embed_dim=32),
    ],
    ids=["default", "ensemble-mlp-32px", "uns20-widths"],
)
def test_twin_gives_torchs_vectors_and_heads(arch: ReidArch, tmp_path: Path, shared_data: Path):
    path = _model_file(tmp_path / "m.pt", arch)
    torch_model = load_reid_model(path)
    twin = load_tracking_model(path, device="cpu", cache_dir=tmp_path / "twins")
    assert isinstance(twin, InferenceModel) and twin.arch == arch and twin.stages == torch_model.stages
    assert twin.training == {"stage1": {"best_val_loss": 0.5}} and twin.path == str(path)
    crops = _pets_crops(shared_data, arch.crop_size)
    assert len(crops) > 10
    ours, ref = AppearanceEncoder(twin)(crops), AppearanceEncoder(torch_model)(crops)
    assert ours.shape == ref.shape == (len(crops), arch.ensemble, arch.embed_dim)
    scale = float(np.abs(ref).max())
    assert scale > 1e-3 and np.abs(ours - ref).max() <= 1e-5 * scale
    assert AppearanceEncoder(twin)(crops[:0]).shape == (0, arch.ensemble, arch.embed_dim)
    a, b = NumpyHeads.of(twin), NumpyHeads.of(torch_model)
    assert a.terminal == b.terminal and a.kind == b.kind and a.width == b.width
    q = a.query(ref[:5])
    np.testing.assert_array_equal(a.logits(q, a.target(ref)), b.logits(b.query(ref[:5]), b.target(ref)))
    np.testing.assert_array_equal(a.spatial[0].w2, b.spatial[0].w2)


def test_twins_are_cached_by_content_and_rebuilt_when_damaged(tmp_path: Path):
    path = _model_file(tmp_path / "m.pt", ReidArch(crop_size=32, widths=(8, 8, 8, 8, 8)))
    cache = tmp_path / "twins"
    load_tracking_model(path, device="cpu", cache_dir=cache)
    files = sorted(p.name for p in cache.iterdir())
    assert len(files) == 2 and files[0].endswith(".npz") and files[1].endswith(".onnx")
    # a second process loads the twin without importing torch
    code = (
        "import sys; from selftrack.reid import load_tracking_model, InferenceModel\n"
        f"m = load_tracking_model({str(path)!r}, device='auto', cache_dir={str(cache)!r})\n"
        "assert isinstance(m, InferenceModel), type(m)\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
    # another model file (retrained) gets its own twin
    _model_file(path, ReidArch(crop_size=32, widths=(8, 8, 8, 8, 8)), seed=1)
    load_tracking_model(path, device="cpu", cache_dir=cache)
    assert len(list(cache.iterdir())) == 4
    for twin in cache.glob("*.onnx"):
        twin.write_bytes(b"garbage")
    again = load_tracking_model(path, device="cpu", cache_dir=cache)
    assert isinstance(again, InferenceModel) and again.embed(np.zeros((2, 32, 32, 3), np.uint8)).shape == (2, 1, 64)


@pytest.mark.realdata
def test_tracking_from_the_twin_equals_tracking_with_torch(tmp_path: Path, shared_data: Path):
    pets = shared_data / "pets09-s2l1"
    det = read_mot(pets / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    det = det.frames_range(0, 150).replace(num_frames=150)
    path = _model_file(tmp_path / "m.pt", ReidArch())
    params = ReidTrackerParams(stitch_max_seconds=3.0)
    with_torch = track_with_reid(load_reid_model(path), pets / "video.avi", det, params)
    twin = load_tracking_model(path, device="cpu", cache_dir=tmp_path / "twins")
    with_twin = track_with_reid(twin, pets / "video.avi", det, params)
    assert with_twin.has_tracks and with_twin.equals(with_torch)


@pytest.mark.realdata
def test_decoding_process_gives_the_same_vectors_and_cleans_up(tmp_path: Path, shared_data: Path, monkeypatch):
    """Crops are cut in a forked process: same vectors as in a thread or inline; errors and stops reach the caller."""
    import multiprocessing

    from selftrack.core.errors import ValidationError
    from selftrack.reid import embed as embed_module
    from selftrack.reid.embed import iter_video_features

    pets = shared_data / "pets09-s2l1"
    det = read_mot(pets / "det" / "det.txt", canvas=(768, 576), num_frames=795).frames_range(0, 70)
    det = det.replace(num_frames=70)
    twin = load_tracking_model(_model_file(tmp_path / "m.pt", ReidArch()), device="cpu", cache_dir=tmp_path / "t")

    def vectors(prefetch: object) -> tuple[list[tuple[int, int]], np.ndarray]:
        batches = list(iter_video_features(twin, pets / "video.avi", det, prefetch=prefetch))  # type: ignore[arg-type]
        return [(b.start, b.stop) for b in batches], np.concatenate([b.features for b in batches])

    spans, ref = vectors(False)
    assert spans[0] == (0, 4) and spans[1] == (4, 36) and spans[-1][1] == int(det.frame[-1]) + 1  # short first batch
    assert spans == embed_module._batch_spans(0, int(det.frame[-1]) + 1, 32)
    for mode in ("process", "thread"):
        got_spans, got = vectors(mode)
        assert got_spans == spans and np.array_equal(got, ref)
    assert ref.shape == (len(det), 1, 64)
    # the process hands crops over through shared memory: the same with the fewest slots (2) as with the most
    handed: list[int] = []
    real_get = embed_module._CropSlots.get
    monkeypatch.setattr(
        embed_module._CropSlots, "get", lambda self, item: handed.append(self.count) or real_get(self, item)
    )
    for budget in (embed_module.SHARED_BYTES, 1):
        monkeypatch.setattr(embed_module, "SHARED_BYTES", budget)
        handed.clear()
        got_spans, got = vectors("process")
        assert got_spans == spans and np.array_equal(got, ref)
        assert handed == [embed_module.SHARED_SLOTS if budget > 1 else 2] * len(spans)
    # a stop request ends the decoding process
    stream = iter_video_features(twin, pets / "video.avi", det, should_stop=lambda: True)
    with pytest.raises(InterruptedError):
        next(stream)
    assert not multiprocessing.active_children()

    # an error while cropping in the process is raised here, with its type and message
    def broken(*args: object, **kwargs: object) -> None:
        raise ValidationError("crop failed on purpose")

    monkeypatch.setattr(embed_module.CropPlan, "cut", broken)
    with pytest.raises(ValidationError, match="crop failed on purpose"):
        list(iter_video_features(twin, pets / "video.avi", det))
    assert not multiprocessing.active_children()
