"""``selftrack train-reid`` and ``selftrack track --tracker reid`` on plain files (in process, typer's CliRunner).

The clip is a short generated plaza scene; its detections are the visible ground-truth boxes written
without track ids (MOTChallenge det file and SkyhookML JSON), as a detector would give them.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from selftrack.cli.main import app
from selftrack.core.detections import Detections
from selftrack.core.errors import SelftrackError
from selftrack.formats import read_mot, write_detections
from selftrack.metrics import evaluate
from selftrack.synth import SceneConfig, generate_scene, render_scene_video
from selftrack.video import probe

FRAMES = 80
runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def error(*args: str) -> str:
    """The message of the SelftrackError a command raises (the entry point prints it as one line)."""
    result = invoke(*args)
    assert isinstance(result.exception, SelftrackError), (result.output, result.exception)
    return str(result.exception)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A generated 80-frame plaza clip, its ground truth and its detections (no ids) as MOT and JSON files."""
    root = tmp_path_factory.mktemp("reid-cli")
    scene = generate_scene(SceneConfig(num_frames=FRAMES, kind="plaza", num_objects=6, seed=3))
    render_scene_video(scene, root / "clip.mp4")
    gt = scene.ground_truth
    keep = gt.data["visibility"] >= 0.3
    det = Detections.create(
        gt.frame[keep], gt.xyxy[keep], np.full(int(keep.sum()), 0.9), canvas=gt.canvas, num_frames=gt.num_frames
    )
    write_detections(det, root / "det.txt", kind="det")
    write_detections(det, root / "det.json")
    write_detections(gt, root / "gt.txt", kind="gt")
    return {"root": root, "video": root / "clip.mp4", "det": root / "det.txt", "json": root / "det.json"}


@pytest.fixture(scope="module")
def model(clip: dict[str, Path]) -> tuple[Path, str, Path]:
    """``train-reid`` with a tiny step budget and the default (temporary) crop cache."""
    out = clip["root"] / "models" / "reid.pt"
    temp = clip["root"] / "tmp"
    temp.mkdir()
    saved, tempfile.tempdir = tempfile.tempdir, str(temp)
    try:
        result = ok(
            "train-reid",
            "--video", clip["video"],
            "--detections", clip["det"],
            "--out", out,
            "--steps", "24",
            "--fps", "12.5",
            "--param", "eval_every=10",
            "--device", "cpu",
        )  # fmt: skip
    finally:
        tempfile.tempdir = saved
    return out, result.output, temp


def test_train_reid_writes_a_loadable_model_and_a_summary(model: tuple[Path, str, Path], clip: dict[str, Path]):
    from selftrack.reid import load_reid_model

    out, output, temp = model
    loaded = load_reid_model(out)
    assert loaded.stages == ["appearance", "spatial"]
    assert loaded.params["stage1_steps"] == 20 and loaded.params["stage2_steps"] == 4  # --steps 24, split 5 : 1
    assert loaded.provenance["videos"][0]["path"] == str(clip["video"])
    # --fps overrides the container's rate, and the model says both
    container = float(probe(clip["video"]).fps)
    assert loaded.params["fps"] == 12.5 and loaded.provenance["videos"][0]["fps"] == 12.5 != container
    assert loaded.provenance["videos"][0]["container_fps"] == container
    assert "trained appearance + spatial" in output and "best validation loss appearance" in output
    assert str(out) in output
    # the crop cache went to a temporary folder, removed afterwards
    assert [p.name for p in temp.iterdir() if p.name.startswith("selftrack-reid-")] == []
    assert [p.name for p in out.parent.iterdir()] == ["reid.pt"]  # no partial file left beside it


def test_train_reid_fps_sets_the_frame_gaps_it_trains(clip: dict[str, Path], tmp_path: Path):
    """Gaps and budgets are in seconds: a higher frame rate means more frames between the crops compared."""
    from selftrack.reid.train import ReidTrainParams, prepare_videos

    dets = [read_mot(clip["det"])]

    def prepared(fps: float | None):
        params = ReidTrainParams(fps=fps, track_duration=1.0, device="cpu")
        _, data, sampler, _ = prepare_videos([clip["video"]], dets, params, tmp_path, lambda *a: None, None)
        return data[0].fps, sampler

    container, default = prepared(None)
    doubled, faster = prepared(2 * container)
    assert container == float(probe(clip["video"]).fps) and doubled == 2 * container
    span = max(plan[0] for plan in default.plans[0])
    assert max(plan[0] for plan in faster.plans[0]) == round(2 * span)


def test_track_reid_writes_tracks_with_ids(model: tuple[Path, str, Path], clip: dict[str, Path]):
    out_txt = clip["root"] / "tracks.txt"
    result = ok(
        "track", "--tracker", "reid", "--model", model[0], "--video", clip["video"],
        "--detections", clip["det"], "--out", out_txt, "--param", "stitch_max_gap=50",
    )  # fmt: skip
    assert f"over {FRAMES} frames" in result.output
    # what the tracker chose from the video and the model is printed
    assert "re-id tracker: first-stage score >=" in result.output and "appearance trust" in result.output
    tracks = read_mot(out_txt, num_frames=FRAMES)
    assert (tracks.track_id >= 1).all()
    gt = read_mot(clip["root"] / "gt.txt", num_frames=FRAMES)
    # detections are the visible ground truth boxes: a working tracker follows the six people well
    assert evaluate(gt, tracks, benchmark="none").summary()["HOTA"] > 0.6
    # SkyhookML JSON in and out: one list of boxes per frame of the video
    out_json = clip["root"] / "tracks.json"
    ok("track", "--tracker", "reid", "--model", model[0], "--video", clip["video"], "--detections", clip["json"],
       "--out", out_json)  # fmt: skip
    frames = json.loads(out_json.read_text())
    frames = frames["Detections"] if isinstance(frames, dict) else frames
    assert len(frames) == FRAMES
    assert all(box["TrackID"] >= 1 for boxes in frames for box in boxes)


def test_show_params_lists_each_models_parameters():
    shown = ok("track", "--tracker", "reid", "--show-params").output
    assert "association.reid_weight" in shown and "stitch.max_seconds" in shown  # grouped, one row per field
    assert "track_thresh" in ok("track", "--tracker", "bytetrack", "--show-params").output
    assert "track_duration" in ok("train-reid", "--show-params").output


def test_motion_trackers_still_work_with_a_video_and_json_detections(clip: dict[str, Path]):
    out = clip["root"] / "bytetrack.txt"
    ok("track", "--detections", clip["json"], "--video", clip["video"], "--out", out, "--min-track-length", "3")
    tracks = read_mot(out, num_frames=FRAMES)
    _, lengths = np.unique(tracks.track_id, return_counts=True)
    assert (tracks.track_id >= 1).all() and lengths.min() >= 3  # --min-track-length took effect
    gt = read_mot(clip["root"] / "gt.txt", num_frames=FRAMES)
    # the boxes are the visible ground truth: ByteTrack follows the six people (the JSON canvas was read right)
    assert evaluate(gt, tracks, benchmark="none").summary()["DetA"] > 0.6


def test_errors_name_the_problem(model: tuple[Path, str, Path], clip: dict[str, Path], tmp_path: Path):
    video, det = clip["video"], clip["det"]
    out = tmp_path / "m.pt"
    msg = error("train-reid", "--video", video, "--video", video, "--detections", det, "--out", out)
    assert "2 --video but 1 --detections" in msg
    malformed = tmp_path / "broken.txt"
    malformed.write_text("1,-1,10,10,20,20,0.9\n2,-1,10,ten,20,20,0.9\n")
    assert "broken.txt" in error("train-reid", "--video", video, "--detections", malformed, "--out", out)
    past_end = tmp_path / "long.txt"
    past_end.write_text(f"1,-1,10,10,20,20,0.9\n{FRAMES + 5},-1,10,10,20,20,0.9\n")
    msg = error("train-reid", "--video", video, "--detections", past_end, "--out", out)
    assert "long.txt" in msg and str(FRAMES) in msg
    short = tmp_path / "short.json"
    short.write_text(json.dumps([[] for _ in range(FRAMES - 10)]))
    msg = error("train-reid", "--video", video, "--detections", short, "--out", out)
    assert "short.json" in msg and "mismatched frame counts" in msg
    assert "no such detections file" in error(
        "train-reid", "--video", video, "--detections", tmp_path / "x.txt", "--out", out
    )
    msg = error("train-reid", "--video", video, "--detections", det, "--out", out, "--param", "batch_size=0")
    assert "batch_size" in msg
    assert not out.exists()
    out_tracks = tmp_path / "t.txt"
    msg = error("track", "--tracker", "reid", "--video", video, "--detections", det, "--out", out_tracks)
    assert "--tracker reid needs --model" in msg
    msg = error("track", "--tracker", "reid", "--model", model[0], "--detections", det, "--out", out_tracks)
    assert "needs --video" in msg
    msg = error("track", "--tracker", "reid", "--model", model[0], "--video", video, "--detections", det,
                "--out", out_tracks, "--param", "max_age=-1")  # fmt: skip
    assert "max_age" in msg
    msg = error(
        "track", "--tracker", "reid", "--model", det, "--video", video, "--detections", det, "--out", out_tracks
    )
    assert "det.txt" in msg
    assert not out_tracks.exists()
