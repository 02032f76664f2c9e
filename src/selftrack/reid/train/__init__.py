"""Self-supervised training of the UNS20 re-id model from videos and their detections (no track ids).

Two stages, as in UNS20 (Bastani et al., NeurIPS 2021):

1. **Appearance** ("longim"): the encoder and appearance matcher score frame 0 against a frame
   ``L / 4`` or ``L`` frames later. The loss is UNS20's self-sharpening pair loss restricted to the
   IoU-chain candidates (:mod:`~selftrack.reid.candidates`), with negatives inside the softmax:
   the other objects of frame 0 itself, and crops of a frame of another video.
2. **Spatial** ("finesp"): the recurrent box-only matcher runs over every step of the sequence and
   is trained to agree with the frozen appearance matrices from frame 0 to each step
   (cross-input consistency). Appearance vectors are computed once after stage 1 and kept in a
   memory-mapped file, so stage 2 costs no CNN passes at all.

What differs from the original (each is a parameter):

- the appearance matcher is a scaled cosine similarity by default (UNS20's pair MLP is
  ``matcher="mlp"``): it leaves the initial plateau in tens of steps instead of hundreds;
- a narrower encoder at the high-resolution end (16, 32, then 64 channels; UNS20: 64 everywhere),
  far cheaper on a CPU;
- a batch of sequences per step (UNS20: one), and one appearance gap per sequence per step;
- optional photometric and flip augmentation of crops (``augment``; off by default, as in UNS20:
  it did not help when training on the video that is tracked);
- box coordinates divided by each video's own frame size (UNS20: a fixed 1920x1080);
- one ensemble member by default (UNS20: four; ``ensemble``), a step budget that scales with the
  data (hundreds to a few thousand steps instead of 1.2 million per stage: the boxes of the
  training frames, counted at up to 10 frames a second, since at 60 fps neighbouring frames repeat
  each other), a learning rate dropped 10x at 60 % and 85 % of each stage, and early stopping
  once the validation loss has not improved for ``patience`` validations (the best weights kept);
- boxes mostly covered by a box in front of them (``max_occlusion``) are left out of the stage-1
  loss: in a crowd their crops show someone else, and learning them as the object teaches the
  model to confuse people;
- the terminal logit is frozen in stage 2 (it is shared with the frozen appearance matrices);
- the best-validation bookkeeping is reset between the stages (a bug in the original), and the
  validation set is held-out blocks of time of the same videos (the original held out videos); a
  clip too short for that holds out its last seconds. The model file keeps each stage's best and
  initial validation loss: the tracker reads how much the model learnt from them.

Memory stays flat in video length and frame size: crops are cut while the video streams frame by
frame and live in the on-disk cache, read per step; the pages read are released every 10 steps
(and every 1024 crops when computing appearance vectors), and only per-box index arrays are in RAM.

Modules: :mod:`.params` (:class:`ReidTrainParams`), :mod:`.augment` (crop augmentation),
:mod:`.trainer` (stage 1, validation, checkpoints, resume), :mod:`.stage2` (the recurrent box matcher); :func:`train_reid`, here, builds
the crop caches and the sampler and runs the trainer.

Determinism: on CPU, the same inputs, parameters and seed give the same model file (sampling,
augmentation and initialisation all come from seeded generators, whose states are saved with the
resume checkpoint so a resumed run continues the same sequence).
"""

from __future__ import annotations

import copy
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import selftrack
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.checkpoint import resolve_device
from selftrack.reid.crops import build_crop_store, detections_digest, frame_boxes
from selftrack.reid.sampling import SequenceSampler, VideoData
from selftrack.reid.train.augment import augment_crops
from selftrack.reid.train.params import ReidTrainParams
from selftrack.reid.train.stage2 import recurrent_selection
from selftrack.reid.train.trainer import EventFn, Trainer
from selftrack.video import probe

__all__ = ["ReidTrainParams", "TrainResult", "augment_crops", "prepare_videos", "recurrent_selection", "train_reid"]


@dataclass
class TrainResult:
    """What :func:`train_reid` did."""

    path: Path
    stages: list[str]
    stopped: bool
    steps: dict[str, int]
    best_val_loss: dict[str, float | None]
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def _provenance(
    videos: list[Path], detections: list[Detections], infos: list[Any], params: ReidTrainParams
) -> dict[str, Any]:
    return {
        "videos": [
            {
                "path": str(p),
                "frames": int(info.frame_count),
                "fps": params.fps or float(info.fps),
                "container_fps": float(info.fps),
                "size": [int(info.width), int(info.height)],
                "detections": str(d.source) if d.source else None,
                "boxes": len(d),
                "detections_sha256": detections_digest(d),
            }
            for p, d, info in zip(videos, detections, infos, strict=True)
        ],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "selftrack": getattr(selftrack, "__version__", "unknown"),
        "torch": str(torch.__version__),
        "seed": params.seed,
        "method": "UNS20 (Bastani et al., NeurIPS 2021), self-supervised from detections",
    }


def _run_key(videos: list[Path], detections: list[Detections], params: ReidTrainParams) -> str:
    h = hashlib.sha256()
    for p, d in zip(videos, detections, strict=True):
        h.update(str(p.resolve()).encode())
        h.update(detections_digest(d).encode())
    h.update(params.model_dump_json().encode())
    return h.hexdigest()[:20]


def prepare_videos(
    paths: list[Path],
    dets: list[Detections],
    params: ReidTrainParams,
    cache: Path,
    emit: Callable[[str, dict[str, Any]], None],
    should_stop: Callable[[], bool] | None,
) -> tuple[list[Any], list[VideoData], SequenceSampler, ReidTrainParams] | None:
    """Each video's crop store (cut once, cached in ``cache``), its training data, the sequence sampler and
    ``params`` with the step budget resolved for the data; ``None`` when stopped while cutting crops.
    Distributed workers call it again and find the crops cached."""
    infos, data = [], []
    for i, (p, d) in enumerate(zip(paths, dets, strict=True)):
        info = probe(p)
        infos.append(info)
        try:
            store = build_crop_store(
                p,
                d,
                cache,
                crop_size=params.crop_size,
                stretch=params.crop_stretch,
                progress=lambda done, total, _p=p: emit("crops", {"video": str(_p), "done": done, "total": total}),
                should_stop=should_stop,
            )
        except InterruptedError:
            return None
        boxes = frame_boxes(d, store.frame_size)
        d_full = d if d.num_frames is not None else d.replace(num_frames=info.frame_count)
        data.append(VideoData.build(f"{i}:{p.name}", d_full, boxes, store, params.fps or float(info.fps)))
    sampler = SequenceSampler(
        data,
        track_duration=params.track_duration,
        steps=params.steps_per_sequence,
        min_detections=params.min_detections,
        val_fraction=params.val_fraction,
    )
    return infos, data, sampler, params.resolved(sampler.training_boxes())


def emit_budget(emit: Callable[[str, dict[str, Any]], None], params: ReidTrainParams, sampler: SequenceSampler) -> None:
    """The ``budget`` event: the step budget resolved from the data (progress bars size their stages by it)."""
    emit(
        "budget",
        {
            "stage1_steps": params.stage1_steps,
            "stage2_steps": params.stage2_steps,
            "eval_every": params.eval_every,
            "training_boxes": round(sampler.training_boxes()),
        },
    )


def train_reid(
    videos: Sequence[str | os.PathLike[str]],
    detections: Sequence[Detections],
    *,
    params: ReidTrainParams | None = None,
    cache_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    on_event: EventFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train a UNS20 re-id model on ``videos`` with their ``detections`` (no track ids needed).

    Args:
        videos: video files, one per item of ``detections``.
        detections: each video's boxes (``canvas`` may differ from the frame size; boxes are scaled).
        params: training parameters (defaults: :class:`ReidTrainParams`).
        cache_dir: folder for the crop cache, the stage-2 appearance vectors and the resume state;
            reused across runs.
        out_path: the model file; rewritten each time the validation loss improves, so it always
            holds the best model so far.
        on_event: ``on_event(kind, info)``; kinds ``"crops"`` (video, done, total), ``"stage"``,
            ``"step"`` (stage, step, steps, loss, lr, seconds), ``"validation"`` (stage, step, loss,
            val_loss, best_val_loss, improved), ``"checkpoint"``, ``"time_limit"``, ``"stopped"``,
            ``"resumed"``, ``"done"``.
        should_stop: polled every step (and every batch of crop extraction); when it returns True
            the state is saved and training returns (``TrainResult.stopped``), leaving the best
            model so far at ``out_path`` (no file yet when it stopped during crop extraction:
            ``TrainResult.stages`` is then empty).
        resume: continue from the state saved in ``cache_dir`` by an earlier run with the same
            videos, detections and parameters (a fresh start when there is none).

    Raises:
        ValidationError: mismatched inputs, a video without usable sequences, or no model written
            (stopped before the first checkpoint).
    """
    started = time.perf_counter()
    params = params or ReidTrainParams()
    paths = [Path(v) for v in videos]
    dets = list(detections)
    if len(paths) != len(dets):
        raise ValidationError(f"train_reid: {len(paths)} videos but {len(dets)} detection sets; pass one per video")
    for p, d in zip(paths, dets, strict=True):
        if not isinstance(d, Detections):
            raise ValidationError(f"train_reid: detections for {p} must be Detections, got {type(d).__name__}")
    device = resolve_device(params.device)
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    out = Path(out_path)
    old_threads = torch.get_num_threads()
    if params.num_threads is not None:
        torch.set_num_threads(params.num_threads)

    def emit(kind: str, info: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(kind, info)

    try:
        prepared = prepare_videos(paths, dets, params, cache, emit, should_stop)
        if prepared is None:  # stopped while extracting crops: nothing trained, nothing written
            emit("stopped", {"stage": 0, "step": 0})
            return TrainResult(
                path=out,
                stages=[],
                stopped=True,
                steps={"stage1": 0, "stage2": 0},
                best_val_loss={"stage1": None, "stage2": None},
                seconds=time.perf_counter() - started,
            )
        infos, data, sampler, params = prepared
        emit_budget(emit, params, sampler)
        key = _run_key(paths, dets, params)
        trainer = Trainer(
            data,
            sampler,
            params,
            device,
            out,
            cache / f"train-state-{key}.pt",
            cache / f"embeddings-{key}.npy",
            _provenance(paths, dets, infos, params),
            on_event,
            should_stop,
        )
        if resume:
            trainer.load_state()
        stopped = trainer.run()
        if not out.is_file():
            raise ValidationError(f"re-id training stopped before any model was saved to {out}")
        result = TrainResult(
            path=out,
            stages=list(trainer.stages_done),
            stopped=stopped,
            steps=dict(trainer.steps_run),
            best_val_loss=copy.deepcopy(trainer.best),
            history=list(trainer.history),
            seconds=time.perf_counter() - started,
        )
        emit(
            "done",
            {"path": str(out), "stopped": stopped, "best_val_loss": result.best_val_loss, "seconds": result.seconds},
        )
        return result
    finally:
        if params.num_threads is not None:
            torch.set_num_threads(old_threads)
