"""A job's worker process: ``python -m selftrack.server.worker WORKSPACE JOB_ID`` with a JSON spec on stdin.

Kinds of job the app starts:

* ``run``: a pipeline node and its stale ancestors (``pipeline.run_node``; the engine fills the job row);
* ``import``: uploaded files or a folder on the server into a dataset (videos, images, files, models,
  detections in any format ``selftrack.formats`` reads);
* ``generate``: the generated plaza scene (a video and its exact ground-truth tracks), the demo's input;
* ``proxy``: an H.264 copy of a video browsers cannot play (PETS09's MS-MPEG4 AVI), frame for frame.

Everything the worker says goes to the job row (state, progress, log); its stdout is kept in the
workspace's ``logs/`` folder for what a crash prints.
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from selftrack.core.errors import SelftrackError, error_message
from selftrack.pipeline.jobs import JobState, JobStore
from selftrack.pipeline.op import StopRequested
from selftrack.pipeline.progress import StageReporter
from selftrack.workspace import Workspace

UPLOADS = Path("tmp") / "uploads"
"""Uploaded files wait in ``<workspace>/tmp/uploads/<id>/`` until an import job takes them."""
PROXIES = Path("cache") / "proxy"
"""Browser-playable copies of videos, named after the source file's sha256 (so an edited item gets a new one)."""


def proxy_path(ws_root: Path, sha256: str) -> Path:
    return ws_root / PROXIES / f"{sha256[:24]}.mp4"


class _Task:
    """The job row of a non-pipeline job: one plan step, whose stages count their own unit (files, frames)."""

    def __init__(self, ws: Workspace, job_id: int, step: str) -> None:
        self.ws, self.job_id, self.step = ws, job_id, step
        self.jobs = JobStore(ws)
        self.plan = [{"node": step, "op": step, "state": "running"}]
        self.jobs.start(job_id, self.plan, 1)
        self.jobs.set_current(job_id, step)
        self.jobs.item_started(job_id, step, "*")
        self.stages = StageReporter(ws, job_id, step, default_unit="files")

    def log(self, line: str) -> None:
        self.jobs.log(self.job_id, line)

    def stage(self, name: str, unit: str, total: float) -> None:
        self.stages.stage(name, unit, total)
        self.jobs.set_current(self.job_id, f"{self.step}: {name}")

    def progress(self, done: int, total: int, what: str = "") -> None:
        self.stages.progress(done, total)
        if self.jobs.stop_requested(self.job_id):
            raise StopRequested("stopped on request")

    def done(self) -> None:
        self.stages.finish()
        self.plan[0]["state"] = "done"
        self.jobs.set_plan(self.job_id, self.plan)
        self.jobs.item_finished(self.job_id, self.step, "*")
        self.jobs.finish(self.job_id, JobState.DONE)
        self.log("done")


# ---------------------------------------------------------------------------------------------- kinds
def run_pipeline(ws: Workspace, job_id: int, spec: dict[str, Any]) -> None:
    from selftrack.pipeline import Partial, make_executor, run_node

    partial = None
    if spec.get("partial"):
        p = spec["partial"]
        keys = tuple(p["keys"]) if p.get("keys") is not None else None
        partial = Partial(count=p.get("count"), keys=keys, dataset=p.get("dataset"), seed=p.get("seed"))
    executor = make_executor(spec.get("executor") or "local", address=spec.get("address"))
    run_node(ws, spec["node"], partial=partial, executor=executor, job_id=job_id, raise_on_error=False)


def upload_paths(ws: Workspace, ids: list[str]) -> list[Path]:
    paths = []
    for upload_id in ids:
        folder = ws.root / UPLOADS / upload_id
        files = [f for f in folder.iterdir() if f.is_file() and not f.name.endswith(".part")] if folder.is_dir() else []
        if len(files) != 1:
            raise SelftrackError(f"upload {upload_id} is gone or incomplete; upload the file again")
        paths.append(files[0])
    return paths


def run_import(ws: Workspace, job_id: int, spec: dict[str, Any]) -> None:
    task = _Task(ws, job_id, "import")
    uploaded = upload_paths(ws, spec.get("uploads") or [])
    paths = uploaded + [Path(p) for p in spec.get("paths") or []]
    try:
        _import(ws, task, spec, paths)
    except SelftrackError as e:
        # name an uploaded file as the person named it, not by its place in the server's upload folder
        message = str(e)
        for path in uploaded:
            message = message.replace(str(path), path.name)
        raise SelftrackError(message) from None
    finally:
        for upload_id in spec.get("uploads") or []:
            shutil.rmtree(ws.root / UPLOADS / upload_id, ignore_errors=True)


def _import(ws: Workspace, task: _Task, spec: dict[str, Any], paths: list[Path]) -> None:
    from selftrack.workspace import (
        DataType,
        import_detections,
        import_files,
        import_images,
        import_labelled_images,
        import_videos,
    )

    dataset, data_type = spec["dataset"], spec["data_type"]
    overwrite = bool(spec.get("overwrite"))
    limit = int(spec.get("max_archive_bytes") or 0) or None
    archive = {"max_archive_bytes": limit} if limit else {}
    task.log(f"importing {len(paths)} file(s) into {dataset} ({data_type})")
    if data_type == "video":
        items = import_videos(ws, dataset, paths, overwrite=overwrite, progress=task.progress, **archive)
    elif data_type == "image":
        items = import_images(ws, dataset, paths, overwrite=overwrite, progress=task.progress, **archive)
    elif data_type in ("file", "model"):
        items = import_files(ws, dataset, paths, data_type=DataType(data_type), overwrite=overwrite)
    elif data_type in ("detections", "tracks", "labels"):
        fmt = spec.get("format") or "auto"
        with ws.staging_dir("import-") as tmp:
            expanded = _expand_archives(paths, Path(tmp), limit)
            if fmt in ("coco", "yolo"):
                items = []
                for source in expanded:
                    items += import_labelled_images(
                        ws,
                        dataset,
                        source,
                        format=fmt,
                        images_dataset=spec.get("images_dataset") or None,
                        overwrite=overwrite,
                        progress=task.progress,
                    )
            else:
                items = import_detections(
                    ws,
                    dataset,
                    expanded,
                    format=fmt,
                    videos=spec.get("videos") or None,
                    data_type=None if data_type == "labels" else data_type,
                    overwrite=overwrite,
                    progress=task.progress,
                )
    else:
        raise SelftrackError(f"cannot import data type {data_type!r}")
    task.log(f"imported {len(items)} item(s) into {dataset}: {', '.join(i.key for i in items[:20])}")
    task.done()


def _expand_archives(paths: list[Path], tmp: Path, limit: int | None) -> list[Path]:
    """Detection files may come zipped (a MOTChallenge folder, COCO images + JSON): unpack them safely."""
    from selftrack.workspace import safe_extract_zip

    out: list[Path] = []
    for i, p in enumerate(paths):
        if p.suffix.lower() == ".zip":
            dest = tmp / str(i)
            dest.mkdir()
            safe_extract_zip(p, dest, **({"max_bytes": limit} if limit else {}))
            out.append(dest)
        else:
            out.append(p)
    return out


def run_generate(ws: Workspace, job_id: int, spec: dict[str, Any]) -> None:
    from selftrack.synth import SceneConfig, generate_scene
    from selftrack.video import write_video
    from selftrack.workspace import DataType, import_videos

    task = _Task(ws, job_id, "generate")
    config = SceneConfig(
        width=640,
        height=360,
        fps=10,
        num_frames=int(spec.get("frames", 300)),
        num_objects=int(spec.get("people", 10)),
        kind="plaza",
        seed=int(spec.get("seed", 0)),
    )
    scene = generate_scene(config)
    key = f"plaza-{config.seed}"
    task.stage("draw frames", "frames", config.num_frames)

    def frames() -> Iterator[Any]:
        for i, frame in enumerate(scene.frames()):
            task.progress(i + 1, config.num_frames)
            yield frame

    with ws.staging_dir("generate-") as tmp:
        path = Path(tmp) / f"{key}.mp4"
        write_video(path, frames(), config.fps, size=scene.size)
        import_videos(ws, spec["dataset"], [path], overwrite=True)
    task.log(f"generated {key}: {config.num_frames} frames, {config.num_objects} people, into {spec['dataset']}")
    if spec.get("ground_truth"):
        ws.create_dataset(spec["ground_truth"], DataType.TRACKS, exist_ok=True)
        ws.put_detections(spec["ground_truth"], key, scene.ground_truth, overwrite=True)
        task.log(f"its exact ground-truth tracks are in {spec['ground_truth']}")
    task.done()


def run_proxy(ws: Workspace, job_id: int, spec: dict[str, Any]) -> None:
    from selftrack.video import VideoReader, VideoWriter

    item = ws.item(spec["dataset"], spec["key"])
    task = _Task(ws, job_id, "proxy")
    target = proxy_path(ws.root, item.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_file():
        task.done()
        return
    with VideoReader(item.path) as reader:
        task.log(f"making a browser-playable H.264 copy of {item.dataset}/{item.key} ({reader.info.codec})")
        total = reader.frame_count
        task.stage("encode H.264", "frames", total)
        with VideoWriter(target, reader.info.fps, crf=20) as writer:
            for i, frame in enumerate(reader):
                writer.write(frame)
                task.progress(i + 1, total)
    task.done()


KINDS = {"run": run_pipeline, "import": run_import, "generate": run_generate, "proxy": run_proxy}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root, job_id = Path(argv[0]), int(argv[1])
    spec = json.loads(sys.stdin.read() or "{}")
    ws = Workspace(root)
    jobs = JobStore(ws)
    if jobs.get(job_id).state.finished:  # stopped while queued
        return 0
    try:
        KINDS[spec["kind"]](ws, job_id, spec)
    except StopRequested:
        jobs.finish(job_id, JobState.STOPPED, error="stopped on request")
        jobs.log(job_id, "stopped on request")
    except Exception as e:
        message = error_message(e)
        if not jobs.get(job_id).state.finished:
            jobs.log(job_id, f"error: {message}")
            jobs.finish(job_id, JobState.FAILED, error=message, traceback=traceback.format_exc())
        return 1
    finally:
        ws.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
