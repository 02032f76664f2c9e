"""Running the app under uvicorn: bind, print the address with its token, stop cleanly."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import uvicorn

from selftrack.core.errors import SelftrackError
from selftrack.server.app import create_app
from selftrack.server.config import ServerConfig


def bind_socket(config: ServerConfig) -> socket.socket:
    """Bind first (port 0 picks a free port), so the printed URL is the real one."""
    family = socket.AF_INET6 if ":" in config.host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host.strip("[]"), config.port))
    except OSError as e:
        sock.close()
        raise SelftrackError(
            f"cannot listen on {config.host}:{config.port} ({e.strerror}); choose another --port (0 picks a free one)"
        ) from None
    sock.set_inheritable(True)
    config.port = sock.getsockname()[1]
    return sock


def run(config: ServerConfig, *, on_ready: Callable[[str], None] | None = None) -> None:
    config.check_bind()
    sock = bind_socket(config)
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level="warning",
            timeout_graceful_shutdown=2,
            proxy_headers=False,
            server_header=False,
            access_log=False,
        )
    )

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.05)
        if server.started and on_ready is not None:
            on_ready(config.url("/"))
        await task

    asyncio.run(main())
