"""Offline stitching: join a track's end to another track's later start, by appearance, gated by geometry.

A fixed camera sees objects enter and leave through the image border, so a pair (A ends, B starts
``1..limit`` frames later) is a candidate in two cases only:

- *re-entry*: A's last box is at the border, moving towards it (it left the view), and B's first
  box is at the border, moving away from it (it entered), through the side A left by or through a
  side where objects are seen to leave as well as enter (:func:`two_way_sides`); where along the side does not matter (nobody sees the
  object while it is away), but on a one-way road, where cars only enter at the top and only leave
  at the bottom, a car leaving at the bottom is never the next one entering at the top;
- *continuation*: A was lost inside the view (not at the border) and B starts inside the view
  within reach of where A was heading: ``speed`` box heights per second lost, plus one, from A's
  last box moved by its velocity for at most a second.

A track lost inside the view is never joined to one *entering* at the border: that is someone else
walking in, while A's object is most often still in view under another track (an identity switch).
Both fragments must have at least ``min_track_length`` boxes: shorter ones are dropped as false
positives anyway and their few crops are weak evidence.

For every candidate pair, A's last ``window`` clean crops are scored against B's first ones with the
appearance matcher; the logits are averaged, a terminal column is appended and the min-softmax
probability is taken over all ends x starts, so a start that resembles two ends is not joined to
either. The score must also beat what *different* objects score on this video: tracks seen in the
same frame are certainly different, and a join must score above all but ``max_false_joins`` of
their scores (:func:`different_objects_bar`), so a model that cannot tell people apart joins nothing. Joins are chosen by one assignment (each end and each start used once), which also chains
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
from selftrack.trackers.cmc import camera_path, move_boxes
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
    return move_boxes(xyxy, np.linalg.inv(camera_path(affines, len(affines)))[frame])


def track_ends(tracks: Detections, boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per track (sorted by id): first/last frame and box, and velocity (px/frame) near each end.

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
    ahead = np.minimum(first + 5, last)
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
        "v_start": velocity(first, ahead),
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
    exit_side, entry_side = border_side(ends["last_image_box"], canvas), border_side(ends["first_image_box"], canvas)
    # an object leaves through a side moving towards it and enters moving away from it; a track lost at
    # the border while standing did neither, and a track that begins and ends at the same side, or in
    # the same corner, never went into the view (a fragment of something entering or leaving): none of
    # these is a re-entry
    first_c = (ends["first_image_box"][:, :2] + ends["first_image_box"][:, 2:]) / 2
    last_c = (ends["last_image_box"][:, :2] + ends["last_image_box"][:, 2:]) / 2
    size = np.maximum(ends["first_image_box"][:, 3] - ends["first_image_box"][:, 1], 1.0)
    stayed = (exit_side == entry_side) | (np.linalg.norm(last_c - first_c, axis=1) < 2.0 * size)
    stayed &= left & entered
    went_out = left & ~stayed & (_outward(ends["v_end"], exit_side) > 0)
    came_in = entered & ~stayed & (_outward(ends["v_start"], entry_side) < 0)
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
    near = ~left[:, None] & ~entered[None, :] & (dist <= (s.speed * g / fps + 1.0) * height)
    two_way = two_way_sides(exit_side[went_out], entry_side[came_in])
    back = (exit_side[:, None] == entry_side[None, :]) | two_way[entry_side][None, :]
    return ok & (near | (went_out[:, None] & came_in[None, :] & back & s.reentry))


def _outward(velocity: np.ndarray, side: np.ndarray) -> np.ndarray:
    """Each velocity's component towards its image side (0 left, 1 top, 2 right, 3 bottom)."""
    sign = np.array([-1.0, -1.0, 1.0, 1.0])[side]
    return sign * velocity[np.arange(len(side)), side % 2]


def border_side(boxes: np.ndarray, canvas: tuple[int, int] | None) -> np.ndarray:
    """The image side each box is nearest: 0 left, 1 top, 2 right, 3 bottom (0 when the canvas is unknown)."""
    if canvas is None or not len(boxes):
        return np.zeros(len(boxes), dtype=np.int64)
    w, h = canvas
    return np.argmin(np.stack([boxes[:, 0], boxes[:, 1], w - boxes[:, 2], h - boxes[:, 3]], axis=1), axis=1)


def two_way_sides(exits: np.ndarray, entries: np.ndarray, share: float = 0.1, evidence: int = 5) -> np.ndarray:
    """Per image side, whether objects may leave as well as enter there.

    A re-entry through a side other than the one the object left by means it went round outside the
    view; that is implausible through a side that is mostly entry: at least ``evidence`` objects
    entered there and fewer than ``share`` of its crossings were objects leaving. On a one-way road cars enter at the top and leave at the bottom:
    a car entering at the top is never one that left at the bottom. With less evidence every side
    counts as two-way.
    """
    out_count = np.bincount(exits, minlength=4).astype(np.float64)
    in_count = np.bincount(entries, minlength=4).astype(np.float64)
    entry_only = (in_count >= evidence) & (out_count < share * (out_count + in_count))
    return ~entry_only


class _JoinScore:
    """Appearance score of joining track ``a``'s end to track ``b``'s start: the mean logit of ``a``'s
    last ``window`` clean crops against ``b``'s first ones."""

    def __init__(self, looks: TrackLooks, heads: NumpyHeads, pos: np.ndarray, window: int) -> None:
        self.looks, self.heads, self.pos, self.window = looks, heads, pos, window
        self.ring = looks.hist.shape[1]

    def __call__(self, a: int, b: int) -> float:
        lk, qa, tb = self.looks, self.pos[a], self.pos[b]
        k = int(min(lk.hist_n[qa], self.window, self.ring))
        queries = lk.hist[qa, (lk.hist_n[qa] - 1 - np.arange(k)) % self.ring]
        targets = lk.head[tb, : int(min(lk.head_n[tb], self.window))]
        return float(self.heads.logits(queries, targets).mean())


def different_objects_bar(
    ends: dict[str, np.ndarray], known: np.ndarray, score: _JoinScore, false_rate: float, most: int = 400
) -> float | None:
    """The join score that pairs of *different* objects reach only ``false_rate`` of the time.

    Two tracks seen in the same frame are certainly different objects, so their join scores show
    what this model gives a wrong join, on this video, whatever its calibration: a join must score
    above the ``1 - false_rate`` quantile of them. ``None`` (no bar) with fewer than 10 such pairs.
    """
    both = np.flatnonzero(known)
    a, b = np.meshgrid(both, both, indexing="ij")
    a, b = a.ravel(), b.ravel()
    overlap = (a != b) & (ends["start"][b] <= ends["end"][a]) & (ends["start"][a] <= ends["end"][b])
    a, b = a[overlap], b[overlap]
    if len(a) < 10:
        return None
    if len(a) > most:
        pick = np.random.default_rng(0).choice(len(a), most, replace=False)
        a, b = a[pick], b[pick]
    values = np.array([score(int(i), int(j)) for i, j in zip(a, b, strict=True)])
    return float(np.quantile(values, 1.0 - false_rate))


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
    ok = candidate_pairs(ends, sid[pos] == ends["id"], params, limit, canvas, fps)
    rows, cols = np.flatnonzero(ok.any(axis=1)), np.flatnonzero(ok.any(axis=0))
    if not len(rows) or not len(cols):
        return tracks
    logits = np.full((len(rows), len(cols)), -20.0, dtype=np.float32)
    score = _JoinScore(looks, heads, pos, params.stitch.window)
    for i, a in enumerate(rows):
        for j, b in enumerate(cols):
            if ok[a, b]:
                logits[i, j] = score(a, b)
    prob = probability_matrix(heads, logits)[:, :-1]
    allowed = ok[np.ix_(rows, cols)] & (prob >= params.stitch.min_prob)
    bar = different_objects_bar(ends, sid[pos] == ends["id"], score, params.stitch.max_false_joins)
    if bar is not None:
        allowed &= logits > bar
    cost = np.where(allowed, -prob, 1e6)
    pairs = assign(cost, cost_limit=0.0)
    pairs = pairs[allowed[pairs[:, 0], pairs[:, 1]]]
    return join_chains(tracks, ends["id"], rows[pairs[:, 0]], cols[pairs[:, 1]])


def join_chains(tracks: Detections, ids: np.ndarray, before: np.ndarray, after: np.ndarray) -> Detections:
    """``tracks`` with track ``ids[after[i]]`` joined to ``ids[before[i]]`` (each index at most once on each
    side); chains A -> B -> C all take A's id."""
    if not len(before):
        return tracks
    n = len(ids)
    parent = np.arange(n)
    nxt = np.full(n, -1)
    nxt[before] = after
    has_prev = np.zeros(n, dtype=bool)
    has_prev[after] = True
    for head_track in np.flatnonzero(~has_prev):
        cur = nxt[head_track]
        while cur >= 0:
            parent[cur] = head_track
            cur = nxt[cur]
    mapped = ids[parent][np.searchsorted(ids, tracks.track_id)]
    return dataclasses.replace(tracks, track_id=mapped)
