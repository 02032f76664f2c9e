"""Track bookkeeping shared by the trackers: a columnar track table and track states.

Tracks are rows of parallel arrays (one per attribute: Kalman mean and covariance, state, counts,
last frame...), not Python objects, so prediction, cost matrices and pruning run on whole arrays.
A tracker declares its columns once; adding tracks appends rows, ending tracks drops rows.

States follow ByteTrack's names: ``NEW`` (started, not confirmed yet), ``TRACKED`` (matched this
frame), ``LOST`` (missed, may still be re-found) and, implicitly, removed (the row is dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

NEW = np.int8(0)
TRACKED = np.int8(1)
LOST = np.int8(2)


class TrackTable:
    """Parallel arrays, one row per live track.

    Args:
        columns: ``{name: (per-row shape, dtype, fill value)}``; ``fill`` is used for rows added
            without a value for that column.

    Columns are attributes (``table.mean``); assign a whole column or write into it in place.
    """

    def __init__(self, columns: Mapping[str, tuple[tuple[int, ...], Any, Any]]) -> None:
        spec = dict(columns)
        for name in spec:
            if name.startswith("_") or hasattr(TrackTable, name):
                raise ValueError(f"track table column name {name!r} is reserved")
        object.__setattr__(self, "_spec", spec)
        object.__setattr__(self, "_size", 0)
        for name, (shape, dtype, _) in spec.items():
            # Columns live in the instance __dict__, so reading one is a plain attribute lookup.
            object.__setattr__(self, name, np.zeros((0, *shape), dtype=dtype))

    def __len__(self) -> int:
        return self._size

    def __getattr__(self, name: str) -> np.ndarray:
        raise AttributeError(f"track table has no column {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in self._spec:
            raise AttributeError(f"track table has no column {name!r}")
        shape, dtype, _ = self._spec[name]
        arr = np.asarray(value, dtype=dtype)
        if arr.shape != (self._size, *shape):
            raise ValueError(f"column {name!r} must have shape {(self._size, *shape)}, got {arr.shape}")
        object.__setattr__(self, name, arr)

    def add(self, count: int, **values: Any) -> np.ndarray:
        """Append ``count`` rows; returns their indices. Missing columns take their fill value."""
        unknown = set(values) - set(self._spec)
        if unknown:
            raise AttributeError(f"track table has no column(s) {sorted(unknown)}")
        if count == 0:
            return np.zeros(0, dtype=np.int64)
        columns = self.__dict__
        for name, (shape, dtype, fill) in self._spec.items():
            if name in values:
                new = np.broadcast_to(np.asarray(values[name], dtype=dtype), (count, *shape))
            else:
                new = np.full((count, *shape), fill, dtype=dtype)
            columns[name] = np.concatenate([columns[name], new])
        start = self._size
        object.__setattr__(self, "_size", start + count)
        return np.arange(start, start + count)

    def keep(self, mask: np.ndarray) -> None:
        """Keep only the rows where ``mask`` is true (the others' tracks end)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.all():
            return
        columns = self.__dict__
        for name in self._spec:
            columns[name] = columns[name][mask]
        object.__setattr__(self, "_size", int(mask.sum()))

    def clear(self) -> None:
        self.keep(np.zeros(self._size, dtype=bool))


def assign_public_ids(track_ids: np.ndarray, rows: np.ndarray, counter: Any) -> np.ndarray:
    """Give an id from ``counter`` to the tracks in ``rows`` that have none yet (``0``).

    Ids are handed out when a track is first output, not when it starts, so the output ids are
    1, 2, 3... without the gaps that unconfirmed candidates would leave.
    """
    fresh = rows[track_ids[rows] == 0]
    if len(fresh):
        track_ids[fresh] = counter.take(len(fresh))
    return track_ids[rows]
