"""How the server is configured: workspace, address, token, limits; and the safety rules of binding.

The rules follow trusted notebook servers (Jupyter): listen on 127.0.0.1 unless told otherwise; a random
token guards every request unless the user gives one (``--token`` or ``SELFTRACK_TOKEN``); an empty token
turns authentication off, which is allowed on a loopback address only.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path

from selftrack.core.errors import SelftrackError

TOKEN_ENV = "SELFTRACK_TOKEN"
DEFAULT_PORT = 8765
DEFAULT_MAX_UPLOAD_BYTES = 8 * 1024**3
"""One uploaded file at most (a long 1080p video fits); ``--max-upload-mb`` changes it."""
DEFAULT_MIN_FREE_BYTES = 256 * 1024**2
"""An upload is refused, and a running one aborted, when the disk would keep less than this free."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) only ever means this machine."""
    name = host.strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def resolve_token(given: str | None) -> str:
    """The token to use: ``given`` (``""`` = no authentication), else the environment, else a random one."""
    if given is not None:
        return given
    env = os.environ.get(TOKEN_ENV)
    if env is not None:
        return env
    return secrets.token_urlsafe(24)


@dataclass
class ServerConfig:
    """Everything the app needs to know; the CLI builds one from its options."""

    workspace: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str = ""
    """``""``: no authentication (loopback only)."""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    allowed_hosts: tuple[str, ...] = ()
    """Extra names the Host header may carry (a reverse proxy's name); loopback names are always allowed."""
    worker_python: str | None = None
    """Python interpreter of the job workers (default: the server's own)."""
    executor: str = "local"
    """Where a Run's per-item tasks go by default: ``local`` (a process pool) or ``ray`` (``selftrack[ray]``)."""
    ray_address: str | None = None
    """The Ray cluster of the ``ray`` executor (``auto``, ``HOST:PORT``; ``None``: a local Ray per job)."""
    extra: dict[str, object] = field(default_factory=dict)

    def check_bind(self) -> None:
        """Refuse to listen beyond this machine without a token: anyone on the network could run code."""
        if not self.token and not is_loopback(self.host):
            raise SelftrackError(
                f"refusing to listen on {self.host} without a token: anyone who can reach it could read and change "
                f"the workspace. Give a token (--token or {TOKEN_ENV}) or listen on 127.0.0.1"
            )
        if self.max_upload_bytes < 1:
            raise SelftrackError("the upload limit must be at least one byte")

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def url(self, path: str = "/", *, with_token: bool = True) -> str:
        """The address to open in a browser (with the token on first use, like Jupyter prints)."""
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = socket.gethostname()
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        query = f"?token={self.token}" if with_token and self.token else ""
        return f"http://{host}:{self.port}{path}{query}"
