"""Stage 2 of UNS20 training: the recurrent box matcher learns to agree with the frozen appearance matrices.

Cross-input consistency (UNS20's "finesp" against "longim"): the spatial matcher sees only boxes,
step by step, and is trained towards the appearance model's matrices from frame 0 to each step.
Appearance vectors are computed once after stage 1 (:meth:`Stage2.compute_embeddings`) and kept in
a memory-mapped file, so this stage costs no CNN passes at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from selftrack.reid.losses import assignment_matrix, pair_loss, with_terminal
from selftrack.reid.model import ReidArch, ReidNet, box_features
from selftrack.reid.sampling import Sequence as TrainSequence
from selftrack.reid.sampling import VideoData
from selftrack.reid.train.params import ReidTrainParams


def recurrent_selection(p: np.ndarray) -> np.ndarray:
    """UNS20's hard choice for the next step: a row's argmax if that column's argmax is the row, else terminal.

    ``p`` is ``(..., n, m + 1)`` (terminal last); returns ``(..., n)`` column indices.
    """
    row_best = p.argmax(axis=-1)
    col_best = p.argmax(axis=-2)
    back = np.take_along_axis(col_best, row_best, axis=-1)
    return np.where(back == np.arange(p.shape[-2]), row_best, p.shape[-1] - 1)


class Stage2:
    """The stage-2 part of :class:`~selftrack.reid.train.trainer.Trainer` (which sets these attributes)."""

    data: list[VideoData]
    p: ReidTrainParams
    device: torch.device
    arch: ReidArch
    net: ReidNet
    emb_path: Path
    embeddings: list[np.ndarray] | None

    def _mask(self, vi: int, start: int, target: int) -> np.ndarray:  # the trainer's candidate masks
        raise NotImplementedError

    @torch.no_grad()
    def compute_embeddings(self) -> None:
        """Appearance vectors of every crop with the final stage-1 weights, in a memory-mapped file."""
        self.net.eval()
        total = sum(len(v.store) for v in self.data)
        shape = (total, self.arch.ensemble, self.arch.embed_dim)
        if self.rank == 0:
            np.lib.format.open_memmap(self.emb_path, mode="w+", dtype=np.float32, shape=shape).flush()
        self._barrier()
        emb = np.lib.format.open_memmap(self.emb_path, mode="r+")
        at = 0
        self.embeddings = []
        for v in self.data:
            n = len(v.store)
            for lo in range(512 * self.rank, n, 512 * self.world):  # each process its share of the blocks
                rows = np.arange(lo, min(n, lo + 512))
                x = ReidNet.prepare(torch.from_numpy(v.store.take(rows)).to(self.device))
                emb[at + lo : at + lo + len(rows)] = self.net.embed(x).permute(1, 0, 2).cpu().numpy()
                if (lo // 512) % 2 == 1:  # hand read pages back every 1024 crops: flat memory
                    v.store.release()
            v.store.release()
            self.embeddings.append(emb[at : at + n])
            at += n
        emb.flush()
        self._barrier()  # every share written before any process reads the vectors
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
