"""What a person sees in an 80-column terminal, recorded with tmux while real commands run.

``detect`` + ``train-reid`` on a real video, then ``run`` of the tutorial pipeline
(``examples/tutorial_fixed_camera.yaml`` with a short training budget). The screen is captured four times
a second; every progress row must show its numbers whole, a running stage's clock must move, and no
percentage (a stage's, or the job's in the header) may go back.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
CLOCK = r"\d+:\d\d(?::\d\d)?"
ROW = re.compile(
    rf"^(?P<label>\S.*?) +(?:━+ +)?(?P<pct>\d+)% (?P<done>\d+)/(?P<total>\d+) (?P<unit>[a-z]+)"
    rf"(?:  (?P<rate>[\d.]+/s))?(?:  ETA (?:{CLOCK}|-))?  (?:(?P<clock>{CLOCK})|done in {CLOCK})$"
)
HEADER = re.compile(r"^run render: node \d/4, (?P<pct>\d+)% in all$")


@pytest.fixture(scope="module")
def tmux() -> str:
    path = shutil.which("tmux")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing; .ci/run installs it")
        pytest.skip("tmux is not installed (apt-get install tmux)")
    return path


def record(tmux: str, script: str, folder: Path, timeout: float = 240.0) -> list[list[str]]:
    """Run ``script`` in a fresh 80x40 tmux pane; the screen captured every 0.25 s until it exits."""
    socket = f"selftrack-test-{os.getpid()}"
    marker = folder / "exit-code"
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "TMUX")}
    env["PATH"] = f"{BIN}:{env.get('PATH', '/usr/bin:/bin')}"
    command = f"cd {shlex.quote(str(folder))} && {{ {script} ; }} ; echo $? > {shlex.quote(str(marker))}; sleep 60"
    base = [tmux, "-L", socket, "-f", "/dev/null"]
    subprocess.run([*base, "new-session", "-d", "-x", "80", "-y", "40", "bash", "-c", command], env=env, check=True)
    screens = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            finished = marker.exists()
            shot = subprocess.run([*base, "capture-pane", "-p"], capture_output=True, text=True).stdout
            screens.append(shot.splitlines())
            if finished:
                break
            time.sleep(0.25)
    finally:
        subprocess.run([*base, "kill-server"], capture_output=True)
    assert marker.exists(), "the commands did not finish:\n" + "\n".join(screens[-1] if screens else [])
    assert marker.read_text().strip() == "0", "\n".join(screens[-1])
    return screens


def check_screens(screens: list[list[str]], labels: set[str]) -> dict[str, list[str]]:
    """Every progress row whole; per stage: fixed total, rising percentage, a clock that only moves forward."""
    pcts: dict[str, list[int]] = {}
    clocks: dict[str, list[str]] = {}
    totals: dict[str, set[str]] = {}
    headers: list[int] = []
    for screen in screens:
        for line in screen:
            line = line.rstrip()
            assert len(line) <= 80
            if re.search(r"\d…|…\d|/…", line):
                raise AssertionError(f"a number is cut: {line!r}")
            if (h := HEADER.match(line)) is not None:
                headers.append(int(h["pct"]))
                continue
            if "%" not in line:
                continue
            m = ROW.match(line)
            assert m is not None, f"not a whole progress row: {line!r}"
            label = m["label"].strip()
            pcts.setdefault(label, []).append(int(m["pct"]))
            totals.setdefault(label, set()).add(m["total"])
            if m["clock"]:
                clocks.setdefault(label, []).append(m["clock"])
    assert labels <= set(pcts), sorted(pcts)
    for label, values in pcts.items():
        assert values == sorted(values), f"{label}: percentage went back: {values}"
        assert len(totals[label]) == 1, f"{label}: total changed: {totals[label]}"
    assert headers == sorted(headers)

    def seconds(c: str) -> int:
        parts = [int(x) for x in c.split(":")]
        return sum(p * 60**i for i, p in enumerate(reversed(parts)))

    for label, values in clocks.items():
        assert [seconds(c) for c in values] == sorted(seconds(c) for c in values), f"{label}: clock went back"
    moving = {label for label, values in clocks.items() if len(set(values)) >= 2}
    assert moving, f"no clock moved: {clocks}"
    return {label: [str(p) for p in v] for label, v in pcts.items()}


def test_detect_and_train_reid_at_80_columns(tmux: str, tmp_path: Path, shared_data: Path):
    video = shared_data / "videos" / "highway_cctv.avi"
    script = (
        f"selftrack detect --video {video} --model motion --max-dimension 0 --out det.txt && "
        f"selftrack train-reid --video {video} --detections det.txt --out reid.pt --steps 180 "
        "--param eval_every=60 --device cpu"
    )
    screens = record(tmux, script, tmp_path)
    seen = check_screens(screens, {"detect (motion)", "crops", "stage 1: appearance", "stage 2: spatial"})
    assert seen["stage 1: appearance"][-1] == "100" and seen["stage 2: spatial"][-1] == "100"
    last = "\n".join(screens[-1])
    assert "done: trained appearance + spatial" in last and (tmp_path / "reid.pt").is_file()


def test_tutorial_pipeline_run_at_80_columns(tmux: str, tmp_path: Path, shared_data: Path):
    spec = yaml.safe_load((REPO / "examples" / "tutorial_fixed_camera.yaml").read_text())
    spec["nodes"]["reid"]["params"].update(stage1_steps=150, stage2_steps=30, eval_every=50)
    (tmp_path / "tutorial.yaml").write_text(yaml.safe_dump(spec))
    video = shared_data / "videos" / "highway_cctv.avi"
    script = (
        f"selftrack init ws >/dev/null && selftrack -w ws import {video} -d videos && selftrack -w ws run tutorial.yaml"
    )
    screens = record(tmux, script, tmp_path)
    seen = check_screens(screens, {"detect", "reid: crops", "reid: appearance", "reid: spatial", "tracks", "render"})
    assert all(v[-1] == "100" for v in seen.values())
    assert any(HEADER.match(line.rstrip()) for screen in screens for line in screen)
