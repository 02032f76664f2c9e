"""The last lines of a command: what it made, in numbers a person can act on, and what to run next."""

from __future__ import annotations

import shlex
from pathlib import Path

import numpy as np

from selftrack.core.detections import Detections


def _q(path: Path | str) -> str:
    return shlex.quote(str(path))


def track_summary(
    given: Detections,
    tracks: Detections,
    out: Path,
    *,
    tracker: str,
    video: Path | None,
    stats: dict[str, int] | None = None,
    min_track_length: int = 0,
    interpolate: int = 0,
) -> list[str]:
    """Tracks and their mean length; boxes kept of boxes given and why the rest were dropped; what to run next.

    ``stats`` (from :func:`selftrack.ops.track.run_tracker`) splits the dropped boxes into those the tracker
    never linked and those of tracks under ``min_track_length``; without it (the re-id tracker, which
    drops short tracks itself) the dropped boxes are given as one number with both reasons.
    """
    interpolated = int(np.asarray(tracks.data["interpolated"]).sum()) if "interpolated" in tracks.data else 0
    if stats is not None:
        interpolated = stats["interpolated"]
    kept = len(tracks) - interpolated
    _, lengths = np.unique(tracks.track_id, return_counts=True) if len(tracks) else (None, np.zeros(0, int))
    frames = tracks.num_frames or tracks.frame_count
    lines = [f"{len(lengths)} tracks over {frames} frames -> {out}"]
    if len(lengths):
        lines.append(
            f"  track length: mean {lengths.mean():.1f} boxes, median {np.median(lengths):.0f}, "
            f"longest {lengths.max()}, shortest {lengths.min()}"
        )
    dropped = len(given) - kept
    boxes = f"  boxes: {kept} kept of {len(given)} given"
    if dropped > 0:
        if stats is not None:
            reasons = []
            if stats["given"] - stats["linked"]:
                reasons.append(f"{stats['given'] - stats['linked']} never linked into a track by {tracker}")
            if stats["short"]:
                reasons.append(f"{stats['short']} in tracks under {min_track_length} boxes (--min-track-length)")
            boxes += "; dropped " + " and ".join(reasons)
        else:
            why = f"not linked by {tracker}" + (
                f" or in tracks under {min_track_length} boxes" if min_track_length else ""
            )
            boxes += f"; dropped {dropped} ({why})"
    if interpolated:
        boxes += f"; {interpolated} added to fill gaps" + (f" of up to {interpolate} frames" if interpolate else "")
    lines.append(boxes)
    shown = _q(video) if video is not None else "VIDEO"
    lines.append(f"  render: selftrack render --video {shown} --tracks {_q(out)} --out {_q(out.with_suffix('.mp4'))}")
    lines.append(f"  score:  selftrack eval --gt GT.txt --tracks {_q(out)}")
    return lines
