"""The optional ultralytics ``.pt`` loader: without the extra it fails with an install hint."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from selftrack.detectors import UltralyticsDetector


def test_missing_weights_are_reported_before_anything_is_imported(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"nothing is downloaded"):
        UltralyticsDetector(tmp_path / "yolo11n.pt")


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is not None, reason="ultralytics is installed")
def test_without_ultralytics_the_error_says_how_to_install(tmp_path: Path):
    weights = tmp_path / "best.pt"
    weights.write_bytes(b"not really a model")
    with pytest.raises(ImportError, match=r"selftrack\[ultralytics\]"):
        UltralyticsDetector(weights)
