"""Image sizes without decoding pixels (YOLO labels are normalised, so reading them needs the size).

PNG and JPEG (the formats labelled sets use) are read from their headers; anything else is decoded
with OpenCV, imported only then.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

from selftrack.core.errors import FormatError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# JPEG start-of-frame markers (baseline, progressive, lossless...): they carry the size.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` of an image file."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(26)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return int(width), int(height)
        if head[:2] == b"\xff\xd8":
            fh.seek(2)
            size = _jpeg_size(fh)
            if size is not None:
                return size
    return _decoded_size(path)


def _jpeg_size(fh: BinaryIO) -> tuple[int, int] | None:
    while True:
        byte = fh.read(1)
        while byte and byte != b"\xff":
            byte = fh.read(1)
        while byte == b"\xff":
            byte = fh.read(1)
        if not byte:
            return None
        marker = byte[0]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            continue  # markers without a length field
        length_bytes = fh.read(2)
        if len(length_bytes) < 2:
            return None
        (length,) = struct.unpack(">H", length_bytes)
        if marker in _SOF_MARKERS:
            segment = fh.read(5)
            if len(segment) < 5:
                return None
            height, width = struct.unpack(">HH", segment[1:5])
            return int(width), int(height)
        fh.seek(length - 2, 1)


def _decoded_size(path: Path) -> tuple[int, int]:
    import cv2  # heavy: only for formats whose header we do not parse

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise FormatError(f"{path}: cannot read the image (unknown format or corrupt file)")
    return int(image.shape[1]), int(image.shape[0])
