"""``reid_tracker``: track with the learned re-identification model plus motion (Kalman, two-stage association).

Accepts SkyhookML's parameters (Velocity Steps, Minimum IOU — honoured —, Maximum Age, Re-identification
Weight) next to the UNS20 inference settings; see ``selftrack.reid.ReidTrackerParams``. On top of them, the
op's own: ``cmc`` (camera-motion compensation, as the ``track`` op's) and ``fps`` (the frame rate the
tracker's limits in seconds use, default the video container's).

The model runs as its ONNX twin (``selftrack.reid.inference``), kept in the workspace's
``cache/reid_onnx/`` by the model file's content.
"""

from __future__ import annotations

from pydantic import Field

from selftrack.core.errors import SelftrackError
from selftrack.ops._camera_motion import CMC_HELP, CmcMode, item_estimate, item_gmc_reader, resolve_cmc
from selftrack.ops._video import is_resampled
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.reid import ReidTrackerParams, load_tracking_model, track_with_reid
from selftrack.workspace.store import DataType


class ReidTrackerOpParams(ReidTrackerParams):
    """The re-id tracker's parameters plus where camera motion and the frame rate come from."""

    cmc: CmcMode = Field(default="auto", description=CMC_HELP)
    fps: float | None = Field(
        default=None,
        gt=0,
        description="The video's frame rate (frames per second), for limits in seconds; default: the video container's.",
    )

    def tracker_params(self) -> ReidTrackerParams:
        """The tracker's own parameters (without the op's)."""
        return ReidTrackerParams.model_validate(self.model_dump(exclude={"cmc", "fps"}))


class ReidTrackerOp(Op):
    name = "reid_tracker"
    title = "Re-identification Tracker"
    category = "Detection/Tracking"
    description = "Link detections into tracks using the learned appearance model and a motion model."
    inputs = (
        Port("model", (DataType.MODEL, DataType.FILE), "A model from Unsupervised Re-identification.", joined=False),
        Port("video", (DataType.VIDEO,), "Videos."),
        Port("detections", (DataType.DETECTIONS,), "Detections of the videos."),
        Port(
            "camera_motion",
            (DataType.FILE,),
            "Optional: a gmc.txt per video (camera motion, BoT-SORT's format) for cmc=file or auto.",
            optional=True,
        ),
    )
    outputs = (Port("tracks", (DataType.TRACKS,), "The boxes with track ids."),)
    Params = ReidTrackerOpParams

    @classmethod
    def check_wiring(cls, params: OpParams, wired: set[str]) -> None:
        assert isinstance(params, ReidTrackerOpParams)
        if params.cmc == "file" and "camera_motion" not in wired:
            raise SelftrackError("reid_tracker: cmc=file needs the camera_motion input wired (gmc.txt files)")

    def run_item(self, ctx: ItemContext) -> None:
        video = ctx.item("video")
        dets = ctx.item("detections").load_detections()
        if is_resampled(video):
            raise SelftrackError(
                f"reid_tracker: {video.dataset}/{video.key} is resampled; track the original video or re-encode it"
            )
        meta = video.metadata.get("video") or {}
        gmc = ctx.item("camera_motion") if ctx.inputs.get("camera_motion") else None
        cmc = resolve_cmc(
            self.params.cmc,
            dets,
            read_file=item_gmc_reader(gmc, int(meta.get("frame_count") or 0) or None),
            estimate=item_estimate(ctx, video, dets, ctx.progress),
            video_size=(int(meta["width"]), int(meta["height"])) if meta.get("width") else None,
            what=f"reid_tracker {ctx.key}",
        )
        ctx.log(cmc.note)
        model = load_tracking_model(ctx.item("model").path, cache_dir=ctx.ws.root / "cache" / "reid_onnx")
        tracks = track_with_reid(
            model,
            video.path,
            dets,
            self.params.tracker_params(),
            transforms=cmc.transforms,
            fps=self.params.fps,
            progress=ctx.progress,
            should_stop=ctx.reporter.stop_requested,
            report=ctx.log,
        )
        ctx.check_stop()
        ctx.put_detections("tracks", tracks)
