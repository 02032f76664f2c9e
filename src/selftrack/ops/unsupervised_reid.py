"""``unsupervised_reid``: train a re-identification model from videos and their detections, no track labels.

The UNS20 method (see ``selftrack.reid``). Loss and validation loss stream to the job as ``loss`` events (the
app charts them); the best model so far is always on disk; a stopped job resumes where it left off.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field

from selftrack.core.errors import SelftrackError
from selftrack.pipeline.op import DatasetContext, Op, Port
from selftrack.reid import ReidTrainParams, train_reid
from selftrack.workspace.store import DataType

STAGE_NAMES = {1: "appearance", 2: "spatial"}
"""The two UNS20 training stages (spatial: the box matcher), as job stages and in ``train-reid``'s progress."""


class UnsupervisedReidParams(ReidTrainParams):
    """The training parameters (TrackDuration, crop size, budget, lr, seed, device...) and where to train."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workers: int = Field(
        1,
        ge=1,
        le=256,
        description="Data-parallel training processes on the Ray cluster (Ray Train + torch DDP; the selftrack[ray] "
        "extra): each step's batch is shared out between them. 1: train in this process (on a Ray cluster with GPUs: "
        "one Ray Train worker on a GPU node).",
    )

    def train_params(self) -> ReidTrainParams:
        return ReidTrainParams(**self.model_dump(exclude={"workers"}))


class UnsupervisedReid(Op):
    name = "unsupervised_reid"
    title = "Unsupervised Re-identification"
    category = "Model"
    description = "Learn to re-identify objects from unlabeled videos and their detections (self-supervised, UNS20)."
    inputs = (
        Port("video", (DataType.VIDEO,), "Videos."),
        Port("detections", (DataType.DETECTIONS,), "Detections of the videos (track ids not needed)."),
    )
    outputs = (Port("model", (DataType.MODEL,), "The re-identification model (key 'model')."),)
    Params = UnsupervisedReidParams
    uses_gpu = True
    per_item = False

    def run(self, ctx: DatasetContext) -> None:
        videos = {it.key: it for it in ctx.input_items("video")}
        dets = {it.key: it for it in ctx.input_items("detections")}
        keys = sorted(set(videos) & set(dets))
        if not keys:
            raise SelftrackError("unsupervised_reid: no key has both a video and detections")
        skipped = sorted(set(videos) ^ set(dets))
        if skipped:
            ctx.log(f"keys missing from one input, not used: {', '.join(skipped)}")
        # the cache (crops, resume state) lives with the workspace so a stopped job resumes
        cache = ctx.ws.root / "cache" / "reid" / ctx.cache_key[:16]
        cache.mkdir(parents=True, exist_ok=True)
        out = cache / "model.pt"

        # three stages, each in its own unit: frames decoded for the crops, then the optimizer steps of each stage
        loaded = [dets[k].load_detections() for k in keys]
        paths = [str(videos[k].path) for k in keys]
        frames = [int(d.frame.max()) + 1 if len(d) else 0 for d in loaded]  # crop extraction stops at the last box
        offset = {p: sum(frames[:i]) for i, p in enumerate(paths)}
        ctx.stage("crops", "frames", sum(frames), part=1, parts=3)

        def on_event(kind: str, info: dict[str, Any]) -> None:
            if kind == "crops":
                ctx.progress(offset.get(str(info["video"]), 0) + int(info["done"]), sum(frames))
            elif kind == "stage":
                stage, steps = int(info["stage"]), int(info["steps"])
                if stage == 1:  # videos whose crops were cached reported nothing: the crops stage is complete
                    ctx.progress(sum(frames), sum(frames))
                ctx.stage(STAGE_NAMES.get(stage, f"stage {stage}"), "steps", steps, part=1 + stage, parts=3)
                ctx.progress(int(info.get("start_step", 0)), steps)
            elif kind == "step":
                ctx.event("loss", **{k: v for k, v in info.items() if isinstance(v, (int, float, str))})
                if info.get("steps"):
                    ctx.progress(int(info["step"]), int(info["steps"]))
            elif kind == "validation":
                ctx.event("val_loss", **{k: v for k, v in info.items() if isinstance(v, (int, float, str, bool))})
            line = log_line(kind, info)
            if line:
                ctx.log(line)

        params: UnsupervisedReidParams = self.params  # type: ignore[assignment]
        common: dict[str, Any] = {
            "params": params.train_params(),
            "cache_dir": cache,
            "out_path": out,
            "on_event": on_event,
            "should_stop": ctx.reporter.stop_requested,
        }
        from selftrack.reid.train.distributed import ray_gpus

        on_gpu_cluster = params.device != "cpu" and ray_gpus() > 0  # a Ray job: train on a GPU node, not here
        if params.workers > 1 or on_gpu_cluster:
            from selftrack.reid.train.distributed import train_reid_distributed

            ctx.log(f"training on {params.workers} data-parallel Ray Train worker(s)")
            result = train_reid_distributed(paths, loaded, workers=params.workers, **common)
        else:
            result = train_reid(paths, loaded, resume=True, **common)
        if getattr(result, "stopped", False):
            ctx.check_stop()
        with ctx.staging_path(".pt") as staged:
            shutil.copyfile(out, staged)
            meta = {"filename": "model.pt", "videos": keys, "kind": "reid"}
            ctx.put_file("model", "model", Path(staged), metadata=meta, format="pt")


def log_line(kind: str, info: dict[str, Any]) -> str | None:
    """A training event as a line of the job's log, in words (``None``: not logged; loss goes to the chart)."""
    stage = int(info.get("stage", 0) or 0)
    name = f"stage {stage} ({STAGE_NAMES[stage]})" if stage in STAGE_NAMES else "crop extraction"
    if kind == "stage":
        return f"{name}: {info.get('steps')} steps" + (
            f", from step {info['start_step']}" if info.get("start_step") else ""
        )
    if kind == "resumed":
        return f"resumed in {name} at step {info.get('step')}"
    if kind == "time_limit":
        return f"time budget reached in {name} at step {info.get('step')}; moving on"
    if kind == "stopped":
        return f"stopped in {name} at step {info.get('step')}"
    if kind == "done":
        losses = ", ".join(
            f"{STAGE_NAMES.get(int(str(k)[-1]), k)} {v:.3f}"
            for k, v in (info.get("best_val_loss") or {}).items()
            if isinstance(v, (int, float))
        )
        return f"training done in {float(info.get('seconds', 0)) / 60:.1f} min; best validation loss {losses or '-'}"
    return None
