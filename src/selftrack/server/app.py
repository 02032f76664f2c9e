"""The FastAPI application: API routers, the app's pages (one HTML shell and ES modules), error handling.

Every page is ``static/index.html``; ``static/app.js`` routes on the path and draws the page from the
REST API, which is all the pages use. Errors become JSON ``{"detail": ...}`` with a 4xx status that names
what was wrong (a ``SelftrackError`` is a 400, a missing thing a 404, a clash or a thing in use a 409); anything
unexpected is logged with its traceback on the server and answered with a 500 and a one-line message.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from selftrack import __version__
from selftrack.core.errors import InUseError, SelftrackError, problem_text
from selftrack.pipeline.jobs import JobStore
from selftrack.server import api_datasets, api_imports, api_jobs, api_pipeline
from selftrack.server.config import ServerConfig
from selftrack.server.security import SecurityMiddleware
from selftrack.server.state import AppState

log = logging.getLogger("selftrack.server")
STATIC = Path(__file__).parent / "static"
PAGES = ("/", "/pipeline", "/datasets", "/jobs", "/api-docs")
"""Page paths (and everything below /datasets/ and /jobs/) answer with the app's HTML shell."""


def create_app(config: ServerConfig) -> FastAPI:
    config.check_bind()
    st = AppState(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        JobStore(st.ws).mark_interrupted()
        api_imports.clean_stale_uploads(st.root)
        await st.feeds.start()
        try:
            yield
        finally:
            await st.feeds.stop()

    app = FastAPI(
        title="selftrack",
        version=__version__,
        description="Train a multi-object tracker from unlabeled video, and run it. Every request needs the "
        "server's token: `Authorization: Bearer <token>`.",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )
    app.state.selftrack = st
    app.add_middleware(SecurityMiddleware, config=config)
    for module in (api_datasets, api_pipeline, api_jobs, api_imports):
        app.include_router(module.router)

    @app.get("/api/info", tags=["workspace"])
    def info() -> dict[str, object]:
        """The workspace this server works on, and the server's version and limits."""
        return {
            "workspace": str(st.root),
            "version": __version__,
            "max_upload_bytes": config.max_upload_bytes,
            "auth": bool(config.token),
        }

    # -- errors: 4xx with a message, never a stack trace ------------------------------------------------
    @app.exception_handler(SelftrackError)
    async def selftrack_error(request: Request, exc: SelftrackError) -> JSONResponse:
        message = str(exc)
        status = 404 if message.startswith(("no dataset named", "no node named", "no job ")) else 400
        if isinstance(exc, InUseError):
            status = 409
        return JSONResponse({"detail": message}, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(x) for x in e.get("loc", ())], "msg": problem_text(e)} for e in exc.errors()]
        text = "; ".join(f"{'.'.join(e['loc'][1:] or e['loc'])}: {e['msg']}" for e in errors)
        return JSONResponse({"detail": {"message": f"invalid request: {text}", "errors": errors}}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404 and not request.url.path.startswith("/api/"):
            return JSONResponse({"detail": f"no page at {request.url.path}"}, status_code=404)
        return JSONResponse({"detail": jsonable_encoder(exc.detail)}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": f"internal error ({type(exc).__name__}); the server's log has the details"}, status_code=500
        )

    # -- pages ---------------------------------------------------------------------------------------------
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    index = STATIC / "index.html"

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")

    def shell() -> FileResponse:
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": "no-store"})

    for path in PAGES:
        app.add_api_route(path, shell, methods=["GET"], include_in_schema=False)
    app.add_api_route("/datasets/{rest:path}", shell, methods=["GET"], include_in_schema=False)
    app.add_api_route("/jobs/{rest:path}", shell, methods=["GET"], include_in_schema=False)

    return app
