"""Pipeline commands: ``ops``, ``nodes``, ``run``, ``jobs``, ``job``, ``stop``, ``gc``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Column, Table

from selftrack.cli.app import DEFAULT_WORKSPACE, WorkspaceOpt, _open, app, console, dataset_name, err_console
from selftrack.cli.progress import Display, Row, clock, format_row, job_rows
from selftrack.core.errors import SelftrackError


def _ts(t: float | None) -> str:
    return dt.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M:%S") if t else "-"


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
    table = Table("node", "op", "inputs", Column("outputs (dataset, done)", overflow="fold"))
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
    keys_from: Annotated[
        str | None, typer.Option(help="Partial run: compute the keys of this dataset (or node).")
    ] = None,
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
    from selftrack.pipeline import JobProgress, JobState, JobStore, Partial, Pipeline, make_executor, run_node

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
        spec = Partial(dataset=dataset_name(ws, keys_from))
    runner = make_executor(executor, workers=workers, address=address)  # a local Ray it starts ends with the process
    for name in targets:
        latest: list[JobProgress] = []

        def keep(p: JobProgress, latest: list[JobProgress] = latest) -> None:
            latest[:] = [p]

        def rows(latest: list[JobProgress] = latest) -> list[Row]:
            return job_rows(latest[-1]) if latest else []

        def header(latest: list[JobProgress] = latest, name: str = name) -> str:
            p = latest[-1] if latest else None
            if p is None:
                return f"run {name}: planning"
            return f"run {name}: node {min(p.nodes_done + 1, p.nodes_total)}/{p.nodes_total}, {p.fraction * 100:.0f}% in all"

        with Display(err_console, rows, header=header):
            result = run_node(ws, name, partial=spec, executor=runner, on_progress=keep, raise_on_error=False)
        for node, nr in result.nodes.items():
            outputs = ", ".join(f"{node}.{out} = {ds}" for out, ds in nr.outputs.items())
            console.print(f"  {node}: {nr.status}; {outputs}", highlight=False)
        if result.state != JobState.DONE:
            raise SelftrackError(f"job {result.job_id} {result.state.value}: {result.error}")
        took = JobStore(ws).progress(result.job_id).elapsed
        console.print(f"job {result.job_id} done in {clock(took)}", highlight=False)


@app.command()
def jobs(
    limit: Annotated[int, typer.Option(help="Show this many recent jobs.")] = 20,
    workspace: WorkspaceOpt = Path(DEFAULT_WORKSPACE),
) -> None:
    """List recent jobs with their state and progress."""
    from selftrack.pipeline import JobStore

    store = JobStore(_open(workspace))
    table = Table(
        "id", "name", "state", "progress", Column("started", no_wrap=True), Column("took", no_wrap=True), "error"
    )
    for job in store.list(limit):
        p = store.progress(job.id)
        stage = p.stage
        where = f"{p.fraction * 100:.0f}%"
        if stage is not None and not job.state.finished:
            where += f" ({stage.node}" + (f": {stage.name}" if stage.name != stage.node else "") + ")"
        table.add_row(
            str(job.id),
            job.name,
            job.state.value,
            where,
            _ts(job.started_at),
            clock(p.elapsed) if job.started_at else "-",
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
    took = f", took {clock(p.elapsed)}" if j.state.finished and j.started_at else ""
    console.print(
        f"[bold]job {j.id}[/] {j.name}: {j.state.value}  (started {_ts(j.started_at)}, finished {_ts(j.finished_at)}{took})",
        highlight=False,
    )
    console.print(f"progress: {p.fraction * 100:.0f}%, {p.nodes_done} of {p.nodes_total} node(s) done", highlight=False)
    rows = job_rows(p)
    width = max(console.width, 60)
    label_w = min(28, max((len(r.label) for r in rows), default=0))
    for row in rows:
        line = format_row(row, width - 2, label_width=label_w, bar=False)
        console.print("  ", line, sep="", highlight=False)
    if rows:
        console.print("log:")
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
        float,
        typer.Option(min=0, help="Seconds an unreferenced file must be old before it is removed (default 1 hour)."),
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
    if result.caches:
        console.print(
            f"{verb} {len(result.caches)} training cache folder(s) of runs nothing keeps, "
            f"{result.cache_bytes / 1e6:.1f} MB"
        )
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
    if out is not None and out.is_dir():
        raise SelftrackError(f"{out}: is a folder; --out names the YAML file to write")
    if out is None:
        console.print(text, highlight=False, markup=False)
    else:
        out.write_text(text)
        console.print(f"wrote {out}")
