"""One reading of a video item's frame rate for every op: the rate a resample set, else the file's own."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from selftrack.ops._video import decode_fps, is_resampled, item_fps, open_video, source_fps
from selftrack.pipeline import LocalExecutor, Pipeline, current_outputs
from selftrack.workspace import Workspace, import_videos


def test_frame_rate_of_imported_and_resampled_items(tmp_path: Path, shared_data: Path, first_frames):
    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", first_frames([shared_data / "videos" / "highway_cctv.avi"], tmp_path, 20))
    pipe = Pipeline(ws)
    pipe.add_node("third", "resample", inputs={"input": "videos"}, params={"fraction": "1/3"})
    pipe.node("third").run(executor=LocalExecutor(1))
    (original,) = ws.items("videos")
    (resampled,) = ws.items(current_outputs(ws, "third")["output"])
    assert source_fps(original) == item_fps(original) == Fraction(25) and decode_fps(original) is None
    assert not is_resampled(original)
    assert source_fps(resampled) == Fraction(25) and decode_fps(resampled) == item_fps(resampled) == Fraction(25, 3)
    assert is_resampled(resampled)
    with open_video(resampled) as reader:  # what every op decodes: the resampled rate and length
        assert reader.output_fps == Fraction(25, 3) and reader.frame_count == 7


def test_the_reid_tracker_refuses_a_resampled_video(tmp_path: Path, shared_data: Path, first_frames):
    """It decodes the file at its own rate, so frames of a resampled video would not match the detections."""
    from selftrack.pipeline import JobState
    from selftrack.workspace import DataType, import_files

    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", first_frames([shared_data / "videos" / "highway_cctv.avi"], tmp_path, 20))
    weights = tmp_path / "model.pt"
    weights.write_bytes(b"not reached: the video is refused first")
    import_files(ws, "reid-model", [weights], data_type=DataType.MODEL)
    pipe = Pipeline(ws)
    pipe.add_node("third", "resample", inputs={"input": "videos"}, params={"fraction": "1/3"})
    pipe.add_node("detect", "object_detection", inputs={"video": "third"}, params={"detector": "motion"})
    pipe.add_node("tracks", "reid_tracker", inputs={"video": "third", "detections": "detect", "model": "reid-model"})
    result = pipe.node("tracks").run(executor=LocalExecutor(1), raise_on_error=False)
    assert result.state == JobState.FAILED
    assert "is resampled; track the original video or re-encode it" in (result.error or "")
