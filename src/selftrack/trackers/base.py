"""The tracker contract: a ``Tracker`` ABC, typed parameters and a name registry.

Why one contract: the pipeline, the CLI, the web forms and the benchmark all drive trackers the same
way (``get_tracker(name, **params).track(detections)``), and parameter forms are generated from each
tracker's pydantic ``Params`` model (defaults, ranges and descriptions are declared once, there).
Unset optional parameters are ``None``; zero is always a real value (SkyhookML's "0 means default"
made ``MinIOU=0`` impossible to set).

Every bit of state lives on the instance, the id counter included, so two trackers never share ids
and ``reset()`` starts again at 1 (SORT and roboflow/trackers keep class-level counters).

Subclasses implement ``_reset_state`` and ``_step``; ``_step`` sees one frame as plain arrays and
answers which input rows are output this frame, with which box and which track id. ``update`` and
``track`` wrap that into :class:`~selftrack.core.Detections` (one :class:`OutputBuilder` for every
tracker, the re-id tracker's included), so the per-frame hot path never builds objects per box.
Boxes may come with per-box appearance vectors (``features``); motion-only trackers ignore them,
as they ignore the frame's pixels.
"""

from __future__ import annotations

import dataclasses
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pydantic

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackWarning, ValidationError, validation_message
from selftrack.trackers.adaptive import DetectionProfile, detection_profile, settings_lines
from selftrack.trackers.cmc import check_affine, check_transforms

ProgressCallback = Callable[[int, int], None]
"""``progress(frames_done, frames_total)``, called about 100 times per video and at the end."""


class TrackerParams(pydantic.BaseModel):
    """Base of every tracker's parameter model: unknown names are refused, values are immutable."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)


@dataclasses.dataclass(frozen=True)
class StepResult:
    """What one frame of tracking produced, as arrays aligned with each other.

    Attributes:
        rows: ``int64 (k,)`` indices into the frame's input boxes of the boxes that are output.
        xyxy: ``float64 (k, 4)`` output box of each (the detection, or the filter's estimate).
        track_id: ``int64 (k,)`` track of each, ``>= 1``.
    """

    rows: np.ndarray
    xyxy: np.ndarray
    track_id: np.ndarray

    @staticmethod
    def empty() -> StepResult:
        return StepResult(np.zeros(0, dtype=np.int64), np.zeros((0, 4)), np.zeros(0, dtype=np.int64))


class IdCounter:
    """Hands out track ids 1, 2, 3... for one tracker instance (never shared, see module doc)."""

    def __init__(self) -> None:
        self._next = 1

    def take(self, count: int = 1) -> np.ndarray:
        """The next ``count`` ids, as an ``int64`` array."""
        ids = np.arange(self._next, self._next + count, dtype=np.int64)
        self._next += count
        return ids


class OutputBuilder:
    """Gathers each frame's output rows, boxes and ids, then builds the tracked :class:`Detections` once.

    Rows are indices into the whole video's detections; a frame's rows are kept in input order.
    """

    def __init__(self) -> None:
        self._rows: list[np.ndarray] = []
        self._boxes: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []

    def add(self, step: StepResult, offset: int = 0) -> None:
        """Add one frame's result; ``offset`` turns the frame's row indices into the video's."""
        if len(step.rows):
            order = np.argsort(step.rows, kind="stable")
            self._rows.append(np.asarray(step.rows[order], dtype=np.int64) + offset)
            self._boxes.append(np.asarray(step.xyxy[order], dtype=np.float64))
            self._ids.append(np.asarray(step.track_id[order], dtype=np.int64))

    def build(self, detections: Detections) -> Detections:
        """The output rows of ``detections`` (scores, classes, ``data`` kept) with their boxes and ids."""
        if not self._rows:
            return dataclasses.replace(detections[np.zeros(0, dtype=np.int64)])
        index = np.concatenate(self._rows)
        order = np.argsort(index, kind="stable")  # frames were added in order; this only guards misuse
        return dataclasses.replace(
            detections[index[order]],
            xyxy=np.concatenate(self._boxes)[order],
            track_id=np.concatenate(self._ids)[order],
        )


def _has_area(xyxy: np.ndarray) -> np.ndarray:
    """Boxes of positive width and height (the others have no IoU with anything)."""
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    return (w > 0) & (h > 0) & (w * h > 0)


_REGISTRY: dict[str, type[Tracker]] = {}


class Tracker(ABC):
    """A multi-object tracker that links per-frame detections into tracks.

    Subclasses set ``name`` (the registry key) and ``Params`` (a :class:`TrackerParams` model) as
    class attributes and are registered when the class is defined, unless declared with
    ``register=False`` (a tracker that needs more than detections, e.g. a trained model).

    Call :meth:`update` once per frame, in frame order, with that frame's boxes (empty frames too:
    tracks age on them), or :meth:`track` with a whole video. Output rows are input rows (their
    score, class and ``data`` columns are kept) with ``track_id >= 1`` set; which box is output
    (the detection or the filter's estimate) is documented per tracker.
    """

    name: ClassVar[str]
    Params: ClassVar[type[TrackerParams]]

    def __init_subclass__(cls, register: bool = True, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return  # an intermediate base class, not a tracker one can ask for by name
        if not isinstance(name, str) or not name:
            raise TypeError(f"{cls.__qualname__}.name must be a non-empty string, got {name!r}")
        params = cls.__dict__.get("Params")
        if not (isinstance(params, type) and issubclass(params, TrackerParams)):
            raise TypeError(f"tracker {name!r} ({cls.__qualname__}) must define Params, a TrackerParams subclass")
        for field_name, field in params.model_fields.items():
            if not field.description:
                raise TypeError(f"tracker {name!r}: parameter {field_name!r} has no description")
        if not register:
            return
        existing = _REGISTRY.get(name)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise TypeError(f"tracker name {name!r} is taken by {existing.__qualname__}")
        _REGISTRY[name] = cls

    def __init__(self, params: TrackerParams | None = None, **overrides: Any) -> None:
        """Build with ``params`` (default: the defaults), then apply ``overrides`` by name.

        Raises:
            ValidationError: an unknown parameter, or a value of the wrong type or out of range;
                the message names the tracker and the parameter.
        """
        self.requested = self._resolve_params(params, overrides)
        self.params = self.requested
        self.profile: DetectionProfile | None = None
        self.chosen: dict[str, Any] = {}
        self.reset()

    @classmethod
    def _resolve_params(cls, params: TrackerParams | None, overrides: dict[str, Any]) -> Any:
        """``params`` (or the defaults) with ``overrides`` applied, validated; one error naming each bad value."""
        try:
            if params is None:
                return cls.Params(**overrides)
            if not isinstance(params, cls.Params):
                raise ValidationError(f"tracker {cls.name!r} takes {cls.Params.__name__}, got {type(params).__name__}")
            if not overrides:
                return params
            return cls.Params.model_validate({**params.model_dump(exclude_unset=True), **overrides})
        except pydantic.ValidationError as exc:
            message = validation_message(f"parameters for tracker {cls.name!r}", exc, fields=cls.Params.model_fields)
            raise ValidationError(message) from exc

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.model_dump().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ public API
    def reset(self) -> None:
        """Forget every track and restart ids at 1 (call between videos)."""
        self._ids = IdCounter()
        self._last_frame: int | None = None
        self._frames_stepped = 0
        self._auto_pending = True  # preset="auto": settings chosen again for the next video
        self._reset_state()

    def adapt(self, scores: np.ndarray) -> None:
        """Choose the ``preset="auto"`` settings from a video's detection scores (see :mod:`.adaptive`).

        :meth:`track` does this with the whole video's scores. A caller driving :meth:`update` that
        knows them beforehand calls it after :meth:`reset`; otherwise the first frame with boxes
        decides. Parameters set explicitly are kept; with ``preset="official"`` nothing changes.
        """
        self._auto_pending = False
        requested = getattr(self, "requested", None)
        if requested is None or getattr(requested, "preset", "official") != "auto":
            return
        self.profile = detection_profile(scores)
        self.chosen = {k: v for k, v in self._auto_params(self.profile).items() if k not in requested.model_fields_set}
        self.params = type(requested).model_validate({**requested.model_dump(), **self.chosen})

    def settings(self) -> list[str]:
        """What this tracker chose from the detections (the lines the CLI and the track op log)."""
        return settings_lines(self.name, getattr(self, "requested", None), self.profile, self.chosen)

    def _auto_params(self, profile: DetectionProfile) -> dict[str, Any]:
        """The parameter values ``preset="auto"`` picks for detections like ``profile`` (none by default)."""
        del profile
        return {}

    def update(
        self,
        detections: Detections,
        frame: int,
        *,
        image: np.ndarray | None = None,
        transform: np.ndarray | None = None,
        features: np.ndarray | None = None,
    ) -> Detections:
        """Track one frame.

        Args:
            detections: the boxes detected in ``frame`` (possibly none).
            frame: 0-based index of the frame; must be larger than the previous call's. Frames
                skipped since the previous call are stepped as empty frames, so tracks age as if
                they had been passed.
            image: the frame's pixels; unused by the motion-only trackers (accepted so callers
                need not know which tracker they drive).
            transform: optional ``(2, 3)`` affine that maps pixel coordinates of the previous frame
                to this frame (camera-motion compensation, e.g. one row of a ``gmc.txt``); track
                predictions are moved by it before association.
            features: optional per-box appearance vectors ``(n, ...)`` for trackers that use
                appearance (unused by the motion-only trackers).

        Returns:
            The boxes output this frame: a subset of ``detections`` (scores, classes and ``data``
            kept), each with its ``track_id`` (``>= 1``) and the tracker's output box.
        """
        del image  # motion-only trackers do not look at pixels
        if not isinstance(detections, Detections):
            raise ValidationError(f"tracker {self.name!r}: update() takes Detections, got {type(detections).__name__}")
        frame = int(frame)
        if len(detections) and (detections.frame[0] != frame or detections.frame[-1] != frame):
            where = f" from {detections.source}" if detections.source else ""
            raise ValidationError(
                f"tracker {self.name!r}: update(frame={frame}) got boxes{where} of frame(s) "
                f"{np.unique(detections.frame).tolist()[:5]}; pass one frame's boxes at a time"
            )
        affine = None if transform is None else check_affine(transform, f"tracker {self.name!r} transform")
        if features is not None and len(features) != len(detections):
            raise ValidationError(
                f"tracker {self.name!r}: frame {frame} has {len(detections)} boxes but {len(features)} appearance vectors"
            )
        if features is not None:
            features = features[_has_area(detections.xyxy)]  # the rows _trackable keeps
        detections = self._trackable(detections)
        if self._auto_pending and len(detections) and not self._has_tracks():
            self.adapt(detections.score)
        self._advance_to(frame)
        step = self._step(detections.xyxy, detections.score, detections.class_id, affine, features)
        self._last_frame = frame
        self._frames_stepped += 1
        return self._output_frame(detections, step, frame)

    def track(
        self,
        detections: Detections,
        *,
        transforms: np.ndarray | None = None,
        progress: ProgressCallback | None = None,
    ) -> Detections:
        """Track a whole video from scratch (the tracker is reset first).

        Args:
            detections: every box of the video; every frame up to ``detections.frame_count`` is
                stepped, the ones without boxes included.
            transforms: optional ``(num_frames, 2, 3)`` camera motion, ``transforms[f]`` mapping
                frame ``f - 1`` coordinates to frame ``f`` (see :func:`selftrack.formats.mot.read_gmc`).
            progress: optional ``progress(done, total)`` callback.

        Returns:
            The tracked boxes (``track_id >= 1``) with the input's canvas, classes and frame count.
        """
        if not isinstance(detections, Detections):
            raise ValidationError(f"tracker {self.name!r}: track() takes Detections, got {type(detections).__name__}")
        detections = self._trackable(detections)
        affines = (
            None if transforms is None else check_transforms(transforms, detections.frame_count, detections.source)
        )
        self.reset()
        self.adapt(detections.score)
        return self._track_frames(detections, affines, progress)

    def _track_frames(
        self,
        detections: Detections,
        affines: np.ndarray | None,
        progress: ProgressCallback | None,
        features: np.ndarray | None = None,
    ) -> Detections:
        """Step the frames of ``detections`` from a fresh state and build the output (no checks).

        Only frames with boxes, and the empty frames a live track ages on, are stepped: time and memory
        grow with the boxes, not with the frame numbers (a 2-line file naming frame 10^8 is instant).
        """
        total = detections.frame_count
        xyxy, score, class_id = detections.xyxy, detections.score, detections.class_id
        frame = detections.frame
        starts = np.flatnonzero(np.diff(frame, prepend=-1))
        ends = np.append(starts[1:], len(frame)) if len(starts) else starts
        every = max(1, len(starts) // 100)
        empty_xyxy, empty_score, empty_class = np.zeros((0, 4)), np.zeros(0, np.float32), np.zeros(0, np.int32)
        empty_features = None if features is None else features[:0]
        out = OutputBuilder()
        f = 0  # next frame to step
        for i, (lo, hi) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            present = int(frame[lo])
            while f < present:  # the empty frames before this one
                if self._idle():
                    self._skip_empty(present - f)
                    f = present
                    break
                self._step(
                    empty_xyxy, empty_score, empty_class, None if affines is None else affines[f], empty_features
                )
                f += 1
            step = self._step(
                xyxy[lo:hi],
                score[lo:hi],
                class_id[lo:hi],
                None if affines is None else affines[f],
                None if features is None else features[lo:hi],
            )
            f += 1
            out.add(step, lo)
            if progress is not None and ((i + 1) % every == 0 or i + 1 == len(starts)):
                progress(f if i + 1 < len(starts) else total, total)
        if progress is not None and not len(starts):
            progress(total, total)
        self._last_frame = total - 1 if total else None
        self._frames_stepped = total
        tracks = out.build(detections)
        self._check_output(tracks.xyxy)
        return tracks

    def _trackable(self, detections: Detections) -> Detections:
        """The boxes a tracker can follow, saying what is left out or unusual (never silently).

        A box of zero width or height has no area, so no IoU with anything: motion models turn it into NaN
        (SORT wrote NaN coordinates) or lose it. Such boxes are left out with a warning. Scores outside
        [0, 1] are kept, with a warning: every threshold of these trackers assumes confidences in [0, 1].
        """
        where = f" of {detections.source}" if detections.source else ""
        degenerate = ~_has_area(detections.xyxy)
        if degenerate.any():
            i = int(np.flatnonzero(degenerate)[0])
            warnings.warn(
                SelftrackWarning(
                    f"tracker {self.name!r}: {int(degenerate.sum())} box(es){where} have zero width or height and "
                    f"cannot be tracked; they are left out (first in frame {int(detections.frame[i])})"
                ),
                stacklevel=3,
            )
            detections = detections[~degenerate]
        score = detections.score
        outside = (score < 0) | (score > 1)
        if outside.any():
            warnings.warn(
                SelftrackWarning(
                    f"tracker {self.name!r}: {int(outside.sum())} of {len(score)} scores{where} are outside [0, 1] "
                    f"(from {float(score.min()):.3g} to {float(score.max()):.3g}); the tracker's thresholds assume "
                    "confidences in [0, 1]: rescale the scores or set thresholds for their range"
                ),
                stacklevel=3,
            )
        return detections

    def _check_output(self, xyxy: np.ndarray) -> None:
        if not np.isfinite(xyxy).all():
            raise ValidationError(f"tracker {self.name!r} produced non-finite boxes (a bug: please report it)")

    def _idle(self) -> bool:
        """Whether an empty frame would change nothing but the frame counter: no track in any state.

        True only for trackers that keep every track in ``self._tracks`` and count frames in ``self._count``
        (all the classic ones here); any other tracker steps every frame.
        """
        tracks = getattr(self, "_tracks", None)
        return tracks is not None and len(tracks) == 0 and isinstance(getattr(self, "_count", None), int)

    def _has_tracks(self) -> bool:
        tracks = getattr(self, "_tracks", None)
        return tracks is not None and len(tracks) > 0

    def _skip_empty(self, count: int) -> None:
        """Advance over ``count`` empty frames while idle (see :meth:`_idle`): only the frame counter moves."""
        self._count += count

    # ------------------------------------------------------------------ for subclasses
    @abstractmethod
    def _reset_state(self) -> None:
        """Drop all tracks (ids are reset by :meth:`reset`)."""

    @abstractmethod
    def _step(
        self,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_id: np.ndarray,
        affine: np.ndarray | None,
        features: np.ndarray | None = None,
    ) -> StepResult:
        """Advance one frame with its boxes; ``affine`` maps the previous frame to this one.

        ``features`` are the boxes' appearance vectors when the caller has them (ignored by
        motion-only trackers).
        """

    # ------------------------------------------------------------------ helpers
    def _advance_to(self, frame: int) -> None:
        if frame < 0:
            raise ValidationError(f"tracker {self.name!r}: frame must be >= 0, got {frame}")
        if self._last_frame is not None:
            if frame <= self._last_frame:
                raise ValidationError(
                    f"tracker {self.name!r}: frame {frame} comes after frame {self._last_frame}; frames must "
                    "increase (call reset() before another video)"
                )
            empty = np.zeros((0, 4))
            for f in range(self._last_frame + 1, frame):
                if self._idle():
                    self._skip_empty(frame - f)
                    self._frames_stepped += frame - f
                    break
                self._step(empty, np.zeros(0, np.float32), np.zeros(0, np.int32), None, None)
                self._frames_stepped += 1

    @staticmethod
    def _output_frame(detections: Detections, step: StepResult, frame: int) -> Detections:
        order = np.argsort(step.rows, kind="stable")
        out = detections[step.rows[order]]
        return dataclasses.replace(
            out,
            frame=np.full(len(order), frame, dtype=np.int64),
            xyxy=np.asarray(step.xyxy[order], dtype=np.float64),
            track_id=np.asarray(step.track_id[order], dtype=np.int64),
        )


def get_tracker(name: str, **params: Any) -> Tracker:
    """A new tracker by registry name (``"iou"``, ``"sort"``, ``"bytetrack"``, ``"ocsort"``).

    Raises:
        ValidationError: unknown name (the message lists the known ones) or bad parameters.
    """
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValidationError(f"unknown tracker {name!r}; known trackers: {', '.join(sorted(_REGISTRY))}")
    return cls(**params)


def list_trackers() -> dict[str, type[TrackerParams]]:
    """``{name: Params model}`` of every registered tracker, sorted by name."""
    return {name: _REGISTRY[name].Params for name in sorted(_REGISTRY)}


def tracker_class(name: str) -> type[Tracker]:
    """The class registered under ``name`` (for docs and forms that need more than ``Params``)."""
    cls = _REGISTRY.get(name)
    if cls is None:
        raise ValidationError(f"unknown tracker {name!r}; known trackers: {', '.join(sorted(_REGISTRY))}")
    return cls
