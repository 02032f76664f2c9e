"""The command line as a user runs it: a real ``selftrack`` process per command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

CLI = str(Path(sys.executable).with_name("selftrack"))


def sh(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([CLI, *args], capture_output=True, text=True, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_import_list_export_info(tmp_path: Path, shared_data: Path):
    ws = str(tmp_path / "ws")
    sh("init", ws)
    out = sh(
        "-w",
        ws,
        "import",
        str(shared_data / "videos" / "street_8_frames.mp4"),
        str(shared_data / "videos" / "highway_cctv.avi"),
        "--dataset",
        "videos",
    ).stdout
    assert "imported 2 item(s) into videos" in out
    gt = shared_data / "mot15" / "TUD-Campus" / "gt" / "gt.txt"
    assert "TUD-Campus" in sh("import-detections", str(gt), "--dataset", "gt", "-w", ws).stdout
    listing = sh("-w", ws, "datasets").stdout
    assert "videos" in listing and "video" in listing and "gt" in listing and "tracks" in listing
    items = sh("-w", ws, "items", "videos").stdout
    assert "320x240" in items and "748 frames" in items and "street_8_frames" in items
    assert "boxes" in sh("-w", ws, "items", "gt").stdout
    sh("-w", ws, "export", "gt", str(tmp_path / "out"))
    assert (tmp_path / "out" / "TUD-Campus.txt").exists()
    info = sh("info", str(shared_data / "pets09-s2l1" / "video.avi")).stdout
    assert "768" in info and "576" in info and "795" in info


def test_errors_are_one_clear_line_without_traceback(tmp_path: Path, shared_data: Path):
    proc = sh("-w", str(tmp_path / "missing"), "datasets", ok=False)
    assert proc.returncode == 1
    assert "not a selftrack workspace" in proc.stderr and "Traceback" not in proc.stderr
    bad = tmp_path / "broken.avi"
    bad.write_bytes(b"garbage" * 100)
    proc = sh("info", str(bad), ok=False)
    assert proc.returncode == 1 and "broken.avi" in proc.stderr and "Traceback" not in proc.stderr


def test_demo_runs_the_tutorial_and_compares_the_trackers(tmp_path: Path):
    """The whole tutorial, shortened (100 frames, 20 training steps); a re-run reuses every result."""
    root = str(tmp_path / "demo")
    out = sh("demo", "--workspace", root, "--frames", "100", "--train-steps", "20").stdout
    assert "generated a 640x360 plaza scene, 100 frames" in out
    from selftrack.workspace import Workspace

    ws = Workspace(tmp_path / "demo")
    (video,) = ws.items("demo-videos")
    assert video.video_info.frame_count == 100 and video.video_info.codec == "h264"
    gt = ws.item("demo-ground-truth", video.key).load_detections()
    assert gt.num_frames == 100 and len(gt.track_ids) >= 3
    # one table, a column per tracker, every metric a number in its range
    header = next(line for line in out.splitlines() if "metric" in line)
    assert "re-id tracker" in header and "ByteTrack" in header
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if len(cells) == 3 and cells[0] in ("HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW"):
            rows[cells[0]] = (float(cells[1]), float(cells[2]))
    assert set(rows) == {"HOTA", "DetA", "AssA", "MOTA", "IDF1", "IDSW"}
    # each column is its own tracker scored on its own output: recomputed here from the two tracks datasets
    from selftrack.metrics import evaluate
    from selftrack.pipeline import current_outputs

    outputs = {
        column: ws.item(current_outputs(ws, node)["tracks"], video.key).load_detections()
        for column, node in ((0, "track-reid"), (1, "track-bytetrack"))
    }
    for column, tracks in outputs.items():
        summary = evaluate(gt, tracks, benchmark="none").summary()
        for name, values in rows.items():
            expected = summary[name] if name == "IDSW" else round(100 * summary[name], 1)
            assert values[column] == pytest.approx(expected, abs=0.051), (column, name)
    # two different trackers, not one twice: different identities on the same detections
    reid, byte = outputs[0], outputs[1]
    assert len(reid.track_ids) != len(byte.track_ids) or not np.array_equal(reid.track_id, byte.track_id)
    assert rows["HOTA"][0] != rows["HOTA"][1] or rows["IDF1"][0] != rows["IDF1"][1]
    nodes = sh("-w", root, "nodes").stdout
    for node in ("detect", "train-reid", "track-reid", "track-bytetrack", "render", "evaluate-reid"):
        assert node in nodes
    again = sh("demo", "--workspace", root, "--frames", "100", "--train-steps", "20").stdout
    assert "computed" not in again and again.count("up to date (cached)") == 7


def test_run_status_and_jobs_json(tmp_path: Path, shared_data: Path):
    ws = str(tmp_path / "ws")
    sh("init", ws)
    sh("-w", ws, "import", str(shared_data / "videos" / "street_8_frames.mp4"), "-d", "videos")
    yaml_file = tmp_path / "p.yaml"
    yaml_file.write_text(
        "nodes:\n  half:\n    op: resample\n    inputs: {input: videos}\n    params: {fraction: 1/2}\n"
    )
    sh("-w", ws, "run", str(yaml_file))
    job = json.loads(sh("-w", ws, "job", "1", "--json").stdout)
    assert job["state"] == "done" and job["progress"]["items_done"] == 1
    assert any("plan: half" in line for line in job["log"])
    nodes = sh("-w", ws, "nodes").stdout
    assert "half" in nodes and "done" in nodes
    proc = sh("-w", ws, "run", "nosuchnode", ok=False)
    assert proc.returncode == 1 and "no node named 'nosuchnode'" in proc.stderr


def _commands() -> dict[str, object]:
    import typer

    from selftrack.cli.main import app

    return dict(typer.main.get_command(app).commands)


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_has_help_listing_its_options(command: str):
    """``selftrack CMD --help`` (a real process) states what the command does and lists every option it takes."""
    cmd = _commands()[command]
    text = sh(command, "--help").stdout
    assert f"Usage: selftrack {command} [OPTIONS]" in text
    summary = (cmd.help or "").strip().splitlines()[0]
    assert " ".join(summary.split()[:6]) in " ".join(text.split()), summary
    for param in cmd.params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert opt in text, f"{command}: {opt} missing from --help"


def test_module_entry_point_lists_every_command():
    """``python -m selftrack.cli.main`` and ``python -m selftrack`` build one app with every command on it."""
    from selftrack.cli.main import app  # registers every command module on the one app

    expected = {c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands}
    assert len(expected) >= 20
    for entry in ("selftrack.cli.main", "selftrack"):
        proc = subprocess.run(
            [sys.executable, "-m", entry, "--help"], capture_output=True, text=True, env={"COLUMNS": "200"}
        )
        assert proc.returncode == 0, proc.stderr
        listed = {
            line.strip("│ ").split()[0] for line in proc.stdout.splitlines() if line.startswith("│ ") and "  " in line
        }
        assert {"track", "run", "train-reid", "detect", "eval", "init", "gc"} <= listed
        assert expected <= listed, expected - listed
