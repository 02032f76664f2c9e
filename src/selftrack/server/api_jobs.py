"""``/api/jobs`` and ``/api/events``: job list and detail, live streams (server-sent events), stop."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse

from selftrack.server.feeds import job_items, job_row, list_jobs, sse
from selftrack.server.state import AppState, St

router = APIRouter(prefix="/api", tags=["jobs"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@router.get("/jobs")
def jobs(st: St, limit: int = Query(50, ge=1, le=500), offset: int = Query(0, ge=0)) -> dict[str, Any]:
    """Jobs, newest first (every queued or running job is always included), with their progress."""
    st.jobs.mark_interrupted()
    return {"jobs": list_jobs(st.jobs, limit, offset)}


@router.get("/jobs/{job_id}")
def job(st: St, job_id: int, log: int = Query(200, ge=0, le=1000)) -> dict[str, Any]:
    """One job: its row and progress, item states, the log tail and its events (loss values, metrics)."""
    row = job_row(st.jobs, job_id, traceback=True)
    if row is None:
        raise HTTPException(404, f"no job {job_id}")
    return {
        "job": row,
        "items": job_items(st.jobs, job_id),
        "log": st.jobs.log_tail(job_id, log),
        "events": st.jobs.events(job_id),
    }


@router.post("/jobs/{job_id}/stop")
def stop(st: St, job_id: int) -> dict[str, Any]:
    """Ask a job to stop: it finishes the item at hand cleanly (nothing half-written is kept)."""
    if job_row(st.jobs, job_id) is None:
        raise HTTPException(404, f"no job {job_id}")
    return {"job": st.jobs.request_stop(job_id).to_dict() | {"traceback": None}}


@router.get("/jobs/{job_id}/stream", response_class=StreamingResponse)
async def job_stream(job_id: int, request: Request) -> StreamingResponse:
    """Server-sent events: ``snapshot`` (row, items, log tail, events), then ``job``, ``log``, ``events``."""
    st: AppState = request.app.state.selftrack
    feeds = st.feeds
    if (await feeds._run(lambda: job_row(feeds.jobs, job_id))) is None:
        raise HTTPException(404, f"no job {job_id}")
    return StreamingResponse(sse(feeds.job_stream(job_id)), media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/events", response_class=StreamingResponse)
async def events(request: Request) -> StreamingResponse:
    """Server-sent events for the whole app: ``jobs`` (recent and running jobs) and ``datasets`` (a version
    that changes when any dataset does)."""
    st: AppState = request.app.state.selftrack
    return StreamingResponse(sse(st.feeds.global_stream()), media_type="text/event-stream", headers=SSE_HEADERS)
