"""The ``selftrack`` command line (typer + rich).

Top layer: it may import every other layer. Each command is a thin wrapper over the Python API, so what
the CLI does the API does too. Errors raised on purpose (``SelftrackError``) are printed as one red line
with exit code 1; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from selftrack.core.errors import SelftrackError

app = typer.Typer(
    name="selftrack",
    help="Train a multi-object tracker from unlabeled video, and run it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

DEFAULT_WORKSPACE = "workspace"

WorkspaceOpt = Annotated[
    Path,
    typer.Option(
        "--workspace",
        "-w",
        envvar="SELFTRACK_WORKSPACE",
        help="Workspace folder (catalog + files).",
        show_default=True,
    ),
]


@app.callback()
def _global_options(
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", help="Workspace folder; also accepted after the command name."),
    ] = None,
) -> None:
    """Train a multi-object tracker from unlabeled video, and run it."""
    if workspace is not None:
        # Per-command --workspace options read this variable, so the flag works before or after the command.
        os.environ["SELFTRACK_WORKSPACE"] = str(workspace)


def _open(path: Path):
    from selftrack.workspace import Workspace

    return Workspace(path)


@contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar driven by the ``progress(done, total, what)`` callbacks of the API."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[what]}"),
    )
    with Progress(*columns, console=err_console, transient=False, disable=not err_console.is_terminal) as bar:
        task = bar.add_task(description, total=None, what="")

        def update(done: int, total: int, what: str = "") -> None:
            bar.update(task, completed=done, total=total, what=what)

        yield update


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


# ---------------------------------------------------------------------------------------------- commands
@app.command()
def init(path: Annotated[Path, typer.Argument(help="Folder to create.")] = Path(DEFAULT_WORKSPACE)) -> None:
    """Create a workspace folder (an SQLite catalog and a files folder)."""
    from selftrack.workspace import Workspace

    ws = Workspace.init(path)
    console.print(f"workspace ready at [bold]{ws.root}[/]")


@app.command("import")
def import_(
    sources: Annotated[list[Path], typer.Argument(help="Files, folders or zip archives.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to import into (created if needed).")],
    data_type: Annotated[str, typer.Option("--type", "-t", help="video, image, file or model.")] = "video",
    overwrite: Annotated[bool, typer.Option(help="Replace items whose key already exists.")] = False,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Import videos (files, folders, zips), images, or files such as model weights."""
    from selftrack.workspace import DataType, import_files, import_images, import_videos

    ws = _open(workspace)
    with progress_bar(f"import {dataset}") as progress:
        if data_type == "video":
            items = import_videos(ws, dataset, sources, overwrite=overwrite, progress=progress)
        elif data_type == "image":
            items = import_images(ws, dataset, sources, overwrite=overwrite, progress=progress)
        elif data_type in ("file", "model"):
            items = import_files(ws, dataset, sources, data_type=DataType(data_type), overwrite=overwrite)
        else:
            raise SelftrackError(f"unknown --type {data_type!r}; use video, image, file or model")
    console.print(f"imported {len(items)} item(s) into [bold]{dataset}[/]: {', '.join(i.key for i in items)}")


@app.command("import-detections")
def import_detections_cmd(
    sources: Annotated[list[Path], typer.Argument(help="Detection/track files or folders.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset to import into (created if needed).")],
    format: Annotated[str, typer.Option(help="auto, mot, skyhook-json or detrac-xml.")] = "auto",
    videos: Annotated[
        str | None, typer.Option(help="Video dataset the detections belong to (canvas and frame-count checks).")
    ] = None,
    data_type: Annotated[str | None, typer.Option("--type", help="detections or tracks (default: guessed).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace items whose key already exists.")] = False,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Import detections or tracks (MOTChallenge, SkyhookML JSON, UA-DETRAC XML); keys come from file names."""
    from selftrack.workspace import import_detections

    ws = _open(workspace)
    with progress_bar(f"import {dataset}") as progress:
        items = import_detections(
            ws,
            dataset,
            sources,
            format=format,
            videos=videos,
            data_type=data_type,
            overwrite=overwrite,
            progress=progress,
        )
    console.print(f"imported {len(items)} item(s) into [bold]{dataset}[/]: {', '.join(i.key for i in items)}")


@app.command()
def datasets(workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE)) -> None:
    """List the workspace's datasets."""
    ws = _open(workspace)
    table = Table("name", "type", "kind", "items", "done", "content hash")
    for ds in ws.datasets():
        table.add_row(
            ds.name,
            ds.data_type.value,
            ds.kind.value,
            str(len(ws.keys(ds.name))),
            "yes" if ds.done else "no",
            ds.content_hash[:12],
        )
    console.print(table)


@app.command()
def items(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """List a dataset's items with their size and a summary of their content."""
    ws = _open(workspace)
    table = Table("key", "format", "size", "summary")
    for it in ws.items(dataset):
        meta = it.metadata
        if "video" in meta:
            v = meta["video"]
            summary = f"{v['width']}x{v['height']} {v['fps']} fps, {v['frame_count']} frames, {v['codec']}"
        elif "detections" in meta:
            d = meta["detections"]
            summary = (
                f"{d['num_boxes']} boxes, {d['num_frames']} frames, {d['num_tracks']} tracks, canvas {d['canvas']}"
            )
        elif "width" in meta:
            summary = f"{meta['width']}x{meta['height']}"
        else:
            summary = meta.get("filename", "")
        if not it.path.is_file():
            summary = f"[red]file missing ({it.path.name}): run `selftrack check`[/]"
        table.add_row(it.key, it.format, _size(it.size), summary)
    console.print(table)


@app.command()
def export(
    dataset: Annotated[str, typer.Argument(help="Dataset name.")],
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    format: Annotated[
        str | None, typer.Option(help="For detections/tracks: mot (default), skyhook-json or npz.")
    ] = None,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Export a dataset's items to a folder."""
    from selftrack.workspace import export_dataset

    ws = _open(workspace)
    with progress_bar(f"export {dataset}") as progress:
        paths = export_dataset(ws, dataset, out, format=format, progress=progress)
    console.print(f"wrote {len(paths)} file(s) to [bold]{out}[/]")


@app.command()
def info(video: Annotated[Path, typer.Argument(help="A video file.")]) -> None:
    """Probe a video: size, frame rate, frame count, duration and codec."""
    from selftrack.video import probe

    vi = probe(video)
    table = Table(show_header=False)
    for k, v in vi.to_dict().items():
        table.add_row(k, str(v))
    console.print(table)


@app.command()
def demo(
    workspace: Annotated[Path, typer.Option("--workspace", "-w", help="Workspace folder for the demo.")] = Path(
        "selftrack-demo"
    ),
    frames: Annotated[int, typer.Option(help="Length of the generated scene in frames (10 per second).")] = 300,
    seed: Annotated[int, typer.Option(help="Random seed of the generated scene.")] = 0,
    train_steps: Annotated[
        int, typer.Option(help="Re-id training steps (stage 1; stage 2 gets a sixth). Fewer: faster, weaker.")
    ] = 300,
) -> None:
    """Run the tutorial end to end on a generated scene: detect, train re-id, track, render, evaluate."""
    from selftrack.cli.demo import run_demo

    run_demo(workspace, num_frames=frames, seed=seed, train_steps=train_steps, console=console)


# Commands defined in sibling modules register themselves on `app` when imported.
from selftrack.cli import check_cmds, pipeline_cmds, reid_cmds, tracking_cmds, vision_cmds  # noqa: E402,F401


def main() -> None:
    """Entry point: turn expected errors into one clear line instead of a traceback."""
    try:
        app()
    except SelftrackError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False)
        sys.exit(1)
    except sqlite3.DatabaseError as e:  # a catalog damaged in a page only a query reaches
        err_console.print(
            f"[bold red]error:[/] the workspace catalog cannot be read ({e}); run `selftrack check` "
            "(and `selftrack check --repair` to rebuild it from the item files)",
            highlight=False,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
