"""Detection and annotation file formats, converted at the boundary to :class:`~selftrack.core.Detections`.

- :mod:`~selftrack.formats.mot`: MOTChallenge det / gt / results text, ``seqinfo.ini``, GMC files.
- :mod:`~selftrack.formats.skyhook`: SkyhookML detection JSON (per-frame lists, ``CanvasDims``).
- :mod:`~selftrack.formats.coco`, :mod:`~selftrack.formats.yolo`: labelled images, as
  :class:`LabelledImages` (one 1-frame ``Detections`` per image).
- :mod:`~selftrack.formats.detrac`: UA-DETRAC XML (read only).
- :func:`detect_format`, :func:`read_detections`, :func:`write_detections`: one call for any of them.

Every reader raises :class:`~selftrack.core.FormatError` naming the file and the line (or the
item) and the problem; every writer replaces its file atomically.
"""

from selftrack.formats._text import parse_json, parse_yaml
from selftrack.formats.coco import read_coco, write_coco
from selftrack.formats.detrac import (
    DETRAC_CANVAS,
    DETRAC_CLASSES,
    DetracAnnotation,
    parse_detrac_xml,
    read_detrac_xml,
)
from selftrack.formats.dispatch import FORMATS, detect_format, read_detections, write_detections
from selftrack.formats.labelled import LabelledImages
from selftrack.formats.mot import MOT17_CLASSES, parse_seqinfo, read_gmc, read_mot, write_mot
from selftrack.formats.skyhook import read_skyhook_json, to_skyhook_json, write_skyhook_json
from selftrack.formats.yolo import read_yolo, write_yolo

__all__ = [
    "DETRAC_CANVAS",
    "DETRAC_CLASSES",
    "FORMATS",
    "MOT17_CLASSES",
    "DetracAnnotation",
    "LabelledImages",
    "detect_format",
    "parse_detrac_xml",
    "parse_json",
    "parse_seqinfo",
    "parse_yaml",
    "read_coco",
    "read_detections",
    "read_detrac_xml",
    "read_gmc",
    "read_mot",
    "read_skyhook_json",
    "read_yolo",
    "to_skyhook_json",
    "write_coco",
    "write_detections",
    "write_mot",
    "write_skyhook_json",
    "write_yolo",
]
