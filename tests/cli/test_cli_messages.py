"""What a person reads from the CLI: errors in their words, typed --param for every tracker, readable help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from selftrack.cli.main import app
from selftrack.core.errors import SelftrackError
from selftrack.formats import read_mot

CLI = str(Path(sys.executable).with_name("selftrack"))
runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def error(*args: object) -> str:
    result = invoke(*args)
    assert isinstance(result.exception, SelftrackError), (result.output, result.exception)
    return str(result.exception)


@pytest.fixture(scope="module")
def det(shared_data: Path) -> Path:
    return shared_data / "mot15" / "TUD-Campus" / "det" / "det.txt"


def test_unknown_tracker_lists_every_tracker_including_reid(det: Path, tmp_path: Path):
    for args in (["--detections", det, "--out", tmp_path / "t.txt"], ["--show-params"]):
        assert error("track", "--tracker", "foo", *args) == (
            "unknown tracker 'foo'; choose one of: bytetrack, iou, ocsort, sort, reid"
        )


def test_unknown_param_is_named_with_the_valid_ones(det: Path, tmp_path: Path):
    msg = error("track", "--tracker", "sort", "--detections", det, "--out", tmp_path / "t.txt", "--param", "nosuch=1")
    assert msg.startswith("invalid sort parameters: unknown parameter 'nosuch'; valid parameters: ")
    assert "max_age" in msg and "iou_threshold" in msg and "Extra inputs" not in msg
    msg = error("track", "--detections", det, "--out", tmp_path / "t.txt", "--param", "track_thresh=high")
    assert msg.startswith("invalid bytetrack parameters: track_thresh=high: should be a valid number")
    msg = error("track", "--detections", det, "--out", tmp_path / "t.txt", "--min-track-length", "-2")
    assert "--min-track-length -2: should be greater than or equal to 0" in msg
    assert not (tmp_path / "t.txt").exists()


def test_classic_trackers_get_typed_params_like_the_reid_tracker(det: Path, tmp_path: Path):
    """``none`` reaches ByteTrack as None (its ``new_track_thresh: float | None``), as YAML would give it."""
    out = tmp_path / "t.txt"
    result = invoke("track", "--detections", det, "--out", out, "--param", "new_track_thresh=none",
                    "--param", "track_thresh=0.5", "--param", "fuse_score=false")  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert len(read_mot(out).track_ids) > 0
    msg = error("track", "--detections", det, "--out", out, "--param", "track_thresh")
    assert msg == "--param takes KEY=VALUE, got 'track_thresh'"


def test_options_are_named_in_errors(shared_data: Path, tmp_path: Path):
    video = shared_data / "videos" / "highway_cctv.avi"
    msg = error("detect", "--video", video, "--model", "motion", "--out", tmp_path / "d.txt", "--conf", "3")
    assert msg == "invalid detection parameters: --conf 3.0: should be less than or equal to 1"
    det = tmp_path / "d.txt"
    det.write_text("1,-1,10,10,20,20,0.9\n")
    msg = error("train-reid", "--video", video, "--detections", det, "--out", tmp_path / "m.pt", "--minutes", "-1",
                "--param", "batch_size=0")  # fmt: skip
    assert msg.splitlines() == [
        "invalid training parameters:",
        "  --minutes -1.0: should be greater than 0",
        "  batch_size=0: should be greater than or equal to 1",
        "(see --show-params)",
    ]


def test_help_shows_readable_placeholders():
    """No Python annotations (``<bool>``, ``<list[Path]>``) and no braces in any command's help."""
    from selftrack.cli.app import app as the_app

    names = [c.name or c.callback.__name__.replace("_", "-") for c in the_app.registered_commands]
    for name in names:
        text = invoke(name, "--help").output
        assert f"Usage: selftrack {name}" in text or f"Usage: root {name}" in text, text
        assert not re.search(r"<\w+(\[\w+\])?>|\{[A-Z]+\}", text), f"{name}: {text}"
    track = invoke("track", "--help").output
    assert re.search(r"--param\s+TEXT", track) and re.search(r"--min-track-length\s+INTEGER", track)
    assert re.search(r"--show-params\s+(--no-show-params\s+)?List", track)  # a flag: no value placeholder
    assert "Usage: " in invoke("import", "--help").output and " SOURCES..." in invoke("import", "--help").output


def test_info_rounds_the_duration_and_writes_the_rate_plainly(shared_data: Path):
    proc = subprocess.run([CLI, "info", str(shared_data / "pets09-s2l1" / "video.avi")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"duration\s+│\s+79\.50 s \(1:19\)", proc.stdout) and re.search(r"fps\s+│\s+10\s", proc.stdout)


def test_track_ends_with_a_summary_a_person_can_act_on(det: Path, tmp_path: Path):
    """Tracks and their length, boxes kept of given with the reasons for the rest, the next commands."""
    import numpy as np

    out = tmp_path / "tracks.txt"
    # 20 boxes: the auto preset's shortest tracks here have 12, so the summary has every part
    result = invoke("track", "--detections", det, "--out", out, "--min-track-length", "20", "--interpolate", "10")
    assert result.exit_code == 0, (result.output, result.exception)
    tracks = read_mot(out)
    given = len(read_mot(det))
    _, lengths = np.unique(tracks.track_id, return_counts=True)
    lines = result.output.splitlines()
    assert lines[0] == f"{len(lengths)} tracks over 71 frames -> {out}"
    assert lines[1] == (
        f"  track length: mean {lengths.mean():.1f} boxes, median {np.median(lengths):.0f}, "
        f"longest {lengths.max()}, shortest {lengths.min()}"
    )
    m = re.fullmatch(
        r"  boxes: (\d+) kept of (\d+) given; dropped (\d+) never linked into a track by bytetrack and (\d+) in "
        r"tracks under 20 boxes \(--min-track-length\); (\d+) added to fill gaps of up to 10 frames",
        lines[2],
    )
    assert m is not None, lines[2]
    kept, given_shown, unlinked, short, added = map(int, m.groups())
    assert given_shown == given and kept + unlinked + short == given and kept + added == len(tracks)
    assert lines[3] == f"  render: selftrack render --video VIDEO --tracks {out} --out {out.with_suffix('.mp4')}"
    assert lines[4] == f"  score:  selftrack eval --gt GT.txt --tracks {out}"
    # what the tracker chose from the detections' scores (TUD-Campus: a detector's graded scores)
    assert lines[5].startswith("  bytetrack: graded detector scores") and "Otsu" in lines[5]
    assert lines[6].startswith("  bytetrack: chosen track_thresh=")


def test_a_workspace_folder_that_cannot_be_made_and_a_bad_port_are_one_line_errors(tmp_path: Path):
    """``init``/``serve`` on a file, or under one, and ``serve --port 99999`` printed tracebacks."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    for args, reason in (
        (["init", afile], "it is a file"),
        (["serve", afile], "it is a file"),
        (["init", afile / "ws"], "Not a directory"),
    ):
        proc = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert proc.stderr.strip() == f"error: cannot create the workspace folder {args[1]}: {reason}"
    proc = subprocess.run(
        [CLI, "serve", str(tmp_path / "ws"), "--port", "99999"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "--port" in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "ws").exists()
