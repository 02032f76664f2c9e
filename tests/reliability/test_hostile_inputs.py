"""The issue 13 cases one by one: hostile or unlucky inputs get a clear one-line error or a correct result.

Each test names the case it pins down. Memory is bounded with ``tracemalloc`` where the old code allocated
gigabytes (``fuzzkit.bounded``); nothing here is timed.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from fuzzkit import bounded

from selftrack.core import Detections, SelftrackError, SelftrackWarning, ValidationError
from selftrack.reid import ReidArch, ReidNet, load_reid_model
from selftrack.reid.checkpoint import model_payload
from selftrack.workspace import DataType, Workspace, import_detections, import_videos, safe_extract_zip

CLI = [sys.executable, "-c", "from selftrack.cli.main import main; main()"]


def cli(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=300)


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error:"), proc.stderr
    flat = " ".join(proc.stderr.split())
    for needle in needles:
        assert needle in flat, flat


# ---------------------------------------------------------------------------------------------- 4: sizes
def test_track_and_eval_of_a_2_line_file_naming_frame_99999999_allocate_nothing_per_frame(tmp_path: Path):
    """Case 4: frame 10^9 made `track` allocate ~9 GB and hang, `eval` raise MemoryError. Now 10^9 is refused
    with its line, and the largest supported frame costs nothing per frame."""
    from selftrack.formats import read_mot
    from selftrack.metrics import evaluate
    from selftrack.trackers import get_tracker

    far = tmp_path / "far.txt"
    far.write_text("1,1,10,10,20,40,1\n99999999,1,10,10,20,40,1\n")
    dets = read_mot(far, kind="results")
    tracks = bounded(lambda: get_tracker("bytetrack").track(dets), 1000)
    assert isinstance(tracks, Detections) and len(tracks) == 1  # one box starts a track; a lone box does not
    result = bounded(lambda: evaluate(dets, dets), 1000)
    assert result.hota.hota == pytest.approx(1.0) and result.num_frames == 99_999_999
    too_far = tmp_path / "too_far.txt"
    too_far.write_text("1,-1,10,10,20,40,1\n1000000000,-1,10,10,20,40,1\n")
    one_line_error(cli("track", "--detections", too_far, "--out", tmp_path / "t.txt"), "line 2: frame number past")
    ws = Workspace.init(tmp_path / "ws")
    with pytest.raises(SelftrackError, match="line 2: frame number past"):
        import_detections(ws, "d", [too_far])
    assert ws.find_dataset("d") is None


def test_frame_1e20_is_reported_as_too_large_not_as_frame_numbers_start_at_1(tmp_path: Path):
    """Case 8: 1e20 wrapped to a negative int64 and was reported as 'frame numbers start at 1'."""
    path = tmp_path / "det.txt"
    path.write_text("1e20,-1,10,10,20,40,0.9\n")
    one_line_error(cli("track", "--detections", path, "--out", tmp_path / "t.txt"), "frame number past")


@pytest.mark.parametrize(
    ("flag", "value", "needle"),
    [
        ("--max-dimension", "-5", "--max-dimension"),
        ("--multiple", "0", "--multiple"),
        ("--conf", "2", "--conf"),
        ("--batch-size", "100000", "--batch-size"),
    ],
)
def test_detect_flags_are_one_line_errors(tmp_path: Path, shared_data: Path, flag: str, value: str, needle: str):
    """Cases 4 and 6: pydantic tracebacks from `detect` flags; `--batch-size 100000` allocated per batch."""
    video = shared_data / "videos" / "street_8_frames.mp4"
    proc = cli("detect", "--video", video, "--model", "motion", "--out", tmp_path / "d.txt", flag, value)
    one_line_error(proc, needle)


def test_a_batch_too_large_for_memory_is_refused_before_decoding(shared_data: Path):
    from selftrack.detectors import MotionDetector, detect_video
    from selftrack.video import ResizeSpec

    big = ResizeSpec(mode="fixed", width=8000, height=8000)
    result = bounded(
        lambda: detect_video(
            MotionDetector(), shared_data / "videos" / "street_8_frames.mp4", resize=big, batch_size=16
        ),
        50 << 20,
    )
    assert isinstance(result, ValidationError) and "use a batch size of at most" in str(result)


def test_onnx_model_declaring_a_40000x40000_input_is_refused_before_allocating(tmp_path: Path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    from selftrack.detectors import YoloOnnxDetector

    out = helper.make_tensor("raw", TensorProto.FLOAT, [1, 6, 10], np.zeros(60, dtype=np.float32).tolist())
    graph = helper.make_graph(
        [helper.make_node("Constant", [], ["output0"], value=out)],
        "huge",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 40000, 40000])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 6, 10])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "huge.onnx"
    onnx.save(model, str(path))
    result = bounded(lambda: YoloOnnxDetector(path), 10_000)
    assert isinstance(result, ValidationError) and "40000x40000" in str(result)


# ---------------------------------------------------------------------------------------------- zips
def zip_with(tmp_path: Path, name: str, entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for entry, data in entries.items():
            zf.writestr(entry, data)
    return path


def test_zip_bomb_is_refused_by_its_ratio_before_writing_anything(tmp_path: Path):
    """Case 4: a 4 MB zip bomb wrote 4 GiB before being refused (32 GiB cap, no ratio check)."""
    bomb = zip_with(tmp_path, "bomb.zip", {"big.mp4": bytes(64 << 20)}, zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < 1 << 20
    with pytest.raises(SelftrackError, match="zip bomb"):
        safe_extract_zip(bomb, tmp_path / "out")
    assert not any((tmp_path / "out").rglob("*"))


def test_zip_whose_header_understates_an_entry_never_writes_more_than_it_declares(tmp_path: Path):
    path = zip_with(tmp_path, "liar.zip", {"a.mp4": os.urandom(1 << 16)})
    data = bytearray(path.read_bytes())
    central = data.rfind(b"PK\x01\x02")
    data[central + 24 : central + 28] = (100).to_bytes(4, "little")  # uncompressed size in the central directory
    path.write_bytes(bytes(data))
    try:
        written = safe_extract_zip(path, tmp_path / "out")
    except SelftrackError:
        written = []
    assert all(p.stat().st_size <= 100 for p in written)


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ({"a": b"x", "a/b.mp4": b"y"}, "both a file and a folder"),  # case 6: was a NotADirectoryError traceback
        ({"inner.zip": b"PK\x05\x06" + bytes(18)}, "nested archives"),  # case 7: ignored without a word
    ],
)
def test_zip_entries_that_cannot_be_imported_are_one_line_errors(tmp_path: Path, entries: dict, needle: str):
    archive = zip_with(tmp_path, "odd.zip", entries)
    Workspace.init(tmp_path / "ws")
    one_line_error(cli("-w", tmp_path / "ws", "import", archive, "-d", "videos"), needle)


# ---------------------------------------------------------------------------------------------- model files
def _payload() -> dict:
    torch.manual_seed(0)
    net = ReidNet(ReidArch(crop_size=16, widths=(4, 4, 4, 4)))
    return model_payload(net, stages=["appearance"], params={}, provenance={}, training={})


@pytest.mark.parametrize(
    ("variant", "needle"),
    [
        ("list", "holds a list"),
        ("no state", "lacks state_dict"),
        ("arch not a dict", "'architecture' must be a dict"),
        ("state not a dict", "'state_dict' must be a dict"),
        ("weight not a tensor", "not a named tensor"),
        ("stages wrong", "'stages'"),
        ("version text", "no valid version"),
        ("hidden_dim 2e6", "hidden_dim must be a whole number"),
        ("huge widths", "more than the"),
        ("nan weights", "NaN or infinite"),
        ("missing weight", "do not match the architecture"),
    ],
)
def test_malformed_model_files_are_one_line_errors(tmp_path: Path, variant: str, needle: str):
    """Cases 4, 6 and 7: six malformed checkpoints gave tracebacks; hidden_dim=2e6 allocated terabytes; a model
    with NaN weights tracked (200 tracks instead of 22)."""
    payload = _payload()
    if variant == "list":
        payload = [payload]
    elif variant == "no state":
        del payload["state_dict"]
    elif variant == "arch not a dict":
        payload["architecture"] = [1, 2]
    elif variant == "state not a dict":
        payload["state_dict"] = "weights"
    elif variant == "weight not a tensor":
        payload["state_dict"][next(iter(payload["state_dict"]))] = [1.0, 2.0]
    elif variant == "stages wrong":
        payload["stages"] = [3]
    elif variant == "version text":
        payload["version"] = "one"
    elif variant == "hidden_dim 2e6":
        payload["architecture"]["hidden_dim"] = 2_000_000
    elif variant == "huge widths":
        payload["architecture"]["widths"] = [8192] * 6
        payload["architecture"]["embed_dim"] = 8192
    elif variant == "nan weights":
        first = next(k for k, v in payload["state_dict"].items() if v.is_floating_point())
        payload["state_dict"][first][...] = float("nan")
    elif variant == "missing weight":
        payload["state_dict"].pop(next(iter(payload["state_dict"])))
    path = tmp_path / "model.pt"
    torch.save(payload, path)
    result = bounded(lambda: load_reid_model(path), path.stat().st_size + (8 << 20))
    assert isinstance(result, ValidationError), result
    assert needle in str(result) and str(path) in str(result)


def test_a_pickle_that_would_run_code_is_refused_in_one_line(tmp_path: Path):
    """Case 8: torch's paragraph about weights_only=False; never loaded."""

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    path = tmp_path / "evil.pt"
    torch.save({"format": "selftrack-reid", "x": Evil()}, path)
    with pytest.raises(ValidationError, match=r"refused \(loading them could run code\)") as info:
        load_reid_model(path)
    assert "weights_only" not in str(info.value) and not (tmp_path / "pwned").exists()
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValidationError):
        load_reid_model(raw)
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------------------------- silently wrong
def test_zero_size_boxes_are_left_out_with_a_warning_and_never_become_nan(tmp_path: Path):
    """Case 7: zero-size boxes were merged (and SORT wrote NaN coordinates)."""
    from selftrack.trackers import get_tracker

    dets = Detections.create(
        [0, 0, 1, 1, 2],
        [[10, 10, 10, 10], [50, 50, 80, 120], [10, 10, 10, 30], [51, 50, 81, 120], [52, 50, 82, 120]],
        0.9,
    )
    for name in ("iou", "sort", "bytetrack", "ocsort"):
        with pytest.warns(SelftrackWarning, match="2 box\\(es\\) have zero width or height"):
            out = get_tracker(name).track(dets)
        assert np.isfinite(out.xyxy).all()
        assert ((out.xyxy[:, 2] > out.xyxy[:, 0]) & (out.xyxy[:, 3] > out.xyxy[:, 1])).all()


def test_scores_outside_0_1_are_said(tmp_path: Path):
    """Case 7: scores outside [0, 1] were accepted without a word."""
    path = tmp_path / "det.txt"
    path.write_text("1,-1,10,10,20,40,3.5\n2,-1,11,10,20,40,-0.5\n")
    proc = cli("track", "--detections", path, "--out", tmp_path / "t.txt")
    assert proc.returncode == 0 and "warning:" in proc.stderr and "outside [0, 1]" in " ".join(proc.stderr.split())


def test_out_naming_a_folder_is_one_line_error(tmp_path: Path):
    """Case 6: `--out` naming a folder gave IsADirectoryError."""
    path = tmp_path / "det.txt"
    path.write_text("1,-1,10,10,20,40,0.9\n")
    one_line_error(cli("track", "--detections", path, "--out", tmp_path), "is a folder")


def test_an_item_file_deleted_by_hand_is_listed_as_missing_and_recomputed(tmp_path: Path, shared_data: Path):
    """Case 7: an item file deleted by hand was still listed and 'up to date'."""
    from selftrack.pipeline import LocalExecutor, Pipeline

    ws = Workspace.init(tmp_path / "ws")
    import_videos(ws, "videos", [shared_data / "videos" / "street_8_frames.mp4"])
    pipe = Pipeline(ws)
    pipe.add_node(
        "small",
        "cropresize",
        inputs={"video": "videos"},
        params={"resize": {"mode": "fixed", "width": 32, "height": 32}},
    )
    pipe.node("small").run(executor=LocalExecutor(1))
    out = pipe.node("small").outputs()["video"]
    ws.items(out)[0].path.unlink()
    listing = cli("-w", ws.root, "items", out)
    assert "file missing" in listing.stdout
    again = pipe.node("small").run(executor=LocalExecutor(1))
    assert again.computed["small"] == ["street_8_frames"] and ws.items(out)[0].path.is_file()
    ws.items("videos")[0].path.unlink()  # an input gone: fine while nothing needs it, an error when something does
    assert cli("-w", ws.root, "run", "small").returncode == 0
    ws.items(out)[0].path.unlink()
    one_line_error(cli("-w", ws.root, "run", "small"), "input item files are missing", "selftrack check")


def test_a_failed_node_is_not_reported_up_to_date(tmp_path: Path):
    """Case 8: `node: up to date` was printed just before the job failed."""
    ws = Workspace.init(tmp_path / "ws")
    ws.create_dataset("dets", DataType.DETECTIONS)
    ws.put_detections("dets", "a", Detections.create([0], [[0, 0, 5, 5]], canvas=(10, 10), num_frames=1))
    ws.create_dataset("videos", DataType.VIDEO)
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00" * 2048)
    ws.put_file(
        "videos",
        "a",
        bad,
        metadata={
            "video": {
                "width": 10,
                "height": 10,
                "fps": "10/1",
                "frame_count": 1,
                "codec": "h264",
                "duration": 0.1,
                "pix_fmt": "yuv420p",
                "path": "",
            }
        },
    )
    yaml_path = tmp_path / "p.yaml"
    yaml_path.write_text("nodes:\n  small:\n    op: cropresize\n    inputs: {video: videos}\n")
    proc = cli("-w", ws.root, "run", yaml_path, "--workers", "1")
    assert proc.returncode == 1 and "small: failed" in proc.stdout and "up to date" not in proc.stdout
