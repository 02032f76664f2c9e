"""``bootstrap_detector``: a detector for fixed cameras trained with no labels at all.

Pseudo-labels from the moving-object detector over every frame, filtered for consistency (boxes that
persist as a track with a steady size; doubtful boxes painted out; frames that are mostly doubt
skipped), then YOLO training on the chosen frames and an ONNX export (see
:mod:`selftrack.detectors.bootstrap`). The trained detector finds the objects where the motion
detector cannot: standing still, overlapping, and from the first frame.

Needs the optional ``selftrack[ultralytics]`` extra for the training step. Outputs as
``train_detector`` (``model``: ONNX for ``object_detection``; ``weights``: the ``.pt``), plus the
pseudo-labels of each video, to look at or render.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from selftrack.core.errors import SelftrackError
from selftrack.detectors.bootstrap import bootstrap_detector
from selftrack.detectors.motion import MotionParams
from selftrack.detectors.pseudo_labels import PseudoLabelParams
from selftrack.detectors.train_yolo import YoloTrainParams
from selftrack.ops._video import decode_fps
from selftrack.ops.train_detector import epoch_reporter, put_models, require_ultralytics, starting_model, train_params
from selftrack.pipeline.op import DatasetContext, Op, OpParams, Port
from selftrack.video import ResizeSpec
from selftrack.workspace.store import DataType


class BootstrapDetectorParams(OpParams, YoloTrainParams):
    """YOLO training parameters, plus how pseudo-labels are made."""

    pseudo_labels: PseudoLabelParams = Field(
        default_factory=PseudoLabelParams,
        description="Which moving-object boxes become labels (track length, size stability) and which frames are used.",
    )
    motion: MotionParams = Field(default_factory=MotionParams, description="Settings of the moving-object detector.")
    resize: ResizeSpec = Field(
        default_factory=lambda: ResizeSpec(mode="scale-down", max_dimension=640),
        description="Size the frames are decoded at, for motion detection and as training images.",
    )


class BootstrapDetector(Op):
    name = "bootstrap_detector"
    title = "Bootstrap Detector (no labels)"
    category = "Model"
    description = (
        "Train a YOLO detector for fixed cameras without labels: consistent moving-object boxes become pseudo-labels, "
        "then YOLO is trained on them (ultralytics, optional extra)."
    )
    inputs = (
        Port("video", (DataType.VIDEO,), "Videos from fixed (not moving) cameras."),
        Port(
            "model",
            (DataType.MODEL, DataType.FILE),
            "Optional starting point: ultralytics .pt weights or a model .yaml (default: the architecture/size params).",
            optional=True,
            joined=False,
        ),
    )
    outputs = (
        Port("model", (DataType.MODEL,), "The trained detector exported to ONNX (one item, key 'model')."),
        Port("weights", (DataType.MODEL,), "The best ultralytics .pt weights (one item, key 'model')."),
        Port(
            "pseudo_labels", (DataType.TRACKS,), "The pseudo-labels of each video (kept motion boxes, with track ids)."
        ),
    )
    Params = BootstrapDetectorParams
    per_item = False
    version = "2"

    def run(self, ctx: DatasetContext) -> None:
        require_ultralytics()
        p: BootstrapDetectorParams = self.params  # type: ignore[assignment]
        items = {it.key: it for it in ctx.input_items("video")}
        if not items:
            raise SelftrackError(f"input 'video' ({ctx.inputs.get('video')}) has no videos")
        videos = {key: item.path for key, item in items.items()}
        fps = {key: rate for key, item in items.items() if (rate := decode_fps(item)) is not None}
        counts = [item.video_info.frame_count for item in items.values()]
        offset = dict(zip(items, [sum(counts[:i]) for i in range(len(counts))], strict=True))

        ctx.stage("pseudo-labels", "frames", sum(counts), part=1, parts=2)

        def progress(key: str, done: int, _total: int) -> None:  # pseudo-labelling; training reports epochs
            ctx.check_stop()
            ctx.progress(offset[key] + done, sum(counts))

        weights = starting_model(ctx)
        tp: YoloTrainParams = train_params(p)
        with ctx.ws.staging_dir("bootstrap_detector-") as tmp:
            result = bootstrap_detector(
                videos,
                Path(tmp),
                pseudo=p.pseudo_labels,
                motion=p.motion,
                resize=p.resize,
                fps=fps,
                train=tp,
                weights=weights,
                on_epoch=epoch_reporter(ctx, part=2, parts=2),
                check_stop=ctx.check_stop,
                log=ctx.log,
                progress=progress,
            )
            for key, pl in result.pseudo_labels.items():
                ctx.put_detections("pseudo_labels", key, pl.labels.replace(source=f"{items[key].dataset}/{key}"))
                ctx.event("pseudo_labels", key=key, **pl.stats)
            put_models(
                ctx,
                result.trained,
                {
                    "train_images": len(result.dataset.train),
                    "val_images": len(result.dataset.val),
                    "boxes": result.dataset.num_boxes,
                    "pseudo_labels": {key: pl.stats for key, pl in result.pseudo_labels.items()},
                },
            )
