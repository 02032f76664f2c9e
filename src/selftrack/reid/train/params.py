"""Parameters of re-id training (:func:`~selftrack.reid.train.train_reid`); every field is described for forms and CLI flags."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BUDGET_PER_BOX = 0.5
"""Stage-1 steps per training box (boxes counted at up to 10 frames a second) in the default budget."""
BUDGET_RANGE = (300, 3000)
"""Least and most stage-1 steps of the default budget."""


class ReidTrainParams(BaseModel):
    """Parameters of :func:`train_reid`; every field is described for forms and CLI flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track_duration: float = Field(
        4.0, gt=0.0, le=600.0, description="Average time in seconds objects stay visible; sets the frame gaps trained."
    )
    fps: float | None = Field(
        None,
        gt=0.0,
        le=1000.0,
        description="The videos' frame rate (frames per second), for the gaps and budgets in seconds; default: each "
        "video container's (give it when a header is wrong, e.g. PETS09's AVI says 10, MOTChallenge 7).",
    )
    crop_size: int = Field(64, ge=16, le=256, description="Side of the square appearance crops, in pixels.")
    crop_stretch: bool = Field(
        False,
        description="Stretch each box to fill the square crop; off: keep its aspect ratio and pad (UNS20), which "
        "leaves a standing person a strip a third of the crop wide.",
    )
    stage1_steps: int | None = Field(
        None,
        ge=0,
        description="Optimizer steps of stage 1 (appearance), at most (early stopping may end it sooner); unset: "
        "a budget that scales with the data (the boxes of the training frames, counted at up to 10 frames a "
        "second), between 300 and 3000.",
    )
    stage2_steps: int | None = Field(
        None,
        ge=0,
        description="Optimizer steps of stage 2 (recurrent box matcher), at most; unset: a fifth of stage 1's.",
    )
    patience: int | None = Field(
        5,
        ge=1,
        description="End a stage after this many validations in a row without a better validation loss, counted "
        "from the first learning-rate drop (its best weights are kept); unset: run every step of the budget.",
    )
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
    max_occlusion: float | None = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="Boxes covered more than this by a box in front of them (lower in the image) are left out of the "
        "stage-1 loss: their crops show mostly someone else, and learning them as the object teaches the model "
        "to confuse people in crowds. Unset: every box is used.",
    )
    same_frame_negatives: bool = Field(True, description="Use the other objects of frame 0 as negatives (stage 1).")
    other_video_negatives: bool = Field(True, description="Use crops of another video as negatives (stage 1).")
    terminal_reweight: bool = Field(True, description="UNS20's terminal reweighting in the pair loss.")
    steps_per_sequence: int = Field(16, ge=2, le=64, description="Steps a training sequence is cut into (UNS20: 16).")
    min_detections: int = Field(2, ge=1, description="Least boxes every frame of a training sequence must have.")
    match_iou: float = Field(0.1, ge=0.0, le=1.0, description="Least IoU (of padded boxes) to chain two detections.")
    match_padding: float = Field(10.0, ge=0.0, description="Pixels added on every side of boxes before chaining.")
    match_max_gap: int = Field(10, ge=1, description="Longest chain link, in frames (bridges missed detections).")
    match_mutual: bool = Field(
        False,
        description="Chain two boxes only when each is the other's best overlap between their two frames and the "
        "link is the nearest in time (a one-to-one chain, as a tracker would link them); off: every overlap links "
        "(UNS20), which in a crowd makes almost everyone a candidate of everyone a few seconds later, but which "
        "survives missed detections better.",
    )
    match_relative: float = Field(
        0.0,
        ge=0.0,
        le=1.0,
        description="Chain two boxes only when their overlap is at least this share of each one's best overlap in "
        "the other's frame: in a crowd, a neighbour brushing past (IoU 0.15) no longer links a box that overlaps "
        "itself by 0.9 in the next frame, while two boxes that overlap alike stay linked (0: off, every overlap "
        "above match_iou links).",
    )
    val_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="Share of time held out for validation.")
    val_sequences: int = Field(48, ge=0, description="Most validation sequences evaluated.")
    eval_every: int | None = Field(
        None, ge=1, description="Steps between validations (and checkpoints); unset: a twentieth of the stage's steps."
    )
    log_every: int = Field(10, ge=1, description="Steps between 'step' progress events.")

    def resolved(self, training_boxes: float) -> ReidTrainParams:
        """These parameters with the unset budgets filled in for ``training_boxes`` boxes (at <= 10 fps)."""
        s1 = self.stage1_steps
        if s1 is None:
            lo, hi = BUDGET_RANGE
            s1 = int(min(hi, max(lo, round(BUDGET_PER_BOX * training_boxes))))
        s2 = self.stage2_steps if self.stage2_steps is not None else max(1, round(s1 / 5)) if s1 else 0
        every = self.eval_every if self.eval_every is not None else max(25, round(max(s1, 1) / 20))
        return self.model_copy(update={"stage1_steps": s1, "stage2_steps": s2, "eval_every": every})
