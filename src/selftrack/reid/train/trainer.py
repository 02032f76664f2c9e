"""The two-stage UNS20 trainer: sampling, the stage-1 loss, validation, checkpoints, resume (stage 2: :mod:`.stage2`)."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from selftrack.reid.candidates import candidate_mask
from selftrack.reid.checkpoint import atomic_save, cpu_state, model_payload
from selftrack.reid.losses import stage1_loss
from selftrack.reid.model import ReidArch, ReidNet
from selftrack.reid.sampling import Sequence as TrainSequence
from selftrack.reid.sampling import SequenceSampler, VideoData
from selftrack.reid.train.augment import augment_crops, content_widths
from selftrack.reid.train.params import ReidTrainParams
from selftrack.reid.train.stage2 import Stage2, recurrent_selection

EventFn = Callable[[str, dict[str, Any]], None]

__all__ = ["EventFn", "Trainer", "recurrent_selection"]


def _pad(groups: list[np.ndarray], pad: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Index arrays of different lengths as one ``(b, max)`` index tensor (``pad`` fills) and its validity."""
    width = max((len(g) for g in groups), default=0)
    idx = np.full((len(groups), width), pad, dtype=np.int64)
    ok = np.zeros((len(groups), width), dtype=bool)
    for j, g in enumerate(groups):
        idx[j, : len(g)] = g
        ok[j, : len(g)] = True
    return torch.from_numpy(idx).to(device), torch.from_numpy(ok).to(device)


def _lr_at(step: int, total: int, base: float, milestones: tuple[float, float]) -> float:
    frac = step / max(total, 1)
    return base * (0.1 ** sum(frac >= m for m in milestones))


# ---------------------------------------------------------------------------------------------- trainer
class Trainer(Stage2):
    """The two stages in one process. :class:`~selftrack.reid.train.distributed.DistributedTrainer` runs the
    same loop data-parallel: it overrides the few hooks below (``rank``/``world``, the batch, the loss call,
    the stop decision, reductions), and only rank 0 writes files and emits events."""

    rank = 0
    world = 1

    def __init__(
        self,
        data: list[VideoData],
        sampler: SequenceSampler,
        params: ReidTrainParams,
        device: torch.device,
        out_path: Path,
        state_path: Path,
        emb_path: Path,
        provenance: dict[str, Any],
        on_event: EventFn | None,
        should_stop: Callable[[], bool] | None,
    ) -> None:
        self.data, self.sampler, self.p, self.device = data, sampler, params, device
        self.out_path, self.state_path, self.emb_path = out_path, state_path, emb_path
        self.provenance = provenance
        self.on_event = on_event
        self.should_stop = should_stop
        torch.manual_seed(params.seed)
        self.arch = ReidArch(
            crop_size=params.crop_size,
            crop_stretch=params.crop_stretch,
            widths=tuple(params.encoder_widths),
            ensemble=params.ensemble,
            matcher=params.matcher,
        )
        self.net = ReidNet(self.arch).to(device)
        self.rng = np.random.default_rng(params.seed)
        self.val = sampler.validation(params.val_sequences, np.random.default_rng(params.seed + 7919))
        self.stage = 1
        self.step = 0
        self.best: dict[str, float | None] = {"stage1": None, "stage2": None}
        self.initial: dict[str, float | None] = {"stage1": None, "stage2": None}
        self.steps_run: dict[str, int] = {"stage1": 0, "stage2": 0}
        self.stale = 0  # validations in a row without a better loss (early stopping)
        self.best_state: dict[str, torch.Tensor] | None = None
        self.smoothed: float | None = None
        self.history: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self.stages_done: list[str] = []
        self.optimizer = self._make_optimizer()
        self.embeddings: list[np.ndarray] | None = None
        self._mask_cache: dict[tuple[int, int, int], np.ndarray] = {}
        self._content = [content_widths(v.boxes, v.frame_size, params.crop_size, params.crop_stretch) for v in data]

    # -------------------------------------------------------------------------------- bookkeeping
    def _emit(self, kind: str, **info: Any) -> None:
        if self.on_event is not None and self.rank == 0:
            self.on_event(kind, info)

    # -------------------------------------------------------------------------------- data-parallel hooks
    def _sample_batch(self) -> list[TrainSequence]:
        """This process's sequences for one step (one process: the whole batch)."""
        return [self.sampler.sample(self.rng) for _ in range(self.p.batch_size)]

    def _train_loss(self, seqs: Sequence[TrainSequence]) -> torch.Tensor:
        return self.batch_loss(seqs, train=True)

    def _halt(self, started: float, deadline: float) -> str | None:
        """``"stop"`` (asked to stop), ``"time"`` (past the stage's time limit) or ``None``: every process agrees."""
        if self.should_stop is not None and self.should_stop():
            return "stop"
        return "time" if time.perf_counter() - started > deadline else None

    def _sum(self, values: list[float]) -> list[float]:
        """Element-wise sum of ``values`` over the processes (one process: themselves)."""
        return values

    def _barrier(self) -> None:
        """Wait for every process (one process: nothing to wait for)."""

    def _stage_params(self) -> list[torch.nn.Parameter]:
        if self.stage == 1:
            return [
                p for m in self.net.members for p in (*m.encoder.parameters(), *m.appearance.parameters(), m.terminal)
            ]
        return [p for m in self.net.members for p in m.spatial.parameters()]

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self._stage_params(), lr=self.p.lr)

    def _stage_steps(self) -> int:
        steps = self.p.stage1_steps if self.stage == 1 else self.p.stage2_steps
        assert steps is not None, "train_reid resolves the step budget before training"
        return steps

    def _time_limit(self) -> float:
        """Seconds the current stage may run until (elapsed clock), from ``max_minutes``."""
        if self.p.max_minutes is None:
            return math.inf
        total = self.p.max_minutes * 60.0
        s1, s2 = self.p.stage1_steps or 0, self.p.stage2_steps or 0
        # stage 2 steps are ~5x cheaper than stage 1 steps (no CNN)
        share1 = s1 / max(s1 + s2 / 5.0, 1e-9) if s2 else 1.0
        return total * share1 if self.stage == 1 else total

    def _training_info(self) -> dict[str, Any]:
        def stage(key: str, budget: int | None) -> dict[str, Any]:
            return {
                "steps": budget,
                "steps_run": self.steps_run[key],
                "best_val_loss": self.best[key],
                "initial_val_loss": self.initial[key],
            }

        return {
            "stage1": stage("stage1", self.p.stage1_steps),
            "stage2": stage("stage2", self.p.stage2_steps),
            "history": self.history[-2000:],
            "seconds": round(self.elapsed, 1),
        }

    def _write_model(self, state: dict[str, torch.Tensor], stages: list[str]) -> None:
        if self.rank != 0:
            return
        payload = model_payload(
            self.net,
            stages=stages,
            params=self.p.model_dump(mode="json"),
            provenance=self.provenance,
            training=self._training_info(),
            state=state,
        )
        atomic_save(payload, self.out_path)

    def save_state(self) -> None:
        if self.rank != 0:
            return
        state = {
            "format": "selftrack-reid-train-state",
            "stage": self.stage,
            "step": self.step,
            "model": cpu_state(self.net),
            "optimizer": self.optimizer.state_dict(),
            "best": dict(self.best),
            "initial": dict(self.initial),
            "steps_run": dict(self.steps_run),
            "stale": self.stale,
            "best_state": self.best_state,
            "smoothed": self.smoothed,
            "history": self.history,
            "elapsed": self.elapsed,
            "stages_done": self.stages_done,
            "rng": json.dumps(self.rng.bit_generator.state),
            "torch_rng": torch.get_rng_state(),
        }
        atomic_save(state, self.state_path)

    def load_state(self) -> bool:
        if not self.state_path.is_file():
            return False
        s = torch.load(self.state_path, map_location="cpu", weights_only=True)
        self.stage = int(s["stage"])
        self.step = int(s["step"])
        self.net.load_state_dict(s["model"])
        self.optimizer = self._make_optimizer()
        self.optimizer.load_state_dict(s["optimizer"])
        self.best = dict(s["best"])
        self.initial = dict(s.get("initial", self.initial))
        self.steps_run = dict(s.get("steps_run", self.steps_run))
        self.stale = int(s.get("stale", 0))
        self.best_state = s["best_state"]
        self.smoothed = s["smoothed"]
        self.history = list(s["history"])
        self.elapsed = float(s["elapsed"])
        self.stages_done = list(s["stages_done"])
        self.rng.bit_generator.state = json.loads(s["rng"])
        torch.set_rng_state(s["torch_rng"])
        self._emit("resumed", stage=self.stage, step=self.step)
        return True

    # -------------------------------------------------------------------------------- data
    def _mask(self, vi: int, start: int, target: int) -> np.ndarray:
        key = (vi, start, target)
        m = self._mask_cache.get(key)
        if m is None:
            v, p = self.data[vi], self.p
            (m,) = candidate_mask(
                v.frame,
                v.boxes,
                v.bounds,
                start,
                [target],
                padding=p.match_padding,
                min_iou=p.match_iou,
                max_gap=p.match_max_gap,
                mutual=p.match_mutual,
                relative=p.match_relative,
            )
            if len(self._mask_cache) > 50_000:
                self._mask_cache.clear()
            self._mask_cache[key] = m
        return m

    def _crops(self, parts: list[tuple[int, np.ndarray]], augment: bool) -> torch.Tensor:
        """Prepared crops of ``(video, rows)`` parts, concatenated in order."""
        arrays = [self.data[vi].store.take(rows) for vi, rows in parts]
        crops = np.concatenate(arrays) if arrays else np.zeros((0, self.p.crop_size, self.p.crop_size, 3), np.uint8)
        x = ReidNet.prepare(torch.from_numpy(crops).to(self.device))
        if augment and len(crops):
            widths = np.concatenate([self._content[vi][rows] for vi, rows in parts])
            x = augment_crops(x, widths, self.rng)
        return x

    # -------------------------------------------------------------------------------- stage 1
    def _visible(self, v: VideoData, rows: np.ndarray) -> np.ndarray:
        """Positions in ``rows`` of the boxes whose crops show their own object (see ``max_occlusion``).

        A frame whose every box is covered keeps them all: an empty frame would carry no loss at all.
        """
        limit = self.p.max_occlusion
        if limit is None:
            return np.arange(len(rows))
        keep = np.flatnonzero(v.covered[rows] <= limit)
        return keep if len(keep) else np.arange(len(rows))

    def stage1_batch_loss(self, seqs: Sequence[TrainSequence], train: bool) -> torch.Tensor:
        """Stage-1 loss of a batch: all crops go through the CNN at once, then padded matrices."""
        p, dev = self.p, self.device
        parts: list[tuple[int, np.ndarray]] = []
        groups: list[list[np.ndarray]] = [[], [], []]  # flat positions of frame-0, frame-k, negative crops
        masks = []
        at = 0
        for seq in seqs:
            v = self.data[seq.video]
            k = len(seq.frames) - 1
            target = seq.frames[k // 4] if (train and self.rng.random() < 0.5) else seq.frames[-1]
            rows0, rowsk = v.rows(seq.start), v.rows(target)
            keep0, keepk = self._visible(v, rows0), self._visible(v, rowsk)
            cand = self._mask(seq.video, seq.start, target)[np.ix_(keep0, keepk)]
            rows0, rowsk = rows0[keep0], rowsk[keepk]
            neg: tuple[int, np.ndarray] = (seq.video, rows0[:0])
            if p.other_video_negatives:
                pick = self.sampler.negative_frame(seq.video, self.rng if train else np.random.default_rng(seq.start))
                if pick is not None:
                    neg = (pick[0], self.data[pick[0]].rows(pick[1])[: max(len(rowsk), 1)])
            for g, (vi, rows) in enumerate(((seq.video, rows0), (seq.video, rowsk), neg)):
                parts.append((vi, rows))
                groups[g].append(np.arange(at, at + len(rows)))
                at += len(rows)
            masks.append(cand)
        x = self._crops(parts, augment=train and p.augment)
        emb = self.net.embed(x)  # (K, total, d)
        emb = torch.cat([emb, emb.new_zeros((emb.shape[0], 1, emb.shape[2]))], dim=1)  # padding row
        (i0, v0), (ik, vk), (ineg, vneg) = (_pad(g, pad=at, device=dev) for g in groups)
        b, n, m = len(seqs), i0.shape[1], ik.shape[1]
        mask = torch.zeros((b, n, m + 1), device=dev)
        mask[:, :, -1] = 1.0
        for j, cand in enumerate(masks):
            mask[j, : cand.shape[0], : cand.shape[1]] = torch.from_numpy(cand.astype(np.float32))
        losses = []
        for k, member in enumerate(self.net.members):
            a, bk, c = emb[k][i0], emb[k][ik], emb[k][ineg]
            same = member.appearance(a, a) if p.same_frame_negatives else None
            other = member.appearance(a, c) if c.shape[1] else None
            losses.append(
                stage1_loss(
                    member.appearance(a, bk),
                    member.terminal,
                    mask,
                    same_frame=same,
                    other_video=other,
                    row_valid=v0,
                    col_valid=vk,
                    other_valid=vneg if c.shape[1] else None,
                    reweight=p.terminal_reweight,
                )
            )
        return torch.stack(losses).mean()

    # -------------------------------------------------------------------------------- loop
    def batch_loss(self, seqs: Sequence[TrainSequence], train: bool) -> torch.Tensor:
        return self.stage1_batch_loss(seqs, train) if self.stage == 1 else self.stage2_batch_loss(seqs)

    @torch.no_grad()
    def validate(self) -> float | None:
        if not self.val:
            return None
        self.net.eval()
        total = count = 0.0
        batches = range(0, len(self.val), self.p.batch_size)
        for lo in batches[self.rank :: self.world]:  # each process scores its share of the batches
            total += float(self.batch_loss(self.val[lo : lo + self.p.batch_size], train=False))
            count += 1
        self.net.train()
        for v in self.data:
            v.store.release()
        total, count = self._sum([total, count])
        return total / count

    def _checkpoint(self) -> None:
        key = f"stage{self.stage}"
        val = self.validate()
        score = val if val is not None else self.smoothed
        best = self.best[key]
        improved = score is not None and (best is None or score < best)
        if self.step == 0 and self.initial[key] is None:
            self.initial[key] = val
        self.steps_run[key] = self.step
        # the learning rate drops first at lr_milestones[0] of the stage, and the best losses usually come
        # after it: no early stop before the first drop, and the patience counts from there
        annealing = self.step >= self.p.lr_milestones[0] * self._stage_steps()
        self.stale = 0 if improved or not annealing else self.stale + 1
        if improved:
            self.best[key] = score
            self.best_state = cpu_state(self.net)
            stages = ["appearance"] if self.stage == 1 else ["appearance", "spatial"]
            self._write_model(self.best_state, stages)
        self.history.append(
            {"stage": self.stage, "step": self.step, "val_loss": val, "train_loss": self.smoothed, "improved": improved}
        )
        self._emit(
            "validation",
            stage=self.stage,
            step=self.step,
            val_loss=val,
            loss=self.smoothed,
            best_val_loss=self.best[key],
            improved=improved,
        )
        self.save_state()
        self._emit("checkpoint", stage=self.stage, step=self.step, path=str(self.state_path))

    def _finish_stage(self) -> None:
        """Restore the best weights of the stage (UNS20 restores before stage 2) and move on."""
        if self.best_state is not None:
            self.net.load_state_dict(self.best_state)
        self.stages_done.append("appearance" if self.stage == 1 else "spatial")
        self.stage += 1
        self.step = 0
        self.stale = 0
        self.smoothed = None
        self.best_state = None
        self.optimizer = self._make_optimizer()

    def run(self) -> bool:
        """Train both stages; returns True when stopped early by ``should_stop``."""
        self.net.train()
        while self.stage <= 2:
            total = self._stage_steps()
            if self.stage == 2 and total > 0 and self.embeddings is None:
                self.compute_embeddings()
            self._emit("stage", stage=self.stage, steps=total, start_step=self.step)
            deadline = self._time_limit()
            if self.step == 0 and total > 0:
                self._checkpoint()  # the loss before training: a reference point for the loss chart
            t0 = time.perf_counter() - self.elapsed
            while self.step < total:
                halt = self._halt(t0, deadline)
                if halt == "stop":
                    self.elapsed = time.perf_counter() - t0
                    self.save_state()
                    if not self.out_path.is_file():  # leave a usable (if early) model behind
                        self._write_model(cpu_state(self.net), [*self.stages_done] or ["appearance"])
                    self._emit("stopped", stage=self.stage, step=self.step)
                    return True
                if halt == "time":
                    self._emit("time_limit", stage=self.stage, step=self.step)
                    self._checkpoint()
                    break
                lr = _lr_at(self.step, total, self.p.lr, self.p.lr_milestones)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                seqs = self._sample_batch()
                loss = self._train_loss(seqs)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                value = float(loss.detach())
                self.smoothed = value if self.smoothed is None else 0.95 * self.smoothed + 0.05 * value
                self.step += 1
                self.elapsed = time.perf_counter() - t0
                if self.step % self.p.log_every == 0 or self.step == total:
                    self._emit(
                        "step", stage=self.stage, step=self.step, steps=total, loss=value, lr=lr, seconds=self.elapsed
                    )
                if self.step % 10 == 0:  # pages of crops read so far go back to the page cache
                    for v in self.data:
                        v.store.release()
                if self.step % (self.p.eval_every or total) == 0 and self.step < total:
                    self._checkpoint()
                    if self.p.patience is not None and self.val and self.stale >= self.p.patience:
                        self._emit(
                            "early_stop",
                            stage=self.stage,
                            step=self.step,
                            best_val_loss=self.best[f"stage{self.stage}"],
                        )
                        break
            else:
                if total > 0:
                    self._checkpoint()
            self._finish_stage()
            self.save_state()
        return False
