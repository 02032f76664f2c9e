"""Pipeline commands: ``ops``, ``nodes``, ``run``, ``jobs``, ``job``, ``stop``, ``gc``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from selftrack.cli.main import DEFAULT_WORKSPACE, WorkspaceOpt, _open, app, console, err_console
from selftrack.core.errors import SelftrackError


def _ts(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


def _eta(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    m, s = divmod(int(seconds), 60)
    return f"{m}:{s:02d}"


@app.command()
def ops() -> None:
    """List the available ops with their inputs and outputs."""
    from selftrack.pipeline import list_ops

    table = Table("op", "category", "kind", "inputs", "outputs", "description")
    for name, op in list_ops().items():
        ins = ", ".join(
            f"{p.name}:{'|'.join(t.value for t in p.types)}{'*' if p.variable else ''}{'?' if p.optional else ''}"
            for p in op.inputs
        )
        outs = ", ".join(p.name for p in op.outputs)
        table.add_row(name, op.category, "per-item" if op.per_item else "dataset", ins, outs, op.description)
    console.print(table)


@app.command()
def nodes(workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE)) -> None:
    """List the pipeline's nodes, their inputs and their current outputs."""
    from selftrack.pipeline import Pipeline, current_outputs

    ws = _open(workspace)
    pipe = Pipeline(ws)
    table = Table("node", "op", "inputs", "outputs (dataset, done)")
    for name, node in pipe.nodes().items():
        ins = "; ".join(f"{port} <- {', '.join(str(r) for r in refs)}" for port, refs in node.inputs.items())
        outs = []
        for out, ds in current_outputs(ws, name).items():
            if ds is None:
                outs.append(f"{out}: not computed")
            else:
                d = ws.dataset(ds)
                outs.append(f"{out}: {ds} ({len(ws.keys(ds))} items, {'done' if d.done else 'partial'})")
        table.add_row(name, node.op, ins, "\n".join(outs))
    console.print(table)


@app.command()
def run(
    target: Annotated[
        str,
        typer.Argument(
            help="A node name, or a pipeline YAML file (its nodes are created/updated, then its final nodes run)."
        ),
    ],
    partial: Annotated[int | None, typer.Option(help="Partial run: compute N random keys not computed yet.")] = None,
    keys: Annotated[str | None, typer.Option(help="Partial run: comma-separated keys to compute.")] = None,
    keys_from: Annotated[str | None, typer.Option(help="Partial run: compute the keys of this dataset.")] = None,
    workers: Annotated[int | None, typer.Option(help="Parallel worker processes (default: one per core).")] = None,
    executor: Annotated[
        str, typer.Option(help="Where items run: local (process pool) or ray (a Ray cluster; selftrack[ray] extra).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: auto (the one this machine is in) or HOST:PORT of its head; default: a local Ray."
        ),
    ] = None,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Run a node (and the ancestors that are not up to date) as a job, with a progress bar.

    With ``--executor ray`` every node's items run as Ray tasks; the workspace must be on a filesystem every
    node of the cluster mounts at the same path.
    """
    from selftrack.pipeline import JobState, Partial, Pipeline, run_node
    from selftrack.pipeline.choose import make_executor

    ws = _open(workspace)
    pipe = Pipeline(ws)
    targets: list[str]
    if target.endswith((".yaml", ".yml")) or Path(target).is_file():
        names = pipe.load_yaml(Path(target))
        nodes_ = pipe.nodes()
        used = {p for n in names for p in nodes_[n].parents()}
        targets = [n for n in names if n not in used]
        console.print(f"loaded {len(names)} node(s) from {target}; running {', '.join(targets)}")
    else:
        targets = [target]
    chosen = [x is not None for x in (partial, keys, keys_from)]
    if sum(chosen) > 1:
        raise SelftrackError("use only one of --partial, --keys, --keys-from")
    spec = None
    if partial is not None:
        spec = Partial(count=partial)
    elif keys is not None:
        spec = Partial(keys=tuple(k.strip() for k in keys.split(",") if k.strip()))
    elif keys_from is not None:
        spec = Partial(dataset=keys_from)
    runner = make_executor(executor, workers=workers, address=address)  # a local Ray it starts ends with the process
    for name in targets:
        columns = (
            TextColumn(f"[bold]{name}[/]"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err_console, disable=not err_console.is_terminal) as bar:
            task = bar.add_task(name, total=1.0, info="")

            def update(p, task=task, bar=bar) -> None:
                info = f"{p.current}  items {p.items_done}/{p.items_total}"
                if p.frames_total:
                    info += f"  frames {p.frames_done}/{p.frames_total} ({p.frames_per_second:.0f} fps, ETA {_eta(p.eta_seconds)})"
                bar.update(task, completed=p.fraction, info=info)

            result = run_node(ws, name, partial=spec, executor=runner, on_progress=update, raise_on_error=False)
        for node, nr in result.nodes.items():
            console.print(f"  {node}: {nr.status}, outputs {', '.join(nr.outputs.values())}")
        if result.state != JobState.DONE:
            raise SelftrackError(f"job {result.job_id} {result.state.value}: {result.error}")
        console.print(f"job {result.job_id} done")


@app.command()
def jobs(
    limit: Annotated[int, typer.Option(help="Show this many recent jobs.")] = 20,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """List recent jobs with their state and progress."""
    from selftrack.pipeline import JobStore

    store = JobStore(_open(workspace))
    table = Table("id", "name", "state", "progress", "started", "error")
    for job in store.list(limit):
        p = store.progress(job.id)
        table.add_row(
            str(job.id),
            job.name,
            job.state.value,
            f"{p.fraction * 100:.0f}% ({p.items_done}/{p.items_total})",
            _ts(job.started_at),
            (job.error or "")[:80],
        )
    console.print(table)


@app.command()
def job(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (state, progress, events, log).")] = False,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Show one job: state, plan, progress, log tail and error."""
    from selftrack.pipeline import JobStore

    store = JobStore(_open(workspace))
    store.mark_interrupted()
    j = store.get(job_id)
    p = store.progress(job_id)
    if json_out:
        console.print_json(
            json.dumps(
                {
                    **j.to_dict(),
                    "progress": p.to_dict(),
                    "log": store.log_tail(job_id, 100),
                    "events": store.events(job_id),
                }
            )
        )
        return
    console.print(
        f"[bold]job {j.id}[/] {j.name}: {j.state.value}  (started {_ts(j.started_at)}, finished {_ts(j.finished_at)})"
    )
    for step in j.plan:
        console.print(f"  {step['node']:<20} {step['op']:<20} {step['state']}")
    console.print(
        f"progress: {p.fraction * 100:.0f}%  items {p.items_done}/{p.items_total}  frames {p.frames_done}/{p.frames_total}  {p.frames_per_second:.1f} fps  ETA {_eta(p.eta_seconds)}"
    )
    for line in store.log_tail(job_id, 30):
        console.print("  " + line, highlight=False, markup=False)
    if j.error:
        err_console.print(f"[bold red]error:[/] {j.error}", highlight=False)
        if j.traceback:
            err_console.print(j.traceback, highlight=False, markup=False)


@app.command()
def stop(
    job_id: Annotated[int, typer.Argument(help="Job id.")],
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Ask a running job to stop; finished items are kept, nothing half-written is marked done."""
    from selftrack.pipeline import JobStore

    j = JobStore(_open(workspace)).request_stop(job_id)
    console.print(f"job {job_id}: {j.state.value}" + (" (stop requested)" if not j.state.finished else ""))


@app.command()
def gc(
    dry_run: Annotated[bool, typer.Option(help="Only list what would be deleted.")] = False,
    grace: Annotated[
        float, typer.Option(help="Seconds an unreferenced file must be old before it is removed (default 1 hour).")
    ] = 3600.0,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Delete computed datasets no node uses any more, then unreferenced files older than --grace.

    Runs under the workspace lock: imports and runs writing at the same time are never robbed.
    """
    from selftrack.pipeline import garbage_collect

    result = garbage_collect(_open(workspace), dry_run=dry_run, grace=grace)
    verb = "would delete" if dry_run else "deleted"
    console.print(
        f"{verb} {len(result.datasets)} dataset(s)" + (": " + ", ".join(result.datasets) if result.datasets else "")
    )
    files = result.files
    freed = f", {files.bytes_freed / 1e6:.1f} MB freed" if files.bytes_freed else ""
    console.print(f"{verb} {len(files.removed)} unreferenced file(s){freed}")
    if files.kept_young:
        console.print(f"kept {files.kept_young} unreferenced file(s) younger than {grace:g} s (--grace)")
    if files.kept_vouched:
        console.print(
            f"kept {len(files.kept_vouched)} file(s) the catalog lacks but a dataset journal vouches for: "
            "`selftrack check --repair` re-registers them"
        )


@app.command("pipeline")
def pipeline_cmd(
    out: Annotated[
        Path | None, typer.Option(help="Write the pipeline as YAML to this file (default: print it).")
    ] = None,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """Export the workspace's pipeline as YAML (``selftrack run FILE`` recreates it)."""
    from selftrack.pipeline import Pipeline

    text = Pipeline(_open(workspace)).to_yaml()
    if out is None:
        console.print(text, highlight=False, markup=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}")
