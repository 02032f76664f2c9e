"""``cropresize``: crop and/or resize videos (re-encoded as browser-playable H.264)."""

from __future__ import annotations

from pydantic import Field

from selftrack.core.errors import SelftrackError
from selftrack.ops._video import open_video
from selftrack.pipeline.op import ItemContext, Op, OpParams, Port
from selftrack.video import ResizeSpec, VideoWriter, resize_dims
from selftrack.workspace.store import DataType


class CropResizeParams(OpParams):
    crop: tuple[int, int, int, int] | None = Field(
        default=None, description="Crop rectangle x, y, width, height in source pixels; unset keeps the whole frame."
    )
    resize: ResizeSpec = Field(
        default_factory=ResizeSpec, description="Resize after cropping (SkyhookML's Resize modes)."
    )
    crf: int = Field(default=23, ge=0, le=51, description="H.264 quality (lower is better and larger).")


class CropResize(Op):
    name = "cropresize"
    title = "Crop/Resize Video"
    category = "Image/Video"
    description = "Crop a rectangle out of each video and/or resize it; the output plays in the browser."
    inputs = (Port("video", (DataType.VIDEO,), "Videos."),)
    outputs = (Port("video", (DataType.VIDEO,), "Cropped/resized videos."),)
    Params = CropResizeParams
    version = "1"

    def run_item(self, ctx: ItemContext) -> None:
        import cv2

        from selftrack.video import probe

        item = ctx.item("video")
        p = self.params
        with open_video(item) as reader:
            w, h = reader.output_size
            if p.crop is not None:
                x, y, cw, ch = p.crop
                if cw <= 0 or ch <= 0 or x < 0 or y < 0 or x + cw > w or y + ch > h:
                    raise SelftrackError(
                        f"cropresize: crop {p.crop} does not fit the {w}x{h} video {item.dataset}/{item.key}"
                    )
                w, h = cw, ch
            out_w, out_h = resize_dims(w, h, p.resize)
            total = reader.frame_count
            with ctx.staging_path(".mp4") as staged:
                with VideoWriter(staged, reader.output_fps, size=(out_w, out_h), crf=p.crf) as writer:
                    for i, frame in enumerate(reader):
                        if p.crop is not None:
                            frame = frame[y : y + ch, x : x + cw]
                        if (out_w, out_h) != (w, h):
                            frame = cv2.resize(frame, (out_w, out_h), interpolation=cv2.INTER_AREA)
                        writer.write(frame)
                        if i % 16 == 0:
                            ctx.progress(i, total)
                            ctx.check_stop()
                info = probe(staged)
                ctx.put_file(
                    "video",
                    staged,
                    metadata={"video": {**info.to_dict(), "path": ""}, "filename": f"{ctx.key}.mp4"},
                    format="mp4",
                )
