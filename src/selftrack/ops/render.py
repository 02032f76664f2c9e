"""``render``: videos with every track drawn in its own colour, its id on the box, and an optional trail."""

from __future__ import annotations

from pydantic import Field

from selftrack.ops._video import decode_fps
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.video import ResizeSpec
from selftrack.workspace.store import DataType


class RenderParams(OpParams):
    trail_length: int = Field(
        default=10, ge=0, description="Frames of trail drawn behind each track's centre (0: none)."
    )
    label: bool = Field(default=True, description="Draw each track's id on its box.")
    thickness: int = Field(default=2, ge=1, le=10, description="Box line width in pixels.")
    resize: ResizeSpec = Field(default_factory=ResizeSpec, description="Output size (default: the video's own).")


class Render(Op):
    name = "render"
    title = "Render Images or Video"
    category = "Image/Video"
    description = "Draw detections and tracks on videos (a stable colour and id per track); extra videos stack below."
    inputs = (
        Port("video", (DataType.VIDEO,), "The video to draw on."),
        Port(
            "detections",
            (DataType.DETECTIONS,),
            "Detections or tracks to draw (any number of layers).",
            variable=True,
            optional=True,
        ),
        Port("more_videos", (DataType.VIDEO,), "Videos stacked under the first one.", variable=True, optional=True),
    )
    outputs = (Port("video", (DataType.VIDEO,), "Browser-playable H.264 MP4."),)
    Params = RenderParams

    def run_item(self, ctx: ItemContext) -> None:
        from selftrack.render import render_videos
        from selftrack.video import probe

        video = ctx.item("video")
        layers = [it.load_detections() for it in ctx.items("detections")]
        fps = decode_fps(video)
        sources = [(video.path, layers)] + [(v.path, []) for v in ctx.items("more_videos")]
        p = self.params

        def progress(done: int, total: int) -> None:
            ctx.progress(done, total)
            ctx.check_stop()

        with ctx.staging_path(".mp4") as staged:
            render_videos(
                sources,
                staged,
                trail_length=p.trail_length,
                progress=progress,
                fps=fps,
                resize=p.resize if p.resize.mode != "keep" else None,
                label=p.label,
                thickness=p.thickness,
            )
            info = probe(staged)
            ctx.put_file(
                "video",
                staged,
                metadata={"video": {**info.to_dict(), "path": ""}, "filename": f"{ctx.key}.mp4"},
                format="mp4",
            )
