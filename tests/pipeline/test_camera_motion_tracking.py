"""``cmc`` and ``fps`` on the track op and the track command, on a moving-camera clip and on PETS09.

The clip is MOT17-09 filmed by a virtual camera (``selftrack.synth.camera_motion``): 90 frames at
640x360 whose exact camera motion is known.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from selftrack.formats import read_gmc, read_mot
from selftrack.metrics import evaluate
from selftrack.ops.track import TrackParams, run_tracker
from selftrack.pipeline import LocalExecutor, Pipeline, PipelineError, run_node
from selftrack.synth.camera_motion import CameraPathSpec, make_camera_motion_sequence
from selftrack.video.camera_motion import displacement_error, estimate_camera_motion
from selftrack.workspace import Workspace, import_detections, import_files, import_videos
from selftrack.workspace.store import DataType

CLI = str(Path(sys.executable).with_name("selftrack"))
SIZE = (640, 360)
FRAMES = 90


@pytest.fixture(scope="module")
def moved(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = shared_data / "mot17" / "MOT17-09"
    out = tmp_path_factory.mktemp("moved") / "moved"
    written = make_camera_motion_sequence(
        folder / "video.mp4",
        out,
        gt=read_mot(folder / "gt" / "gt.txt", canvas=(1920, 1080), num_frames=525),
        detections=read_mot(folder / "det" / "det_refined.txt", canvas=(1920, 1080), num_frames=525),
        out_size=SIZE,
        spec=CameraPathSpec(pan_period=3.0, zoom_period=4.0, tilt_period=5.0, seed=1),
        num_frames=FRAMES,
    )
    return written


def _ws(tmp_path: Path, moved: dict[str, Path]) -> Workspace:
    ws = Workspace.init(tmp_path / "ws")
    video = tmp_path / "in" / "clip.mp4"
    video.parent.mkdir()
    shutil.copy(moved["video"], video)
    import_videos(ws, "videos", [video])
    for name, src in (("det", moved["det"]), ("gmc", moved["gmc"])):
        copy = tmp_path / name / "clip.txt"
        copy.parent.mkdir()
        shutil.copy(src, copy)
        if name == "det":
            import_detections(ws, "det", [copy], videos="videos")
        else:
            import_files(ws, "gmc", [copy])
    return ws


# ByteTrack's published algorithm, whose matching leans on the prediction: on this short clip the auto
# preset's IoU >= 0.1 matching of ground-truth-like boxes absorbs the camera's motion by itself, so
# only the official configuration shows that the transforms reach the tracker
OFFICIAL = TrackParams(tracker="bytetrack", tracker_params={"preset": "official"})


def _track(ws: Workspace, node: str, inputs: dict[str, str], **params: object):
    pipe = Pipeline(ws)
    params = {"tracker": "bytetrack", "tracker_params": {"preset": "official"}, **params}
    pipe.add_node(node, "track", inputs=inputs, params=params)
    result = run_node(ws, node, executor=LocalExecutor(1))
    return ws.item(result.outputs(node)["tracks"], "clip").load_detections()


def _rows(d) -> list[tuple[int, int]]:
    return sorted(zip(d.frame.tolist(), d.track_id.tolist(), strict=True))


def _same(a, b) -> bool:
    """Same (frame, id) rows and the same boxes to 0.01 px (what a MOT file keeps)."""
    oa, ob = np.lexsort((a.track_id, a.frame)), np.lexsort((b.track_id, b.frame))
    return _rows(a) == _rows(b) and bool(np.allclose(a.xyxy[oa], b.xyxy[ob], atol=0.011))


@pytest.mark.realdata
def test_track_op_measures_camera_motion_caches_it_and_compensates(tmp_path: Path, moved: dict[str, Path]):
    ws = _ws(tmp_path, moved)
    det = ws.item("det", "clip").load_detections()
    gt = read_mot(moved["gt"], canvas=SIZE, num_frames=FRAMES)
    both = {"detections": "det", "video": "videos"}
    measured = _track(ws, "video", both, cmc="video")
    cache = list((ws.root / "cache" / "camera_motion").glob("camera-motion-*.npz"))
    assert len(cache) == 1
    stamp = cache[0].stat().st_mtime_ns
    auto = _track(ws, "auto", both)  # default cmc=auto: this camera moves, so compensation is on
    none = _track(ws, "none", both, cmc="none")
    from_file = _track(ws, "file", {"detections": "det", "camera_motion": "gmc"}, cmc="file")
    assert cache[0].stat().st_mtime_ns == stamp and len(list(cache[0].parent.iterdir())) == 1  # reused
    assert _rows(auto) == _rows(measured) != _rows(none)

    # the op's transforms are the estimator's, and compensation is the same as with the exact motion
    motion = estimate_camera_motion(ws.item("videos", "clip").path, det)
    exact = read_gmc(moved["gmc"], num_frames=FRAMES)
    assert displacement_error(motion.transforms, exact, SIZE).mean() < 0.3
    direct = run_tracker(det, OFFICIAL, transforms=motion.transforms, fps=30)
    assert _rows(measured) == _rows(direct)
    hota = {k: evaluate(gt, v, benchmark="mot17").hota.hota for k, v in (("video", measured), ("file", from_file))}
    assert abs(hota["video"] - hota["file"]) < 0.01


@pytest.mark.realdata
def test_track_op_refuses_cmc_without_its_input(tmp_path: Path, moved: dict[str, Path]):
    ws = _ws(tmp_path, moved)
    pipe = Pipeline(ws)
    with pytest.raises(PipelineError, match="cmc=video needs the video input"):
        pipe.add_node("t", "track", inputs={"detections": "det"}, params={"cmc": "video"})
    with pytest.raises(PipelineError, match="cmc=file needs the camera_motion input"):
        pipe.add_node("t", "track", inputs={"detections": "det", "video": "videos"}, params={"cmc": "file"})


@pytest.mark.realdata
def test_track_op_fps_overrides_the_container_rate(tmp_path: Path, shared_data: Path):
    """PETS09's AVI header says 10 fps, MOTChallenge 7: the op's fps=7 gives the tracker 7."""
    ws = Workspace.init(tmp_path / "ws")
    pets = shared_data / "pets09-s2l1"
    import_videos(ws, "videos", [pets / "video.avi"])
    copy = tmp_path / "det" / "video.txt"
    copy.parent.mkdir()
    shutil.copy(pets / "det" / "det.txt", copy)
    import_detections(ws, "det", [copy], videos="videos")
    det = ws.item("det", "video").load_detections()
    pipe = Pipeline(ws)
    pipe.add_node("at7", "track", inputs={"detections": "det", "video": "videos"}, params={"cmc": "none", "fps": 7})
    result = run_node(ws, "at7", executor=LocalExecutor(1))
    at_7 = ws.item(result.outputs("at7")["tracks"], "video").load_detections()
    assert _rows(at_7) == _rows(run_tracker(det, TrackParams(tracker="bytetrack", tracker_params={"frame_rate": 7})))
    assert _rows(at_7) != _rows(run_tracker(det, TrackParams(tracker="bytetrack", tracker_params={"frame_rate": 10})))


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "track", *args], capture_output=True, text=True)


@pytest.mark.realdata
def test_track_command_cmc_and_fps(tmp_path: Path, moved: dict[str, Path], shared_data: Path):
    common = ["--detections", str(moved["det"]), "--video", str(moved["video"])]
    official = [*common, "--param", "preset=official"]  # see OFFICIAL
    det = read_mot(moved["det"], canvas=SIZE, num_frames=FRAMES)
    motion = estimate_camera_motion(moved["video"], det)
    outs = {}
    for mode in ("video", "auto", "none"):
        out = tmp_path / f"{mode}.txt"
        proc = _cli(*official, "--out", str(out), "--cmc", mode)
        assert proc.returncode == 0, proc.stderr
        outs[mode] = read_mot(out)
    assert "compensation on" in " ".join(_cli(*common, "--out", str(tmp_path / "x.txt")).stdout.split())
    expected = run_tracker(det, OFFICIAL, transforms=motion.transforms, fps=30)
    assert _rows(outs["video"]) == _rows(outs["auto"]) == _rows(expected) != _rows(outs["none"])
    # every motion tracker takes it
    for tracker in ("sort", "ocsort", "iou"):
        out = tmp_path / f"{tracker}.txt"
        assert _cli(*common, "--out", str(out), "--tracker", tracker, "--cmc", "video").returncode == 0
        expected = run_tracker(det, TrackParams(tracker=tracker), transforms=motion.transforms, fps=30)
        assert _rows(read_mot(out)) == _rows(expected)
    # a gmc file
    out = tmp_path / "file.txt"
    assert _cli(*official, "--out", str(out), "--gmc", str(moved["gmc"])).returncode == 0
    exact = read_gmc(moved["gmc"])
    assert _rows(read_mot(out)) == _rows(run_tracker(det, OFFICIAL, transforms=exact, fps=30))
    # clear refusals
    for bad, message in (
        (["--cmc", "sometimes"], "--cmc must be one of none, file, video, auto"),
        (["--cmc", "none", "--gmc", str(moved["gmc"])], "--gmc is a camera-motion file"),
        (["--cmc", "file"], "--cmc file needs --gmc FILE"),
        (["--fps", "0"], "--fps must be a positive number"),
    ):
        proc = _cli(*common, "--out", str(tmp_path / "bad.txt"), *bad)
        said = " ".join(proc.stderr.split())  # rich wraps long lines
        assert proc.returncode == 1 and message in said and "Traceback" not in said, said
    proc = _cli("--detections", str(moved["det"]), "--out", str(tmp_path / "bad.txt"), "--cmc", "video")
    assert proc.returncode == 1 and "--cmc video needs --video" in " ".join(proc.stderr.split())


@pytest.mark.realdata
def test_fixed_camera_auto_is_off_and_fps_overrides_the_container(tmp_path: Path, shared_data: Path):
    """PETS09's AVI header says 10 fps, MOTChallenge 7: --fps 7 gives the tracker 7."""
    pets = shared_data / "pets09-s2l1"
    det = read_mot(pets / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    out = tmp_path / "pets.txt"
    proc = _cli("--detections", str(pets / "det" / "det.txt"), "--video", str(pets / "video.avi"), "--out", str(out),
                "--fps", "7")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "the camera does not move: compensation off" in " ".join(proc.stdout.split())
    at_7 = run_tracker(det, TrackParams(tracker="bytetrack", tracker_params={"frame_rate": 7.0}))
    at_10 = run_tracker(det, TrackParams(tracker="bytetrack", tracker_params={"frame_rate": 10.0}))
    assert _rows(read_mot(out)) == _rows(at_7) != _rows(at_10)


def _reid_model(path: Path) -> Path:
    """An untrained re-id model file (random weights): the wiring is tested, not the model."""
    import torch

    from selftrack.reid.checkpoint import atomic_save, model_payload
    from selftrack.reid.model import ReidArch, ReidNet

    torch.manual_seed(0)
    net = ReidNet(ReidArch(crop_size=32, widths=(8, 16, 16, 16, 16)))
    atomic_save(model_payload(net, stages=["appearance"], params={}, provenance={}, training={}), path)
    return path


@pytest.mark.realdata
def test_reid_tracker_takes_camera_motion_and_fps_in_the_op_and_the_command(
    tmp_path: Path, moved: dict[str, Path], monkeypatch: pytest.MonkeyPatch
):
    from typer.testing import CliRunner

    from selftrack.cli.main import app
    from selftrack.reid import ReidTracker, track_with_reid

    model = _reid_model(tmp_path / "reid.pt")
    det = read_mot(moved["det"], canvas=SIZE, num_frames=FRAMES)
    motion = estimate_camera_motion(moved["video"], det)
    api = track_with_reid(model, moved["video"], det, transforms=motion.transforms)
    api_none = track_with_reid(model, moved["video"], det)
    assert not _same(api, api_none)
    # the command
    out = tmp_path / "reid.txt"
    common = [
        "--tracker",
        "reid",
        "--model",
        str(model),
        "--video",
        str(moved["video"]),
        "--detections",
        str(moved["det"]),
    ]
    proc = _cli(*common, "--out", str(out))  # cmc=auto: this camera moves
    assert proc.returncode == 0, proc.stderr
    assert _same(read_mot(out), api)
    assert _cli(*common, "--out", str(out), "--cmc", "none").returncode == 0
    assert _same(read_mot(out), api_none)
    assert _cli(*common, "--out", str(out), "--gmc", str(moved["gmc"])).returncode == 0
    exact = read_gmc(moved["gmc"], num_frames=FRAMES)
    assert _same(read_mot(out), track_with_reid(model, moved["video"], det, transforms=exact))
    # --fps and the op's fps reach the tracker (the limits in seconds it converts to frames)
    seen: list[float] = []
    real_reset = ReidTracker.reset

    def reset(self, frame_size=None, fps=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(fps)
        return real_reset(self, frame_size, fps, *args, **kwargs)

    monkeypatch.setattr(ReidTracker, "reset", reset)
    result = CliRunner().invoke(app, ["track", *common, "--out", str(out), "--cmc", "none", "--fps", "7.5"])
    assert result.exit_code == 0, result.output
    assert seen[-1] == 7.5
    # the op
    ws = _ws(tmp_path, moved)
    import_files(ws, "models", [model], data_type=DataType.MODEL)
    pipe = Pipeline(ws)
    inputs = {"model": "models", "video": "videos", "detections": "det"}
    pipe.add_node("reid", "reid_tracker", inputs=inputs, params={"cmc": "video"})
    pipe.add_node("reid-none", "reid_tracker", inputs=inputs, params={"cmc": "none"})
    pipe.add_node("reid-fps", "reid_tracker", inputs=inputs, params={"cmc": "none", "fps": 12.5})
    got = {}
    for node in ("reid", "reid-none", "reid-fps"):
        result = run_node(ws, node, executor=LocalExecutor(1))
        got[node] = ws.item(result.outputs(node)["tracks"], "clip").load_detections()
    assert _same(got["reid"], api) and _same(got["reid-none"], api_none)
    rates = [f for f in seen if f is not None]  # (the tracker also resets itself once without a rate)
    assert rates[-2:] == [30.0, 12.5]  # the video container's rate, then the op's fps (LocalExecutor(1) runs here)
    assert len(list((ws.root / "cache" / "reid_onnx").glob("*.onnx"))) == 1
