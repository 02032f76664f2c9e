"""UA-DETRAC XML annotations (read only).

Layout::

    <sequence name="MVI_20011">
      <sequence_attribute camera_state="unstable" sence_weather="sunny"/>
      <ignored_region> <box left= top= width= height=/> ... </ignored_region>
      <frame density="7" num="1">
        <target_list>
          <target id="1">
            <box left="592.75" top="378.8" width="160.05" height="162.2"/>
            <attribute orientation= speed= trajectory_length= truncation_ratio= vehicle_type="car"/>
            <occlusion> <region_overlap .../> </occlusion>
          </target> ...

Mapping: ``frame`` = ``num`` - 1; ``track_id`` = target ``id``; ``xyxy`` from the box's
left/top/width/height; ``class_id`` from ``vehicle_type`` via ``classes`` (default
:data:`DETRAC_CLASSES`; an unlisted type is appended); score 1. The numeric target attributes
``orientation``, ``speed``, ``truncation_ratio`` and ``trajectory_length`` go to ``data`` (float32,
NaN for a target that lacks one); occlusion regions are not kept. Ignored regions (areas whose
vehicles are not annotated, so detections there must not count as false positives) are returned
apart, in :class:`DetracAnnotation`, as ``(k, 4)`` xyxy boxes.

The XML is parsed with expat so every error can name its line; DTDs and entity declarations are
refused (an annotation file has no use for them, and they are the usual XML attack vector).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import numpy as np

from selftrack.core.detections import MAX_COORDINATE, MAX_FRAMES, Detections
from selftrack.core.errors import FormatError, ValidationError
from selftrack.formats._text import PathLike

DETRAC_CLASSES: dict[int, str] = {0: "car", 1: "bus", 2: "van", 3: "others"}
"""UA-DETRAC vehicle types, in the order of the benchmark's documentation."""

DETRAC_CANVAS = (960, 540)
"""Every UA-DETRAC sequence is 960x540; the XML does not say so."""

_ATTRIBUTES = ("orientation", "speed", "truncation_ratio", "trajectory_length")


@dataclass(frozen=True)
class DetracAnnotation:
    """Everything a UA-DETRAC XML file holds that selftrack uses."""

    detections: Detections
    ignored_regions: np.ndarray
    """``(k, 4)`` float64 xyxy boxes of the regions left unannotated."""
    name: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    """``sequence_attribute`` values (``camera_state``, ``sence_weather`` [sic])."""


def read_detrac_xml(
    path: PathLike,
    *,
    classes: Mapping[int, str] | Sequence[str] | None = None,
    canvas: tuple[int, int] | None = DETRAC_CANVAS,
    num_frames: int | None = None,
) -> Detections:
    """The boxes of a UA-DETRAC XML file (see :func:`parse_detrac_xml` for ignored regions)."""
    return parse_detrac_xml(path, classes=classes, canvas=canvas, num_frames=num_frames).detections


def parse_detrac_xml(
    path: PathLike,
    *,
    classes: Mapping[int, str] | Sequence[str] | None = None,
    canvas: tuple[int, int] | None = DETRAC_CANVAS,
    num_frames: int | None = None,
) -> DetracAnnotation:
    """Parse a UA-DETRAC XML file.

    Args:
        classes: vehicle types as ``{class_id: name}`` or a list (index = class_id).
        canvas: frame size; UA-DETRAC's 960x540 by default, ``None`` to leave it unknown.
        num_frames: frame count; defaults to the highest ``<frame num>`` in the file.

    Raises:
        FormatError: naming the file and line: XML syntax errors, a missing or non-numeric
            attribute, a negative box size, ``num`` < 1, a target id twice in one frame.
    """
    if classes is None:
        classes = DETRAC_CLASSES
    class_names = dict(classes) if isinstance(classes, Mapping) else dict(enumerate(classes))
    parser = _Parser(str(path), {name: cid for cid, name in class_names.items()})
    parser.run(Path(path).read_bytes())
    for name, cid in parser.class_of.items():
        class_names.setdefault(cid, name)
    p = parser
    data = {k: np.asarray(v, dtype=np.float32) for k, v in p.attrs.items() if not all(math.isnan(x) for x in v)}
    frames = np.asarray(p.frames, dtype=np.int64)
    if num_frames is None:
        num_frames = p.max_num
    elif len(frames) and frames.max() >= num_frames:
        i = int(np.argmax(frames))
        raise FormatError(f"{path}, line {p.lines[i]}: frame {frames[i] + 1} is past the video's {num_frames} frames")
    try:
        det = Detections.create(
            frames,
            _ltwh_to_xyxy(p.boxes),
            None,
            np.asarray(p.class_ids, dtype=np.int32),
            np.asarray(p.track_ids, dtype=np.int64),
            canvas=canvas,
            num_frames=num_frames,
            classes=class_names,
            data=data,
            source=str(path),
        )
    except ValidationError as exc:
        raise FormatError(f"{path}: {exc}") from exc
    return DetracAnnotation(det, _ltwh_to_xyxy(p.ignored), p.name, p.sequence_attributes)


def _ltwh_to_xyxy(boxes: list[list[float]]) -> np.ndarray:
    out = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out[:, 2:] += out[:, :2]
    return out


@dataclass
class _Target:
    id: int
    frame: int
    line: int
    box: list[float] | None = None
    vehicle: str | None = None
    attrs: dict[str, float] = field(default_factory=dict)


class _Parser:
    """Expat callbacks that collect one row per ``<target>`` into flat lists."""

    def __init__(self, path: str, class_of: dict[str, int]) -> None:
        self.path = path
        self.class_of = class_of
        self.name: str | None = None
        self.sequence_attributes: dict[str, str] = {}
        self.ignored: list[list[float]] = []
        self.frames: list[int] = []
        self.boxes: list[list[float]] = []
        self.track_ids: list[int] = []
        self.class_ids: list[int] = []
        self.lines: list[int] = []
        self.attrs: dict[str, list[float]] = {k: [] for k in _ATTRIBUTES}
        self.max_num = 0
        self.stack: list[str] = []
        self.frame: int | None = None
        self.seen: dict[int, int] = {}
        self.target: _Target | None = None
        self.expat = expat.ParserCreate()
        self.expat.StartElementHandler = self.start
        self.expat.EndElementHandler = self.end
        self.expat.StartDoctypeDeclHandler = self.refuse
        self.expat.EntityDeclHandler = self.refuse

    def run(self, raw: bytes) -> None:
        try:
            self.expat.Parse(raw, True)
        except expat.ExpatError as exc:
            message = expat.errors.messages[exc.code]
            raise FormatError(f"{self.path}, line {exc.lineno}: not well-formed XML ({message})") from exc
        if self.stack or (self.name is None and not self.frames and not self.ignored):
            raise FormatError(f"{self.path}: not a UA-DETRAC annotation (no <sequence> element)")

    @property
    def line(self) -> int:
        return int(self.expat.CurrentLineNumber)

    def fail(self, problem: str) -> FormatError:
        return FormatError(f"{self.path}, line {self.line}: {problem}")

    def refuse(self, *args: object) -> None:
        raise self.fail("DTD and entity declarations are not accepted in an annotation file")

    def number(self, attrs: dict[str, str], key: str, element: str) -> float:
        if key not in attrs:
            raise self.fail(f"<{element}> has no {key!r} attribute")
        try:
            value = float(attrs[key])
        except ValueError:
            raise self.fail(f"<{element}> {key}={attrs[key]!r} is not a number") from None
        if not math.isfinite(value):
            raise self.fail(f"<{element}> {key}={attrs[key]!r} is not finite")
        return value

    def whole(self, attrs: dict[str, str], key: str, element: str, limit: float = 2**53) -> int:
        value = self.number(attrs, key, element)
        if value != int(value):
            raise self.fail(f"<{element}> {key}={attrs[key]!r} is not a whole number")
        if abs(value) > limit:
            raise self.fail(f"<{element}> {key}={attrs[key]!r} is out of range (at most {limit:.0f})")
        return int(value)

    def box(self, attrs: dict[str, str]) -> list[float]:
        box = [self.number(attrs, k, "box") for k in ("left", "top", "width", "height")]
        if max(abs(v) for v in box) > MAX_COORDINATE:
            raise self.fail(f"<box> has a coordinate beyond ±{MAX_COORDINATE:.0e} pixels: {attrs}")
        if box[2] < 0 or box[3] < 0:
            raise self.fail(f"<box> has a negative width or height: {attrs}")
        return box

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        parent = self.stack[-1] if self.stack else None
        self.stack.append(tag)
        if tag == "sequence" and parent is None:
            self.name = attrs.get("name")
        elif tag == "sequence_attribute":
            self.sequence_attributes.update(attrs)
        elif tag == "box" and parent == "ignored_region":
            self.ignored.append(self.box(attrs))
        elif tag == "frame":
            num = self.whole(attrs, "num", "frame", MAX_FRAMES)
            if num < 1:
                raise self.fail(f"<frame num={num}>: frames are numbered from 1")
            self.frame, self.seen = num - 1, {}
            self.max_num = max(self.max_num, num)
        elif tag == "target":
            if self.frame is None:
                raise self.fail("<target> outside a <frame>")
            tid = self.whole(attrs, "id", "target")
            if tid < 0:
                raise self.fail(f"<target id={tid}>: ids must be >= 0")
            if tid in self.seen:
                raise self.fail(
                    f"target id {tid} appears twice in frame {self.frame + 1} (also on line {self.seen[tid]})"
                )
            self.seen[tid] = self.line
            self.target = _Target(tid, self.frame, self.line)
        elif tag == "box" and parent == "target" and self.target is not None:
            self.target.box = self.box(attrs)
        elif tag == "attribute" and parent == "target" and self.target is not None:
            for key in _ATTRIBUTES:
                if key in attrs:
                    self.target.attrs[key] = self.number(attrs, key, "attribute")
            self.target.vehicle = attrs.get("vehicle_type", self.target.vehicle)

    def end(self, tag: str) -> None:
        self.stack.pop()
        if tag != "target" or self.target is None:
            return
        target, self.target = self.target, None
        if target.box is None:
            raise self.fail(f"<target id={target.id}> (line {target.line}) has no <box>")
        self.frames.append(target.frame)
        self.boxes.append(target.box)
        self.track_ids.append(target.id)
        self.lines.append(target.line)
        if target.vehicle is None:
            self.class_ids.append(-1)
        else:
            next_id = max(self.class_of.values(), default=-1) + 1
            self.class_ids.append(self.class_of.setdefault(target.vehicle, next_id))
        for key in _ATTRIBUTES:
            self.attrs[key].append(target.attrs.get(key, math.nan))
