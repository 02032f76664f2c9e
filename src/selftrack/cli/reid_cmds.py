"""``train-reid``: self-supervised re-identification training on plain files (the ``unsupervised_reid`` op's code).

Videos and their detections (no track ids) go to :func:`selftrack.reid.train_reid`, as the op passes
them; the CLI adds a progress bar fed by the training events, a clean stop on Ctrl-C (the best model
so far is kept), and writes the model file only once training is over, so ``--out`` is never a
half-written or half-trained file.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Annotated, Any

import typer

from selftrack.cli.app import app, console, progress_bar
from selftrack.cli.inputs import params_table, parse_params, read_for_video, validate_params
from selftrack.cli.progress import CommandProgress
from selftrack.core.errors import SelftrackError

FLAGS = {
    "seed": "--seed",
    "device": "--device",
    "max_minutes": "--minutes",
    "stage1_steps": "--steps",
    "stage2_steps": "--steps",
    "track_duration": "--track-duration",
    "fps": "--fps",
}
"""The training parameters that options set, so an error names the option the person typed."""


def stage_name(stage: int) -> str:
    """The UNS20 stage's name (1: appearance, 2: spatial, the box matcher), as the op names its job stages."""
    from selftrack.ops.unsupervised_reid import STAGE_NAMES  # imports torch: only once training is under way

    return STAGE_NAMES.get(stage, "?")


def split_steps(total: int) -> tuple[int, int]:
    """``--steps N`` as (stage 1, stage 2) steps, 5 : 1 (the default budget's ratio)."""
    stage2 = round(total / 6)
    return total - stage2, stage2


@contextmanager
def _stop_on_interrupt() -> Iterator[Callable[[], bool]]:
    """A ``should_stop`` that turns true on the first Ctrl-C (a second one interrupts as usual)."""
    asked = False
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        nonlocal asked
        if asked:
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        asked = True
        console.print("stopping after this step (Ctrl-C again to abort)...")

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (e.g. some test runners): no clean stop, nothing else changes
        yield lambda: False
        return
    try:
        yield lambda: asked
    finally:
        signal.signal(signal.SIGINT, previous)


class _TrainingBar:
    """Turns :func:`train_reid` events into progress stages, each in its own unit with a fixed total.

    ``crops``: frames decoded to cut the boxes out (all videos together); ``stage 1: appearance`` and
    ``stage 2: spatial``: optimizer steps. The note under the running stage shows the last loss, the
    last validation loss and the time budget.
    """

    def __init__(
        self,
        progress: CommandProgress,
        steps: tuple[int | None, int | None],
        minutes: float | None,
        crop_frames: dict[str, int] | None = None,
    ):
        self.progress = progress
        self.steps = steps
        self.minutes = minutes
        self.crop_frames = crop_frames or {}
        self.offsets = {v: sum(list(self.crop_frames.values())[:i]) for i, v in enumerate(self.crop_frames)}
        self.stage = 0
        self.loss: float | None = None
        self.val: float | None = None
        self.time_limited: list[int] = []
        self.early_stopped: list[int] = []

    def _note(self) -> None:
        parts = []
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        if self.val is not None:
            parts.append(f"val {self.val:.3f}")
        if self.minutes is not None:
            parts.append(f"budget {self.minutes:g} min")
        self.progress.set_note(*parts)

    def __call__(self, kind: str, info: dict[str, Any]) -> None:
        if kind == "budget":  # the step budget, resolved from the data when not given
            self.steps = (int(info["stage1_steps"]), int(info["stage2_steps"]))
            return
        if kind == "crops":
            total = sum(self.crop_frames.values()) or int(info["total"])
            if self.progress.current is None or self.progress.current.name != "crops":
                self.progress.stage("crops", "frames", total)
            self.progress(self.offsets.get(str(info["video"]), 0) + int(info["done"]), total)
        elif kind == "stage":
            self.stage = int(info["stage"])
            self.loss = self.val = None
            steps = int(info.get("steps") or self.steps[self.stage - 1])
            self.progress.stage(f"stage {self.stage}: {stage_name(self.stage)}", "steps", steps)
            self.progress(int(info.get("start_step", 0)), steps)
            self._note()
        elif kind == "step":
            self.loss = float(info["loss"])
            self.progress(int(info["step"]), int(info.get("steps") or 0) or None)
            self._note()
        elif kind == "validation" and info.get("val_loss") is not None:
            self.val = float(info["val_loss"])
            self._note()
        elif kind in (
            "time_limit",
            "early_stop",
        ):  # the rest of this stage is skipped; the next stage opens its own row
            (self.time_limited if kind == "time_limit" else self.early_stopped).append(self.stage)


@app.command("train-reid")
def train_reid_cmd(
    video: Annotated[
        list[Path] | None,
        typer.Option(metavar="FILE", help="A video file (repeatable; the i-th goes with the i-th --detections)."),
    ] = None,
    detections: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="The video's detections, MOTChallenge or SkyhookML JSON; track ids not needed (repeatable).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="The model file to write (.pt).")] = None,
    minutes: Annotated[
        float | None, typer.Option(help="Time budget in minutes for both stages (default: no limit, just --steps).")
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(
            help="Most optimizer steps in all, split 5 : 1 between stage 1 and stage 2 (default: scaled to the data)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of initialisation and sampling (same seed, same model on CPU).")] = 0,
    device: Annotated[str, typer.Option(help="auto (CUDA when present), cpu or cuda.")] = "auto",
    track_duration: Annotated[
        float | None,
        typer.Option(help="Average time in seconds objects stay visible (SkyhookML's TrackDuration; default 4)."),
    ] = None,
    fps: Annotated[
        float | None,
        typer.Option(help="The videos' frame rate, when a container's header is wrong (default: each video's own)."),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE", help="Training parameter KEY=VALUE (repeatable), e.g. batch_size=4; see --show-params."
        ),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Folder for the crop cache (reused by later runs); default: a temporary folder, removed."),
    ] = None,
    show_params: Annotated[bool, typer.Option(help="List the training parameters with defaults and exit.")] = False,
) -> None:
    """Train a re-identification model from videos and their detections, without any labels (UNS20)."""
    from selftrack.reid import ReidTrainParams

    if show_params:
        console.print(params_table(ReidTrainParams))
        return
    videos, dets_paths = list(video or []), list(detections or [])
    if not videos or not dets_paths or out is None:
        missing = [n for n, v in (("--video", videos), ("--detections", dets_paths), ("--out", out)) if not v]
        raise SelftrackError(f"train-reid needs {', '.join(missing)}")
    assert out is not None
    if len(videos) != len(dets_paths):
        raise SelftrackError(
            f"{len(videos)} --video but {len(dets_paths)} --detections: give one detections file per video, "
            "in the same order"
        )
    values: dict[str, Any] = {"seed": seed, "device": device}
    if minutes is not None:
        values["max_minutes"] = minutes
    if steps is not None:
        values["stage1_steps"], values["stage2_steps"] = split_steps(steps)
    if track_duration is not None:
        values["track_duration"] = track_duration
    if fps is not None:
        values["fps"] = fps
    flags = {k: FLAGS[k] for k in values}
    given = parse_params(param or [])
    values.update(given)  # --param wins: it is the more specific
    flags = {k: v for k, v in flags.items() if k not in given}
    params = validate_params(ReidTrainParams, values, "training", flags=flags)
    if out.is_dir():
        raise SelftrackError(f"{out}: is a folder; --out names the model file to write")
    dets = [read_for_video(d, v) for v, d in zip(videos, dets_paths, strict=True)]
    for v, d, ds in zip(videos, dets_paths, dets, strict=True):
        if len(ds) == 0:
            raise SelftrackError(f"{d}: no detections; {v} cannot be trained on")
    out.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(out)
    started = time.perf_counter()
    cache_dir = (
        nullcontext(str(cache))
        if cache is not None
        else tempfile.TemporaryDirectory(prefix=f"selftrack-reid-{os.getpid()}-")
    )
    with cache_dir as folder:
        result, bar = _train(videos, dets, params, Path(folder), out)
    elapsed = time.perf_counter() - started
    console.print(summary(result, bar, elapsed, len(videos), sum(len(d) for d in dets)), highlight=False)


def sweep_leftovers(out: Path) -> list[Path]:
    """Remove what a killed ``train-reid`` left: its ``.NAME.PID.training`` file beside ``--out``, the
    ``.NAME.PID.tmp`` of an interrupted save, and its ``selftrack-reid-PID-*`` crop cache in the temp folder.

    Only files of processes that no longer run are touched (the pid is in the name), so two trainings side
    by side never remove each other's work. ``kill -9`` runs no cleanup code: the next run does it.
    """
    import shutil

    from selftrack.workspace.maintenance import pid_alive

    def dead(pid: str) -> bool:
        return pid.isdigit() and not pid_alive(int(pid))

    removed: list[Path] = []
    for path in out.parent.glob(f".*{out.name}.*"):  # .NAME.PID.training, ..NAME.PID.training.PID.tmp
        rest = path.name.split(out.name + ".", 1)[-1].split(".")
        pids = [p for p in rest if p.isdigit()]
        if rest[-1] in ("training", "tmp") and pids and all(dead(p) for p in pids) and path.is_file():
            path.unlink(missing_ok=True)
            removed.append(path)
    for folder in Path(tempfile.gettempdir()).glob("selftrack-reid-*-*"):
        if folder.is_dir() and dead(folder.name.split("-")[2]):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def summary(result: Any, bar: _TrainingBar, seconds: float, num_videos: int, num_boxes: int) -> str:
    """One line on what training did: stages, best validation loss per stage, time and the file."""
    losses = [f"{stage_name(int(k[-1]))} {v:.3f}" for k, v in result.best_val_loss.items() if v is not None]
    took = f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"
    stages = list(result.stages)
    if result.stopped:
        state = f"stopped in stage {bar.stage}"
        stages.append(f"{stage_name(bar.stage)} (in part)")
    else:
        state = "done"
    if bar.time_limited:
        state += f" (time budget reached in stage {', '.join(map(str, bar.time_limited))})"
    if bar.early_stopped:
        state += f" (stopped early, no better validation loss, in stage {', '.join(map(str, bar.early_stopped))})"
    return (
        f"{state}: trained {' + '.join(stages)} on {num_videos} video(s), {num_boxes} boxes, in {took}; "
        f"best validation loss {', '.join(losses) or '-'} -> {result.path}"
    )


def _train(videos: list[Path], dets: list[Any], params: Any, cache: Path, out: Path) -> tuple[Any, _TrainingBar]:
    """Run :func:`train_reid` into a file beside ``out`` and move it there once training ends.

    Returns the :class:`~selftrack.reid.TrainResult` and the progress bar's record (stage reached, stages
    cut short by the time budget).
    """
    from selftrack.reid import train_reid

    partial = out.with_name(f".{out.name}.{os.getpid()}.training")
    try:
        with _stop_on_interrupt() as should_stop, progress_bar("train-reid") as progress:
            crop_frames = {str(v): int(d.frame.max()) + 1 if len(d) else 0 for v, d in zip(videos, dets, strict=True)}
            bar = _TrainingBar(progress, (params.stage1_steps, params.stage2_steps), params.max_minutes, crop_frames)
            result = train_reid(
                videos,
                dets,
                params=params,
                cache_dir=cache,
                out_path=partial,
                on_event=bar,
                should_stop=should_stop,
            )
        if not partial.is_file():
            raise SelftrackError(f"training stopped before any model was saved; {out} not written")
        os.replace(partial, out)
        result.path = out
        return result, bar
    finally:
        partial.unlink(missing_ok=True)
