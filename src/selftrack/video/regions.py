"""Decoded frames whose RGB pixels are converted on demand, one region at a time.

Converting a whole decoded frame from the codec's YUV to RGB costs about as much as decoding it (a
swscale pass over every pixel). A consumer that only needs the pixels inside a few boxes (the
re-id crops) converts only those: :meth:`FramePixels.region` cuts the box's rectangle out of the
Y, U and V planes and converts just that, with the same swscale conversion as the whole frame.

Why the result is the whole frame's, bit for bit: for 4:2:0 frames converted at their own size,
swscale computes every RGB pixel from its own Y sample and the chroma sample of its 2x2 block, and
nothing else. A region whose corners sit on even rows and columns (so chroma blocks are not split)
and whose width is a multiple of 16 (so the vector loop covers it as it covers the frame) therefore
gets the same values. This is checked, not assumed: the first time a kind of frame (pixel format,
size, colour space and range) is seen, a few regions of it are compared with the whole frame's
conversion, and any difference turns the region path off for that kind (every region is then cut
from the whole frame's conversion, as before).
"""

from __future__ import annotations

from collections.abc import Callable

import av
import numpy as np
from av.video.reformatter import VideoReformatter

REGION_FORMATS = frozenset({"yuv420p", "yuvj420p"})
"""Pixel formats converted region by region; frames of other formats are converted whole."""

MAX_PACKED_ROWS = 4096
"""Most rows of rectangles converted in one pass (more: the whole frame is converted)."""

_checked: dict[tuple[object, ...], bool] = {}
"""Per kind of frame: whether region conversion was found equal to the whole frame's."""


def _kind(frame: av.VideoFrame) -> tuple[object, ...]:
    return (frame.format.name, frame.width, frame.height, int(frame.colorspace), int(frame.color_range))


def regions_supported(frame: av.VideoFrame) -> bool:
    """Whether :class:`FramePixels` converts this frame's regions alone (else the whole frame, once)."""
    if frame.format.name not in REGION_FORMATS or frame.width % 16 or frame.height % 2:
        return False
    kind = _kind(frame)
    if kind not in _checked:
        _checked[kind] = _regions_match(frame)
    return _checked[kind]


def _regions_match(frame: av.VideoFrame) -> bool:
    """Convert a few regions of ``frame`` (edges, corners, the middle) and compare with the whole frame."""
    whole = frame.to_ndarray(format="rgb24")
    w, h = frame.width, frame.height
    probe = FramePixels(frame, whole=lambda: whole, regions=True)
    # corners and edges, odd and even sides, different widths side by side in one pass
    rects = [(0, 0, min(w, 24), min(h, 6)), (w // 2 - 7, h // 2 - 9, w // 2 + 41, h // 2 + 35), (w - 19, h - 13, w, h)]
    rects += [(w // 3 + 1, 3, w // 3 + 2, 4), (5, h // 2, min(w, 38), h // 2 + 31)]
    rects = [(max(0, x1), max(0, y1), x2, y2) for x1, y1, x2, y2 in rects if x2 > max(0, x1) and y2 > max(0, y1)]
    packed = probe._packed(rects, *probe._align(rects))  # packed even where the whole frame would be cheaper
    return all(np.array_equal(got, whole[y1:y2, x1:x2]) for (x1, y1, x2, y2), got in zip(rects, packed, strict=True))


class FramePixels:
    """The RGB pixels of one decoded frame, converted when asked for: the whole frame or regions.

    ``shape`` is ``(height, width, 3)`` of the RGB frame. :meth:`rgb` is the frame as
    ``VideoReader`` gives it; :meth:`region` the part ``[y1:y2, x1:x2]`` of it (same values),
    converted alone where the frame allows it (see the module's docstring) and otherwise cut from
    :meth:`rgb` (converted once, on first use). ``whole`` converts the whole frame; ``regions``
    forces the choice (``None``: :func:`regions_supported`); ``size`` (width, height) is that of
    ``whole()``'s frames where they are resized (their regions are then cut from the whole frame).
    """

    def __init__(
        self,
        frame: av.VideoFrame,
        whole: Callable[[], np.ndarray],
        *,
        regions: bool | None = None,
        reformatter: VideoReformatter | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.frame = frame
        self._whole = whole
        self._rgb: np.ndarray | None = None
        self._planes: list[np.ndarray] | None = None
        w, h = size or (frame.width, frame.height)
        same = (w, h) == (frame.width, frame.height)
        self.regions = same and (regions_supported(frame) if regions is None else regions)
        self.shape = (h, w, 3)
        self._reformatter = reformatter  # one per stream of frames: its swscale context is reused

    def rgb(self) -> np.ndarray:
        """The whole frame, RGB uint8 ``(height, width, 3)``."""
        if self._rgb is None:
            self._rgb = self._whole()
        return self._rgb

    def region(self, x1: int, y1: int, x2: int, y2: int) -> np.ndarray:
        """RGB pixels ``[y1:y2, x1:x2]`` of the frame (``0 <= x1 < x2 <= width``, likewise y)."""
        return self.regions_of([(x1, y1, x2, y2)])[0]

    def regions_of(self, rects: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """:meth:`region` of each ``(x1, y1, x2, y2)``, converted together in one swscale pass.

        The rectangles (widened to even corners and a width that is a multiple of 16) are stacked
        one under the other in one small frame, which is converted at once; where they would cover
        as many pixels as the frame itself, the whole frame is converted instead.
        """
        if not rects:
            return []
        if not self.regions or self._rgb is not None:
            rgb = self.rgb()
            return [rgb[y1:y2, x1:x2] for x1, y1, x2, y2 in rects]
        w, h = self.frame.width, self.frame.height
        aligned, pw, ph = self._align(rects)
        if pw * ph >= w * h or ph > MAX_PACKED_ROWS:
            rgb = self.rgb()
            return [rgb[y1:y2, x1:x2] for x1, y1, x2, y2 in rects]
        return self._packed(rects, aligned, pw, ph)

    def _align(self, rects: list[tuple[int, int, int, int]]) -> tuple[list[tuple[int, int, int, int]], int, int]:
        """Rectangles widened to even corners and a width that is a multiple of 16; the packed frame's size."""
        w, h = self.frame.width, self.frame.height
        aligned = []
        for x1, y1, x2, y2 in rects:
            ax1 = x1 & ~15
            aligned.append((ax1, y1 & ~1, min(w, ax1 + ((x2 - ax1 + 15) & ~15)), min(h, y2 + (y2 & 1))))
        return aligned, max(a[2] - a[0] for a in aligned), sum(a[3] - a[1] for a in aligned)

    def _packed(
        self, rects: list[tuple[int, int, int, int]], aligned: list[tuple[int, int, int, int]], pw: int, ph: int
    ) -> list[np.ndarray]:
        """Convert the ``aligned`` rectangles stacked in one ``pw x ph`` frame; cut ``rects`` from them."""
        if self._planes is None:
            self._planes = [_plane_array(p) for p in self.frame.planes[:3]]
        part = av.VideoFrame(pw, ph, self.frame.format.name)
        part.colorspace = self.frame.colorspace
        part.color_range = self.frame.color_range
        dst = [_plane_array(p) for p in part.planes[:3]]
        row = 0
        for ax1, ay1, ax2, ay2 in aligned:
            for k, (src, plane) in enumerate(zip(self._planes, dst, strict=True)):
                s = 0 if k == 0 else 1  # chroma planes are subsampled 2x2
                plane[row >> s : (row + ay2 - ay1) >> s, : (ax2 - ax1) >> s] = src[
                    ay1 >> s : ay2 >> s, ax1 >> s : ax2 >> s
                ]
            row += ay2 - ay1
        if self._reformatter is None:
            self._reformatter = VideoReformatter()
        rgb = _to_rgb(self._reformatter, part)
        cut, row = [], 0
        for (x1, y1, x2, y2), (ax1, ay1, _, ay2) in zip(rects, aligned, strict=True):
            cut.append(rgb[row + y1 - ay1 : row + y2 - ay1, x1 - ax1 : x2 - ax1])
            row += ay2 - ay1
        return cut


def _to_rgb(reformatter: VideoReformatter, frame: av.VideoFrame) -> np.ndarray:
    """``frame.to_ndarray(format="rgb24")`` through a reused swscale context, on this thread."""
    return reformatter.reformat(frame, format="rgb24", threads=1).to_ndarray()


def _plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray:
    """A plane's bytes as ``(rows, line_size)`` uint8 (the padding at each row's end included)."""
    return np.frombuffer(plane, np.uint8, count=plane.line_size * plane.height).reshape(plane.height, plane.line_size)
