"""Data-parallel re-id training on a Ray cluster: Ray Train starts the workers, torch DDP averages gradients.

:func:`train_reid_distributed` is :func:`~selftrack.reid.train.train_reid` on ``workers`` processes (the
``selftrack[ray]`` extra). Ray Train's ``TorchTrainer`` places one worker per slot of the cluster and sets
up the process group (gloo on CPUs, NCCL on GPUs); each worker runs :class:`DistributedTrainer`, the same
two-stage loop as one process with these differences:

- **the batch is split, not multiplied**: each of ``W`` workers samples ``batch_size / W`` sequences from
  its own random stream, and DDP averages the gradients, so every step sees ``batch_size`` sequences
  as one process does, with the same learning rate and schedule: the same optimisation, ``W`` times
  the compute per step (what "same model quality" needs; BENCHMARKS.md compares both);
- the stage's trainable parameters are wrapped in ``DistributedDataParallel`` (the others frozen), so
  every worker holds the same weights after every step;
- validation and the stage-2 appearance vectors are shared out between the workers and combined;
- the decision to stop (asked to, or past ``max_minutes``) is rank 0's, broadcast to all, so no worker
  waits on an all-reduce the others never reach;
- only rank 0 writes the model, the resume state and the events (loss, validation), which reach the
  caller live through a small actor the driver drains.

Crops are cut once by the driver into ``cache_dir`` (which every node must see: the workspace's cache
on the shared filesystem); the workers open the same crop stores.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError, ValidationError
from selftrack.reid.sampling import Sequence as TrainSequence
from selftrack.reid.train import TrainResult, _provenance, _run_key, emit_budget, prepare_videos
from selftrack.reid.train.params import ReidTrainParams
from selftrack.reid.train.trainer import EventFn, Trainer


class _StageLoss(torch.nn.Module):
    """The training loss as a module's forward, so DDP sees the step (its hooks then average gradients)."""

    def __init__(self, trainer: DistributedTrainer) -> None:
        super().__init__()
        self.net = trainer.net
        self._trainer = [trainer]  # in a list: not registered as a submodule

    def forward(self, seqs: Sequence[TrainSequence]) -> torch.Tensor:
        return self._trainer[0].batch_loss(seqs, train=True)


class DistributedTrainer(Trainer):
    """:class:`Trainer` as one of ``world`` data-parallel processes (the process group must be up)."""

    def __init__(self, *args: Any, rank: int, world: int, **kwargs: Any) -> None:
        self.rank, self.world = rank, world
        self.ddp: torch.nn.parallel.DistributedDataParallel | None = None
        super().__init__(*args, **kwargs)
        self.rng = np.random.default_rng([self.p.seed, rank])  # each worker its own sequences
        b, w = self.p.batch_size, world
        self.local_batch = b // w + (1 if rank < b % w else 0)

    def _make_optimizer(self) -> torch.optim.Optimizer:
        trainable = {id(p) for p in self._stage_params()}
        for p in self.net.parameters():
            p.requires_grad_(id(p) in trainable)
        self.ddp = torch.nn.parallel.DistributedDataParallel(_StageLoss(self))
        return super()._make_optimizer()

    def load_state(self) -> bool:
        loaded = super().load_state()
        if loaded and self.rank:  # the saved sampling state is rank 0's; the others start a stream of their own
            self.rng = np.random.default_rng([self.p.seed, self.rank, self.stage, self.step])
        return loaded

    def _sample_batch(self) -> list[TrainSequence]:
        return [self.sampler.sample(self.rng) for _ in range(self.local_batch)]

    def _train_loss(self, seqs: Sequence[TrainSequence]) -> torch.Tensor:
        assert self.ddp is not None
        # DDP averages gradients over the workers; weighting by this worker's share of the batch makes the
        # result the gradient of the mean over the whole batch even when it does not split evenly
        return self.ddp(seqs) * (len(seqs) * self.world / self.p.batch_size)

    def _halt(self, started: float, deadline: float) -> str | None:
        flags = torch.zeros(2, dtype=torch.float64)
        if self.rank == 0:
            halt = super()._halt(started, deadline)
            flags[0], flags[1] = float(halt == "stop"), float(halt == "time")
        torch.distributed.broadcast(flags, src=0)
        return "stop" if flags[0] else ("time" if flags[1] else None)

    def _sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return t.tolist()

    def _barrier(self) -> None:
        torch.distributed.barrier()

    def checksum(self) -> float:
        """A number that differs when the weights differ (workers compare theirs at the end)."""
        with torch.no_grad():
            return float(sum((p.double() * (i + 1)).sum() for i, p in enumerate(self.net.parameters())))


# -------------------------------------------------------------------------------------------- Ray side
class _Channel:
    """Events from rank 0 to the driver, and the stop flag from the driver to rank 0."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.stop = False

    def push(self, kind: str, info: dict[str, Any]) -> None:
        self.messages.append((kind, info))

    def drain(self) -> list[tuple[str, dict[str, Any]]]:
        out, self.messages = self.messages, []
        return out

    def request_stop(self) -> None:
        self.stop = True

    def stop_requested(self) -> bool:
        return self.stop


def _worker(config: dict[str, Any]) -> None:
    """Ray Train's per-worker loop: the data, the trainer, the run; rank 0 reports the result."""
    import ray
    import ray.train
    import ray.train.torch

    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    params: ReidTrainParams = config["params"]
    torch.set_num_threads(params.num_threads or 1)
    channel = config["channel"]
    device = ray.train.torch.get_device() if config["use_gpu"] else torch.device("cpu")
    paths, dets, cache = config["paths"], config["detections"], Path(config["cache"])
    prepared = prepare_videos(paths, dets, params, cache, lambda kind, info: None, None)
    assert prepared is not None
    infos, data, sampler, params = prepared
    key = _run_key(paths, dets, params)

    def on_event(kind: str, info: dict[str, Any]) -> None:
        channel.push.remote(kind, info)

    def should_stop() -> bool:
        return bool(ray.get(channel.stop_requested.remote()))

    trainer = DistributedTrainer(
        data,
        sampler,
        params,
        device,
        Path(config["out"]),
        cache / f"train-state-{key}-w{world}.pt",
        cache / f"embeddings-{key}.npy",
        {**_provenance(paths, dets, infos, params), "workers": world},
        on_event,
        should_stop,
        rank=rank,
        world=world,
    )
    trainer.load_state()  # a restarted worker group (a worker died) resumes from the last checkpoint
    stopped = trainer.run()
    sums = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
    torch.distributed.all_gather(sums, torch.tensor([trainer.checksum()], dtype=torch.float64))
    if rank == 0:
        result = {
            "stopped": stopped,
            "stages": list(trainer.stages_done),
            "best_val_loss": dict(trainer.best),
            "history": list(trainer.history),
            "workers_agree": len({float(s) for s in sums}) == 1,
        }
        ray.get(channel.push.remote("result", result))


def ray_gpus() -> float:
    """GPUs of the Ray cluster this process is connected to (0 when it is not connected, or without Ray)."""
    try:
        import ray
    except ImportError:
        return 0.0
    return float(ray.cluster_resources().get("GPU", 0)) if ray.is_initialized() else 0.0


def train_reid_distributed(
    videos: Sequence[str | os.PathLike[str]],
    detections: Sequence[Detections],
    *,
    workers: int,
    params: ReidTrainParams | None = None,
    cache_dir: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    on_event: EventFn | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_failures: int = 2,
) -> TrainResult:
    """:func:`~selftrack.reid.train.train_reid` on ``workers`` data-parallel Ray Train workers (see module doc); one
    worker is how a job on a cluster with GPUs trains on a GPU node rather than in the driver.

    Joins the Ray cluster this process is connected to, or starts a local Ray. Always resumes from its own
    checkpoint in ``cache_dir`` (one per worker count), so a stopped job, or a worker group Ray restarts after
    a worker died (up to ``max_failures`` times), continues where it was.
    """
    import ray
    from ray.train import FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    started = time.perf_counter()
    params = params or ReidTrainParams()
    if workers < 1:
        raise ValidationError(f"train_reid_distributed needs at least 1 worker, got {workers}")
    paths = [Path(v).resolve() for v in videos]
    dets = list(detections)
    cache, out = Path(cache_dir).resolve(), Path(out_path).resolve()
    cache.mkdir(parents=True, exist_ok=True)

    def emit(kind: str, info: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(kind, info)

    prepared = prepare_videos(paths, dets, params, cache, emit, should_stop)  # crops cut once, here
    if prepared is None:
        emit("stopped", {"stage": 0, "step": 0})
        return TrainResult(out, [], True, {"stage1": 0, "stage2": 0}, {"stage1": None, "stage2": None})
    _, _, sampler, params = prepared  # the step budget resolved for the data, the same in every worker
    emit_budget(emit, params, sampler)
    if not ray.is_initialized():
        ray.init(include_dashboard=False, logging_level="warning")
    use_gpu = params.device == "cuda" or (params.device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
    channel = ray.remote(num_cpus=0)(_Channel).remote()
    config = {
        "params": params,
        "paths": paths,
        "detections": dets,
        "cache": str(cache),
        "out": str(out),
        "channel": channel,
        "use_gpu": use_gpu,
    }
    trainer = TorchTrainer(
        _worker,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu),
        run_config=RunConfig(
            name=f"reid-{_run_key(paths, dets, params)}-w{workers}",
            storage_path=str(cache / "ray-train"),
            failure_config=FailureConfig(max_failures=max_failures),
        ),
    )
    outcome: dict[str, Any] = {}

    def fit() -> None:
        try:
            trainer.fit()
        except Exception as e:  # handed to the caller's thread
            outcome["error"] = e

    thread = threading.Thread(target=fit, name="selftrack-ray-train", daemon=True)
    thread.start()
    result: dict[str, Any] | None = None
    asked_stop = False
    try:
        while True:
            alive = thread.is_alive()
            for kind, info in ray.get(channel.drain.remote()):
                if kind == "result":
                    result = info
                else:
                    emit(kind, info)
            if not alive:
                break
            if not asked_stop and should_stop is not None and should_stop():
                channel.request_stop.remote()
                asked_stop = True
            thread.join(timeout=0.5)
    finally:
        ray.kill(channel)
    if "error" in outcome:
        raise SelftrackError(f"distributed re-id training failed: {outcome['error']}") from outcome["error"]
    if result is None or not out.is_file():
        raise ValidationError(f"distributed re-id training ended without a model at {out}")
    if not result["workers_agree"]:
        raise SelftrackError("distributed re-id training: the workers' weights differ at the end (DDP did not sync)")
    seconds = time.perf_counter() - started
    emit(
        "done",
        {"path": str(out), "stopped": result["stopped"], "best_val_loss": result["best_val_loss"], "seconds": seconds},
    )
    return TrainResult(
        path=out,
        stages=result["stages"],
        stopped=result["stopped"],
        steps={"stage1": params.stage1_steps, "stage2": params.stage2_steps},
        best_val_loss=result["best_val_loss"],
        history=result["history"],
        seconds=seconds,
    )
