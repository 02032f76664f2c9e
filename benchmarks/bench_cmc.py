"""Camera motion measured from the video: accuracy on known motion, false motion on fixed cameras,
cost per 1080p frame, and what compensation does to tracking.

Run from the repository root::

    python benchmarks/bench_cmc.py                   # everything, writes its section of BENCHMARKS.md
    python benchmarks/bench_cmc.py --sections cost   # one part (others keep their previous text)

Sections:

- ``accuracy``: real fixed-camera footage filmed by a virtual camera with exact motion
  (``selftrack.synth.camera_motion``): MOT17-09 panned and zoomed (the tracking video below), the same
  with roll and hand-held shake at 1080p, and PETS09 likewise at 640x480. The estimator reads the
  encoded videos (H.264) and its transforms are compared with the exact ones.
- ``fixed``: the estimate on fixed-camera videos (should be no motion, and ``cmc=auto`` should stay
  off), and on MOT17-09 against BoT-SORT's own ``gmc.txt``.
- ``cost``: seconds per 1080p frame of ``estimate_camera_motion`` (decoding included) next to
  decoding alone, and the estimator's own CPU time, on MOT17-09.
- ``tracking``: ``selftrack track`` (the command users run) with ``--cmc none`` / ``video`` /
  ``file`` (the exact motion) on the moved MOT17-09, and ``--cmc none`` / ``file`` on MOT17-05 (a
  hand-held camera; its ``gmc.txt`` is BoT-SORT's, there is no video), scored with the MOT17 rules.

The settings of the estimator and the ``cmc=auto`` threshold were chosen on MOT17-09 and PETS09 frames
and BoT-SORT's gmc.txt files of MOT17-02/04/05/09/10; every number below is on those same videos (there
is no other moving-camera video with known motion here), which the section says.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import load_average, note_run, write_section

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MOT09 = DATA / "mot17" / "MOT17-09"
MOT05 = DATA / "mot17" / "MOT17-05"
PETS = DATA / "pets09-s2l1"
START, END = "<!-- cmc:start -->", "<!-- cmc:end -->"
RESULTS = "cmc-results.json"
CLI = str(Path(sys.executable).with_name("selftrack"))


def _cpu() -> float:
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def moved_sequences(work: Path, log: Any) -> dict[str, dict[str, Any]]:
    """The virtual-camera sequences (written once into ``work``; reused when present)."""
    from selftrack.formats import read_mot
    from selftrack.synth.camera_motion import CameraPathSpec, make_camera_motion_sequence

    gt09 = read_mot(MOT09 / "gt" / "gt.txt", canvas=(1920, 1080), num_frames=525)
    det09 = read_mot(MOT09 / "det" / "det_refined.txt", canvas=(1920, 1080), num_frames=525)
    gt_pets = read_mot(PETS / "gt" / "gt.txt", canvas=(768, 576), num_frames=795)
    det_pets = read_mot(PETS / "det" / "det.txt", canvas=(768, 576), num_frames=795)
    shaky = {"roll_degrees": 2.0, "shake_px": 3.0, "pan_period": 4.0, "zoom_period": 5.0, "tilt_period": 6.0}
    specs = {
        "mot17-09 pan+zoom 720p": (MOT09 / "video.mp4", gt09, det09, (1280, 720), CameraPathSpec(), None),
        "mot17-09 pan+zoom+roll+shake 1080p": (
            MOT09 / "video.mp4", gt09, det09, (1920, 1080), CameraPathSpec(**shaky, seed=1), 150,
        ),
        "pets09 pan+zoom+roll+shake 640x480": (
            PETS / "video.avi", gt_pets, det_pets, (640, 480), CameraPathSpec(**shaky, seed=2), 400,
        ),
    }  # fmt: skip
    out = {}
    for name, (video, gt, det, size, spec, frames) in specs.items():
        folder = work / name.replace(" ", "_").replace("+", "-")
        if not (folder / "sequence.json").exists():
            log(f"writing {name}")
            make_camera_motion_sequence(
                video, folder, gt=gt, detections=det, out_size=size, spec=spec, num_frames=frames
            )
        meta = json.loads((folder / "sequence.json").read_text())
        out[name] = {"folder": folder, "size": tuple(meta["out_size"]), "frames": meta["frames"], "spec": meta["spec"]}
    return out


def section_accuracy(work: Path, results: dict[str, Any], log: Any) -> None:
    from selftrack.formats import read_gmc, read_mot
    from selftrack.video.camera_motion import displacement_error, estimate_camera_motion, frame_displacement

    rows = []
    for name, seq in moved_sequences(work, log).items():
        folder, size, n = seq["folder"], seq["size"], seq["frames"]
        det = read_mot(folder / "det" / "det.txt", canvas=size, num_frames=n)
        true = read_gmc(folder / "gmc.txt", num_frames=n)
        motion = estimate_camera_motion(folder / "video.mp4", det)
        err = displacement_error(motion.transforms[1:], true[1:], size)
        mag = frame_displacement(true[1:], size)
        scale_err = np.abs(np.hypot(motion.transforms[1:, 0, 0], motion.transforms[1:, 1, 0])
                           - np.hypot(true[1:, 0, 0], true[1:, 1, 0]))  # fmt: skip
        rows.append({
            "sequence": name, "frames": n, "motion_mean": float(mag.mean()), "motion_max": float(mag.max()),
            "err_mean": float(err.mean()), "err_p95": float(np.percentile(err, 95)), "err_max": float(err.max()),
            "scale_err_max": float(scale_err.max()), "failed": motion.failed,
        })  # fmt: skip
        log(f"accuracy {name}: mean {err.mean():.3f} px, max {err.max():.3f} px")
    results["accuracy"] = rows
    results["variants"] = estimator_variants(work, log)


VARIANTS = {
    "defaults": {},
    "with the backward check (max_round_trip=0.5)": {"max_round_trip": 0.5},
    "600 corners": {"max_corners": 600},
    "960 px analysis": {"max_side": 960},
    "480 px analysis": {"max_side": 480},
}


def estimator_variants(work: Path, log: Any) -> list[dict[str, Any]]:
    """Error and estimator CPU time per frame (decoding excluded) of a few settings, on the moved sequences."""
    import cv2

    from selftrack.formats import read_gmc, read_mot
    from selftrack.video import VideoReader
    from selftrack.video.camera_motion import CameraMotionEstimator, CameraMotionSettings, displacement_error
    from selftrack.video.resize import ResizeSpec

    rows = []
    for name, seq in moved_sequences(work, log).items():
        folder, size, n = seq["folder"], seq["size"], min(seq["frames"], 150)
        det = read_mot(folder / "det" / "det.txt", canvas=size, num_frames=seq["frames"])
        true = read_gmc(folder / "gmc.txt")[:n]
        bounds = det.frame_bounds()
        frames: dict[int, list[np.ndarray]] = {}
        for label, kw in VARIANTS.items():
            settings = CameraMotionSettings(**kw)
            if settings.max_side not in frames:
                spec = ResizeSpec(mode="scale-down", max_dimension=settings.max_side)
                with VideoReader(folder / "video.mp4", resize=spec) as reader:
                    frames[settings.max_side] = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in reader.frames(0, n)]
            est = CameraMotionEstimator(size, settings)
            c = _cpu()
            out = np.array(
                [est.update(g, det.xyxy[bounds[f] : bounds[f + 1]])[0] for f, g in enumerate(frames[settings.max_side])]
            )
            cpu_ms = 1000 * (_cpu() - c) / n
            err = displacement_error(out[1:], true[1:], size)
            rows.append({"sequence": name, "variant": label, "frames": n, "err_mean": float(err.mean()),
                         "err_max": float(err.max()), "cpu_ms": cpu_ms})  # fmt: skip
    return rows


def section_fixed(work: Path, results: dict[str, Any], log: Any) -> None:
    from selftrack.formats import read_gmc, read_mot
    from selftrack.video import probe
    from selftrack.video.camera_motion import camera_moves, displacement_error, estimate_camera_motion
    from selftrack.video.camera_motion import frame_displacement as disp

    rows = []
    videos = [
        ("PETS09-S2L1", PETS / "video.avi", PETS / "det" / "det.txt"),
        ("MOT17-09", MOT09 / "video.mp4", MOT09 / "det" / "det_refined.txt"),
        ("TUD-Stadtmitte", DATA / "mot15" / "TUD-Stadtmitte" / "video.mp4", DATA / "mot15" / "TUD-Stadtmitte" / "det" / "det.txt"),
        ("KITTI-17", DATA / "mot15" / "KITTI-17" / "video.mp4", DATA / "mot15" / "KITTI-17" / "det" / "det.txt"),
        ("highway (CDnet)", DATA / "videos" / "highway_overpass_cdnet.avi", None),
        ("UA-DETRAC intersection", DATA / "videos" / "ua_detrac_intersection.mp4", None),
    ]  # fmt: skip
    for name, video, det_path in videos:
        info = probe(video)
        det = read_mot(det_path, canvas=info.size, num_frames=info.frame_count) if det_path else None
        motion = estimate_camera_motion(video, det)
        d = disp(motion.transforms[1:], motion.frame_size)
        row = {"video": name, "size": list(motion.frame_size), "frames": info.frame_count,
               "median_px": float(np.median(d)), "p99_px": float(np.percentile(d, 99)), "max_px": float(d.max()),
               "auto_on": camera_moves(motion.transforms, motion.frame_size), "failed": motion.failed}  # fmt: skip
        if name == "MOT17-09":
            row["vs_botsort_mean_px"] = float(
                displacement_error(motion.transforms, read_gmc(MOT09 / "gmc.txt"), (1920, 1080)).mean()
            )
        rows.append(row)
        log(f"fixed {name}: median {row['median_px']:.3f} px, auto {'on' if row['auto_on'] else 'off'}")
    for seq in ("MOT17-02", "MOT17-04", "MOT17-05", "MOT17-09", "MOT17-10"):
        from selftrack.formats import parse_seqinfo

        info = parse_seqinfo(DATA / "mot17" / seq / "seqinfo.ini")
        size = (int(info["imWidth"]), int(info["imHeight"]))
        gmc = read_gmc(DATA / "mot17" / seq / "gmc.txt")
        d = disp(gmc[1:], size)
        rows.append({"video": f"{seq} (BoT-SORT's gmc.txt)", "size": list(size), "frames": len(gmc),
                     "median_px": float(np.median(d)), "p99_px": float(np.percentile(d, 99)), "max_px": float(d.max()),
                     "auto_on": camera_moves(gmc, size), "failed": None})  # fmt: skip
    results["fixed"] = rows


def section_cost(work: Path, results: dict[str, Any], log: Any, repeats: int) -> None:
    import cv2

    from selftrack.formats import read_mot
    from selftrack.video import VideoReader
    from selftrack.video.camera_motion import CameraMotionEstimator, CameraMotionSettings, estimate_camera_motion
    from selftrack.video.resize import ResizeSpec

    det = read_mot(MOT09 / "det" / "det_refined.txt", canvas=(1920, 1080), num_frames=525)
    video = MOT09 / "video.mp4"
    settings = CameraMotionSettings()
    runs = []
    for _ in range(repeats):
        load = load_average()
        c, t = _cpu(), time.perf_counter()
        with VideoReader(video) as reader:
            n = sum(1 for _ in reader.frames())
        decode = (time.perf_counter() - t, _cpu() - c)
        c, t = _cpu(), time.perf_counter()
        with VideoReader(video, resize=ResizeSpec(mode="scale-down", max_dimension=settings.max_side)) as reader:
            grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in reader.frames()]  # as the estimator does
        small = (time.perf_counter() - t, _cpu() - c)
        est = CameraMotionEstimator((1920, 1080), settings)
        bounds = det.frame_bounds()
        c, t = _cpu(), time.perf_counter()
        for f, g in enumerate(grey):
            est.update(g, det.xyxy[bounds[f] : bounds[f + 1]])
        alone = (time.perf_counter() - t, _cpu() - c)
        c, t = _cpu(), time.perf_counter()
        estimate_camera_motion(video, det)
        whole = (time.perf_counter() - t, _cpu() - c)
        runs.append(
            {"load": load, "frames": n, "decode": decode, "decode_small": small, "estimator": alone, "whole": whole}
        )
        log(
            f"cost: decode {1000 * decode[0] / n:.1f} ms/frame, estimate_camera_motion {1000 * whole[0] / n:.1f} ms/frame"
        )
    results["cost"] = {"runs": runs, "settings": settings.model_dump()}


def _run(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{shlex.join(cmd)} failed: {proc.stderr}")


def section_tracking(work: Path, results: dict[str, Any], log: Any) -> None:
    from selftrack.formats import read_mot
    from selftrack.metrics import evaluate

    seq = moved_sequences(work, log)["mot17-09 pan+zoom 720p"]
    folder, size, n = seq["folder"], seq["size"], seq["frames"]
    gt = read_mot(folder / "gt" / "gt.txt", canvas=size, num_frames=n)
    gt05 = read_mot(MOT05 / "gt" / "gt.txt", canvas=(640, 480), num_frames=837)
    rows = []
    cache = work / "user-cache"  # a fresh cache: the first --cmc video run measures, the others reuse it
    env = {**os.environ, "SELFTRACK_CACHE_DIR": str(cache)}
    os.environ["SELFTRACK_CACHE_DIR"] = str(cache)
    for tracker in ("bytetrack", "ocsort", "sort", "iou"):
        for mode in ("none", "video", "file"):
            out = work / "tracks" / f"moved-{tracker}-{mode}.txt"
            cmd = ["selftrack", "track", "--tracker", tracker, "--detections", str(folder / "det" / "det.txt"),
                   "--video", str(folder / "video.mp4"), "--out", str(out), "--cmc", mode]  # fmt: skip
            if mode == "file":
                cmd += ["--gmc", str(folder / "gmc.txt")]
            t = time.perf_counter()
            subprocess.run([CLI, *cmd[1:]], capture_output=True, text=True, env=env, check=True)
            wall = time.perf_counter() - t
            s = evaluate(gt, read_mot(out), benchmark="mot17").summary()
            rows.append({"set": "mot17-09 moved", "tracker": tracker, "cmc": mode, "command": shlex.join(cmd),
                         "seconds": wall, **{k: s[k] for k in ("HOTA", "AssA", "MOTA", "IDF1", "IDSW")}})  # fmt: skip
        for mode in ("none", "file"):
            out = work / "tracks" / f"mot05-{tracker}-{mode}.txt"
            cmd = ["selftrack", "track", "--tracker", tracker, "--detections", str(MOT05 / "det" / "det_refined.txt"),
                   "--fps", "14", "--out", str(out), "--cmc", mode]  # fmt: skip
            if mode == "file":
                cmd += ["--gmc", str(MOT05 / "gmc.txt")]
            subprocess.run([CLI, *cmd[1:]], capture_output=True, text=True, env=env, check=True)
            s = evaluate(gt05, read_mot(out), benchmark="mot17").summary()
            rows.append({"set": "mot17-05", "tracker": tracker, "cmc": mode, "command": shlex.join(cmd),
                         **{k: s[k] for k in ("HOTA", "AssA", "MOTA", "IDF1", "IDSW")}})  # fmt: skip
        log(
            f"tracking {tracker}: "
            + ", ".join(f"{r['set']} {r['cmc']} {100 * r['HOTA']:.1f}" for r in rows if r["tracker"] == tracker)
        )
    results["tracking"] = rows


# ----------------------------------------------------------------------------------------------- report
def _ms(pair: tuple[float, float], n: int) -> tuple[float, float]:
    return 1000 * pair[0] / n, 1000 * pair[1] / n


def report(results: dict[str, Any]) -> str:
    out = [START, "## Camera motion from the video", ""]
    out += [f"Command: `{results['command']}` — {results['date']} — {results['machine']}.", ""]
    out += [
        "What `--cmc video` / `cmc=auto` measure (`selftrack.video.camera_motion`): per frame pair, Shi-Tomasi corners "
        "outside the detections on the frame shrunk to 640 px, pyramidal Lucas-Kanade flow, and a "
        "4-degree-of-freedom similarity fitted by RANSAC (BoT-SORT's GMC idea). Settings and the `cmc=auto` threshold "
        "were chosen on these same videos (MOT17-09 and PETS09 frames, BoT-SORT's gmc.txt of MOT17-02/04/05/09/10): "
        "there is no other moving-camera footage with known motion here, so the figures are not held out.",
        "",
    ]
    if "accuracy" in results:
        out += ["### Accuracy on known camera motion", ""]
        out += [
            "Real fixed-camera footage filmed by a virtual camera (`selftrack.synth.camera_motion`, exact motion), "
            "encoded as H.264 and read back. Error: RMS distance over a 5x5 grid covering the frame between where the "
            "estimated and the exact transform move each point, in output pixels; motion: the same for the exact "
            "transform against no motion.",
            "",
            "| sequence | frames | motion mean / max (px/frame) | error mean | error p95 | error max | worst zoom error | failed frames |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results["accuracy"]:
            out.append(
                f"| {r['sequence']} | {r['frames']} | {r['motion_mean']:.1f} / {r['motion_max']:.1f} | {r['err_mean']:.3f} "
                f"| {r['err_p95']:.3f} | {r['err_max']:.3f} | {100 * r['scale_err_max']:.3f} % | {r['failed']} |"
            )
        out.append("")
    if "variants" in results:
        out += [
            "Estimator settings compared on the first 150 frames of each sequence (error as above; CPU ms per frame of "
            "the estimator alone, decoding excluded, all threads; the machine is shared, so CPU times move by about a "
            "fifth between runs). The defaults are the first row.",
            "",
            "| sequence | settings | error mean | error max | estimator CPU ms / frame |",
            "|---|---|---|---|---|",
        ]
        for r in results["variants"]:
            out.append(
                f"| {r['sequence']} | {r['variant']} | {r['err_mean']:.3f} | {r['err_max']:.3f} | {r['cpu_ms']:.1f} |"
            )
        out.append("")
    if "fixed" in results:
        out += ["### Fixed cameras (no motion) and `cmc=auto`", ""]
        out += [
            "`cmc=auto` turns compensation on when at least 10 % of the frames move the image by more than 0.2 % of "
            "the frame diagonal (`camera_moves`). Per-frame displacement in pixels (RMS over the frame grid):",
            "",
            "| video | size | frames | median | p99 | max | auto | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results["fixed"]:
            note = ""
            if "vs_botsort_mean_px" in r:
                note = f"vs BoT-SORT's gmc.txt: {r['vs_botsort_mean_px']:.3f} px mean difference"
            elif r["failed"]:
                note = f"{r['failed']} frames without an estimate"
            out.append(
                f"| {r['video']} | {r['size'][0]}x{r['size'][1]} | {r['frames']} | {r['median_px']:.3f} | {r['p99_px']:.3f} "
                f"| {r['max_px']:.3f} | {'on' if r['auto_on'] else 'off'} | {note} |"
            )
        out.append("")
    if "cost" in results:
        runs = results["cost"]["runs"]
        out += ["### Cost per 1080p frame", ""]
        out += [
            f"MOT17-09 (1920x1080 H.264, {runs[0]['frames']} frames, 7.8 boxes per frame masked), {len(runs)} runs in "
            "one process, one after the other; wall ms and CPU ms (all threads and child processes) per frame. "
            "`estimate_camera_motion` decodes at the analysis size (640x360) itself.",
            "",
            "| run | load average | decoding alone (1080p RGB) | decoding at 640x360 | estimator alone | `estimate_camera_motion` |",
            "|---|---|---|---|---|---|",
        ]
        for i, r in enumerate(runs, 1):
            cells = [
                f"{w:.1f} wall / {c:.1f} CPU"
                for w, c in (_ms(r[k], r["frames"]) for k in ("decode", "decode_small", "estimator", "whole"))
            ]
            out.append(f"| {i} | {r['load']:.1f} | " + " | ".join(cells) + " |")
        out.append("")
    if "tracking" in results:
        out += ["### Tracking with and without compensation", ""]
        out += [
            "The moved MOT17-09 (720p, 525 frames, pan and zoom, refined detections moved with the camera; frame rate "
            "30 fps from the video container) and MOT17-05 (640x480, hand-held, refined detections; `--fps 14` as in "
            "its seqinfo.ini; `--cmc file` is BoT-SORT's gmc.txt, there is no video). Trackers with their defaults. "
            "Each row is the command shown (in the row's order: none, video, file), scored with the MOT17 rules.",
            "",
            "| set | tracker | cmc | HOTA | AssA | MOTA | IDF1 | IDSW |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results["tracking"]:
            out.append(
                f"| {r['set']} | {r['tracker']} | {r['cmc']} | {100 * r['HOTA']:.2f} | {100 * r['AssA']:.2f} "
                f"| {100 * r['MOTA']:.2f} | {100 * r['IDF1']:.2f} | {r['IDSW']} |"
            )
        hota = {(r["set"], r["tracker"], r["cmc"]): 100 * r["HOTA"] for r in results["tracking"]}
        changes, gap, worse = [], 0.0, []
        for tracker in dict.fromkeys(r["tracker"] for r in results["tracking"]):
            none = hota[("mot17-09 moved", tracker, "none")]
            moved = [hota[("mot17-09 moved", tracker, m)] - none for m in ("video", "file")]
            mot05 = hota[("mot17-05", tracker, "file")] - hota[("mot17-05", tracker, "none")]
            changes.append(f"{tracker} {moved[0]:+.2f} / {moved[1]:+.2f}, MOT17-05 {mot05:+.2f}")
            gap = max(gap, abs(moved[0] - moved[1]))
            if moved[1] < 0 and mot05 < 0:
                worse.append(tracker)
        out += [
            "",
            "HOTA change from compensation, moved MOT17-09 (measured / exact motion) and MOT17-05 (BoT-SORT's file): "
            + "; ".join(changes)
            + f". Measured and exact motion differ by at most {gap:.2f} HOTA: the estimate is not what limits "
            "compensation."
            + (f" Compensation does not help {', '.join(worse)} here, even with the exact motion." if worse else ""),
        ]
        first = results["tracking"][0]["command"].replace(" --cmc none", " --cmc video")
        first = first.replace(str(DATA), "../shared/data")
        first = re.sub(r"--out \S+", "--out tracks.txt", re.sub(r"\S*/mot17-09_pan-zoom_720p", "moved", first))
        out += ["", f"Example command (`moved/` is the folder `make_camera_motion_sequence` wrote): `{first}`.", ""]
    out.append(END)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sections",
        nargs="*",
        default=["accuracy", "fixed", "cost", "tracking"],
        help="Parts to run (none: rewrite the section from the saved results).",
    )
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-bench-cmc"))
    parser.add_argument("--repeats", type=int, default=3, help="Runs of the cost measurement.")
    parser.add_argument("--no-write", action="store_true", help="Print the section instead of writing BENCHMARKS.md.")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    saved = args.work / RESULTS
    results: dict[str, Any] = json.loads(saved.read_text()) if saved.exists() else {}
    note_run(results, "bench_cmc.py", argv, args.sections)

    def log(msg: str) -> None:
        print(msg, flush=True)

    for name in args.sections:
        if name == "cost":
            section_cost(args.work, results, log, args.repeats)
        else:
            {"accuracy": section_accuracy, "fixed": section_fixed, "tracking": section_tracking}[name](
                args.work, results, log
            )
        saved.write_text(json.dumps(results, indent=1, default=str))
    section = report(results)
    if args.no_write:
        print(section)
    else:
        write_section(ROOT / "BENCHMARKS.md", section, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
