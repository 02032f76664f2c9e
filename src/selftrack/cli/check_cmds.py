"""``selftrack check [--repair]``: verify every item's file and hash; re-register what can be proven."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from selftrack.cli.app import DEFAULT_WORKSPACE, WorkspaceOpt, app, console, err_console

_SHOWN = 20


def _section(title: str, lines: list[str], style: str) -> None:
    if not lines:
        return
    console.print(f"[{style}]{title} ({len(lines)}):[/]")
    for line in lines[:_SHOWN]:
        console.print(f"  {line}", highlight=False, markup=False)
    if len(lines) > _SHOWN:
        console.print(f"  ... and {len(lines) - _SHOWN} more (--json lists all)")


@app.command()
def check(
    repair: Annotated[
        bool,
        typer.Option(
            help="Fix what can be proven: re-register journal-vouched files (hash verified), re-point rows at an "
            "intact copy, drop rows whose file is gone (computed datasets are then recomputed by the next run), "
            "rebuild a damaged catalog from the dataset folders."
        ),
    ] = False,
    quick: Annotated[bool, typer.Option(help="Compare sizes only, do not hash every file.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Verify every item's file and hash; list missing and damaged items, orphans and unfinished datasets."""
    from selftrack.workspace.maintenance import check_workspace

    report = check_workspace(workspace, repair=repair, hashes=not quick)
    if json_out:
        print(json.dumps(report.to_dict(), indent=1))
    else:
        if report.catalog_problem:
            err_console.print(f"[bold red]catalog:[/] {report.catalog_problem}", highlight=False)
        console.print(f"{report.items_checked} item(s) checked" + (" (sizes only)" if quick else ""))
        _section("missing files", report.missing, "red")
        _section("damaged files", report.damaged, "red")
        _section("complete files the catalog lacks (a journal vouches for them)", report.unregistered, "yellow")
        _section("repaired", report.repaired, "green")
        _section("lost (import again)", report.lost, "red")
        _section("datasets not done (an interrupted run or import; run it again)", report.not_done, "yellow")
        _section("unreferenced files (gc removes them after its grace period)", report.orphans, "dim")
        _section("staging leftovers of dead processes", report.stale_staging, "dim")
        if report.ok:
            console.print("[green]ok[/]" + ("" if repair else ": every item's file is there and intact"))
        elif not repair:
            console.print("run `selftrack check --repair` to fix what can be proven")
    if not report.ok:
        raise typer.Exit(1)
