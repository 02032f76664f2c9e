"""Progress rows as a person reads them: numbers whole at any width, percentages that only rise, lines off a terminal."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from selftrack.cli.progress import CommandProgress, Row, clock, format_row, render

CLI = str(Path(sys.executable).with_name("selftrack"))

ROWS = [
    Row("detect (yolov8n.onnx)", "frames", 1394, 1394, "done", 1965.0, 0.7094),
    Row("stage 1: appearance", "steps", 12345, 200000, "running", 45296.0, 0.2725, 691739.0, ["loss 0.412"]),
    Row("crops", "frames", 2390, None, "running", 557.0, 4.29),
    Row("render", state="waiting"),
]


@pytest.mark.parametrize("width", [80, 60, 50])
def test_numbers_stay_whole_on_narrow_terminals(width: int):
    """The bar and the label give way; ``12345/200000 steps``, the ETA and the clock are never cut."""
    for row in ROWS:
        line = format_row(row, width).plain
        assert len(line) <= width, line
        assert row.numbers(with_rate=False) in line.replace(row.numbers(), row.numbers(with_rate=False)), line
    text = render(ROWS, width, "train-reid").plain
    assert "12345/200000 steps" in text and "ETA 192:08:59" in text and "12:34:56" in text
    assert "1394/1394 frames" in text and "done in 32:45" in text and "2390 frames" in text
    assert all(len(line) <= width for line in text.splitlines())


def test_rows_at_80_columns_keep_a_bar_and_line_up():
    rows = [
        Row("detect", "frames", 748, 748, "done", 2.9, 255.0),
        Row("reid: appearance", "steps", 920, 2000, "running", 300.0, 3.1, 348.0),
    ]
    lines = render(rows, 80).plain.splitlines()
    assert lines[1].startswith("reid: appearance ━") and lines[1].endswith(" 46% 920/2000 steps  3.1/s  ETA 5:48  5:00")
    assert lines[0].index("━") == lines[1].index("━") and lines[0].index("100%") == lines[1].index(" 46%")
    assert all(len(line) <= 80 for line in lines)
    wide = format_row(ROWS[1], 44).plain  # numbers wider than the terminal: shown whole, the rest gives way
    assert wide == ROWS[1].numbers(with_rate=False)
    assert clock(59) == "0:59" and clock(3600 + 61) == "1:01:01"


def test_command_progress_never_moves_back_and_opens_a_stage_for_a_new_total():
    progress = CommandProgress("train-reid", "frames")
    progress(10, 100)
    progress(5, 100)  # late, lower report
    assert progress.current is not None and progress.current.done == 10
    progress(40, 100)
    progress(3, 2000)  # another count: a new stage, the first one closed as done
    rows = progress.rows()
    assert [(r.label, r.done, r.total, r.state) for r in rows] == [
        ("train-reid", 40, 100, "done"),
        ("train-reid (2)", 3, 2000, "running"),
    ]
    progress.stage("stage 2: spatial", "steps", 400)
    progress.set_note("loss 0.5", "val 0.4")
    progress(400, 400)
    progress.finish()
    rows = progress.rows()
    assert [r.state for r in rows] == ["done", "done", "done"] and rows[-1].percent() == 100


def test_off_a_terminal_a_line_comes_at_each_interval_and_a_summary_at_the_end(tmp_path: Path, shared_data: Path):
    """``detect`` piped to a file: progress lines while it runs (here every 0.3 s), then one line of summary."""
    out = tmp_path / "det.txt"
    env = {**os.environ, "SELFTRACK_PROGRESS_INTERVAL": "0.3", "COLUMNS": "80"}
    proc = subprocess.run(
        [
            CLI,
            "detect",
            "--video",
            str(shared_data / "videos" / "highway_cctv.avi"),
            "--model",
            "motion",
            "--out",
            str(out),
            "--max-dimension",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("detect (motion)")]
    counts = [int(m.group(1)) for line in lines if (m := re.search(r" (\d+)/748 frames", line))]
    assert len(counts) >= 3, proc.stderr  # the run takes a few seconds
    assert counts == sorted(counts) and counts[-1] == 748
    assert "\x1b[" not in proc.stderr  # no terminal codes in a log
    assert re.search(r"done in \d+:\d\d", lines[-1])
    assert re.search(r"^\d+ boxes in 748 frames .* -> .*det.txt$", proc.stdout, re.M), proc.stdout
    assert re.search(r"^  took \d+:\d\d \([\d.]+ frames/s\)$", proc.stdout, re.M), proc.stdout
    # a speed hint up front: the time the whole video will take, from the first batches
    estimate = re.search(
        r"^detect \(motion\): \d+ frames in [\d.]+ s \([\d.]+/s\); all 748 frames: about (\d+):(\d\d) in all$",
        proc.stderr,
        re.M,
    )
    assert estimate is not None, proc.stderr
    assert proc.stderr.index(estimate.group(0)) < proc.stderr.index("748/748 frames")
