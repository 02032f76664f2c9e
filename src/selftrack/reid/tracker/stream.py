"""The streaming entry point: decode a video once, encode each batch's crops, track frame by frame."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import numpy as np

from selftrack.core.detections import Detections
from selftrack.reid.inference import InferenceModel, load_tracking_model
from selftrack.reid.tracker.online import ReidTracker
from selftrack.reid.tracker.params import ReidTrackerParams
from selftrack.trackers.base import OutputBuilder
from selftrack.trackers.cmc import check_transforms

if TYPE_CHECKING:
    from selftrack.reid.checkpoint import ReidModel


def track_with_reid(
    model_path: str | os.PathLike[str] | ReidModel | InferenceModel,
    video_path: str | os.PathLike[str],
    detections: Detections,
    params: ReidTrackerParams | None = None,
    *,
    transforms: np.ndarray | None = None,
    fps: float | None = None,
    device: str = "auto",
    batch_frames: int = 32,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    report: Callable[[str], None] | None = None,
    postprocess: bool | Literal["stitch"] = True,
) -> Detections:
    """Track ``detections`` of ``video_path`` with the re-id model at ``model_path`` (streaming).

    The video is decoded in batches of ``batch_frames``; each batch's boxes are cropped and encoded
    together, then the tracker steps through the batch's frames. Memory does not grow with video
    length beyond the output itself; frames after the last box are not decoded. ``transforms`` is the camera motion (``(num_frames, 2, 3)``,
    ``transforms[f]`` mapping frame ``f - 1`` coordinates to frame ``f``, in the detections'
    canvas coordinates). ``fps`` overrides the container's frame rate (stitching's limits are in seconds).
    ``report`` receives one line per setting the tracker chose from the video and the model (score
    thresholds, appearance trust), after tracking.

    The boxes' colour looks are taken from the same crops for the colour check (``colour.enabled``).
    Decoding starts at the first frame with a box, so the detections of one chunk of a long video
    (frame numbers unchanged) are tracked without reading the frames before it; ``postprocess`` as in
    :meth:`ReidTracker.finish`.

    Raises:
        ValidationError: a bad model file, parameters, transforms, or boxes past the end of the video.
        VideoError: the video cannot be read.
    """
    from selftrack.reid.embed import iter_video_features  # local: embed imports the video layer
    from selftrack.video import probe

    # a file: its ONNX twin on a CPU (no torch import), see reid.inference
    is_file = isinstance(model_path, str | os.PathLike)
    model = load_tracking_model(model_path, device=device) if is_file else model_path
    tracker = ReidTracker(model, params)
    total = detections.frame_count
    affines = None if transforms is None else check_transforms(transforms, total, detections.source)
    info = probe(video_path)
    # the tracker works in the detections' coordinates (their canvas); crops are cut from the frames
    tracker.reset(detections.canvas or (info.width, info.height), float(fps or info.fps), detections.score)
    out = OutputBuilder()
    bounds = detections.frame_bounds()
    boxes, score = detections.xyxy, detections.score
    if affines is not None and len(detections):  # decoding starts at the first box; camera motion from frame 0
        for f in range(int(detections.frame[0])):
            tracker.step(f, boxes[:0], score[:0], None, affines[f])
    colour = tracker.params.colour.enabled  # the boxes' colour looks, from the same crops (see reid.tracker.colour)
    batches = iter_video_features(
        model, video_path, detections, batch_frames=batch_frames, should_stop=should_stop, colour=colour
    )
    for batch in batches:
        for f in range(batch.start, batch.stop):
            lo, hi = int(bounds[f]), int(bounds[f + 1])
            a, b = lo - batch.lo, hi - batch.lo
            looks = None if batch.colour is None else batch.colour[a:b]
            step = tracker.step(f, boxes[lo:hi], score[lo:hi], batch.features[a:b], _at(affines, f), looks)
            out.add(step, lo)
        if progress is not None:
            progress(batch.stop, total)
    tracks = tracker.finish(out.build(detections), postprocess)
    if report is not None:
        for line in tracker.settings():
            report(line)
    return tracks


def _at(affines: np.ndarray | None, frame: int) -> np.ndarray | None:
    return None if affines is None else affines[frame]
