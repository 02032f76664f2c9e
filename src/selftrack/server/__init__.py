"""Top layer: the web app and REST API (FastAPI + uvicorn), served by ``selftrack serve``.

It may import every layer below; nothing below imports it. See ``app.py`` for the routes, ``security.py``
for the request guards, ``runner.py``/``worker.py`` for jobs in worker processes and ``feeds.py`` for
the live updates.
"""

from collections.abc import Callable

from selftrack.server.app import create_app
from selftrack.server.config import ServerConfig, resolve_token

__all__ = ["ServerConfig", "create_app", "resolve_token", "serve"]


def serve(config: ServerConfig, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Run the server until interrupted (``on_ready(url)`` is called once it listens)."""
    from selftrack.server.serve import run

    run(config, on_ready=on_ready)
