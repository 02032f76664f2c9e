"""``video_sample``: clips (or single frames as images) sampled from videos, with their detections."""

from __future__ import annotations

import random
from typing import Literal

import numpy as np
from pydantic import Field

from selftrack.ops._video import open_video
from selftrack.pipeline.op import DatasetContext, Op, OpParams, Port
from selftrack.video import VideoWriter, probe
from selftrack.workspace.store import DataType


class VideoSampleParams(OpParams):
    count: int = Field(default=10, ge=1, description="Number of samples over all videos.")
    length: int = Field(default=1, ge=1, description="Frames per sample; 1 gives images, more gives video clips.")
    mode: Literal["uniform", "random"] = Field(default="random", description="Spread samples evenly or at random.")
    seed: int = Field(default=0, description="Random seed (mode random).")


class VideoSample(Op):
    name = "video_sample"
    title = "Sample Video"
    category = "Image/Video"
    description = "Sample clips of N frames (or single frames as images) from videos; detections are cut the same way."
    inputs = (
        Port("video", (DataType.VIDEO,), "Videos."),
        Port("detections", (DataType.DETECTIONS,), "Detections or tracks of the videos, cut like them.", optional=True),
    )
    outputs = (
        Port("samples", (DataType.VIDEO, DataType.IMAGE), "Clips (video) or frames (image), keyed video-startframe."),
        Port("detections", (DataType.DETECTIONS,), "The boxes of each sample, frames renumbered from 0."),
    )
    Params = VideoSampleParams
    per_item = False
    progress_unit = "clips"
    aligns_frames = False

    @classmethod
    def output_types(cls, params, input_types):
        det = (input_types.get("detections") or [DataType.DETECTIONS])[0]
        return {"samples": DataType.IMAGE if params.length == 1 else DataType.VIDEO, "detections": det}

    def choose(self, lengths: dict[str, int]) -> list[tuple[str, int]]:
        p = self.params
        starts = [(key, s) for key, n in sorted(lengths.items()) for s in range(0, max(0, n - p.length + 1))]
        if not starts:
            return []
        if p.mode == "random":
            return sorted(random.Random(p.seed).sample(starts, min(p.count, len(starts))))
        idx = np.linspace(0, len(starts) - 1, min(p.count, len(starts))).round().astype(int)
        return [starts[i] for i in sorted(set(idx.tolist()))]

    def run(self, ctx: DatasetContext) -> None:
        import cv2

        videos = {it.key: it for it in ctx.input_items("video")}
        detections = {it.key: it for it in ctx.input_items("detections")} if ctx.inputs.get("detections") else {}
        lengths = {k: int(v.metadata["video"]["frame_count"]) for k, v in videos.items()}
        samples = self.choose(lengths)
        by_video: dict[str, list[int]] = {}
        for key, start in samples:
            by_video.setdefault(key, []).append(start)
        L = self.params.length
        done = 0
        for key, starts in by_video.items():
            dets = detections[key].load_detections() if key in detections else None
            with open_video(videos[key]) as reader:
                for start in starts:
                    ctx.check_stop()
                    name = f"{key}-{start:06d}"
                    frames = list(reader.frames(start, start + L))
                    with ctx.staging_path(".png" if L == 1 else ".mp4") as staged:
                        if L == 1:
                            cv2.imwrite(str(staged), cv2.cvtColor(frames[0], cv2.COLOR_RGB2BGR))
                            h, w = frames[0].shape[:2]
                            meta = {"width": w, "height": h, "filename": f"{name}.png"}
                            ctx.put_file("samples", name, staged, metadata=meta, format="png")
                        else:
                            with VideoWriter(staged, reader.output_fps, size=reader.output_size) as writer:
                                for f in frames:
                                    writer.write(f)
                            meta = {"video": {**probe(staged).to_dict(), "path": ""}, "filename": f"{name}.mp4"}
                            ctx.put_file("samples", name, staged, metadata=meta, format="mp4")
                    if dets is not None:
                        clip = dets.frames_range(start, start + L)
                        ctx.put_detections("detections", name, clip.replace(frame=clip.frame - start, num_frames=L))
                    done += 1
                    ctx.progress(done, len(samples))
