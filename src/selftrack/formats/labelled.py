"""``LabelledImages``: a set of labelled images (COCO, YOLO) as one :class:`Detections` per image.

Each image is a 1-frame sequence (frame 0, ``num_frames=1``, canvas = image size), the same
convention as SkyhookML, where an image is a video of length one. So every tool that takes a
video's detections (filters, rendering, the store) takes an image's labels unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from selftrack.core.detections import Detections
from selftrack.core.errors import FormatError


@dataclass
class LabelledImages:
    """Boxes of many images, keyed by image key (the file name without extension, ``/``-separated).

    Attributes:
        images: ``{key: Detections}``, each with one frame and ``canvas`` = image ``(width, height)``.
        classes: ``{class_id: name}`` shared by all images (COCO category ids are kept as is).
        file_names: ``{key: file name}`` relative to the image folder, where known.
        sizes: ``{key: (width, height)}``.
    """

    images: dict[str, Detections] = field(default_factory=dict)
    classes: dict[int, str] = field(default_factory=dict)
    file_names: dict[str, str] = field(default_factory=dict)
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def __iter__(self) -> Iterator[str]:
        return iter(self.images)

    def __getitem__(self, key: str) -> Detections:
        return self.images[key]

    @property
    def num_boxes(self) -> int:
        return sum(len(d) for d in self.images.values())

    @classmethod
    def from_images(
        cls,
        images: LabelledImages | Mapping[str, Detections],
        *,
        classes: Mapping[int, str] | None = None,
        file_names: Mapping[str, str] | None = None,
    ) -> LabelledImages:
        """Normalise what the writers accept: a ``LabelledImages`` or a plain ``{key: Detections}``.

        Classes are merged from ``classes``, the set's own and each image's; sizes come from each
        image's canvas.
        """
        base = images if isinstance(images, LabelledImages) else cls(images=dict(images))
        merged: dict[int, str] = {}
        for det in base.images.values():
            merged.update(det.classes)
        merged.update(base.classes)
        merged.update(classes or {})
        names = dict(base.file_names)
        names.update(file_names or {})
        sizes = dict(base.sizes)
        for key, det in base.images.items():
            if det.canvas is not None:
                sizes[key] = det.canvas
        return cls(images=dict(base.images), classes=merged, file_names=names, sizes=sizes)

    def size_of(self, key: str) -> tuple[int, int]:
        """Image size, or a FormatError naming the image when it is unknown (writers need it)."""
        size = self.sizes.get(key) or self.images[key].canvas
        if size is None:
            raise FormatError(f"image {key!r}: its size is unknown (Detections.canvas is None)")
        return size


def image_detections(
    xyxy: np.ndarray,
    class_id: np.ndarray,
    size: tuple[int, int],
    *,
    score: np.ndarray | None = None,
    classes: Mapping[int, str] | None = None,
    data: Mapping[str, np.ndarray] | None = None,
    source: str | None = None,
) -> Detections:
    """The 1-frame ``Detections`` of one image."""
    return Detections.create(
        np.zeros(len(xyxy), dtype=np.int64),
        xyxy,
        score,
        class_id,
        None,
        canvas=size,
        num_frames=1,
        classes=classes,
        data=data,
        source=source,
    )


def safe_key_path(key: str, suffix: str) -> PurePosixPath:
    """Relative path for an image key, refusing keys that would escape the output folder."""
    path = PurePosixPath(key + suffix)
    if not key or path.is_absolute() or ".." in path.parts or "\\" in key:
        raise FormatError(f"image key {key!r} cannot be used as a relative file name")
    return path
