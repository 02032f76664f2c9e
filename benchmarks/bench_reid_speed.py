"""Re-id tracking speed against decoding alone, and how soon ``selftrack track --tracker reid`` starts tracking.

Run from the repository root::

    python benchmarks/bench_reid_speed.py              # writes its section of BENCHMARKS.md
    python benchmarks/bench_reid_speed.py --repeats 7

- ``throughput``: on PETS09-S2L1 (768x576 MS-MPEG4, 795 frames) and MOT17-09 (1920x1080 H.264, 525
  frames), each run times decoding alone (``VideoReader``, RGB frames) and then ``track_with_reid``
  (decode, crop from the boxes' pixels only, appearance network, tracking, post-processing; the model's ONNX twin, default
  parameters, no camera motion) back to back in one process, ``--repeats`` times, so that both see the
  same machine load; the ratio of the two frame rates is reported per run, with the load average.
  CPU time (all threads and child processes) per frame is reported beside the wall time: on a shared
  machine it moves much less than wall time. One run of each set also times the decoding thread
  variant (``prefetch="thread"``) instead of the decoding process.
- ``startup``: ``selftrack track --tracker reid`` as a user runs it (the console entry point's
  ``main``), timed from the process's creation (``/proc/self/stat``) to the first frame the tracker
  steps; with warm caches (the ONNX twin and the camera motion already measured: every run after
  the first on a video) and cold (a fresh cache folder: the first run on a new model and video).

The models are trained here with a short budget (``--train-steps``) on each set's own video and
detections (speed does not depend on how well a model is trained, only on its architecture,
which is the default), unless ``--model-pets`` / ``--model-mot09`` give model files.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench_common import load_average, note_run, write_section

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
START, END = "<!-- reid-speed:start -->", "<!-- reid-speed:end -->"
SETS = {
    "PETS09-S2L1": (DATA / "pets09-s2l1" / "video.avi", DATA / "pets09-s2l1" / "det" / "det.txt", 0.60),
    "MOT17-09": (
        DATA / "mot17" / "MOT17-09" / "video.mp4",
        DATA / "mot17" / "MOT17-09" / "det" / "det_refined.txt",
        0.75,
    ),
}


def _cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def _detections(name: str) -> Any:
    from selftrack.formats import read_mot
    from selftrack.video import probe

    video, det, _ = SETS[name]
    info = probe(video)
    return read_mot(det, canvas=info.size, num_frames=info.frame_count)


def model_for(name: str, work: Path, given: Path | None, steps: int, log: Any) -> Path:
    if given is not None:
        return given
    out = work / f"{name.lower()}-speed.pt"
    if out.is_file():
        return out
    from selftrack.reid import ReidTrainParams, train_reid

    log(f"training a {steps}-step model on {name} for the speed runs")
    stage2 = max(1, steps // 6)
    params = ReidTrainParams(stage1_steps=steps - stage2, stage2_steps=stage2, device="cpu")
    train_reid([SETS[name][0]], [_detections(name)], params=params, cache_dir=work / "crops", out_path=out)
    return out


def section_throughput(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    from selftrack.reid import ReidTrackerParams, load_tracking_model, track_with_reid
    from selftrack.reid import embed as embed_module
    from selftrack.video import VideoReader

    out: dict[str, Any] = {}
    for name, (video, _, bar) in SETS.items():
        det = _detections(name)
        path = model_for(
            name, work, args.model_pets if name.startswith("PETS") else args.model_mot09, args.train_steps, log
        )
        model = load_tracking_model(path, cache_dir=work / "twins")
        n = det.frame_count
        runs = []
        for _ in range(args.repeats):
            load = load_average()
            c, t = _cpu(), time.perf_counter()
            with VideoReader(video) as reader:
                frames = sum(1 for _ in reader.frames())
            decode = (time.perf_counter() - t, _cpu() - c)
            c, t = _cpu(), time.perf_counter()
            tracks = track_with_reid(model, video, det, ReidTrackerParams())
            track = (time.perf_counter() - t, _cpu() - c)
            runs.append({"load": load, "decode": decode, "track": track, "ratio": decode[0] / track[0]})
            log(
                f"{name}: decoding {frames / decode[0]:.0f} fps, track_with_reid {n / track[0]:.0f} fps, ratio {runs[-1]['ratio']:.2f} (load {load:.1f})"
            )
        # the decoding-thread variant, once, for comparison
        original = embed_module.iter_video_features
        embed_module.iter_video_features = lambda *a, _f=original, **k: _f(*a, **{**k, "prefetch": "thread"})
        try:
            c, t = _cpu(), time.perf_counter()
            with VideoReader(video) as reader:
                sum(1 for _ in reader.frames())
            decode = (time.perf_counter() - t, _cpu() - c)
            c, t = _cpu(), time.perf_counter()
            track_with_reid(model, video, det, ReidTrackerParams())
            thread = {"load": load_average(), "decode": decode, "track": (time.perf_counter() - t, _cpu() - c)}
            thread["ratio"] = decode[0] / thread["track"][0]
        finally:
            embed_module.iter_video_features = original
        out[name] = {"frames": n, "boxes": len(det), "tracks": len(tracks.track_ids), "runs": runs, "thread": thread,
                     "bar": bar, "model": str(path)}  # fmt: skip
    results["throughput"] = out


def _probe_main(argv: list[str]) -> None:
    """In a child process: run the CLI's main on ``argv``, report when the tracker first stepped."""
    ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    uptime = float(Path("/proc/uptime").read_text().split()[0])
    created = time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))
    first: dict[str, float] = {}
    import selftrack.reid.tracker.online as online

    step = online.ReidTracker.step

    def timed(self: Any, *a: Any, **k: Any) -> Any:
        if "t" not in first:
            first["t"] = time.time()
            first["cpu"] = time.process_time()
        return step(self, *a, **k)

    online.ReidTracker.step = timed  # type: ignore[method-assign]
    from selftrack.cli.main import main

    sys.argv = ["selftrack", *argv]
    try:
        main()
    except SystemExit as exc:
        if exc.code:
            raise
    done = time.time()
    print(
        json.dumps(
            {
                "first_step": first["t"] - created,
                "first_step_cpu": first["cpu"],  # this process's CPU seconds until then (all its threads)
                "total": done - created,
                "torch": "torch" in sys.modules,
            }
        )
    )


def section_startup(work: Path, args: argparse.Namespace, results: dict[str, Any], log: Any) -> None:
    out: dict[str, Any] = {}
    for name, (video, det, _) in SETS.items():
        model = model_for(
            name, work, args.model_pets if name.startswith("PETS") else args.model_mot09, args.train_steps, log
        )
        cmd = ["track", "--tracker", "reid", "--model", str(model), "--video", str(video), "--detections", str(det),
               "--out", str(work / f"{name}-tracks.txt")]  # fmt: skip

        def probe(cache: Path, extra: list[str], cmd: list[str] = cmd) -> dict[str, Any]:
            env = {**os.environ, "SELFTRACK_CACHE_DIR": str(cache)}
            proc = subprocess.run(
                [sys.executable, __file__, "--probe", *cmd, *extra], capture_output=True, text=True, env=env
            )
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr)
            return {**json.loads(proc.stdout.strip().splitlines()[-1]), "load": load_average()}

        cold_cache = work / f"cold-{time.time_ns()}"
        cold = probe(cold_cache, [])
        warm = [probe(cold_cache, []) for _ in range(args.repeats)]
        cold_none = probe(work / f"cold-none-{time.time_ns()}", ["--cmc", "none"])
        out[name] = {"command": "selftrack " + " ".join(cmd), "cold": cold, "warm": warm, "cold_cmc_none": cold_none}
        log(f"{name}: start-up warm {[round(w['first_step'], 2) for w in warm]} s, cold {cold['first_step']:.1f} s")
    results["startup"] = out


def report(results: dict[str, Any]) -> str:
    lines = [START, "## Re-id tracking speed and start-up", ""]
    lines += [f"Command: `{results['command']}` — {results['date']} — {results['machine']}.", ""]
    if "throughput" in results:
        lines += [
            "### `track_with_reid` against decoding alone",
            "",
            "Each run decodes the video alone (`VideoReader`, RGB frames: the same libavcodec decoding, then every "
            "pixel converted to RGB), then runs `track_with_reid` (decoding in a forked process that converts only "
            "the boxes' pixels to RGB, `VideoReader.frame_pixels`, and hands the crops over in shared memory; the "
            "model's ONNX twin, the tracker with its defaults, no camera motion), back to back in one process; "
            "wall-clock frame rates and their ratio, and CPU ms per frame (all threads and child processes). The "
            "machine is shared with other engineers' jobs: the load average is given per run, and the ratio is the "
            "figure that matters (both halves of a run see about the same load).",
            "",
        ]
        for name, r in results["throughput"].items():
            n = r["frames"]
            lines += [
                f"**{name}** ({n} frames, {r['boxes'] / n:.1f} boxes per frame; bar: ratio >= {r['bar']:.2f}; model "
                f"`{Path(r['model']).name}`)",
                "",
                "| run | load average | decoding alone fps (CPU ms/frame) | track_with_reid fps (CPU ms/frame) | ratio |",
                "|---|---|---|---|---|",
            ]
            for i, run in enumerate(r["runs"], 1):
                d, t = run["decode"], run["track"]
                lines.append(
                    f"| {i} | {run['load']:.1f} | {n / d[0]:.0f} ({1000 * d[1] / n:.2f}) | {n / t[0]:.0f} ({1000 * t[1] / n:.2f}) "
                    f"| {run['ratio']:.2f} |"
                )
            ratios = [run["ratio"] for run in r["runs"]]
            th = r["thread"]
            cpu_ratio = statistics.median(run["decode"][1] / run["track"][1] for run in r["runs"])
            lines += [
                "",
                f"Median ratio {statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f}); CPU-time "
                f"ratio {cpu_ratio:.2f} (what the ratio tends to when every core is busy). With the decoding thread "
                f"instead of the process: ratio {th['ratio']:.2f} (load {th['load']:.1f}).",
                "",
            ]
    if "startup" in results:
        lines += [
            "### Start-up of `selftrack track --tracker reid`",
            "",
            "Seconds from the process's creation to the first frame the tracker steps (the whole command: Python, "
            "imports, reading the detections, loading the model, decoding and encoding the first 4 frames). *Warm*: the "
            "model's ONNX twin and the video's camera motion are cached (every run after the first); *cold*: a fresh "
            "cache folder (the first run with a new model file loads it with torch and writes its twin; with the "
            "default `--cmc auto` the first run on a new video also measures its camera motion first). The CPU "
            "seconds the process used until the first step are what the start-up takes on an idle core (it is "
            "single-threaded until then, apart from decoding the first frames in the forked process).",
            "",
            "| video | warm runs (s) | CPU s until then (warm, median) | load average | torch imported (warm) | cold, default cmc (s) | cold, `--cmc none` (s) | whole command, warm (s) |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for name, r in results["startup"].items():
            warm = r["warm"]
            firsts = ", ".join(f"{w['first_step']:.2f}" for w in warm)
            cpu = statistics.median(w.get("first_step_cpu", float("nan")) for w in warm)
            lines.append(
                f"| {name} | {firsts} | {cpu:.2f} | "
                f"{min(w['load'] for w in warm):.1f}-{max(w['load'] for w in warm):.1f} | "
                f"{'yes' if any(w['torch'] for w in warm) else 'no'} | {r['cold']['first_step']:.1f} | "
                f"{r['cold_cmc_none']['first_step']:.1f} | {statistics.median(w['total'] for w in warm):.1f} |"
            )
        timed = next(iter(results["startup"].values()))["command"].replace(str(DATA), "../shared/data")
        timed = " ".join(
            ("reid.pt" if a.endswith(".pt") else "tracks.txt" if a.endswith("-tracks.txt") else a)
            for a in timed.split()
        )
        lines += ["", f"Command timed (PETS09; MOT17-09 likewise): `{timed}`.", ""]
    lines.append(END)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--probe":
        _probe_main(argv[1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sections",
        nargs="*",
        default=["throughput", "startup"],
        help="Parts to run (none: rewrite the section from the saved results).",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--model-pets", type=Path)
    parser.add_argument("--model-mot09", type=Path)
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-bench-reid-speed"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    saved = args.work / "results.json"
    results: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {}
    note_run(results, "bench_reid_speed.py", argv, args.sections)

    def log(msg: str) -> None:
        print(msg, flush=True)

    for name in args.sections:
        {"throughput": section_throughput, "startup": section_startup}[name](args.work, args, results, log)
        saved.write_text(json.dumps(results, indent=1, default=str))
    section = report(results)
    if args.no_write:
        print(section)
    else:
        write_section(ROOT / "BENCHMARKS.md", section, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
