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

What differs from the original (each is a parameter; ``benchmarks/bench_reid.py`` measures them):

- the appearance matcher is a scaled cosine similarity by default (UNS20's pair MLP is
  ``matcher="mlp"``): it leaves the initial plateau in tens of steps instead of hundreds;
- a narrower encoder at the high-resolution end (16, 32, then 64 channels; UNS20: 64 everywhere),
  about 10x cheaper on a CPU;
- a batch of sequences per step (UNS20: one), and one appearance gap per sequence per step;
- optional photometric and flip augmentation of crops (``augment``; off by default, as in UNS20:
  it did not help when training on the video that is tracked);
- box coordinates divided by each video's own frame size (UNS20: a fixed 1920x1080);
- one ensemble member by default (UNS20: four; ``ensemble``), step budgets in thousands instead
  of 1.2 million per stage, and a learning rate dropped 10x at 60 % and 85 % of each stage;
- the terminal logit is frozen in stage 2 (it is shared with the frozen appearance matrices);
- the best-validation bookkeeping is reset between the stages (a bug in the original), and the
  validation set is held-out blocks of time of the same videos (the original held out videos).

Memory stays flat in video length: crops live in the on-disk cache and are read per step, the
pages read are released every 10 steps (and every 1024 crops when computing appearance vectors),
and only per-box index arrays are in RAM.

Determinism: on CPU, the same inputs, parameters and seed give the same model file (sampling,
augmentation and initialisation all come from seeded generators, whose states are saved with the
resume checkpoint so a resumed run continues the same sequence).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

import selftrack
from selftrack.core.detections import Detections
from selftrack.core.errors import ValidationError
from selftrack.reid.candidates import candidate_mask
from selftrack.reid.checkpoint import atomic_save, cpu_state, model_payload, resolve_device
from selftrack.reid.crops import build_crop_store, detections_digest, frame_boxes
from selftrack.reid.losses import assignment_matrix, pair_loss, stage1_loss, with_terminal
from selftrack.reid.model import ReidArch, ReidNet, box_features
from selftrack.reid.sampling import Sequence as TrainSequence
from selftrack.reid.sampling import SequenceSampler, VideoData
from selftrack.video import probe

EventFn = Callable[[str, dict[str, Any]], None]


class ReidTrainParams(BaseModel):
    """Parameters of :func:`train_reid`; every field is described for forms and CLI flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track_duration: float = Field(
        4.0, gt=0.0, le=600.0, description="Average time in seconds objects stay visible; sets the frame gaps trained."
    )
    crop_size: int = Field(64, ge=16, le=256, description="Side of the square appearance crops, in pixels.")
    stage1_steps: int = Field(2000, ge=0, description="Optimizer steps of stage 1 (appearance).")
    stage2_steps: int = Field(400, ge=0, description="Optimizer steps of stage 2 (recurrent box matcher).")
    max_minutes: float | None = Field(
        None,
        gt=0.0,
        description="Stop after this many minutes in all (split between stages by their steps); unset: no limit.",
    )
    batch_size: int = Field(8, ge=1, le=256, description="Sequences per optimizer step.")
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate at the start of each stage.")
    lr_milestones: tuple[float, float] = Field(
        (0.6, 0.85), description="Fractions of each stage after which the learning rate drops 10x (twice)."
    )
    seed: int = Field(0, ge=0, description="Seed of initialisation, sampling and augmentation.")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train: 'auto' uses CUDA when present.")
    num_threads: int | None = Field(
        1,
        ge=1,
        description="CPU threads for torch while training (unset: torch's default). One is the robust choice: the "
        "model's many small operations slow down badly when threads compete for busy cores.",
    )
    ensemble: int = Field(1, ge=1, le=8, description="Independent models trained together, logits averaged (UNS20: 4).")
    encoder_widths: tuple[int, ...] = Field(
        (16, 32, 64, 64, 64, 64), description="Channels of the six stride-2 convolutions (UNS20: 64 each)."
    )
    matcher: Literal["mlp", "cosine"] = Field(
        "cosine",
        description="Appearance matcher: a scaled cosine similarity of the vectors, or UNS20's pair MLP (which needs "
        "many more steps to leave its initial plateau).",
    )
    augment: bool = Field(
        False,
        description="Random flips and brightness/contrast/colour changes of crops (stage 1). Off by default: on "
        "PETS09 (training on the video that is tracked) it lowered re-identification accuracy.",
    )
    same_frame_negatives: bool = Field(True, description="Use the other objects of frame 0 as negatives (stage 1).")
    other_video_negatives: bool = Field(True, description="Use crops of another video as negatives (stage 1).")
    terminal_reweight: bool = Field(True, description="UNS20's terminal reweighting in the pair loss.")
    steps_per_sequence: int = Field(16, ge=2, le=64, description="Steps a training sequence is cut into (UNS20: 16).")
    min_detections: int = Field(2, ge=1, description="Least boxes every frame of a training sequence must have.")
    match_iou: float = Field(0.1, ge=0.0, le=1.0, description="Least IoU (of padded boxes) to chain two detections.")
    match_padding: float = Field(10.0, ge=0.0, description="Pixels added on every side of boxes before chaining.")
    match_max_gap: int = Field(10, ge=1, description="Longest chain link, in frames (bridges missed detections).")
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of time held out for validation.")
    val_sequences: int = Field(48, ge=0, description="Most validation sequences evaluated.")
    eval_every: int = Field(250, ge=1, description="Steps between validations (and checkpoints).")
    log_every: int = Field(10, ge=1, description="Steps between 'step' progress events.")


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


# ---------------------------------------------------------------------------------------------- helpers
def _content_sizes(boxes: np.ndarray, frame_size: tuple[int, int], crop_size: int) -> np.ndarray:
    """Width of the pasted (non-padding) part of each crop, as :func:`crop_boxes` makes it."""
    w, h = frame_size
    x1 = np.clip(np.floor(boxes[:, 0]), 0, w)
    y1 = np.clip(np.floor(boxes[:, 1]), 0, h)
    x2 = np.clip(np.ceil(boxes[:, 2]), 0, w)
    y2 = np.clip(np.ceil(boxes[:, 3]), 0, h)
    bw, bh = x2 - x1, y2 - y1
    scale = crop_size / np.maximum(np.maximum(bw, bh), 1)
    return np.clip(np.rint(bw * scale), 1, crop_size).astype(np.int64)


def augment_crops(x: torch.Tensor, widths: np.ndarray, gen: np.random.Generator) -> torch.Tensor:
    """Random horizontal flip of each crop's content and photometric jitter, in place-free ops.

    Flips mirror only the pasted part (``widths[i]`` columns) so the zero padding stays on the
    right, as at inference. Jitter: brightness +-0.1, contrast x[0.75, 1.25], per-channel gain
    x[0.9, 1.1]; padding stays zero.
    """
    b, _, _, s = x.shape
    if b == 0:
        return x
    dev = x.device
    w = torch.as_tensor(widths, device=dev).view(b, 1)
    cols = torch.arange(s, device=dev).view(1, s)
    flip = torch.as_tensor(gen.random(b) < 0.5, device=dev).view(b, 1)
    src = torch.where(flip & (cols < w), w - 1 - cols, cols)  # (b, s)
    x = torch.gather(x, 3, src.view(b, 1, 1, s).expand_as(x))
    inside = (cols < w).view(b, 1, 1, s).to(x.dtype)
    bright = torch.as_tensor(gen.uniform(-0.1, 0.1, (b, 1, 1, 1)), dtype=x.dtype, device=dev)
    contrast = torch.as_tensor(gen.uniform(0.75, 1.25, (b, 1, 1, 1)), dtype=x.dtype, device=dev)
    gain = torch.as_tensor(gen.uniform(0.9, 1.1, (b, 3, 1, 1)), dtype=x.dtype, device=dev)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    y = ((x - mean) * contrast + mean + bright) * gain
    y = y.clamp(0.0, 1.0) * inside
    return y.contiguous(memory_format=torch.channels_last)


def recurrent_selection(p: np.ndarray) -> np.ndarray:
    """UNS20's hard choice for the next step: a row's argmax if that column's argmax is the row, else terminal.

    ``p`` is ``(..., n, m + 1)`` (terminal last); returns ``(..., n)`` column indices.
    """
    row_best = p.argmax(axis=-1)
    col_best = p.argmax(axis=-2)
    back = np.take_along_axis(col_best, row_best, axis=-1)
    return np.where(back == np.arange(p.shape[-2]), row_best, p.shape[-1] - 1)


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
class _Trainer:
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
        self.best_state: dict[str, torch.Tensor] | None = None
        self.smoothed: float | None = None
        self.history: list[dict[str, Any]] = []
        self.elapsed = 0.0
        self.stages_done: list[str] = []
        self.optimizer = self._make_optimizer()
        self.embeddings: list[np.ndarray] | None = None
        self._mask_cache: dict[tuple[int, int, int], np.ndarray] = {}
        self._content = [_content_sizes(v.boxes, v.frame_size, params.crop_size) for v in data]

    # -------------------------------------------------------------------------------- bookkeeping
    def _emit(self, kind: str, **info: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, info)

    def _stage_params(self) -> list[torch.nn.Parameter]:
        if self.stage == 1:
            return [
                p for m in self.net.members for p in (*m.encoder.parameters(), *m.appearance.parameters(), m.terminal)
            ]
        return [p for m in self.net.members for p in m.spatial.parameters()]

    def _make_optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self._stage_params(), lr=self.p.lr)

    def _stage_steps(self) -> int:
        return self.p.stage1_steps if self.stage == 1 else self.p.stage2_steps

    def _time_limit(self) -> float:
        """Seconds the current stage may run until (elapsed clock), from ``max_minutes``."""
        if self.p.max_minutes is None:
            return math.inf
        total = self.p.max_minutes * 60.0
        s1, s2 = self.p.stage1_steps, self.p.stage2_steps
        # stage 2 steps are ~5x cheaper than stage 1 steps (no CNN)
        share1 = s1 / max(s1 + s2 / 5.0, 1e-9) if s2 else 1.0
        return total * share1 if self.stage == 1 else total

    def _training_info(self) -> dict[str, Any]:
        return {
            "stage1": {"steps": self.p.stage1_steps, "best_val_loss": self.best["stage1"]},
            "stage2": {"steps": self.p.stage2_steps, "best_val_loss": self.best["stage2"]},
            "history": self.history[-2000:],
            "seconds": round(self.elapsed, 1),
        }

    def _write_model(self, state: dict[str, torch.Tensor], stages: list[str]) -> None:
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
        state = {
            "format": "selftrack-reid-train-state",
            "stage": self.stage,
            "step": self.step,
            "model": cpu_state(self.net),
            "optimizer": self.optimizer.state_dict(),
            "best": dict(self.best),
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
            neg: tuple[int, np.ndarray] = (seq.video, rows0[:0])
            if p.other_video_negatives:
                pick = self.sampler.negative_frame(seq.video, self.rng if train else np.random.default_rng(seq.start))
                if pick is not None:
                    neg = (pick[0], self.data[pick[0]].rows(pick[1])[: max(len(rowsk), 1)])
            for g, (vi, rows) in enumerate(((seq.video, rows0), (seq.video, rowsk), neg)):
                parts.append((vi, rows))
                groups[g].append(np.arange(at, at + len(rows)))
                at += len(rows)
            masks.append(self._mask(seq.video, seq.start, target))
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

    # -------------------------------------------------------------------------------- stage 2
    @torch.no_grad()
    def compute_embeddings(self) -> None:
        """Appearance vectors of every crop with the final stage-1 weights, in a memory-mapped file."""
        self.net.eval()
        total = sum(len(v.store) for v in self.data)
        emb = np.lib.format.open_memmap(
            self.emb_path, mode="w+", dtype=np.float32, shape=(total, self.arch.ensemble, self.arch.embed_dim)
        )
        at = 0
        self.embeddings = []
        for v in self.data:
            n = len(v.store)
            for lo in range(0, n, 512):
                rows = np.arange(lo, min(n, lo + 512))
                x = ReidNet.prepare(torch.from_numpy(v.store.take(rows)).to(self.device))
                emb[at + lo : at + lo + len(rows)] = self.net.embed(x).permute(1, 0, 2).cpu().numpy()
                if (lo // 512) % 2 == 1:  # hand read pages back every 1024 crops: flat memory
                    v.store.release()
            v.store.release()
            self.embeddings.append(emb[at : at + n])
            at += n
        emb.flush()
        self.net.train()

    def stage2_batch_loss(self, seqs: Sequence[TrainSequence]) -> torch.Tensor:
        """Stage-2 loss: sequences of equal length are run together, padded, step by step."""
        by_len: dict[int, list[TrainSequence]] = {}
        for seq in seqs:
            by_len.setdefault(len(seq.frames), []).append(seq)
        total, count = None, 0
        for group in by_len.values():
            loss = self._stage2_group(group)
            total = loss * len(group) if total is None else total + loss * len(group)
            count += len(group)
        assert total is not None
        return total / count

    def _stage2_group(self, seqs: list[TrainSequence]) -> torch.Tensor:
        assert self.embeddings is not None
        dev, p = self.device, self.p
        steps = len(seqs[0].frames)
        b = len(seqs)
        vecs, boxes, valid = [], [], []
        for i in range(steps):
            rows = [self.data[s.video].rows(s.frames[i]) for s in seqs]
            n = max(len(r) for r in rows)
            e = np.zeros((b, self.arch.ensemble, n, self.arch.embed_dim), dtype=np.float32)
            bx = np.zeros((b, n + 1, 4), dtype=np.float32)  # + the terminal's zero box
            ok = np.zeros((b, n), dtype=bool)
            for j, (s, r) in enumerate(zip(seqs, rows, strict=True)):
                v = self.data[s.video]
                e[j, :, : len(r)] = np.asarray(self.embeddings[s.video][r]).transpose(1, 0, 2)
                bx[j, : len(r)] = box_features(v.boxes[r], v.frame_size)
                ok[j, : len(r)] = True
            vecs.append(torch.from_numpy(e).to(dev))
            boxes.append(torch.from_numpy(bx).to(dev))
            valid.append(torch.from_numpy(ok).to(dev))
        n0, m_last = valid[0].shape[1], valid[-1].shape[1]
        last_mask = torch.zeros((b, n0, m_last + 1), device=dev)
        last_mask[:, :, -1] = 1.0
        for j, s in enumerate(seqs):
            cand = self._mask(s.video, s.frames[0], s.frames[-1])
            last_mask[j, : cand.shape[0], : cand.shape[1]] = torch.from_numpy(cand.astype(np.float32))
        rows0 = valid[0]
        losses = []
        arange_b = torch.arange(b, device=dev)[:, None]
        arange_n = torch.arange(n0, device=dev)[None, :]
        for k, member in enumerate(self.net.members):
            hidden = torch.zeros((b, n0, self.arch.hidden_dim), device=dev)
            prev = boxes[0][:, :n0]
            for i in range(1, steps):
                with torch.no_grad():
                    lg = with_terminal(member.appearance(vecs[0][:, k], vecs[i][:, k]), member.terminal)
                    target = assignment_matrix(lg, rows0, valid[i])
                logits, hid = member.spatial(hidden, prev, boxes[i])
                logits = torch.cat([logits[..., :-1], member.terminal.detach().expand(b, n0, 1)], dim=-1)
                pb = assignment_matrix(logits, rows0, valid[i])
                last = i == steps - 1
                losses.append(
                    pair_loss(pb, target, last_mask if last else None, row_valid=rows0, reweight=p.terminal_reweight)
                )
                sel = torch.from_numpy(recurrent_selection(pb.detach().cpu().numpy())).to(dev)
                hidden = hid[arange_b, arange_n, sel]
                prev = boxes[i][arange_b, sel]
        return torch.stack(losses).mean()

    # -------------------------------------------------------------------------------- loop
    def batch_loss(self, seqs: Sequence[TrainSequence], train: bool) -> torch.Tensor:
        return self.stage1_batch_loss(seqs, train) if self.stage == 1 else self.stage2_batch_loss(seqs)

    @torch.no_grad()
    def validate(self) -> float | None:
        if not self.val:
            return None
        self.net.eval()
        losses = []
        for lo in range(0, len(self.val), self.p.batch_size):
            losses.append(float(self.batch_loss(self.val[lo : lo + self.p.batch_size], train=False)))
        self.net.train()
        for v in self.data:
            v.store.release()
        return float(np.mean(losses))

    def _checkpoint(self) -> None:
        key = f"stage{self.stage}"
        val = self.validate()
        score = val if val is not None else self.smoothed
        best = self.best[key]
        improved = score is not None and (best is None or score < best)
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
                if self.should_stop is not None and self.should_stop():
                    self.elapsed = time.perf_counter() - t0
                    self.save_state()
                    if not self.out_path.is_file():  # leave a usable (if early) model behind
                        self._write_model(cpu_state(self.net), [*self.stages_done] or ["appearance"])
                    self._emit("stopped", stage=self.stage, step=self.step)
                    return True
                if time.perf_counter() - t0 > deadline:
                    self._emit("time_limit", stage=self.stage, step=self.step)
                    break
                lr = _lr_at(self.step, total, self.p.lr, self.p.lr_milestones)
                for g in self.optimizer.param_groups:
                    g["lr"] = lr
                seqs = [self.sampler.sample(self.rng) for _ in range(self.p.batch_size)]
                loss = self.batch_loss(seqs, train=True)
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
                if self.step % self.p.eval_every == 0 and self.step < total:
                    self._checkpoint()
            if total > 0:
                self._checkpoint()
            self._finish_stage()
            self.save_state()
        return False


# ---------------------------------------------------------------------------------------------- entry point
def _provenance(
    videos: list[Path], detections: list[Detections], infos: list[Any], params: ReidTrainParams
) -> dict[str, Any]:
    return {
        "videos": [
            {
                "path": str(p),
                "frames": int(info.frame_count),
                "fps": float(info.fps),
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
                    progress=lambda done, total, _p=p: emit("crops", {"video": str(_p), "done": done, "total": total}),
                    should_stop=should_stop,
                )
            except InterruptedError:  # stopped while extracting crops: nothing trained, nothing written
                emit("stopped", {"stage": 0, "step": 0})
                return TrainResult(
                    path=out,
                    stages=[],
                    stopped=True,
                    steps={"stage1": 0, "stage2": 0},
                    best_val_loss={"stage1": None, "stage2": None},
                    seconds=time.perf_counter() - started,
                )
            boxes = frame_boxes(d, store.frame_size)
            d_full = d if d.num_frames is not None else d.replace(num_frames=info.frame_count)
            data.append(VideoData.build(f"{i}:{p.name}", d_full, boxes, store, float(info.fps)))
        sampler = SequenceSampler(
            data,
            track_duration=params.track_duration,
            steps=params.steps_per_sequence,
            min_detections=params.min_detections,
            val_fraction=params.val_fraction,
        )
        key = _run_key(paths, dets, params)
        trainer = _Trainer(
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
            steps={"stage1": params.stage1_steps, "stage2": params.stage2_steps},
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
