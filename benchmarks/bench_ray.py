"""Scale-out benchmark: long videos in chunks, one and two workers, per-frame costs and a cluster plan, and
data-parallel re-id training.

Sections (``--sections``, default all; each run merges its results into ``--work``/results.json and the
report is written from everything measured so far):

- ``chunks``: tracking a video in overlapping chunks (``chunk_frames``/``overlap_frames``) against one
  whole-video pass. The overlap default is chosen on MOT17-02 and MOT17-04 (public FRCNN detections, the
  classic trackers) and a 600-frame generated plaza (seed 21, the re-id tracker), as the smallest overlap
  whose chunked output agrees with the whole-video output on every one of them (identity agreement: IDF1
  of the chunked output scored against the whole-video output); it is reported on PETS09-S2L1 (public detections)
  and on a generated plaza scene of 20,000 frames (seed 33), with the classic trackers and the re-id
  tracker: HOTA / IDF1 / IDSW of both against the ground truth, the agreement, and the identity
  switches within ``overlap`` frames of each cut beyond those of the whole-video run there.
- ``scaling``: the demo's detect (moving objects) + ByteTrack nodes over 4 generated videos, then one
  long video split into chunks, with the local executor and the Ray executor at 1 and 2 workers: wall
  time and frames per second, with the load average (the machine is shared).
- ``costs``: single-process CPU time per frame of each stage at the tutorial's sizes (decode 1080p H.264,
  detect at 960x544, track, re-id), the basis of the 216,000-frame cluster plan in the report.
- ``training``: re-id models on PETS09-S2L1 trained in one process and on 2 Ray Train workers (torch DDP,
  gloo), seeds 0-2 each: validation losses, time, and the re-id tracker's scores on frames 1-400.

Usage (from the repository root)::

    nice -n 10 python benchmarks/bench_ray.py --sections chunks training costs
    python benchmarks/bench_ray.py --sections scaling          # timings: not niced, load average reported
    python benchmarks/bench_ray.py --report-only               # rewrite the section from results.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import shlex  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from bench_common import cpu_name, load_average, write_section  # noqa: E402

from selftrack.core.detections import Detections  # noqa: E402
from selftrack.formats.mot import read_mot  # noqa: E402
from selftrack.metrics.evaluate import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
START, END = "<!-- ray:start -->", "<!-- ray:end -->"
CLASSIC = {  # with the post-processing the demo and the re-id benchmark use
    "bytetrack": {"tracker": "bytetrack", "min_track_length": 4, "interpolate_max_gap": 20},
    "ocsort": {"tracker": "ocsort", "min_track_length": 4, "interpolate_max_gap": 20},
    "sort": {"tracker": "sort", "min_track_length": 4, "interpolate_max_gap": 20},
}
OVERLAPS = (25, 50, 100, 200)
MIN_AGREEMENT = 0.99
SEEDS = (0, 1, 2, 3, 4)
LONG_FRAMES = 20_000


def log(msg: str) -> None:
    print(msg, flush=True)


def scores(gt: Detections, tracks: Detections, frames: tuple[int, int] | None, benchmark: str) -> dict[str, float]:
    s = evaluate(gt, tracks, frames=frames, benchmark=benchmark).summary()
    return {k: float(s[k]) for k in ("HOTA", "IDF1", "IDSW")}


def agreement(whole: Detections, chunked: Detections) -> float:
    """Identity agreement: IDF1 of the chunked output scored against the whole-video output."""
    return float(evaluate(whole, chunked, benchmark="none").identity.idf1)


def boundary_switches(
    gt: Detections, whole: Detections, chunked: Detections, cuts: list[int], window: int, benchmark: str, limit: int
) -> int:
    """Identity switches within ``window`` frames of each cut in the chunked output, minus the whole run's there."""
    extra = 0
    for cut in cuts:
        lo, hi = max(0, cut - window), min(limit, cut + window)
        if hi - lo < 2:
            continue
        a = evaluate(gt, whole, frames=(lo, hi), benchmark=benchmark).clear.idsw
        b = evaluate(gt, chunked, frames=(lo, hi), benchmark=benchmark).clear.idsw
        extra += int(b) - int(a)
    return extra


# ---------------------------------------------------------------------------------------------- chunks
def _compare(
    name: str,
    run: Any,
    gt: Detections,
    frames: tuple[int, int] | None,
    benchmark: str,
    chunk: int,
    overlap: int,
    whole: Detections | None = None,
) -> dict[str, Any]:
    from selftrack.trackers.chunks import plan_chunks

    if whole is None:
        whole = run(None, overlap)
    t = time.perf_counter()
    chunked = run(chunk, overlap)
    seconds = time.perf_counter() - t
    plan = plan_chunks(whole.frame_count, chunk, overlap)
    cuts = [c.keep_from for c in plan[1:]]
    limit = frames[1] if frames else gt.frame_count
    scored_cuts = [c for c in cuts if c < limit]
    row = {
        "tracker": name,
        "chunk_frames": chunk,
        "overlap_frames": overlap,
        "chunks": len(plan),
        "cuts_scored": len(scored_cuts),
        "whole": scores(gt, whole, frames, benchmark),
        "chunked": scores(gt, chunked, frames, benchmark),
        "agreement": agreement(whole, chunked),
        "boundary_extra_idsw": boundary_switches(gt, whole, chunked, scored_cuts, overlap, benchmark, limit),
        "chunked_seconds": seconds,
    }
    log(
        f"  {name} C={chunk} O={overlap}: HOTA {row['whole']['HOTA']:.3f} -> {row['chunked']['HOTA']:.3f}, "
        f"agreement {row['agreement']:.4f}, boundary extra IDSW {row['boundary_extra_idsw']}"
    )
    return row


def _classic_runner(det: Detections, cfg: dict[str, Any], fps: float | None) -> Any:
    from selftrack.ops.track import TrackParams, run_tracker

    def run(chunk: int | None, overlap: int) -> Detections:
        params = TrackParams(**cfg, chunk_frames=chunk, overlap_frames=overlap)
        return run_tracker(det, params, fps=fps)

    return run


def _reid_runner(model: Path, video: Path, det: Detections) -> Any:
    from selftrack.ops.reid_tracker import track_reid_chunked
    from selftrack.reid import ReidTrackerParams, track_with_reid

    params = ReidTrackerParams()

    def run(chunk: int | None, overlap: int) -> Detections:
        if chunk is None:
            return track_with_reid(model, video, det, params)
        return track_reid_chunked(model, video, det, params, chunk_frames=chunk, overlap_frames=overlap)[0]

    return run


def _long_scene(work: Path) -> tuple[Path, Detections, Detections]:
    from bench_reid import synth_scene

    from selftrack.synth import render_scene_video

    scene, det = synth_scene(LONG_FRAMES, seed=33)
    video = work / f"plaza-{LONG_FRAMES}.mp4"
    if not video.is_file():
        log(f"rendering the {LONG_FRAMES}-frame scene")
        render_scene_video(scene, video)
    return video, det, scene.ground_truth


def _train_model(work: Path, name: str, video: Path, det: Detections, params: dict[str, Any]) -> Path:
    """A re-id model trained in a child process (cached in ``work``)."""
    out = work / f"{name}.pt"
    if out.is_file():
        return out
    npz = work / f"{name}-det.npz"
    np.savez(npz, frame=det.frame, xyxy=det.xyxy, score=det.score)
    spec = {
        "video": str(video),
        "det_npz": str(npz),
        "canvas": list(det.canvas or (0, 0)),
        "num_frames": det.num_frames,
        "cache": str(work / "cache"),
        "out": str(out),
        "params": params,
    }
    Path(str(out) + ".train.json").write_text(json.dumps(child_run("train", spec)))
    return out


def section_chunks(work: Path, results: dict[str, Any]) -> None:
    from bench_reid import synth_scene

    res: dict[str, Any] = {"tuning": [], "report": []}
    # --- choosing the overlap: MOT17-02/04 (public detections) with the classic trackers, and a short generated
    # plaza (seed 21) with the re-id tracker; none of these is a reporting set
    for seq, frames in (("MOT17-02", 600), ("MOT17-04", 1050)):
        folder = DATA / "mot17" / seq
        det = read_mot(folder / "det" / "det.txt", kind="det", num_frames=frames)
        gt = read_mot(folder / "gt" / "gt.txt", kind="gt", num_frames=frames)
        log(f"chunks, tuning on {seq}")
        for name, cfg in CLASSIC.items():
            run = _classic_runner(det, cfg, 30.0)
            whole = run(None, 0)
            for overlap in OVERLAPS:
                row = _compare(name, run, gt, None, "mot17", 100, overlap, whole)
                res["tuning"].append({"set": f"{seq} (public FRCNN)", **row})
    from selftrack.synth import render_scene_video

    scene21, det21 = synth_scene(600, seed=21)
    video21 = work / "plaza-21-600.mp4"
    if not video21.is_file():
        render_scene_video(scene21, video21)
    model21 = _train_model(work, "plaza21", video21, det21, {"track_duration": 4.0, "seed": 0})
    log("chunks, tuning on plaza 600 (seed 21), re-id tracker")
    run = _reid_runner(model21, video21, det21)
    whole = run(None, 0)
    for overlap in OVERLAPS:
        row = _compare("re-id tracker", run, scene21.ground_truth, None, "none", 100, overlap, whole)
        res["tuning"].append({"set": "plaza 600 (seed 21)", **row})
    lowest = {o: min(r["agreement"] for r in res["tuning"] if r["overlap_frames"] == o) for o in OVERLAPS}
    feasible = [o for o in OVERLAPS if lowest[o] >= MIN_AGREEMENT]
    chosen = feasible[0] if feasible else max(OVERLAPS, key=lambda o: (lowest[o], -o))
    res["chosen_overlap"] = chosen
    log(f"chosen overlap: {chosen} (lowest agreement per overlap: {lowest})")
    # --- reporting: PETS09 and the long generated scene, classic and re-id trackers
    pets = DATA / "pets09-s2l1"
    det_p = read_mot(pets / "det" / "det.txt", kind="det", canvas=(768, 576), num_frames=795)
    gt_p = read_mot(pets / "gt" / "gt.txt", kind="gt", canvas=(768, 576), num_frames=795)
    from bench_reid import pets_fps

    log("chunks, PETS09")
    for name, cfg in CLASSIC.items():
        for chunk in (100, 200):
            row = _compare(name, _classic_runner(det_p, cfg, pets_fps()), gt_p, (0, 400), "mot15", chunk, chosen)
            res["report"].append({"set": "PETS09-S2L1", **row})
    pets_model = _train_model(work, "pets-seed0", pets / "video.avi", det_p, {"seed": 0})
    for chunk in (100, 200):
        row = _compare(
            "re-id tracker", _reid_runner(pets_model, pets / "video.avi", det_p), gt_p, (0, 400), "mot15", chunk, chosen
        )
        res["report"].append({"set": "PETS09-S2L1", **row})
    video, det_l, gt_l = _long_scene(work)
    log(f"chunks, generated plaza of {LONG_FRAMES} frames")
    for name, cfg in CLASSIC.items():
        run = _classic_runner(det_l, cfg, 10.0)
        whole = run(None, 0)
        for chunk in (500, 2000):
            row = _compare(name, run, gt_l, None, "none", chunk, chosen, whole)
            res["report"].append({"set": f"plaza {LONG_FRAMES} (seed 33)", **row})
    train_det = det_l.frames_range(0, 2000).replace(num_frames=2000)
    long_model = _train_model(work, "plaza33-first2000", video, train_det, {"track_duration": 4.0, "seed": 0})
    run = _reid_runner(long_model, video, det_l)
    t = time.perf_counter()
    whole = run(None, chosen)
    res["long_reid_whole_seconds"] = time.perf_counter() - t
    for chunk in (500, 2000):
        row = _compare("re-id tracker", run, gt_l, None, "none", chunk, chosen, whole)
        res["report"].append({"set": f"plaza {LONG_FRAMES} (seed 33)", **row})
    res["models"] = {"pets": str(pets_model), "plaza": str(long_model)}
    results["chunks"] = res


# ---------------------------------------------------------------------------------------------- scaling
def _scaling_workspace(work: Path, videos: list[Path], nodes: dict[str, Any]) -> Path:
    import yaml

    from selftrack.pipeline import Pipeline
    from selftrack.workspace import Workspace, import_videos

    root = work / "scaling-ws"
    shutil.rmtree(root, ignore_errors=True)
    ws = Workspace.init(root)
    import_videos(ws, "demo-videos", videos)
    Pipeline(ws).load_yaml(yaml.safe_dump({"nodes": nodes}))
    return root


def section_scaling(work: Path, results: dict[str, Any]) -> None:
    from selftrack.cli.demo import demo_pipeline, scene_config
    from selftrack.synth import generate_scene, render_scene_video

    def video(frames: int, seed: int) -> Path:
        path = work / f"scaling-{seed}-{frames}.mp4"
        if not path.is_file():
            render_scene_video(generate_scene(scene_config(frames, seed)), path)
        return path

    demo = demo_pipeline()
    many = [video(1500, s) for s in (41, 42, 43, 44)]
    long = [video(6000, 45)]
    chunked = {
        "detect": {**demo["detect"], "params": {**demo["detect"]["params"], "chunk_frames": 1500}},
        "track-bytetrack": {
            **demo["track-bytetrack"],
            "params": {**demo["track-bytetrack"]["params"], "chunk_frames": 1500},
        },
    }
    plain = {n: demo[n] for n in ("detect", "track-bytetrack")}
    rows = []
    for label, videos, nodes in (
        ("4 videos x 1500 frames", many, plain),
        ("1 video x 6000 frames, chunks of 1500", long, chunked),
    ):
        frames = 1500 * 4 if len(videos) == 4 else 6000
        for executor in ("local", "ray"):
            for workers in (1, 2):
                root = _scaling_workspace(work, videos, nodes)
                info = child_run("scaling", {"root": str(root), "executor": executor, "workers": workers})
                row = {"set": label, "executor": executor, "workers": workers, "frames": frames, **info}
                row["fps"] = frames / info["seconds"]
                log(
                    f"  {label}, {executor} x{workers}: {info['seconds']:.1f} s, {row['fps']:.1f} fps, load {info['load_before']:.1f}->{info['load_after']:.1f}"
                )
                rows.append(row)
    results["scaling"] = {"rows": rows}


def child_scaling(spec: dict[str, Any]) -> dict[str, Any]:
    """In a child process: run the scaling workspace's tracking node with one executor; wall time and load."""
    from selftrack.pipeline import JobState, run_node
    from selftrack.pipeline.choose import make_executor
    from selftrack.workspace import Workspace

    ws = Workspace(spec["root"])
    before = load_average()
    if spec["executor"] == "ray":
        import ray

        ray.init(num_cpus=spec["workers"], include_dashboard=False, logging_level="warning")
    executor = make_executor(spec["executor"], workers=spec["workers"] if spec["executor"] == "local" else None)
    t = time.perf_counter()
    result = run_node(ws, "track-bytetrack", executor=executor)
    seconds = time.perf_counter() - t
    assert result.state == JobState.DONE
    return {"seconds": seconds, "load_before": before, "load_after": load_average()}


# ---------------------------------------------------------------------------------------------- costs
def section_costs(work: Path, results: dict[str, Any]) -> None:
    results["costs"] = child_run("costs", {"work": str(work), "pets_model": str(work / "pets-seed0.pt")})


def child_costs(spec: dict[str, Any]) -> dict[str, Any]:
    """CPU seconds per frame of each stage, one process, one thread for torch and onnxruntime."""
    import torch
    from bench_detectors import export_yolov8n

    from selftrack.detectors import MotionDetector, YoloOnnxDetector, detect_video
    from selftrack.ops.track import TrackParams, run_tracker
    from selftrack.reid import ReidTrackerParams, track_with_reid
    from selftrack.video import ResizeSpec, VideoReader

    torch.set_num_threads(1)
    out: dict[str, Any] = {}
    mot9 = DATA / "mot17" / "MOT17-09" / "video.mp4"  # 1920x1080 H.264, 525 frames

    def cpu(fn: Any) -> float:
        t = time.process_time()
        fn()
        return time.process_time() - t

    def decode(resize: ResizeSpec | None) -> int:
        with VideoReader(mot9, resize=resize) as reader:
            return sum(1 for _ in reader.frames())

    half = ResizeSpec(mode="fixed", width=960, height=544)
    out["decode_1080p_ms"] = 1000 * cpu(lambda: decode(None)) / 525
    with VideoReader(DATA / "pets09-s2l1" / "video.avi") as reader:
        out["decode_pets_768x576_ms"] = 1000 * cpu(lambda: sum(1 for _ in reader.frames())) / reader.frame_count
    out["decode_1080p_to_960x544_ms"] = 1000 * cpu(lambda: decode(half)) / 525
    out["motion_960x544_ms"] = (
        1000 * cpu(lambda: detect_video(MotionDetector(), mot9, resize=half)) / 525 - out["decode_1080p_to_960x544_ms"]
    )
    onnx = Path(spec["work"]) / "yolov8n_dynamic.onnx"
    if not onnx.is_file():
        export_yolov8n(onnx, None)
    yolo = YoloOnnxDetector(onnx, num_threads=1)
    n = 64
    out["yolov8n_960x544_ms"] = (
        1000 * cpu(lambda: detect_video(yolo, mot9, resize=half, stop=n)) / n - out["decode_1080p_to_960x544_ms"]
    )
    det9 = read_mot(DATA / "mot17" / "MOT17-09" / "det" / "det_refined.txt", kind="det", num_frames=525)
    out["boxes_per_frame_mot17_09"] = len(det9) / 525
    out["bytetrack_ms"] = 1000 * cpu(lambda: run_tracker(det9, TrackParams(tracker="bytetrack"))) / 525
    pets = DATA / "pets09-s2l1"
    det_p = read_mot(pets / "det" / "det.txt", kind="det", canvas=(768, 576), num_frames=795)
    model = Path(spec["pets_model"])
    if model.is_file():
        out["reid_pets_768x576_ms"] = (
            1000 * cpu(lambda: track_with_reid(model, pets / "video.avi", det_p, ReidTrackerParams())) / 795
        )
        out["boxes_per_frame_pets"] = len(det_p) / 795
    out["cpu"] = cpu_name()
    return out


# ---------------------------------------------------------------------------------------------- training
def section_training(work: Path, results: dict[str, Any]) -> None:
    from bench_reid import features, ours, pets_fps

    from selftrack.reid import load_reid_model

    pets = DATA / "pets09-s2l1"
    det = read_mot(pets / "det" / "det.txt", kind="det", canvas=(768, 576), num_frames=795)
    gt = read_mot(pets / "gt" / "gt.txt", kind="gt", canvas=(768, 576), num_frames=795)
    npz = work / "pets-det.npz"
    np.savez(npz, frame=det.frame, xyxy=det.xyxy, score=det.score)
    rows = []
    for workers in (1, 2):
        for seed in SEEDS:
            out = work / (f"pets-seed{seed}.pt" if workers == 1 else f"pets-ddp{workers}-seed{seed}.pt")
            info_path = Path(str(out) + ".train.json")
            if not info_path.is_file():
                log(f"training: seed {seed}, {workers} worker(s)")
                spec = {
                    "video": str(pets / "video.avi"),
                    "det_npz": str(npz),
                    "canvas": [768, 576],
                    "num_frames": 795,
                    "cache": str(work / "cache"),
                    "out": str(out),
                    "params": {"seed": seed},
                    "workers": workers,
                }
                info_path.write_text(json.dumps(child_run("train", spec)))
            info = json.loads(info_path.read_text())
            model = load_reid_model(out, "cpu")
            feats = features(model, str(out), pets / "video.avi", det, work)
            s = scores(gt, ours(model, det, feats, {}, True, pets_fps()), (0, 400), "mot15")
            rows.append({"workers": workers, "seed": seed, **info, **s})
            log(
                f"  seed {seed}, {workers} worker(s): val {info['best_val_loss']}, HOTA {s['HOTA']:.3f}, {info['seconds'] / 60:.1f} min"
            )
    results["training"] = {"rows": rows}


def child_train(spec: dict[str, Any]) -> dict[str, Any]:
    """In a child process: train one re-id model in this process or on ``workers`` Ray Train workers."""
    from selftrack.reid import ReidTrainParams, train_reid

    arrays = np.load(spec["det_npz"])
    det = Detections.create(
        arrays["frame"], arrays["xyxy"], arrays["score"], canvas=tuple(spec["canvas"]), num_frames=spec["num_frames"]
    )
    params = ReidTrainParams(**spec["params"])
    workers = int(spec.get("workers", 1))
    t = time.perf_counter()
    if workers > 1:
        import ray

        from selftrack.reid.train.distributed import train_reid_distributed

        ray.init(num_cpus=workers, include_dashboard=False, logging_level="warning")
        result = train_reid_distributed(
            [spec["video"]], [det], workers=workers, params=params, cache_dir=spec["cache"], out_path=spec["out"]
        )
        ray.shutdown()
    else:
        result = train_reid([spec["video"]], [det], params=params, cache_dir=spec["cache"], out_path=spec["out"])
    return {
        "seconds": time.perf_counter() - t,
        "best_val_loss": result.best_val_loss,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load_after": load_average(),
    }


# ---------------------------------------------------------------------------------------------- plumbing
CHILDREN = {"train": child_train, "scaling": child_scaling, "costs": child_costs}


def child_run(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``CHILDREN[kind](spec)`` in a fresh process (its own Ray, its own peak memory) and return its JSON."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", kind, json.dumps(spec)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} child failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def machine() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=["chunks", "scaling", "costs", "training"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-bench-ray"))
    parser.add_argument("--report-only", action="store_true", help="rewrite the section from results.json")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(CHILDREN[args.child[0]](json.loads(args.child[1])), default=str))
        return 0
    args.work.mkdir(parents=True, exist_ok=True)
    store = args.work / "results.json"
    results: dict[str, Any] = json.loads(store.read_text()) if store.is_file() else {}
    if not args.report_only:
        if not (DATA / "README.md").exists():
            print(f"real data folder {DATA} is missing", file=sys.stderr)
            return 2
        sections = {
            "chunks": section_chunks,
            "scaling": section_scaling,
            "costs": section_costs,
            "training": section_training,
        }
        shown = shlex.join(["python", "benchmarks/bench_ray.py", *(sys.argv[1:] if argv is None else argv)])
        for name in args.sections:
            started = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
            load = load_average()
            sections[name](args.work, results)
            results.setdefault("runs", {})[name] = {
                "command": shown,
                "date": started,
                "machine": machine(),
                "load_at_start": load,
                "niced": os.nice(0) > 0,
            }
            store.write_text(json.dumps(results, indent=1, default=str))
    from bench_ray_report import report

    text = report(results)
    print(text)
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", text, START, END)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
