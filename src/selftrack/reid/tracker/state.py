"""The re-id tracker's memory of its tracks: motion state, recent boxes, appearance history.

Tracks are rows of one :class:`~selftrack.trackers.lifecycle.TrackTable`: the Kalman state, the
last boxes (SkyhookML's velocity ring), the query vectors of the last clean crops (a ring of
``max(appearance.offsets)``), the target vectors of the first ones (for stitching), and UNS20's
recurrent state. Tracks that end keep what stitching needs of them (:class:`TrackLooks`).
"""

from __future__ import annotations

import numpy as np

from selftrack.reid.arch import box_features
from selftrack.reid.heads import NumpyHeads
from selftrack.reid.tracker import appearance as app
from selftrack.reid.tracker.params import ReidTrackerParams
from selftrack.reid.tracker.stitching import TrackLooks
from selftrack.trackers.base import IdCounter
from selftrack.trackers.cmc import warp_boxes
from selftrack.trackers.kalman import XYAHModel
from selftrack.trackers.lifecycle import TrackTable
from selftrack.trackers.velocity import NEVER, extrapolate


class TrackState:
    """Every live track of one video, and the appearance summaries of those that ended."""

    def __init__(
        self,
        params: ReidTrackerParams,
        heads: NumpyHeads | None,
        ids: IdCounter,
        frame_size: tuple[int, int],
        keep_looks: bool,
    ) -> None:
        self.params, self.heads, self._ids, self.frame_size = params, heads, ids, frame_size
        self.keep_looks = keep_looks
        self._kalman = XYAHModel()
        members = heads.members if heads else 1
        width = heads.width if heads else 1
        hidden = heads.hidden_dim if heads else 1
        self.hist_len = max(params.appearance.offsets)
        self.offsets = np.asarray(params.appearance.offsets, dtype=np.int64)
        v = params.motion.velocity_steps + 1
        self.table = TrackTable(
            {
                "mean": ((8,), np.float64, 0.0),
                "cov": ((8, 8), np.float64, 0.0),
                "box": ((4,), np.float64, 0.0),
                "vel_box": ((v, 4), np.float64, 0.0),
                "vel_frame": ((v,), np.int64, NEVER),
                "track_id": ((), np.int64, 0),
                "last": ((), np.int64, 0),
                "hits": ((), np.int64, 0),
                "hist": ((self.hist_len, members, width), np.float32, 0.0),
                "hist_n": ((), np.int64, 0),
                "hidden": ((members, hidden), np.float32, 0.0),
                "sbox": ((4,), np.float32, 0.0),
                "head": ((params.stitch.window, members, width), np.float32, 0.0),
                "head_n": ((), np.int64, 0),
            }
        )
        self._ended: list[TrackLooks] = []

    def __len__(self) -> int:
        return len(self.table)

    def appearance_logits(self, tracks: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Appearance logits of ``tracks`` (rows of the table) against target vectors (see :mod:`.appearance`)."""
        assert self.heads is not None
        t = self.table
        return app.track_logits(self.heads, t.hist[tracks], t.hist_n[tracks], self.offsets, targets)

    def oldest_queries(self, tracks: np.ndarray) -> np.ndarray:
        """Each track's oldest remembered query vector (``min(hist_n, ring)`` matches back)."""
        t = self.table
        back = np.minimum(t.hist_n[tracks], self.hist_len)
        return t.hist[tracks, (t.hist_n[tracks] - back) % self.hist_len]

    def kalman_boxes(self, tracks: np.ndarray) -> np.ndarray:
        return self._kalman.to_xyxy(self.table.mean[tracks])

    def warp(self, affine: np.ndarray) -> None:
        """Move every track's state by the camera motion from the previous frame to this one."""
        t = self.table
        if not len(t):
            return
        t.mean, t.cov = self._kalman.warp(t.mean, t.cov, affine)
        t.box = warp_boxes(t.box, affine)
        t.vel_box = warp_boxes(t.vel_box.reshape(-1, 4), affine).reshape(t.vel_box.shape)
        moving = t.sbox.any(axis=1)
        if moving.any():  # the box matcher's input: normalised centre and size
            w, h = self.frame_size
            c, s = t.sbox[moving, :2] * (w, h), t.sbox[moving, 2:] * (w, h)
            t.sbox[moving] = box_features(warp_boxes(np.concatenate([c - s / 2, c + s / 2], axis=1), affine), (w, h))

    def predict(self, frame: int) -> np.ndarray:
        """Every track's box predicted for ``frame`` (Kalman filter or SkyhookML's velocity step)."""
        t, p = self.table, self.params
        if len(t) == 0:
            return np.zeros((0, 4))
        if p.motion.model == "kalman":
            mean = t.mean.copy()
            mean[frame - t.last > 1, 7] = 0.0  # a lost track keeps its size (ByteTrack)
            t.mean, t.cov = self._kalman.predict(mean, t.cov)
            return self._kalman.to_xyxy(t.mean)
        # SkyhookML's heuristic: the centre's recent displacement per frame, size kept
        return extrapolate(t.vel_box, t.vel_frame, t.last, frame, p.motion.velocity_steps)

    def observe(
        self,
        ti: np.ndarray,
        boxes: np.ndarray,
        queries: np.ndarray,
        frame: int,
        reinit: np.ndarray,
        targets: np.ndarray | None = None,
        clean: np.ndarray | None = None,
    ) -> None:
        """Record matched boxes: filter update, velocity ring, appearance history (clean crops only)."""
        if len(ti) == 0:
            return
        t, p = self.table, self.params
        if p.motion.model == "kalman":
            z = self._kalman.to_measurement(boxes)
            if not reinit.any():  # the usual frame: every match updates its filter (no masks to apply)
                t.mean[ti], t.cov[ti] = self._kalman.update(t.mean[ti], t.cov[ti], z)
            else:
                upd = ~reinit
                t.mean[ti[upd]], t.cov[ti[upd]] = self._kalman.update(t.mean[ti[upd]], t.cov[ti[upd]], z[upd])
                t.mean[ti[reinit]], t.cov[ti[reinit]] = self._kalman.initiate(z[reinit])
        slot = frame % (p.motion.velocity_steps + 1)
        t.vel_box[ti, slot] = boxes
        t.vel_frame[ti, slot] = frame
        t.box[ti] = boxes
        t.last[ti] = frame
        t.hits[ti] += 1
        if self.heads is not None:
            keep = np.ones(len(ti), dtype=bool) if clean is None else clean | (t.hist_n[ti] == 0)
            tk = ti[keep]
            t.hist[tk, t.hist_n[tk] % self.hist_len] = queries[keep]
            t.hist_n[tk] += 1
            if targets is not None:
                early = keep & (t.head_n[ti] < p.stitch.window)
                te = ti[early]
                t.head[te, t.head_n[te]] = targets[early]
                t.head_n[te] += 1

    def start(self, boxes: np.ndarray, queries: np.ndarray, frame: int, targets: np.ndarray) -> np.ndarray:
        """New tracks from ``boxes``; returns their ids."""
        n = len(boxes)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        t = self.table
        mean, cov = self._kalman.initiate(self._kalman.to_measurement(boxes))
        ids = self._ids.take(n)
        new = t.add(n, mean=mean, cov=cov, box=boxes, track_id=ids, last=frame, hits=1)
        slot = frame % (self.params.motion.velocity_steps + 1)
        t.vel_box[new, slot] = boxes
        t.vel_frame[new, slot] = frame
        if self.heads is not None:
            t.hist[new, 0] = queries
            t.hist_n[new] = 1
            t.head[new, 0] = targets
            t.head_n[new] = 1
        t.sbox[new] = box_features(boxes, self.frame_size)
        return ids

    def keep(self, mask: np.ndarray) -> None:
        """Drop the tracks not in ``mask``, keeping what offline stitching needs of them."""
        if mask.all():  # most frames end no track
            return
        t = self.table
        gone = np.flatnonzero(~mask)
        if self.keep_looks:
            gone = gone[t.hits[gone] >= max(self.params.min_track_length, 1)]  # shorter ones are never stitched
            self._ended.append(TrackLooks(t.track_id[gone], t.head[gone], t.head_n[gone], t.hist[gone], t.hist_n[gone]))
        t.keep(mask)

    def looks(self) -> TrackLooks:
        """Every track's appearance summary, ended or alive, sorted by track id."""
        t = self.table
        parts = [*self._ended, TrackLooks(t.track_id, t.head, t.head_n, t.hist, t.hist_n)]
        cols = [np.concatenate([getattr(part, f) for part in parts]) for f in TrackLooks.__dataclass_fields__]
        order = np.argsort(cols[0], kind="stable")
        return TrackLooks(*(c[order] for c in cols))
