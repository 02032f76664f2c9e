"""Offline stitching: join a track's end to another track's later start, by appearance, gated by geometry.

A fixed camera sees objects enter and leave through the image border, so a pair (A ends, B starts
``1..limit`` frames later) is a candidate in two cases only:

- *re-entry*: A's last box is at the border (it left the view) and B's first box is at the border
  (it entered); where along the border does not matter (nobody sees the object while it is away);
- *continuation*: B starts inside the view (not at the border) within reach of where A was heading:
  ``speed`` box heights per second lost, plus one, from A's last box moved by its velocity for at
  most a second.

A track lost inside the view is never joined to one *entering* at the border: that is someone else
walking in, while A's object is most often still in view under another track (an identity switch).
Both fragments must have at least ``min_track_length`` boxes: shorter ones are dropped as false
positives anyway and their few crops are weak evidence.

For every candidate pair, A's last ``window`` clean crops are scored against B's first ones with the
appearance matcher; the logits are averaged, a terminal column is appended and the min-softmax
probability is taken over all ends x starts, so a start that resembles two ends is not joined to
either. Joins are chosen by one assignment (each end and each start used once), which also chains
fragments A -> B -> C.

With camera motion (per-frame affines), positions and velocities are compared in the first frame's
coordinates (every box moved back by the accumulated camera motion); the border is the image's.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from selftrack.core.detections import Detections
from selftrack.reid.heads import NumpyHeads
from selftrack.reid.tracker.appearance import probability_matrix
from selftrack.reid.tracker.params import ReidTrackerParams
from selftrack.trackers.matching import assign

ASSUMED_FPS = 10.0
"""Frame rate for the speed gate when the video's is unknown (only with a limit in frames)."""


@dataclass(frozen=True)
class TrackLooks:
    """What stitching needs of every track's appearance, sorted by track id."""

    track_id: np.ndarray  # (n,)
    head: np.ndarray  # (n, window, members, width): target vectors of the first clean crops
    head_n: np.ndarray  # (n,)
    hist: np.ndarray  # (n, ring, members, width): query vectors of the last clean crops (a ring)
    hist_n: np.ndarray  # (n,)


def at_border(boxes: np.ndarray, canvas: tuple[int, int] | None, margin: float | None) -> np.ndarray:
    """Boxes within ``margin`` of their height of the image border (none when either is unknown)."""
    if margin is None or canvas is None:
        return np.zeros(len(boxes), dtype=bool)
    w, h = canvas
    dist = np.minimum.reduce([boxes[:, 0], boxes[:, 1], w - boxes[:, 2], h - boxes[:, 3]])
    return dist <= margin * (boxes[:, 3] - boxes[:, 1])


def reference_boxes(frame: np.ndarray, xyxy: np.ndarray, affines: np.ndarray) -> np.ndarray:
    """Boxes moved back to frame 0's coordinates by the accumulated camera motion.

    ``affines[f]`` maps frame ``f - 1`` to frame ``f`` (``affines[0]`` is ignored). Centres move by
    the inverse of the accumulated affine; widths and heights are scaled by its axis scales.
    """
    n = len(affines)
    acc = np.zeros((n, 3, 3))
    acc[:, 2, 2] = 1.0
    acc[0, :2, :2] = np.eye(2)
    for f in range(1, n):
        step = np.vstack([affines[f], [0.0, 0.0, 1.0]])
        acc[f] = step @ acc[f - 1]
    inv = np.linalg.inv(acc)[:, :2, :]  # frame f -> frame 0
    m = inv[frame]
    centre = (xyxy[:, :2] + xyxy[:, 2:]) / 2.0
    moved = np.einsum("nij,nj->ni", m[:, :, :2], centre) + m[:, :, 2]
    sx = np.hypot(m[:, 0, 0], m[:, 1, 0])
    sy = np.hypot(m[:, 0, 1], m[:, 1, 1])
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2.0 * np.stack([sx, sy], axis=1)
    return np.concatenate([moved - half, moved + half], axis=1)


def track_ends(tracks: Detections, boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per track (sorted by id): first/last frame and box, and velocity (px/frame) near its end.

    ``boxes`` replaces ``tracks.xyxy`` for positions and velocities (e.g. in frame 0's coordinates);
    ``first_image_box`` / ``last_image_box`` are always the image's.
    """
    order = np.lexsort((tracks.frame, tracks.track_id))
    tid, fr = tracks.track_id[order], tracks.frame[order]
    image = tracks.xyxy[order]
    box = image if boxes is None else boxes[order]
    ids, first = np.unique(tid, return_index=True)
    last = np.append(first[1:], len(tid)) - 1

    def velocity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        span = np.maximum(fr[b] - fr[a], 1)[:, None]
        return ((box[b, :2] + box[b, 2:]) - (box[a, :2] + box[a, 2:])) / 2 / span

    back = np.maximum(last - 5, first)
    return {
        "id": ids,
        "count": last - first + 1,
        "start": fr[first],
        "end": fr[last],
        "first_box": box[first],
        "last_box": box[last],
        "first_image_box": image[first],
        "last_image_box": image[last],
        "v_end": velocity(back, last),
    }


def candidate_pairs(
    ends: dict[str, np.ndarray],
    known: np.ndarray,
    params: ReidTrackerParams,
    limit: int,
    canvas: tuple[int, int] | None,
    fps: float | None,
) -> np.ndarray:
    """``(n, n)`` bool: may track ``a``'s end be joined to track ``b``'s start (see module doc)."""
    p, s = params, params.stitch
    gap = ends["start"][None, :] - ends["end"][:, None]  # (A, B)
    long_enough = (ends["count"] >= max(p.min_track_length, 1)) & known
    ok = (gap >= 1) & (gap <= limit) & long_enough[:, None] & long_enough[None, :]
    if not ok.any():
        return ok
    left = at_border(ends["last_image_box"], canvas, p.border_margin)
    entered = at_border(ends["first_image_box"], canvas, p.border_margin)
    # continuation inside the view: B's first box near A's last box moved by its velocity for <= 1 s
    fps = fps or ASSUMED_FPS
    c_end = (ends["last_box"][:, :2] + ends["last_box"][:, 2:]) / 2
    c_start = (ends["first_box"][:, :2] + ends["first_box"][:, 2:]) / 2
    g = np.clip(gap, 0, None).astype(np.float64)
    expect = c_end[:, None, :] + ends["v_end"][:, None, :] * np.minimum(g, fps)[..., None]
    dist = np.linalg.norm(c_start[None, :, :] - expect, axis=2)
    height = np.maximum(
        (ends["last_box"][:, 3] - ends["last_box"][:, 1])[:, None],
        (ends["first_box"][:, 3] - ends["first_box"][:, 1])[None, :],
    )
    near = ~entered[None, :] & (dist <= (s.speed * g / fps + 1.0) * height)
    return ok & (near | (left[:, None] & entered[None, :] & s.reentry))


def stitch(
    tracks: Detections,
    looks: TrackLooks,
    heads: NumpyHeads,
    params: ReidTrackerParams,
    *,
    limit: int,
    canvas: tuple[int, int] | None,
    fps: float | None,
    affines: np.ndarray | None = None,
) -> Detections:
    """``tracks`` with fragments joined (the later fragment takes the earlier one's id); see module doc."""
    if not len(tracks) or limit <= 0 or not len(looks.track_id):
        return tracks
    reference = None if affines is None else reference_boxes(tracks.frame, tracks.xyxy, affines)
    ends = track_ends(tracks, reference)
    sid = looks.track_id
    pos = np.minimum(np.searchsorted(sid, ends["id"]), len(sid) - 1)
    n = len(ends["id"])
    ok = candidate_pairs(ends, sid[pos] == ends["id"], params, limit, canvas, fps)
    rows, cols = np.flatnonzero(ok.any(axis=1)), np.flatnonzero(ok.any(axis=0))
    if not len(rows) or not len(cols):
        return tracks
    logits = np.full((len(rows), len(cols)), -20.0, dtype=np.float32)
    w = params.stitch.window
    ring = looks.hist.shape[1]
    for i, a in enumerate(rows):
        qa = pos[a]
        k = int(min(looks.hist_n[qa], w, ring))
        slots = (looks.hist_n[qa] - 1 - np.arange(k)) % ring
        queries = looks.hist[qa, slots]
        for j, b in enumerate(cols):
            if not ok[a, b]:
                continue
            tb = pos[b]
            targets = looks.head[tb, : int(min(looks.head_n[tb], w))]
            logits[i, j] = float(heads.logits(queries, targets).mean())
    prob = probability_matrix(heads, logits)[:, :-1]
    allowed = ok[np.ix_(rows, cols)] & (prob >= params.stitch.min_prob)
    cost = np.where(allowed, -prob, 1e6)
    pairs = assign(cost, cost_limit=0.0)
    pairs = pairs[allowed[pairs[:, 0], pairs[:, 1]]]
    if not len(pairs):
        return tracks
    # union the chains: every track maps to the first track of its chain
    parent = np.arange(n)
    nxt = np.full(n, -1)
    nxt[rows[pairs[:, 0]]] = cols[pairs[:, 1]]
    has_prev = np.zeros(n, dtype=bool)
    has_prev[cols[pairs[:, 1]]] = True
    for head_track in np.flatnonzero(~has_prev):
        cur = nxt[head_track]
        while cur >= 0:
            parent[cur] = head_track
            cur = nxt[cur]
    new_id = ends["id"][parent]
    mapped = new_id[np.searchsorted(ends["id"], tracks.track_id)]
    return dataclasses.replace(tracks, track_id=mapped)
