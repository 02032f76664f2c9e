"""``reid_tracker``: track with the learned re-identification model plus motion (Kalman, two-stage association).

Accepts SkyhookML's parameters (Velocity Steps, Minimum IOU — honoured —, Maximum Age, Re-identification
Weight) next to the UNS20 inference settings; see ``selftrack.reid.ReidTrackerParams``.
"""

from __future__ import annotations

from selftrack.pipeline.op import ItemContext, Op, Port
from selftrack.reid import ReidTrackerParams, track_with_reid
from selftrack.workspace.store import DataType


class ReidTrackerOp(Op):
    name = "reid_tracker"
    title = "Re-identification Tracker"
    category = "Detection/Tracking"
    description = "Link detections into tracks using the learned appearance model and a motion model."
    inputs = (
        Port("model", (DataType.MODEL, DataType.FILE), "A model from Unsupervised Re-identification.", joined=False),
        Port("video", (DataType.VIDEO,), "Videos."),
        Port("detections", (DataType.DETECTIONS,), "Detections of the videos."),
    )
    outputs = (Port("tracks", (DataType.TRACKS,), "The boxes with track ids."),)
    Params = ReidTrackerParams

    def run_item(self, ctx: ItemContext) -> None:
        from fractions import Fraction

        video = ctx.item("video")
        dets = ctx.item("detections").load_detections()
        if (video.metadata.get("decode") or {}).get("fps") and Fraction(video.metadata["decode"]["fps"]) != Fraction(
            video.metadata["video"]["fps"]
        ):
            from selftrack.core.errors import SelftrackError

            raise SelftrackError(
                f"reid_tracker: {video.dataset}/{video.key} is resampled; track the original video or re-encode it"
            )
        tracks = track_with_reid(
            ctx.item("model").path,
            video.path,
            dets,
            self.params,
            progress=ctx.progress,
            should_stop=ctx.reporter.stop_requested,
            report=ctx.log,
        )
        ctx.check_stop()
        ctx.put_detections("tracks", tracks)
