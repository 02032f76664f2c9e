"""Request guards, as trusted notebook servers have them: token, Host header, Origin.

One ASGI middleware in front of everything:

1. **Host header** (against DNS rebinding: a web page whose name re-resolves to 127.0.0.1 would
   otherwise talk to us as a same-origin page). On a loopback address only loopback names (and names
   the user allowed) pass; a server listening on the network relies on the token, as Jupyter does.
2. **Origin** on state-changing requests (POST, PUT, PATCH, DELETE): a browser names the page that
   sent it; anything but our own origin is refused, so another site cannot make the user's browser
   start jobs or delete datasets (CSRF), whatever cookies it carries.
3. **Token** on every request but the static files (which hold no data): ``Authorization: Bearer T``
   for API clients; ``?token=T`` in the first URL, which sets a cookie (HttpOnly, SameSite=Strict,
   named after the port so two servers on one machine do not clash) and redirects to the same page
   without the token, so it does not stay in the address bar or the history.

Refusals are JSON ``{"detail": ...}`` for the API and a small sign-in page for the app's pages; never a
stack trace.
"""

from __future__ import annotations

import hmac
import html
import json
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from selftrack.server.config import ServerConfig

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/static/", "/favicon.ico")
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; style-src 'self' 'unsafe-inline'; "
        b"script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
]


def cookie_name(port: int) -> str:
    return f"selftrack-token-{port}"


def split_host(value: str) -> str:
    """The name part of a Host header (``[::1]:8765`` -> ``::1``, ``Example:80`` -> ``example``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class SecurityMiddleware:
    """The three guards of the module docstring, as plain ASGI (streaming responses pass untouched)."""

    def __init__(self, app: Callable[..., Awaitable[None]], config: ServerConfig) -> None:
        self.app = app
        self.config = config
        self.cookie = cookie_name(config.port)
        self.allowed_hosts = LOOPBACK_NAMES | {h.lower() for h in config.allowed_hosts}
        if config.host not in ("0.0.0.0", "::"):
            self.allowed_hosts |= {config.host.lower().strip("[]")}

    # -- checks -----------------------------------------------------------------------------------------
    def host_allowed(self, host_header: str) -> bool:
        if not host_header:
            return False
        if not self.config.loopback and not self.config.allowed_hosts:
            return True  # listening on the network: the token is the guard (Jupyter's allow_remote_access)
        return split_host(host_header) in self.allowed_hosts

    def origin_allowed(self, headers: dict[str, str]) -> bool:
        site = headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site"):
            return False
        origin = headers.get("origin")
        if origin is None:
            return True  # not a browser (curl, scripts): they need the token anyway
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == headers.get("host", "").lower()

    def token_of(self, headers: dict[str, str], query: dict[str, str]) -> tuple[str | None, str]:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip(), "bearer"
        if "token" in query:
            return query["token"], "query"
        cookies = SimpleCookie()
        try:
            cookies.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header is the same as none
            return None, "none"
        morsel = cookies.get(self.cookie)
        return (morsel.value, "cookie") if morsel is not None else (None, "none")

    def token_ok(self, token: str | None) -> bool:
        if not self.config.token:
            return True
        return token is not None and hmac.compare_digest(token.encode(), self.config.token.encode())

    # -- ASGI -------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        path: str = scope.get("path", "/")
        is_api = path.startswith("/api/") or path == "/api"
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))

        if not self.host_allowed(headers.get("host", "")):
            await self.refuse(
                send,
                403,
                f"Host header {headers.get('host', '')!r} is not allowed (protection against DNS rebinding); "
                "open the app at 127.0.0.1 or localhost, or start the server with --allow-host",
                is_api,
            )
            return
        if scope.get("method", "GET") not in SAFE_METHODS and not self.origin_allowed(headers):
            await self.refuse(
                send, 403, f"cross-origin request refused (Origin {headers.get('origin', 'unknown')!r})", is_api
            )
            return
        if path.startswith(PUBLIC_PREFIXES):
            await self.app(scope, receive, self.with_headers(send))
            return
        token, source = self.token_of(headers, query)
        if not self.token_ok(token):
            reason = "a token is required" if token is None else "wrong token"
            await self.refuse(
                send,
                401,
                f"{reason}: give it as 'Authorization: Bearer <token>' (API clients) or open the URL the server printed",
                is_api,
                login=not is_api,
            )
            return
        if source == "query" and not is_api and scope.get("method") == "GET" and self.config.token:
            # first visit with ?token=: remember it in a cookie and drop it from the address bar
            rest = {k: v for k, v in query.items() if k != "token"}
            location = path + (f"?{urlencode(rest)}" if rest else "")
            cookie = f"{self.cookie}={self.config.token}; Path=/; HttpOnly; SameSite=Strict"
            await send(
                {
                    "type": "http.response.start",
                    "status": 303,
                    "headers": [(b"location", location.encode()), (b"set-cookie", cookie.encode()), *SECURITY_HEADERS],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        await self.app(scope, receive, self.with_headers(send))

    @staticmethod
    def with_headers(send: Send) -> Send:
        async def wrapped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                message["headers"] = list(message.get("headers", [])) + [
                    (k, v) for k, v in SECURITY_HEADERS if k not in names
                ]
            await send(message)

        return wrapped

    async def refuse(self, send: Send, status: int, detail: str, is_api: bool, *, login: bool = False) -> None:
        if is_api:
            body = json.dumps({"detail": detail}).encode()
            ctype = b"application/json"
        else:
            body = (LOGIN_PAGE if login else ERROR_PAGE).format(detail=html.escape(detail)).encode()
            ctype = b"text/html; charset=utf-8"
        extra = [(b"www-authenticate", b"Bearer")] if status == 401 else []
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", ctype),
                    (b"content-length", str(len(body)).encode()),
                    *extra,
                    *SECURITY_HEADERS,
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


_PAGE_HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>selftrack</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/favicon.svg"><link rel="stylesheet" href="/static/app.css"></head>"""

LOGIN_PAGE = (
    _PAGE_HEAD
    + """<body class="signin"><main class="signin-card">
<div class="brand brand-large"><span class="brand-mark"></span>selftrack</div>
<h1>Sign in to this workspace</h1>
<p class="muted">The server printed a link with a token when it started (<code>selftrack serve</code>).
Open that link, or paste the token here.</p>
<form method="get" action=""><label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" autofocus required>
<button class="btn btn-primary" type="submit">Sign in</button></form>
<p class="hint">{detail}</p></main></body></html>"""
)

ERROR_PAGE = (
    _PAGE_HEAD
    + """<body class="signin"><main class="signin-card">
<div class="brand brand-large"><span class="brand-mark"></span>selftrack</div>
<h1>Request refused</h1><p>{detail}</p></main></body></html>"""
)
