"""The cache key covers item metadata: a metadata-only change upstream recomputes what reads it (issue 13, case 9).

``resample`` outputs a hard link of its input video (same file, same sha256) whose metadata carries the new
decode rate; ``sample``, ``split`` and ``union`` pass items through with their metadata. Each test changes
only the decode rate upstream and checks that the op downstream recomputes at the new rate, and that a rerun
with nothing changed recomputes nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from selftrack.pipeline import LocalExecutor, Pipeline
from selftrack.pipeline.cache_key import item_fingerprint
from selftrack.workspace import Workspace, import_videos

FRAMES = 24


@pytest.fixture(scope="module")
def two_videos(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from selftrack.video import VideoReader, VideoWriter

    out = tmp_path_factory.mktemp("videos")
    paths = []
    for name in ("parking_lot_top_down.mp4", "street_8_frames.mp4"):
        target = out / (Path(name).stem + ".mp4")
        with VideoReader(shared_data / "videos" / name) as reader, VideoWriter(target, reader.output_fps) as writer:
            for frame in reader.frames(0, min(FRAMES, reader.frame_count)):
                writer.write(frame[::4, ::4].copy())
        paths.append(target)
    return paths


@pytest.fixture
def ws(tmp_path: Path, two_videos: list[Path]) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", two_videos)
    return ws


def frame_counts(ws: Workspace, pipe: Pipeline, node: str, output: str) -> dict[str, int]:
    ds = pipe.node(node).outputs()[output]
    return {it.key: int(it.metadata["video"]["frame_count"]) for it in ws.items(ds)}


def expected(ws: Workspace, fraction: float) -> dict[str, int]:
    from selftrack.video import VideoReader

    out = {}
    for it in ws.items("videos"):
        with VideoReader(it.path, fps=float(it.video_info.fps) * fraction) as reader:
            out[it.key] = reader.frame_count
    return out


def small(pipe: Pipeline, source: dict) -> None:
    pipe.add_node(
        "small",
        "cropresize",
        inputs={"video": source},
        params={"resize": {"mode": "fixed", "width": 32, "height": 32}},
        replace=True,
    )


def test_fingerprint_changes_with_metadata_not_with_provenance(ws: Workspace):
    item = ws.items("videos")[0]
    base = item_fingerprint(item)
    import dataclasses

    decoded = dataclasses.replace(item, metadata={**item.metadata, "decode": {"fps": "5/1"}})
    made_elsewhere = dataclasses.replace(item, metadata={**item.metadata, "cache": "another run"})
    assert item_fingerprint(decoded) != base
    assert item_fingerprint(made_elsewhere) == base


def test_resample_rate_change_recomputes_cropresize_and_video_sample(ws: Workspace):
    """The issue's repro: examples/resample_crop_sample.yaml, fraction 1/2 then 1/3."""
    pipe = Pipeline(ws)
    pipe.add_node("half", "resample", inputs={"input": "videos"}, params={"fraction": "1/2"})
    small(pipe, "half")
    pipe.add_node("clips", "video_sample", inputs={"video": "small"}, params={"count": 2, "length": 2, "seed": 1})
    pipe.node("clips").run(executor=LocalExecutor(1))
    assert frame_counts(ws, pipe, "small", "video") == expected(ws, 1 / 2)
    pipe.update_node("half", params={"fraction": "1/3"})
    result = pipe.node("clips").run(executor=LocalExecutor(1))
    assert sorted(result.computed["half"]) == sorted(ws.keys("videos"))
    assert sorted(result.computed["small"]) == sorted(ws.keys("videos")), "small kept frames of the old rate"
    assert result.computed["clips"] == ["*"]
    assert frame_counts(ws, pipe, "small", "video") == expected(ws, 1 / 3)
    again = pipe.node("clips").run(executor=LocalExecutor(1))
    assert again.computed == {"half": [], "small": [], "clips": []}


@pytest.mark.parametrize(
    ("op", "params", "output"),
    [
        ("sample", {"mode": "percentage", "percentage": 100}, "output"),
        ("split", {"train_percent": 100, "validation_percent": 0}, "train"),
        ("union", {}, "output"),
    ],
)
def test_pass_through_ops_carry_a_metadata_only_change_downstream(ws: Workspace, op: str, params: dict, output: str):
    pipe = Pipeline(ws)
    pipe.add_node("rate", "resample", inputs={"input": "videos"}, params={"fraction": "1/2"})
    port = "inputs" if op == "union" else "input"
    pipe.add_node("pass", op, inputs={port: "rate"}, params=params)
    small(pipe, {"node": "pass", "output": output})
    pipe.node("small").run(executor=LocalExecutor(1))
    passed = pipe.node("pass").outputs()[output]
    first = {it.key: it.sha256 for it in ws.items(passed)}
    assert frame_counts(ws, pipe, "small", "video") == expected(ws, 1 / 2)
    pipe.update_node("rate", params={"fraction": "1/3"})
    result = pipe.node("small").run(executor=LocalExecutor(1))
    passed = pipe.node("pass").outputs()[output]
    assert {it.key: it.sha256 for it in ws.items(passed)} == first  # same files: only metadata changed
    assert sorted(result.computed["small"]) == sorted(ws.keys("videos"))
    assert frame_counts(ws, pipe, "small", "video") == expected(ws, 1 / 3)
