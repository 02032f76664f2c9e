"""Bootstrap a detector for fixed cameras from unlabelled video: pseudo-labels, then YOLO training.

The moving-object detector needs no labels but misses whatever stands still, splits and merges
objects, and needs a background model that takes frames to learn. A YOLO model trained on its
*consistent* boxes (:mod:`selftrack.detectors.pseudo_labels`) learns what the objects look like
rather than that they move, so it finds them standing still, overlapping, and from the first
frame. No label is drawn by anyone, and no pretrained weight is needed (none can be downloaded
here): the model is built from an ultralytics architecture yaml, or from weights the user gives.

Steps (:func:`bootstrap_detector`): pseudo-label each video; export the chosen frames, ignored
boxes painted grey, as a YOLO dataset (frames grouped in runs so the validation split is not the
neighbour of a training frame); train; export ONNX. Training needs the ``ultralytics`` extra; the
pseudo-labelling and the dataset do not.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from selftrack.detectors.motion import MotionParams
from selftrack.detectors.pseudo_labels import PseudoLabelParams, PseudoLabels, pseudo_label_video
from selftrack.detectors.train_yolo import EpochStats, TrainedYolo, YoloTrainParams, train_yolo
from selftrack.detectors.yolo_dataset import TrainingImage, YoloDataset, export_yolo_dataset, video_training_images
from selftrack.video import ResizeSpec


@dataclass
class BootstrapResult:
    """The pseudo-labels of each video, the dataset made from them and the trained model."""

    pseudo_labels: dict[str, PseudoLabels]
    dataset: YoloDataset
    trained: TrainedYolo


def pseudo_label_videos(
    videos: Mapping[str, str | Path],
    params: PseudoLabelParams | None = None,
    *,
    motion: MotionParams | None = None,
    resize: ResizeSpec | None = None,
    fps: Mapping[str, Fraction | float] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, PseudoLabels]:
    """Pseudo-labels of each video (``{key: path}``, decoded at ``fps[key]`` if given); ``progress(key, done, total)``."""
    out = {}
    for key, path in videos.items():
        report = None if progress is None else (lambda done, total, key=key: progress(key, done, total))
        rate = (fps or {}).get(key)
        out[key] = pseudo_label_video(path, params, motion=motion, resize=resize, fps=rate, progress=report)
    return out


def pseudo_label_images(
    videos: Mapping[str, str | Path],
    labels: Mapping[str, PseudoLabels],
    *,
    resize: ResizeSpec | None = None,
    fps: Mapping[str, Fraction | float] | None = None,
) -> Iterator[TrainingImage]:
    """The chosen frames of every video, ignored boxes painted out, as training images (one class)."""
    for key, path in videos.items():
        pl = labels[key]
        yield from video_training_images(
            path,
            pl.labels,
            pl.frames,
            [pl.class_name],
            prefix=key,
            resize=resize,
            fps=(fps or {}).get(key),
            ignore=pl.ignored(),
        )


def bootstrap_detector(
    videos: Mapping[str, str | Path],
    work_dir: str | Path,
    *,
    pseudo: PseudoLabelParams | None = None,
    motion: MotionParams | None = None,
    resize: ResizeSpec | None = None,
    fps: Mapping[str, Fraction | float] | None = None,
    train: YoloTrainParams | None = None,
    weights: str | Path | None = None,
    on_epoch: Callable[[EpochStats], None] | None = None,
    check_stop: Callable[[], None] | None = None,
    log: Callable[[str], None] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> BootstrapResult:
    """Train a detector for the fixed cameras of ``videos`` (``{key: path}``) without labels.

    Args:
        videos: the footage; every video must come from a camera that does not move.
        work_dir: the YOLO dataset (``work_dir/dataset``) and the training run (``work_dir/run``) go here.
        pseudo: pseudo-label filtering (the class name is ``pseudo.class_name``).
        motion: the moving-object detector's settings.
        resize: frame size for motion detection and training images (``None``: the videos' own).
        fps: ``{key: rate}`` to decode some videos at another frame rate (frame indices count those frames).
        train: YOLO training parameters.
        weights: optional starting ``.pt`` weights or model ``.yaml``.
        on_epoch, check_stop, log: see :func:`~selftrack.detectors.train_yolo.train_yolo`.
        progress: ``progress(key, frames done, frames total)`` while pseudo-labelling.

    Raises:
        SelftrackError: no video gave a usable training frame (with each video's counts).
    """
    from selftrack.core.errors import SelftrackError

    pseudo = pseudo or PseudoLabelParams()
    train = train or YoloTrainParams()
    work = Path(work_dir)
    labels = pseudo_label_videos(videos, pseudo, motion=motion, resize=resize, fps=fps, progress=progress)
    for key, pl in labels.items():
        if log is not None:
            log(f"{key}: {pl.stats}")
    if not any(len(pl.frames) for pl in labels.values()):
        counts = "; ".join(
            f"{k}: {pl.stats['motion_boxes']} motion boxes, {pl.stats['kept']} kept" for k, pl in labels.items()
        )
        raise SelftrackError(
            f"no usable training frame in any video ({counts}); the cameras must be fixed and objects must move "
            "across the view for a while (lower pseudo-label min_track_length or raise max_rejected_fraction)"
        )
    dataset = export_yolo_dataset(
        pseudo_label_images(videos, labels, resize=resize, fps=fps),
        work / "dataset",
        [pseudo.class_name],
        val_percent=train.validation_percent,
        seed=train.seed,
    )
    if log is not None:
        log(
            f"dataset: {len(dataset.train)} training and {len(dataset.val)} validation frames, {dataset.num_boxes} boxes"
        )
    trained = train_yolo(
        dataset.data_yaml, work / "run", train, weights=weights, on_epoch=on_epoch, check_stop=check_stop, log=log
    )
    return BootstrapResult(labels, dataset, trained)
