"""``Detections``: every box of one video (or one image) as a struct of numpy arrays.

Why a struct of arrays: a one-hour video at 30 fps has millions of boxes; a Python object per box
(SkyhookML's ``[][]Detection``) costs ~100x the memory and makes IoU, filtering and metrics loops
instead of array operations. Rows are kept sorted by frame so a frame's boxes are one contiguous
slice found by binary search.

Tracks are not a separate type (as in SkyhookML): a ``Detections`` whose ``track_id`` column is
filled (``>= 0``; ``-1`` means "no track") *is* a set of tracks. ``tracks()`` views it per track.

Frame indices are 0-based here. File formats that count from 1 (MOTChallenge) convert at the
boundary, in ``selftrack.formats``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from selftrack.core.boxes import area as _area
from selftrack.core.boxes import xywh_to_xyxy, xyxy_to_xywh
from selftrack.core.errors import ValidationError

NO_TRACK = -1
"""Value of ``track_id`` for a box that belongs to no track."""

MAX_FRAMES = 100_000_000
"""Largest frame count (and frame index + 1) accepted: 38 days at 30 fps, 11 days at 100 fps. A file naming
frame 10^9 is a typo or an attack, and code that sizes anything by the frame count must not see it."""

MAX_COORDINATE = 1e7
"""Largest absolute box coordinate accepted, in pixels (canvases are at most tens of thousands wide); beyond
it, ``x + w`` loses precision and IoU arithmetic overflows."""


def _as_1d(values: Any, n: int, dtype: Any, name: str, default: Any) -> np.ndarray:
    if values is None:
        return np.full(n, default, dtype=dtype)
    arr = np.asarray(values)
    if arr.ndim == 0:
        return np.full(n, arr, dtype=dtype)
    if arr.shape != (n,):
        raise ValidationError(f"Detections.{name} must have shape ({n},), got {arr.shape}")
    return arr.astype(dtype, copy=False)


@dataclass(frozen=True, eq=False)
class Detections:
    """Boxes of one video: parallel arrays, one row per box, sorted by frame.

    Attributes:
        frame: ``int64 (n,)`` 0-based frame index of each box.
        xyxy: ``float64 (n, 4)`` box corners in pixels of ``canvas``.
        score: ``float32 (n,)`` detector confidence (1 for ground truth).
        class_id: ``int32 (n,)`` key into ``classes`` (-1 = unknown).
        track_id: ``int64 (n,)`` track identity, ``-1`` for none.
        canvas: ``(width, height)`` of the frame the coordinates refer to (SkyhookML's CanvasDims);
            ``None`` if unknown (e.g. a bare MOT file before it is paired with its video).
        num_frames: number of frames of the video the boxes belong to, or ``None`` if unknown.
            Frames without boxes are meaningful (the tracker still steps), so this is kept apart
            from ``frame.max()``.
        classes: ``{class_id: name}``.
        data: extra per-box columns (``visibility``, ``consider``, ``embedding``...), each with
            ``len(...) == n`` along axis 0; indexing keeps them aligned.
        source: what the boxes came from (a path or item key), used to name the item in errors.
    """

    frame: np.ndarray
    xyxy: np.ndarray
    score: np.ndarray
    class_id: np.ndarray
    track_id: np.ndarray
    canvas: tuple[int, int] | None = None
    num_frames: int | None = None
    classes: Mapping[int, str] = field(default_factory=dict)
    data: Mapping[str, np.ndarray] = field(default_factory=dict)
    source: str | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        frame: Any,
        xyxy: Any,
        score: Any = None,
        class_id: Any = None,
        track_id: Any = None,
        *,
        canvas: tuple[int, int] | None = None,
        num_frames: int | None = None,
        classes: Mapping[int, str] | None = None,
        data: Mapping[str, Any] | None = None,
        source: str | None = None,
        validate: bool = True,
    ) -> Detections:
        """Build from array-likes, cast dtypes, sort by frame (stable) and validate.

        ``score`` defaults to 1, ``class_id`` to 0 and ``track_id`` to ``-1`` (no track).
        """
        xyxy_arr = np.asarray(xyxy, dtype=np.float64)
        if xyxy_arr.size == 0:
            xyxy_arr = xyxy_arr.reshape(0, 4)
        if xyxy_arr.ndim != 2 or xyxy_arr.shape[1] != 4:
            raise ValidationError(f"Detections.xyxy must have shape (n, 4), got {xyxy_arr.shape}")
        n = len(xyxy_arr)
        frame_arr = _as_1d(frame, n, np.int64, "frame", 0)
        extra = {}
        for key, value in (data or {}).items():
            arr = np.asarray(value)
            if arr.ndim == 0 or len(arr) != n:
                raise ValidationError(f"Detections.data[{key!r}] must have length {n}, got {arr.shape}")
            extra[key] = arr
        det = cls(
            frame=frame_arr,
            xyxy=xyxy_arr,
            score=_as_1d(score, n, np.float32, "score", 1.0),
            class_id=_as_1d(class_id, n, np.int32, "class_id", 0),
            track_id=_as_1d(track_id, n, np.int64, "track_id", NO_TRACK),
            canvas=None if canvas is None else (int(canvas[0]), int(canvas[1])),
            num_frames=None if num_frames is None else int(num_frames),
            classes=dict(classes or {}),
            data=extra,
            source=source,
        )
        if n > 1 and np.any(np.diff(frame_arr) < 0):
            det = det[np.argsort(frame_arr, kind="stable")]
        if validate:
            det.validate()
        return det

    @classmethod
    def empty(
        cls,
        *,
        canvas: tuple[int, int] | None = None,
        num_frames: int | None = None,
        classes: Mapping[int, str] | None = None,
        source: str | None = None,
    ) -> Detections:
        """No boxes at all (a video where nothing was detected is still a valid item)."""
        return cls.create(
            np.zeros(0), np.zeros((0, 4)), canvas=canvas, num_frames=num_frames, classes=classes, source=source
        )

    @classmethod
    def from_xywh(cls, frame: Any, xywh: Any, *args: Any, **kwargs: Any) -> Detections:
        """Like :meth:`create` but with ``left, top, width, height`` boxes (MOT, COCO)."""
        return cls.create(frame, xywh_to_xyxy(np.asarray(xywh, dtype=np.float64).reshape(-1, 4)), *args, **kwargs)

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        """Concatenate boxes of the same video (e.g. per-frame detector outputs).

        Metadata (canvas, classes, num_frames, source) comes from the first part; ``data``
        columns are kept only if every part has them.
        """
        if not parts:
            return cls.empty()
        first = parts[0]
        keys = set(first.data)
        for p in parts[1:]:
            keys &= set(p.data)
        classes: dict[int, str] = {}
        for p in parts:
            classes.update(p.classes)
        nf = [p.num_frames for p in parts if p.num_frames is not None]
        return cls.create(
            np.concatenate([p.frame for p in parts]),
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.score for p in parts]),
            np.concatenate([p.class_id for p in parts]),
            np.concatenate([p.track_id for p in parts]),
            canvas=first.canvas,
            num_frames=max(nf) if nf else None,
            classes=classes,
            data={k: np.concatenate([p.data[k] for p in parts]) for k in sorted(keys)},
            source=first.source,
            validate=False,
        )

    def replace(self, **changes: Any) -> Detections:
        """A copy with some fields changed, validated again."""
        fields = {
            "frame": self.frame,
            "xyxy": self.xyxy,
            "score": self.score,
            "class_id": self.class_id,
            "track_id": self.track_id,
            "canvas": self.canvas,
            "num_frames": self.num_frames,
            "classes": self.classes,
            "data": self.data,
            "source": self.source,
        }
        fields.update(changes)
        frame, xyxy = fields.pop("frame"), fields.pop("xyxy")
        return Detections.create(frame, xyxy, **fields)

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise :class:`ValidationError` naming the item, the first bad row and the problem."""
        where = f" in {self.source}" if self.source else ""
        n = len(self)
        for name in ("frame", "score", "class_id", "track_id"):
            arr = getattr(self, name)
            if arr.shape != (n,):
                raise ValidationError(f"Detections.{name}{where} has shape {arr.shape}, expected ({n},)")

        def fail(mask: np.ndarray, problem: str) -> None:
            bad = np.flatnonzero(mask)
            if len(bad):
                i = int(bad[0])
                raise ValidationError(
                    f"{len(bad)} box(es){where} {problem}; first is row {i} "
                    f"(frame {int(self.frame[i])}, x1,y1,x2,y2 = {self.xyxy[i].tolist()})"
                )

        fail(~np.isfinite(self.xyxy).all(axis=1), "have NaN or infinite coordinates")
        fail(~np.isfinite(self.score), "have a NaN or infinite score")
        fail(
            (self.xyxy[:, 2] < self.xyxy[:, 0]) | (self.xyxy[:, 3] < self.xyxy[:, 1]),
            "are inverted (x2 < x1 or y2 < y1)",
        )
        fail(self.frame < 0, "have a negative frame index")
        fail(self.frame >= MAX_FRAMES, f"have a frame index of {MAX_FRAMES} or more (the most supported)")
        fail((np.abs(self.xyxy) > MAX_COORDINATE).any(axis=1), f"have a coordinate beyond ±{MAX_COORDINATE:.0e} pixels")
        fail(self.track_id < NO_TRACK, "have a track_id below -1")
        if self.num_frames is not None:
            if not 0 <= self.num_frames <= MAX_FRAMES:
                raise ValidationError(f"num_frames{where} must be in [0, {MAX_FRAMES}], got {self.num_frames}")
            fail(self.frame >= self.num_frames, f"have a frame index past the video's {self.num_frames} frames")
        if self.canvas is not None:
            w, h = self.canvas
            if w <= 0 or h <= 0:
                raise ValidationError(f"canvas{where} must be positive (width, height), got {self.canvas}")
            # Boxes may stick out of the frame, even wholly past its left or top edge (MOT17-10 gt
            # has people who walked out), but a box starting past the right or bottom edge means the
            # coordinates refer to a larger canvas: scaling never makes a coordinate negative.
            outside = (self.xyxy[:, 0] > w) | (self.xyxy[:, 1] > h)
            fail(outside, f"start past the right or bottom edge of the {w}x{h} canvas (wrong canvas size?)")
        tracked = np.flatnonzero(self.track_id >= 0)
        if len(tracked) > 1:  # sort by (frame, track): no product of the two that could overflow
            frame, track = self.frame[tracked], self.track_id[tracked]
            order = np.lexsort((track, frame))
            same = (frame[order[1:]] == frame[order[:-1]]) & (track[order[1:]] == track[order[:-1]])
            if same.any():
                k = int(order[int(np.flatnonzero(same)[0])])
                raise ValidationError(f"track_id {int(track[k])} appears twice in frame {int(frame[k])}{where}")

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return int(self.frame.shape[0])

    def __getitem__(self, index: Any) -> Detections:
        """Select rows with a boolean mask, an index array or a slice; keeps metadata."""
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1 if int(index) != -1 else None)
        return Detections(
            frame=self.frame[index],
            xyxy=self.xyxy[index],
            score=self.score[index],
            class_id=self.class_id[index],
            track_id=self.track_id[index],
            canvas=self.canvas,
            num_frames=self.num_frames,
            classes=self.classes,
            data={k: v[index] for k, v in self.data.items()},
            source=self.source,
        )

    def __repr__(self) -> str:
        tracks = f", {len(self.track_ids)} tracks" if self.has_tracks else ""
        return (
            f"Detections({len(self)} boxes, {self.frame_count} frames{tracks}, canvas={self.canvas}"
            + (f", source={self.source!r}" if self.source else "")
            + ")"
        )

    @property
    def xywh(self) -> np.ndarray:
        return xyxy_to_xywh(self.xyxy)

    @property
    def area(self) -> np.ndarray:
        return _area(self.xyxy)

    @property
    def frame_count(self) -> int:
        """``num_frames`` if known, else one past the last frame with a box."""
        if self.num_frames is not None:
            return self.num_frames
        return int(self.frame[-1]) + 1 if len(self) else 0

    @property
    def has_tracks(self) -> bool:
        return bool(np.any(self.track_id >= 0))

    @property
    def track_ids(self) -> np.ndarray:
        """Sorted unique track ids (excluding -1)."""
        return np.unique(self.track_id[self.track_id >= 0])

    def class_name(self, class_id: int) -> str:
        return self.classes.get(int(class_id), f"class{int(class_id)}")

    # ------------------------------------------------------------------ per frame
    def frame_bounds(self) -> np.ndarray:
        """Row offsets: boxes of frame ``f`` are rows ``bounds[f]:bounds[f+1]``."""
        return np.searchsorted(self.frame, np.arange(self.frame_count + 1), side="left")

    def at_frame(self, frame: int) -> Detections:
        """Boxes of one frame (binary search, no copy of other frames)."""
        lo, hi = np.searchsorted(self.frame, [frame, frame + 1], side="left")
        return self[slice(int(lo), int(hi))]

    def iter_frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, Detections]]:
        """Yield ``(frame, boxes)`` for every frame in ``[start, stop)``, including empty ones.

        Trackers need the empty frames too: a track ages even when nothing is detected.
        """
        stop = self.frame_count if stop is None else stop
        bounds = np.searchsorted(self.frame, np.arange(start, stop + 1), side="left")
        for i, f in enumerate(range(start, stop)):
            yield f, self[slice(int(bounds[i]), int(bounds[i + 1]))]

    def frames_range(self, start: int, stop: int) -> Detections:
        """Boxes of frames ``[start, stop)``, frame indices unchanged."""
        lo, hi = np.searchsorted(self.frame, [start, stop], side="left")
        return self[slice(int(lo), int(hi))]

    # ------------------------------------------------------------------ per track
    def tracks(self) -> dict[int, Detections]:
        """Per-track sequences ``{track_id: boxes sorted by frame}`` (boxes without a track skipped)."""
        tracked = self[self.track_id >= 0]
        if not len(tracked):
            return {}
        order = np.lexsort((tracked.frame, tracked.track_id))
        tracked = tracked[order]
        ids, starts = np.unique(tracked.track_id, return_index=True)
        ends = np.append(starts[1:], len(tracked))
        return {int(t): tracked[slice(int(s), int(e))] for t, s, e in zip(ids, starts, ends, strict=True)}

    def with_track_ids(self, track_id: Any) -> Detections:
        return self.replace(track_id=track_id)

    # ------------------------------------------------------------------ transforms
    def rescale(self, canvas: tuple[int, int]) -> Detections:
        """Coordinates moved to another canvas (e.g. detections at 960x544 drawn on a 1080p frame)."""
        if self.canvas is None:
            raise ValidationError(
                f"cannot rescale detections{' of ' + self.source if self.source else ''} with no canvas"
            )
        sx = canvas[0] / self.canvas[0]
        sy = canvas[1] / self.canvas[1]
        return self.replace(xyxy=self.xyxy * np.array([sx, sy, sx, sy]), canvas=tuple(canvas))

    def shift_frames(self, offset: int, num_frames: int | None = None) -> Detections:
        return self.replace(frame=self.frame + offset, num_frames=num_frames)

    # ------------------------------------------------------------------ comparison / export
    def equals(self, other: Detections, atol: float = 1e-6) -> bool:
        """Same boxes (to ``atol``) and same metadata; ``data`` columns must match too."""
        if len(self) != len(other) or self.canvas != other.canvas:
            return False
        if set(self.data) != set(other.data):
            return False
        return bool(
            np.array_equal(self.frame, other.frame)
            and np.allclose(self.xyxy, other.xyxy, atol=atol, rtol=0)
            and np.allclose(self.score, other.score, atol=atol, rtol=0)
            and np.array_equal(self.class_id, other.class_id)
            and np.array_equal(self.track_id, other.track_id)
            and all(np.allclose(self.data[k], other.data[k], atol=atol, rtol=0) for k in self.data)
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for ``np.savez`` (the store's compact on-disk form)."""
        out = {
            "frame": self.frame,
            "xyxy": self.xyxy,
            "score": self.score,
            "class_id": self.class_id,
            "track_id": self.track_id,
        }
        out.update({f"data.{k}": v for k, v in self.data.items()})
        return out

    def metadata(self) -> dict[str, Any]:
        """JSON-able metadata (canvas, classes, frame count); the store keeps it beside the arrays."""
        return {
            "canvas": list(self.canvas) if self.canvas else None,
            "num_frames": self.num_frames,
            "classes": {str(k): v for k, v in self.classes.items()},
            "num_boxes": len(self),
            "num_tracks": len(self.track_ids),
        }

    @classmethod
    def from_arrays(
        cls, arrays: Mapping[str, np.ndarray], metadata: Mapping[str, Any], source: str | None = None
    ) -> Detections:
        data = {k[5:]: v for k, v in arrays.items() if k.startswith("data.")}
        canvas = metadata.get("canvas")
        return cls.create(
            arrays["frame"],
            arrays["xyxy"],
            arrays["score"],
            arrays["class_id"],
            arrays["track_id"],
            canvas=tuple(canvas) if canvas else None,
            num_frames=metadata.get("num_frames"),
            classes={int(k): v for k, v in (metadata.get("classes") or {}).items()},
            data=data,
            source=source,
        )
