"""The Typer ``app`` every command registers on, the consoles, and the helpers commands share.

Its own module so the command modules (``cli/main.py``, ``cli/*_cmds.py``) import it and never each
other: ``python -m selftrack.cli.main`` and the ``selftrack`` entry point then build one ``app`` with
every command on it (when the app lived in ``main.py``, running that file as ``__main__`` registered
the sub-commands on a second copy).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, get_args

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from selftrack.cli.progress import CommandProgress, command_progress

_WORDS = {"int": "INTEGER", "float": "NUMBER", "str": "TEXT", "Path": "PATH", "bool": ""}


def placeholder(param: Any) -> str:
    """What ``--help`` shows for a parameter's value: INTEGER, NUMBER, TEXT, PATH, a|b|c; nothing for a flag.

    Typer's own placeholders are Python annotations (``<bool>``, ``<list[Path]>``), which read as code.
    """
    if getattr(param, "is_flag", False):
        return ""
    desc = param.type_descriptor
    if desc.is_choice and desc.choices:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    annotation = get_args(desc.annotation)[0] if desc.is_list else desc.annotation
    name = annotation.__name__ if isinstance(annotation, type) else str(annotation)
    return _WORDS.get(name, name.upper())


def _readable(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperArgument):
            if param.metavar is None:
                param.metavar = param.name.upper()
            param.display_type_rich = lambda ctx, _p=param: placeholder(_p)
            # usage: TARGET when required, [TARGET] when not, SOURCES... when repeated (not typer's {TARGET})
            param._usage_display_name = lambda _p=param: (
                (_p.metavar if _p.required else f"[{_p.metavar}]") + ("..." if _p.nargs != 1 else "")
            )
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = placeholder(param)
    return params


class _Command(TyperCommand):
    """A command whose ``--help`` shows readable placeholders (see :func:`placeholder`)."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


class _Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


class _App(typer.Typer):
    """``typer.Typer`` whose commands are :class:`_Command` unless one asks for another class."""

    def command(self, *args: Any, cls: Any = None, **kwargs: Any) -> Any:
        return super().command(*args, cls=cls or _Command, **kwargs)


app = _App(
    cls=_Group,
    name="selftrack",
    help="Train a multi-object tracker from unlabeled video, and run it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)  # long lines (paths) are wrapped by the terminal, never broken in a log
err_console = Console(stderr=True, soft_wrap=True)

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


def dataset_name(ws: Any, name: str) -> str:
    """What a person typed (a node, ``NODE.OUTPUT`` or a dataset) as a dataset's name: see ``resolve_dataset``."""
    from selftrack.pipeline import resolve_dataset

    return resolve_dataset(ws, name)


@contextmanager
def progress_bar(description: str, unit: str = "", *, estimate: bool = False) -> Iterator[CommandProgress]:
    """Progress rows on stderr driven by the ``progress(done, total, what)`` callbacks of the API.

    ``unit``: what ``done`` counts (frames, files, steps). The yielded object is that callback, and also
    opens further stages (``.stage(label, unit, total)``); see :mod:`selftrack.cli.progress`. ``estimate``:
    print how long the whole will take once the first batch is in.
    """
    with command_progress(err_console, description, unit, estimate=estimate) as progress:
        yield progress


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)
