"""Self-supervised re-identification (UNS20) trained from unlabeled video, and the re-id tracker.

This is the only package of selftrack that imports torch. Pipeline:

1. :func:`train_reid` (``videos``, their ``detections``; no track ids) -> a model file. Crops are
   cached on disk per video (:mod:`~selftrack.reid.crops`), candidate matches come from IoU chains
   (:mod:`~selftrack.reid.candidates`), sequences are sampled as in UNS20
   (:mod:`~selftrack.reid.sampling`), and the two stages of UNS20 train the appearance matcher
   and the recurrent box matcher (:mod:`~selftrack.reid.train`, :mod:`~selftrack.reid.losses`).
2. :func:`track_with_reid` (model file, video, detections) -> tracks, streaming the video; or
   :func:`embed_video` (and :func:`colour_video`, the boxes' colour looks, :mod:`~selftrack.reid.colour`)
   once and :class:`ReidTracker` ``.track(detections, features, colour=...)`` many times.

Example::

    from selftrack.reid import ReidTrainParams, train_reid, track_with_reid
    train_reid(["cam.mp4"], [dets], params=ReidTrainParams(), cache_dir="cache", out_path="reid.pt")
    tracks = track_with_reid("reid.pt", "cam.mp4", dets)
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

# Names load on first use (PEP 562): `from selftrack.reid import track_with_reid` must not import torch,
# which only training and the torch model need (tracking runs an ONNX twin, see reid.inference).
_LAZY = {
    "candidate_mask": "candidates",
    "chain_reach": "candidates",
    "match_gaps": "candidates",
    "ReidModel": "checkpoint",
    "load_reid_model": "checkpoint",
    "CropStore": "crops",
    "build_crop_store": "crops",
    "crop_boxes": "crops",
    "AppearanceEncoder": "embed",
    "embed_video": "embed",
    "colour_video": "embed",
    "iter_video_features": "embed",
    "InferenceModel": "inference",
    "load_tracking_model": "inference",
    "ReidArch": "arch",
    "ReidNet": "model",
    "ReidTracker": "tracker",
    "ReidTrackerParams": "tracker",
    "track_with_reid": "tracker",
    "ReidTrainParams": "train",
    "TrainResult": "train",
    "train_reid": "train",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(f"selftrack.reid.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'selftrack.reid' has no attribute {name!r}")


if TYPE_CHECKING:
    from selftrack.reid.arch import ReidArch
    from selftrack.reid.candidates import candidate_mask, chain_reach, match_gaps
    from selftrack.reid.checkpoint import ReidModel, load_reid_model
    from selftrack.reid.crops import CropStore, build_crop_store, crop_boxes
    from selftrack.reid.embed import AppearanceEncoder, colour_video, embed_video, iter_video_features
    from selftrack.reid.inference import InferenceModel, load_tracking_model
    from selftrack.reid.model import ReidNet
    from selftrack.reid.tracker import ReidTracker, ReidTrackerParams, track_with_reid
    from selftrack.reid.train import ReidTrainParams, TrainResult, train_reid

__all__ = [
    "AppearanceEncoder",
    "CropStore",
    "InferenceModel",
    "ReidArch",
    "ReidModel",
    "ReidNet",
    "ReidTracker",
    "ReidTrackerParams",
    "ReidTrainParams",
    "TrainResult",
    "build_crop_store",
    "candidate_mask",
    "chain_reach",
    "colour_video",
    "crop_boxes",
    "embed_video",
    "iter_video_features",
    "load_reid_model",
    "load_tracking_model",
    "match_gaps",
    "track_with_reid",
    "train_reid",
]
