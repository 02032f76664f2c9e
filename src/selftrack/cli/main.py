"""The ``selftrack`` command line (typer + rich).

Top layer: it may import every other layer. Each command is a thin wrapper over the Python API, so what
the CLI does the API does too. Errors raised on purpose (``SelftrackError``) are printed as one red line
with exit code 1; anything else is a bug and shows its traceback.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import warnings
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from selftrack.cli.app import (
    DEFAULT_WORKSPACE,
    WorkspaceOpt,
    _open,
    _size,
    app,
    console,
    dataset_name,
    err_console,
    progress_bar,
)
from selftrack.core.errors import SelftrackError, SelftrackWarning, validation_message


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
    with progress_bar(f"import {dataset}", "files") as progress:
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
    with progress_bar(f"import {dataset}", "files") as progress:
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
    """List the workspace's datasets; a node's current output can be named by the node (``export render out/``).

    Names are printed whole on one line, so they can be copied. Hashed names such as
    ``detect.detections@b9497db4`` are long: when the table does not fit the terminal, the node a name starts
    with is not repeated (``node`` / ``old (gc)``), then the content hash is left out.
    """
    from selftrack.pipeline import Pipeline, current_outputs

    ws = _open(workspace)
    current = {}
    for node in Pipeline(ws).nodes():
        outputs = current_outputs(ws, node)
        for out, ds in outputs.items():
            if ds is not None:
                current[ds] = node if len(outputs) == 1 else f"{node}.{out}"
    rows = []
    for ds in ws.datasets():
        node = current.get(ds.name, ds.metadata.get("node", "?"))
        in_name = ds.name.startswith(f"{node.split('.')[0]}.")  # the name says which node
        if ds.kind.value != "computed":
            origin = short = ds.kind.value
        elif ds.name in current:
            origin, short = f"node {node}", "node" if in_name else f"node {node}"
        else:
            origin, short = f"old {node} (gc)", "old (gc)" if in_name else f"old {node} (gc)"
        done = "yes" if ds.done else "no"
        rows.append((ds.name, ds.data_type.value, str(len(ws.keys(ds.name))), done, origin, short, ds.content_hash[:8]))
    longest = max((len(r[0]) for r in rows), default=4)

    def table(short: bool, content: bool) -> Table:
        t = Table(
            Column("name", no_wrap=True, overflow="fold", min_width=longest),  # whole, to copy it
            Column("type", no_wrap=True),
            Column("items", justify="right", no_wrap=True),
            Column("done", no_wrap=True),
            Column("from"),
            *([Column("content", no_wrap=True)] if content else []),
        )
        for name, data_type, n, done, origin, compact, digest in rows:
            t.add_row(name, data_type, n, done, compact if short else origin, *([digest] if content else []))
        return t

    layouts = [table(False, True), table(True, True), table(True, False)]
    wide = console.options.update_width(10_000)
    fits = [t for t in layouts if t.__rich_measure__(console, wide).minimum <= console.width]  # words whole
    console.print(fits[0] if fits else layouts[-1])


@app.command()
def items(
    dataset: Annotated[str, typer.Argument(help="A dataset, or a node (its current output; NODE.OUTPUT).")],
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """List a dataset's items with their size and a summary of their content."""
    ws = _open(workspace)
    table = Table("key", "format", "size", "summary")
    for it in ws.items(dataset_name(ws, dataset)):
        meta = it.metadata
        if "video" in meta:
            v = meta["video"]
            summary = f"{v['width']}x{v['height']} {v['fps']} fps, {v['frame_count']} frames, {v['codec']}"
        elif "detections" in meta:
            d = meta["detections"]
            summary = (
                f"{d['num_boxes']} boxes, {d['num_frames']} frames, {d['num_tracks']} tracks, "
                f"canvas {'x'.join(map(str, d['canvas'])) if d.get('canvas') else '-'}"
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
    dataset: Annotated[str, typer.Argument(help="A dataset, or a node (its current output; NODE.OUTPUT).")],
    out: Annotated[Path, typer.Argument(help="Output folder.")],
    format: Annotated[
        str | None, typer.Option(help="For detections/tracks: mot (default), skyhook-json or npz.")
    ] = None,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Export a dataset's items to a folder."""
    from selftrack.workspace import export_dataset

    ws = _open(workspace)
    with progress_bar(f"export {dataset}", "items") as progress:
        paths = export_dataset(ws, dataset_name(ws, dataset), out, format=format, progress=progress)
    console.print(f"wrote {len(paths)} file(s) to [bold]{out}[/]")


@app.command()
def info(video: Annotated[Path, typer.Argument(help="A video file.")]) -> None:
    """Probe a video: size, frame rate, frame count, duration and codec."""
    from selftrack.video import probe

    vi = probe(video)
    table = Table(show_header=False)
    for k, v in vi.to_dict().items():
        table.add_row(k, _readable_info(k, v))
    console.print(table)


def _readable_info(key: str, value: object) -> str:
    """A probed value as a person reads it: 2.67 s rather than 2.6666666666666665, 29.97 (30000/1001) fps."""
    from fractions import Fraction

    from selftrack.cli.progress import clock

    if key == "duration" and isinstance(value, (int, float)):
        return f"{value:.2f} s" + (f" ({clock(value)})" if value >= 60 else "")
    if key == "fps" and value is not None:
        rate = Fraction(str(value))
        return str(rate.numerator) if rate.denominator == 1 else f"{float(rate):.3g} ({rate})"
    return str(value)


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


# Commands defined in sibling modules register themselves on `app` (from selftrack.cli.app) when imported.
from selftrack.cli import check_cmds, pipeline_cmds, reid_cmds, serve_cmds, tracking_cmds, vision_cmds  # noqa: E402,F401

_python_show_warning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings about the user's input (:class:`SelftrackWarning`) as one yellow line; others as Python shows them."""
    if issubclass(category, SelftrackWarning):
        err_console.print(f"[bold yellow]warning:[/] {message}", highlight=False)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


def main() -> None:
    """Entry point: turn expected errors into one clear line instead of a traceback."""
    import pydantic

    warnings.showwarning = _show_warning
    try:
        app()
    except SelftrackError as e:
        err_console.print(f"[bold red]error:[/] {e}", highlight=False, markup=True)
        sys.exit(1)
    except pydantic.ValidationError as e:  # settings a command built without naming its flags: still one line each
        what = e.title.removesuffix("Params").removesuffix("Config") or "settings"
        err_console.print(f"[bold red]error:[/] {validation_message(f'{what} settings', e)}", highlight=False)
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
