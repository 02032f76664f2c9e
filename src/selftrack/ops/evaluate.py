"""``evaluate``: HOTA, CLEAR and Identity metrics of tracks against ground truth (equal to TrackEval)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field

from selftrack.metrics import SequenceResult, evaluate
from selftrack.pipeline.op import DatasetContext, Op, OpParams, Port
from selftrack.workspace.store import DataType


class EvaluateParams(OpParams):
    benchmark: Literal["auto", "mot17", "mot15", "none"] = Field(
        default="auto",
        description="Preprocessing rules: mot17 drops distractor classes and consider-0 boxes; mot15 only consider-0; none scores every box; auto picks from the ground truth.",
    )
    frames: tuple[int, int] | None = Field(
        default=None,
        description="Score only frames start..stop (0-based, stop excluded), e.g. the frames the ground truth covers.",
    )


class Evaluate(Op):
    name = "evaluate"
    title = "Evaluate Tracks"
    category = "Detection/Tracking"
    description = "Score tracks against ground-truth tracks: HOTA, MOTA, IDF1 and friends, per video and combined."
    inputs = (
        Port("ground_truth", (DataType.TRACKS,), "Ground-truth tracks."),
        Port("tracks", (DataType.TRACKS,), "Tracker output."),
    )
    outputs = (Port("metrics", (DataType.FILE,), "One JSON file per video plus COMBINED."),)
    Params = EvaluateParams
    per_item = False
    progress_unit = "sequences"

    def run(self, ctx: DatasetContext) -> None:
        gt = {it.key: it for it in ctx.input_items("ground_truth")}
        tracks = {it.key: it for it in ctx.input_items("tracks")}
        keys = sorted(set(gt) & set(tracks))
        missing = sorted(set(gt) ^ set(tracks))
        if missing:
            ctx.log(f"not scored (missing from one input): {', '.join(missing)}")
        results: list[SequenceResult] = []
        for i, key in enumerate(keys):
            ctx.check_stop()
            res = evaluate(
                gt[key].load_detections(),
                tracks[key].load_detections(),
                frames=self.params.frames,
                benchmark=self.params.benchmark,
                name=key,
            )
            results.append(res)
            self._write(ctx, key, res)
            ctx.event("metrics", key=key, **res.summary())
            ctx.progress(i + 1, len(keys))
        if results:
            combined = SequenceResult.combine(results)
            self._write(ctx, "COMBINED", combined)
            ctx.event("metrics", key="COMBINED", **combined.summary())
            ctx.log("\n" + combined.table())

    @staticmethod
    def _write(ctx: DatasetContext, key: str, res: SequenceResult) -> None:
        with ctx.staging_path(".json") as staged:
            staged.write_text(json.dumps(res.to_dict(), indent=1))
            ctx.put_file(
                "metrics", key, staged, metadata={"summary": res.summary(), "filename": f"{key}.json"}, format="json"
            )
