"""``VideoInfo``: what selftrack knows about a video file without decoding it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any


@dataclass(frozen=True)
class VideoInfo:
    """Metadata of one video.

    ``fps`` is kept as an exact fraction (``30000/1001``) because frame indices are computed from
    it; floats drift over an hour of video. ``frame_count`` is the number of frames a full decode
    yields (probed from the container when it says, counted otherwise).
    """

    width: int
    height: int
    fps: Fraction
    frame_count: int
    codec: str
    duration: float = 0.0
    pix_fmt: str = ""
    path: str = ""

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fps"] = f"{self.fps.numerator}/{self.fps.denominator}"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VideoInfo:
        d = dict(d)
        d["fps"] = Fraction(d["fps"])
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
