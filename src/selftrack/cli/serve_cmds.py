"""``selftrack serve``: the web app and REST API on a workspace."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from selftrack.cli.app import DEFAULT_WORKSPACE, app, console


@app.command()
def serve(
    workspace: Annotated[
        Path | None,
        typer.Argument(help="Workspace folder (created if missing); default: -w / SELFTRACK_WORKSPACE / ./workspace."),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on; anything but loopback needs a token.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: any free port).", min=0, max=65535)] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            help="Access token (default: SELFTRACK_TOKEN, else a random one). '' turns sign-in off (loopback only)."
        ),
    ] = None,
    max_upload_mb: Annotated[int, typer.Option(help="Largest file one upload may send, in MB.")] = 8192,
    allow_host: Annotated[
        list[str] | None, typer.Option(help="Extra name the Host header may carry (a reverse proxy's); repeatable.")
    ] = None,
    executor: Annotated[
        str, typer.Option(help="Where Run sends per-item tasks: local (process pool) or ray (selftrack[ray]).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(help="Ray cluster for --executor ray: auto or HOST:PORT; default: a local Ray per job."),
    ] = None,
) -> None:
    """Serve the web app: Dashboard wizards, Pipeline editor, Datasets with a video player, Jobs, REST API."""
    from selftrack.server import ServerConfig, resolve_token
    from selftrack.server import serve as run_server
    from selftrack.workspace import Workspace

    path = workspace or Path(os.environ.get("SELFTRACK_WORKSPACE") or DEFAULT_WORKSPACE)
    created = not (path / "selftrack.sqlite").exists()
    ws = Workspace.init(path)
    config = ServerConfig(
        workspace=ws.root,
        host=host,
        port=port,
        token=resolve_token(token),
        max_upload_bytes=max_upload_mb * 1024 * 1024,
        allowed_hosts=tuple(allow_host or ()),
        executor=executor,
        ray_address=address,
    )
    config.check_bind()

    def ready(url: str) -> None:
        console.print(
            f"selftrack is serving {'a new, empty workspace' if created else 'the workspace'} [bold]{ws.root}[/]"
        )
        console.print(f"  open  [bold cyan]{url}[/]", soft_wrap=True)
        api = config.url("/api/", with_token=False)
        auth = " (header 'Authorization: Bearer <token>')" if config.token else ""
        console.print(f"  API   {api}{auth}; reference at {config.url('/api-docs', with_token=False)}", soft_wrap=True)
        console.print("Ctrl-C stops the server; running jobs keep going in their own processes.", style="dim")

    run_server(config, on_ready=ready)
