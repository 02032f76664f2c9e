"""YOLO detectors exported to ONNX (ultralytics YOLOv5, YOLOv8, YOLO11), run with onnxruntime.

This is the core detection path: no torch at inference, only ``onnxruntime`` and numpy.

**How frames are fed.** Frames arrive at the size ``ResizeSpec`` gave them (the ``canvas``). Each is
*letterboxed* into the network input: scaled by ``g = min(W_in / w, H_in / h)`` keeping its aspect
ratio (bilinear), then centred on a grey (114) ``W_in x H_in`` image, as ultralytics does when it
predicts. Boxes come back in network-input pixels and are mapped back exactly:
``x = (x_in - pad_x) * w / round(w * g)`` (and likewise for y), then clipped to the frame. The input
size is the model's own if it is fixed (an ultralytics export is 640x640 unless exported otherwise).
If the model has dynamic height/width, ``input_size`` picks one; without it each frame is fed at its
own size padded up to a multiple of the model's stride (no scaling, so the resize chosen with
``ResizeSpec`` is exactly what the network sees, as in SkyhookML).

**Output layouts** (read from the first output, shape ``B x a x b``):

- YOLOv5: ``B x N x (5 + C)`` rows of ``cx, cy, w, h, objectness, class scores...``; the score of a
  box is ``objectness * class score``;
- YOLOv8 / YOLO11: ``B x (4 + C) x N`` columns of ``cx, cy, w, h, class scores...``.

With the class names known (ultralytics writes ``names`` into the ONNX metadata, and ``names=``
overrides), ``C`` decides which layout fits; without them the smaller axis is taken as the channel
axis (channels first = v8, channels last = v5). ``layout=`` forces one.

Each box keeps its best class (one label per box, as SkyhookML's YOLOv5 does). Boxes with a score
above ``conf_threshold`` go through class-aware NMS (``iou_threshold``), and at most
``max_detections`` per frame are kept, best first.
"""

from __future__ import annotations

import ast
import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from selftrack.core.errors import ValidationError
from selftrack.detectors.base import MAX_BATCH, MAX_INPUT_SIDE, Detector, FrameBoxes, check_frames, resolve_class_ids
from selftrack.detectors.nms import batched_nms, nms

logger = logging.getLogger(__name__)

Layout = Literal["auto", "v5", "v8"]
LETTERBOX_FILL = 114
"""Grey value of the letterbox padding (ultralytics' choice; the models were trained with it)."""


def _available_cpus() -> int:
    """CPUs this process may use (its affinity mask), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as e:  # pragma: no cover - a core dependency
        raise ImportError("YOLO ONNX detection needs onnxruntime: pip install onnxruntime==1.32.0") from e
    return onnxruntime


def _parse_literal(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return None


def _names_dict(names: Mapping[int, str] | Sequence[str]) -> dict[int, str]:
    if isinstance(names, Mapping):
        return {int(k): str(v) for k, v in names.items()}
    return {i: str(v) for i, v in enumerate(names)}


def letterbox_geometry(
    frame_size: tuple[int, int], input_size: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Scaled size ``(w', h')`` of a ``frame_size`` frame inside ``input_size``, and its ``(left, top)`` padding.

    The frame is scaled by ``min(W / w, H / h)`` (aspect ratio kept; sides rounded to the nearest
    pixel, at least 1) and centred; odd padding puts the extra pixel on the right/bottom.
    """
    w, h = frame_size
    in_w, in_h = input_size
    gain = min(in_w / w, in_h / h)
    new_w = min(in_w, max(1, round(w * gain)))
    new_h = min(in_h, max(1, round(h * gain)))
    return (new_w, new_h), ((in_w - new_w) // 2, (in_h - new_h) // 2)


class YoloOnnxDetector(Detector):
    """A YOLOv5/v8/11 ONNX model (see the module docstring for how frames are fed and decoded).

    Args:
        model_path: the ``.onnx`` file.
        conf_threshold: keep boxes whose score is above this (SkyhookML's ConfidenceThreshold, 0.1).
        iou_threshold: NMS IoU threshold (SkyhookML uses 0.5 and does not expose it).
        max_detections: at most this many boxes per frame, best first.
        classes: keep only these class names (filtered before NMS).
        names: class names overriding those in the model metadata (list or ``{id: name}``).
        layout: ``"auto"``, ``"v5"`` or ``"v8"``.
        input_size: ``(width, height)`` to feed a model with dynamic input size.
        single_class: report every class as this one class (e.g. ``"person"`` for a model whose two
            classes are both people); the score is the best class score and NMS is class-agnostic.
        agnostic_nms: let boxes of different classes suppress each other.
        max_candidates: at most this many boxes (highest scores) enter NMS, bounding its cost.
        num_threads: onnxruntime intra-op threads. ``None``: the CPUs this process may run on
            (``os.sched_getaffinity``). onnxruntime's own default counts every core of the machine and
            pins its threads, which ignores ``taskset`` and container CPU limits and oversubscribes them.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        conf_threshold: float = 0.1,
        iou_threshold: float = 0.5,
        max_detections: int = 300,
        classes: list[str] | None = None,
        names: Mapping[int, str] | Sequence[str] | None = None,
        layout: Layout = "auto",
        input_size: tuple[int, int] | None = None,
        single_class: str | None = None,
        agnostic_nms: bool = False,
        max_candidates: int = 30000,
        num_threads: int | None = None,
    ) -> None:
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"YOLO ONNX model {self.model_path} does not exist")
        if not 0.0 <= conf_threshold <= 1.0:
            raise ValidationError(f"{self.model_path}: conf_threshold must be in [0, 1], got {conf_threshold}")
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValidationError(f"{self.model_path}: iou_threshold must be in [0, 1], got {iou_threshold}")
        if max_detections < 1 or max_candidates < 1:
            raise ValidationError(f"{self.model_path}: max_detections and max_candidates must be at least 1")
        if layout not in ("auto", "v5", "v8"):
            raise ValidationError(f"{self.model_path}: layout must be 'auto', 'v5' or 'v8', got {layout!r}")
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(num_threads) if num_threads is not None else _available_cpus()
        try:
            self.session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime raises its own exception types for bad files
            raise ValidationError(f"{self.model_path}: not a loadable ONNX model ({e})") from e
        self.conf_threshold = float(conf_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.max_candidates = int(max_candidates)
        self.layout: Layout = layout
        self.agnostic_nms = agnostic_nms or single_class is not None

        meta = self.session.get_modelmeta().custom_metadata_map
        self.metadata: dict[str, str] = dict(meta)
        args = _parse_literal(meta.get("args"))
        if isinstance(args, dict) and (args.get("nms") or args.get("end2end")):
            raise ValidationError(
                f"{self.model_path}: exported with NMS built in (end-to-end outputs); export it with nms=False"
            )
        stride = _parse_literal(meta.get("stride"))
        self.stride = int(max(stride) if isinstance(stride, (list, tuple)) else stride) if stride else 32
        meta_names = _parse_literal(meta.get("names"))
        self.model_names: dict[int, str] | None = None
        if names is not None:
            self.model_names = _names_dict(names)
        elif isinstance(meta_names, (dict, list, tuple)):
            self.model_names = _names_dict(meta_names)

        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.input_dtype = np.float16 if "float16" in inp.type else np.float32
        if len(inp.shape) != 4 or inp.shape[1] not in (3, "3"):
            raise ValidationError(
                f"{self.model_path}: expected an input of shape (batch, 3, height, width), got {inp.shape}"
            )
        batch, _, in_h, in_w = inp.shape
        self.max_batch = batch if isinstance(batch, int) and batch > 0 else None
        fixed = isinstance(in_h, int) and isinstance(in_w, int) and in_h > 0 and in_w > 0
        for side in (in_w, in_h) if fixed else (input_size or ()):
            if int(side) > MAX_INPUT_SIDE or int(side) < 1:
                raise ValidationError(
                    f"{self.model_path}: an input of {in_w}x{in_h} (or input_size {input_size}) is outside "
                    f"1..{MAX_INPUT_SIDE} pixels a side; refused before allocating it"
                )
        if self.max_batch is not None and self.max_batch > MAX_BATCH:
            raise ValidationError(f"{self.model_path}: a fixed batch of {self.max_batch} is more than {MAX_BATCH}")
        if fixed:
            if input_size is not None and tuple(input_size) != (in_w, in_h):
                raise ValidationError(
                    f"{self.model_path}: the model's input is fixed at {in_w}x{in_h}; input_size {input_size} cannot be used"
                )
            self.input_size: tuple[int, int] | None = (in_w, in_h)
        else:
            self.input_size = None if input_size is None else (int(input_size[0]), int(input_size[1]))

        self.num_classes: int | None = None if self.model_names is None else len(self.model_names)
        self.single_class = single_class
        if single_class is not None:
            self.classes = {0: single_class}
        else:
            self.classes = dict(self.model_names) if self.model_names is not None else {}
        out_shape = self.session.get_outputs()[0].shape
        if len(out_shape) != 3:
            raise ValidationError(
                f"{self.model_path}: expected a YOLO output of shape (batch, anchors, 5+classes) or "
                f"(batch, 4+classes, anchors), got {list(out_shape)}"
            )
        if all(isinstance(d, int) and d > 0 for d in out_shape[1:]):
            self.layout = self._resolve_layout(out_shape)  # type: ignore[assignment]
        self._keep: np.ndarray | None = None
        if classes is not None:
            if single_class is not None:
                raise ValidationError(f"{self.model_path}: classes and single_class cannot be combined")
            if self.model_names is None:
                raise ValidationError(f"{self.model_path}: cannot filter classes by name, the model has no names")
            self._keep = resolve_class_ids(classes, self.model_names, str(self.model_path))

    # ------------------------------------------------------------------ layout
    def _resolve_layout(self, shape: Sequence[int]) -> str:
        """The layout (``"v5"`` or ``"v8"``) of an output of ``shape`` (batch, a, b); fills class names if unknown."""
        _, a, b = shape
        nc = self.num_classes
        layout = self.layout
        if layout == "auto":
            if nc is not None and a == 4 + nc:
                layout = "v8"
            elif nc is not None and b == 5 + nc:
                layout = "v5"
            elif nc is not None:
                raise ValidationError(
                    f"{self.model_path}: output shape {list(shape)} fits neither YOLOv8 (batch, 4+{nc}, anchors) "
                    f"nor YOLOv5 (batch, anchors, 5+{nc}) for the model's {nc} classes"
                )
            else:
                layout = "v8" if a < b else "v5"
        found = a - 4 if layout == "v8" else b - 5
        if found < 1 or (nc is not None and found != nc):
            raise ValidationError(
                f"{self.model_path}: output shape {list(shape)} does not fit the {layout} layout"
                + (f" with {nc} classes" if nc is not None else "")
            )
        if self.model_names is None:
            self.model_names = {i: f"class{i}" for i in range(found)}
            self.num_classes = found
            if self.single_class is None:
                self.classes = dict(self.model_names)
        return layout

    # ------------------------------------------------------------------ inference
    def preprocess(self, frames: np.ndarray) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """Letterboxed NCHW network input for ``frames``, the scaled frame size and the padding."""
        n, h, w, _ = frames.shape
        if self.input_size is None:  # dynamic model: pad to the stride, never scale
            s = self.stride
            in_w, in_h = math.ceil(w / s) * s, math.ceil(h / s) * s
            (new_w, new_h), (left, top) = (w, h), ((in_w - w) // 2, (in_h - h) // 2)
        else:
            in_w, in_h = self.input_size
            (new_w, new_h), (left, top) = letterbox_geometry((w, h), (in_w, in_h))
        canvas = np.full((n, in_h, in_w, 3), LETTERBOX_FILL, dtype=np.uint8)
        for i in range(n):
            img = frames[i]
            if (new_w, new_h) != (w, h):
                img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
            canvas[i, top : top + new_h, left : left + new_w] = img
        blob = canvas.transpose(0, 3, 1, 2).astype(self.input_dtype) / self.input_dtype(255.0)
        return np.ascontiguousarray(blob), (new_w, new_h), (left, top)

    def _run(self, blob: np.ndarray) -> np.ndarray:
        if self.max_batch is None or self.max_batch == len(blob):
            return np.asarray(self.session.run(None, {self.input_name: blob})[0])
        parts = []
        for i in range(0, len(blob), self.max_batch):
            chunk = blob[i : i + self.max_batch]
            if len(chunk) < self.max_batch:  # a fixed batch size: pad the last chunk
                pad = np.zeros((self.max_batch - len(chunk), *chunk.shape[1:]), dtype=chunk.dtype)
                parts.append(
                    np.asarray(self.session.run(None, {self.input_name: np.concatenate([chunk, pad])})[0])[: len(chunk)]
                )
            else:
                parts.append(np.asarray(self.session.run(None, {self.input_name: chunk})[0]))
        return np.concatenate(parts)

    def detect_batch(self, frames: np.ndarray) -> list[FrameBoxes]:
        """Boxes per frame in the frames' pixels; ``score`` is the class confidence (v5: objectness x class)."""
        frames = check_frames(frames, str(self.model_path))
        _, h, w, _ = frames.shape
        blob, (new_w, new_h), (left, top) = self.preprocess(frames)
        out = self._run(blob).astype(np.float32, copy=False)
        layout = self._resolve_layout(out.shape)
        self.layout = layout  # type: ignore[assignment]  # dynamic output shapes resolve on the first batch
        scale = np.array([w / new_w, h / new_h, w / new_w, h / new_h])
        offset = np.array([left, top, left, top], dtype=np.float64)
        return [self._decode_one(pred, layout, offset, scale, (w, h)) for pred in out]

    def _decode_one(
        self, pred: np.ndarray, layout: str, offset: np.ndarray, scale: np.ndarray, size: tuple[int, int]
    ) -> FrameBoxes:
        if layout == "v8":
            pred = pred.T  # (anchors, 4 + C)
            cls = pred[:, 4:]
        else:
            cls = pred[:, 5:] * pred[:, 4:5]
        if self._keep is not None:
            class_ids = self._keep[np.argmax(cls[:, self._keep], axis=1)]
        else:
            class_ids = np.argmax(cls, axis=1)
        scores = np.take_along_axis(cls, class_ids[:, None].astype(np.int64), axis=1)[:, 0]
        cand = np.flatnonzero(scores > self.conf_threshold)
        if len(cand) > self.max_candidates:
            cand = cand[np.argsort(-scores[cand], kind="stable")[: self.max_candidates]]
        if not len(cand):
            return FrameBoxes.empty()
        cxcywh = pred[cand, :4].astype(np.float64)
        half = cxcywh[:, 2:4] / 2
        xyxy = np.concatenate([cxcywh[:, :2] - half, cxcywh[:, :2] + half], axis=1)
        scores = scores[cand]
        class_ids = class_ids[cand]
        if self.agnostic_nms:
            keep = nms(xyxy, scores, self.iou_threshold, self.max_detections)
        else:
            keep = batched_nms(xyxy, scores, class_ids, self.iou_threshold, self.max_detections)
        xyxy = (xyxy[keep] - offset) * scale
        w, h = size
        xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, w)
        xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, h)
        class_out = np.zeros(len(keep), np.int32) if self.single_class is not None else class_ids[keep]
        return FrameBoxes.create(xyxy, scores[keep], class_out)
