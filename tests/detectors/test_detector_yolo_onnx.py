"""YOLO ONNX decoding, letterboxing, NMS and scaling back, on tiny models exported here with torch.

Two kinds of model stand in for a trained YOLO:

- *constant* models whose output is a fixed tensor in the YOLOv5 or YOLOv8 layout (boxes and scores
  chosen by the test), to check decoding, thresholds and NMS against a reference written here;
- a *bright-box* model whose output is the bounding box of the white pixels of its input, to check
  letterboxing and the mapping back to the canvas end to end: a white rectangle drawn at a known
  place in a frame must come back at that place.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from selftrack.core.errors import ValidationError  # noqa: E402
from selftrack.detectors import YoloOnnxDetector, detect_video  # noqa: E402
from selftrack.video import ResizeSpec, VideoWriter  # noqa: E402

NAMES = {0: "person", 1: "car", 2: "bike"}


def _export(module: torch.nn.Module, path: Path, shape: tuple[int, ...], dynamic: dict | None = None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (torch.zeros(shape),),
            str(path),
            input_names=["images"],
            output_names=["output0"],
            dynamic_axes=dynamic,
            dynamo=False,
            opset_version=17,
        )


def _set_metadata(path: Path, **props: str) -> None:
    """Write ``metadata_props`` the way ultralytics does (Python reprs as strings)."""
    model = onnx.load(str(path))
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))


class ConstantHead(torch.nn.Module):
    """Returns a fixed raw output (per image of the batch), whatever the input."""

    def __init__(self, raw: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("raw", torch.from_numpy(raw.astype(np.float32)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.raw.unsqueeze(0).expand(x.shape[0], -1, -1) + 0.0 * x.mean()


class BrightBox(torch.nn.Module):
    """YOLOv8 layout, one class: anchor 0 is the bounding box of input pixels above 0.9 (score 0.9)."""

    def __init__(self, anchors: int = 16) -> None:
        super().__init__()
        self.anchors = anchors

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = (x[:, 0] > 0.9).float()  # B, H, W
        cols = mask.amax(dim=1)
        rows = mask.amax(dim=2)
        x1 = cols.argmax(dim=1).float()
        x2 = x.shape[3] - cols.flip(1).argmax(dim=1).float()
        y1 = rows.argmax(dim=1).float()
        y2 = x.shape[2] - rows.flip(1).argmax(dim=1).float()
        first = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, 0.9 * torch.ones_like(x1)], dim=1)
        rest = torch.zeros(x.shape[0], 5, self.anchors - 1)
        return torch.cat([first.unsqueeze(2), rest], dim=2)


# ---------------------------------------------------------------- reference decoding, written independently
def _iou(a: list[float], b: list[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def reference_detect(rows: list[tuple[float, float, float, float, float, int]], conf: float, iou: float, max_det: int):
    """Per-class greedy NMS with plain Python loops over ``(cx, cy, w, h, score, class)`` rows."""
    cands = [r for r in rows if r[4] > conf]
    cands.sort(key=lambda r: -r[4])
    kept: list[tuple[list[float], float, int]] = []
    for cx, cy, w, h, s, c in cands:
        box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        if all(kc != c or _iou(box, kb) <= iou for kb, _, kc in kept):
            kept.append((box, s, c))
    return kept[:max_det]


def _map_back(box: list[float], frame: tuple[int, int], net: tuple[int, int]) -> list[float]:
    """Letterbox inverse, from first principles: scale to fit, centre, then undo both."""
    w, h = frame
    gain = min(net[0] / w, net[1] / h)
    sw, sh = round(w * gain), round(h * gain)
    left, top = (net[0] - sw) // 2, (net[1] - sh) // 2
    x1, y1, x2, y2 = box
    out = [(x1 - left) * w / sw, (y1 - top) * h / sh, (x2 - left) * w / sw, (y2 - top) * h / sh]
    return [min(max(out[0], 0), w), min(max(out[1], 0), h), min(max(out[2], 0), w), min(max(out[3], 0), h)]


def _random_rows(rng: np.random.Generator, n: int, nc: int) -> np.ndarray:
    """``n`` raw anchors in clusters (so NMS has work to do): cx, cy, w, h, class scores."""
    centres = rng.uniform(60, 260, size=(6, 2))
    pick = rng.integers(0, 6, size=n)
    xy = centres[pick] + rng.normal(0, 6, size=(n, 2))
    wh = rng.uniform(30, 70, size=(n, 2))
    cls = rng.uniform(0, 1, size=(n, nc)) ** 3
    return np.concatenate([xy, wh, cls], axis=1)


# ---------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def random_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The same 60 random anchors exported in the v8 and the v5 layout (320x320 input)."""
    rng = np.random.default_rng(7)
    rows = _random_rows(rng, 60, 3)
    obj = rng.uniform(0.5, 1.0, size=(60, 1))
    folder = tmp_path_factory.mktemp("yolo")
    v8 = folder / "v8.onnx"
    _export(ConstantHead(rows.T), v8, (1, 3, 320, 320))
    _set_metadata(v8, names=repr(NAMES), stride="32", imgsz="[320, 320]")
    v5 = folder / "v5.onnx"
    _export(ConstantHead(np.concatenate([rows[:, :4], obj, rows[:, 4:]], axis=1)), v5, (1, 3, 320, 320))
    _set_metadata(v5, names=repr(NAMES), stride="32")
    # What each layout's boxes should score: v8 the class score, v5 objectness x class score.
    scores = {"v8": rows[:, 4:], "v5": obj * rows[:, 4:]}
    return {"v8": v8, "v5": v5, "rows": rows, "scores": scores}


@pytest.mark.parametrize("layout", ["v8", "v5"])
@pytest.mark.parametrize("frame", [(320, 320), (400, 240), (200, 300)])
def test_decoding_matches_reference(random_models, layout, frame):
    rows = random_models["rows"]
    cls = random_models["scores"][layout]
    det = YoloOnnxDetector(random_models[layout], conf_threshold=0.1, iou_threshold=0.5)
    assert det.layout == layout
    assert det.classes == NAMES
    w, h = frame
    (res,) = det.detect_batch(np.zeros((1, h, w, 3), np.uint8))
    ref_rows = [(*r[:4], float(c.max()), int(c.argmax())) for r, c in zip(rows.tolist(), cls, strict=True)]
    ref = reference_detect(ref_rows, 0.1, 0.5, 300)
    assert len(res) == len(ref) > 5
    expected = np.array([_map_back(b, frame, (320, 320)) for b, _, _ in ref])
    np.testing.assert_allclose(res.xyxy, expected, atol=1e-3)
    np.testing.assert_allclose(res.score, [s for _, s, _ in ref], atol=1e-5)
    np.testing.assert_array_equal(res.class_id, [c for _, _, c in ref])


def test_nms_is_per_class_and_threshold_excludes(tmp_path):
    # cx, cy, w, h, person, car, bike
    rows = np.array(
        [
            [100, 100, 40, 80, 0.9, 0.0, 0.0],  # kept
            [102, 101, 40, 80, 0.8, 0.0, 0.0],  # same place, same class: suppressed
            [101, 100, 40, 80, 0.0, 0.7, 0.0],  # same place, another class: kept
            [200, 200, 30, 30, 0.0, 0.0, 0.1],  # at the threshold (not above): dropped
            [250, 250, 30, 30, 0.0, 0.0, 0.3],  # kept
            [130, 100, 40, 80, 0.6, 0.0, 0.0],  # IoU with the first is 1/7: kept
        ]
    )
    path = tmp_path / "v8.onnx"
    _export(ConstantHead(rows.T), path, (1, 3, 320, 320))
    _set_metadata(path, names=repr(NAMES))
    (res,) = YoloOnnxDetector(path).detect_batch(np.zeros((1, 320, 320, 3), np.uint8))
    np.testing.assert_allclose(res.score, [0.9, 0.7, 0.6, 0.3], atol=1e-6)
    np.testing.assert_array_equal(res.class_id, [0, 1, 0, 2])
    np.testing.assert_allclose(res.xyxy[0], [80, 60, 120, 140], atol=1e-4)
    # Higher NMS threshold: the duplicate survives; class-agnostic NMS: the car goes.
    (loose,) = YoloOnnxDetector(path, iou_threshold=0.95).detect_batch(np.zeros((1, 320, 320, 3), np.uint8))
    assert len(loose) == 5
    (agn,) = YoloOnnxDetector(path, agnostic_nms=True).detect_batch(np.zeros((1, 320, 320, 3), np.uint8))
    np.testing.assert_allclose(agn.score, [0.9, 0.6, 0.3], atol=1e-6)
    # Class filter (by name) and max detections.
    (cars,) = YoloOnnxDetector(path, classes=["car"]).detect_batch(np.zeros((1, 320, 320, 3), np.uint8))
    np.testing.assert_array_equal(cars.class_id, [1])
    (top2,) = YoloOnnxDetector(path, max_detections=2).detect_batch(np.zeros((1, 320, 320, 3), np.uint8))
    np.testing.assert_allclose(top2.score, [0.9, 0.7], atol=1e-6)
    with pytest.raises(ValidationError, match=r"unknown class 'truck'.*bike, car, person"):
        YoloOnnxDetector(path, classes=["truck"])


def test_layout_is_inferred_without_metadata(tmp_path):
    rows = np.zeros((20, 4 + 2))
    rows[0] = [50, 50, 20, 20, 0.2, 0.8]
    v8 = tmp_path / "v8.onnx"
    _export(ConstantHead(rows.T), v8, (1, 3, 96, 96))
    det = YoloOnnxDetector(v8)
    assert det.layout == "v8" and det.classes == {0: "class0", 1: "class1"}
    (res,) = det.detect_batch(np.zeros((1, 96, 96, 3), np.uint8))
    np.testing.assert_array_equal(res.class_id, [1])
    v5_rows = np.zeros((20, 5 + 2))
    v5_rows[0] = [50, 50, 20, 20, 0.5, 0.2, 0.8]  # score 0.5 * 0.8
    v5 = tmp_path / "v5.onnx"
    _export(ConstantHead(v5_rows), v5, (1, 3, 96, 96))
    det5 = YoloOnnxDetector(v5)
    assert det5.layout == "v5"
    (res5,) = det5.detect_batch(np.zeros((1, 96, 96, 3), np.uint8))
    np.testing.assert_allclose(res5.score, [0.4], atol=1e-6)
    np.testing.assert_allclose(res5.xyxy, [[40, 40, 60, 60]], atol=1e-4)


def test_output_that_fits_no_layout_is_refused(tmp_path):
    path = tmp_path / "bad.onnx"
    _export(ConstantHead(np.zeros((9, 20))), path, (1, 3, 64, 64))
    _set_metadata(path, names=repr(NAMES))  # 3 classes: neither 4+3 nor 5+3 rows
    with pytest.raises(ValidationError, match="fits neither YOLOv8"):
        YoloOnnxDetector(path)


@pytest.fixture(scope="module")
def bright_fixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bright") / "bright.onnx"
    _export(BrightBox(), path, (1, 3, 320, 320))
    _set_metadata(path, names=repr({0: "blob"}), stride="32")
    return path


@pytest.mark.parametrize("frame", [(300, 170), (170, 300), (640, 480)])
def test_letterbox_maps_boxes_back_to_the_frame(bright_fixed, frame):
    """A white rectangle comes back where it was drawn, whatever the frame's aspect ratio."""
    w, h = frame
    img = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = int(0.2 * w), int(0.3 * h), int(0.55 * w), int(0.8 * h)
    img[y1:y2, x1:x2] = 255
    (res,) = YoloOnnxDetector(bright_fixed).detect_batch(img[None])
    assert len(res) == 1
    # Bilinear scaling blurs the rectangle's edges by about one network pixel.
    tol = 1.5 * max(w, h) / 320
    np.testing.assert_allclose(res.xyxy[0], [x1, y1, x2, y2], atol=tol)


def test_dynamic_input_is_fed_unscaled_and_batched(tmp_path):
    """A model with dynamic size gets each frame as is (padded to the stride): boxes come back exact."""
    path = tmp_path / "dyn.onnx"
    _export(BrightBox(), path, (2, 3, 64, 96), dynamic={"images": {0: "b", 2: "h", 3: "w"}})
    det = YoloOnnxDetector(path, names=["blob"])
    frames = np.zeros((3, 100, 150, 3), np.uint8)
    boxes = [(10, 20, 60, 70), (90, 5, 149, 40), (0, 50, 30, 100)]
    for f, (x1, y1, x2, y2) in zip(frames, boxes, strict=True):
        f[y1:y2, x1:x2] = 255
    res = det.detect_batch(frames)
    assert [len(r) for r in res] == [1, 1, 1]
    np.testing.assert_allclose(np.concatenate([r.xyxy for r in res]), np.array(boxes, float), atol=1e-4)
    assert det.classes == {0: "blob"}


def test_detect_video_gives_canvas_coordinates(bright_fixed, tmp_path):
    """End to end through a real H.264 file decoded at a scale-down size: boxes are in canvas pixels."""
    video = tmp_path / "square.mp4"
    w, h, n = 320, 200, 12
    truth = []
    with VideoWriter(video, 10, (w, h)) as writer:
        for k in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            box = (20 + 15 * k, 40, 80 + 15 * k, 120)
            img[box[1] : box[3], box[0] : box[2]] = 255
            truth.append(box)
            writer.write(img)
    calls = []
    dets = detect_video(
        YoloOnnxDetector(bright_fixed),
        video,
        resize=ResizeSpec(mode="scale-down", max_dimension=160),
        batch_size=5,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert dets.canvas == (160, 100)
    assert dets.num_frames == n and dets.classes == {0: "blob"}
    np.testing.assert_array_equal(dets.frame, np.arange(n))
    np.testing.assert_allclose(dets.xyxy, np.array(truth, float) / 2, atol=1.5)
    assert calls == [(5, n), (10, n), (12, n)]
