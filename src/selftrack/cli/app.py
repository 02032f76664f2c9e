"""The Typer ``app`` every command registers on, the consoles, and the helpers commands share.

Its own module so the command modules (``cli/main.py``, ``cli/*_cmds.py``) import it and never each
other: ``python -m selftrack.cli.main`` and the ``selftrack`` entry point then build one ``app`` with
every command on it (when the app lived in ``main.py``, running that file as ``__main__`` registered
the sub-commands on a second copy).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

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
