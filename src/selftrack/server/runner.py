"""Jobs run in worker processes, never in the server's request threads.

``JobRunner.submit`` creates the job row (so the caller gets its id at once), then starts
``python -m selftrack.server.worker`` with the job's spec on stdin. The worker runs in its own session:
a server that is stopped or crashes does not take a training run down with it, and the next server shows
the job running, because the job's state lives in the workspace (``pipeline.jobs``), not here.

A thread per worker waits for it to exit. If the worker ended without finishing its job row (killed,
out of memory, an import error before the engine started), the job is marked ``interrupted`` (killed
by a signal) or ``failed`` with the last lines of the worker's output, so no job stays "running" forever.
A stopped server leaves its jobs running. A job left running by a worker that died while no server was watching is marked interrupted by
``JobStore.mark_interrupted`` (its process id is gone) the next time anyone lists jobs.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from selftrack.pipeline.jobs import JobState, JobStore
from selftrack.workspace import Workspace

log = logging.getLogger("selftrack.server")

LOG_FOLDER = "logs"
"""Workers' stdout/stderr go to ``<workspace>/logs/job-<id>.log`` (what a crash printed is kept)."""


class JobRunner:
    def __init__(self, ws: Workspace, python: str | None = None) -> None:
        self.ws = ws
        self.python = python or sys.executable
        self.logs = ws.root / LOG_FOLDER
        self.logs.mkdir(exist_ok=True)
        self._procs: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    def submit(self, kind: str, name: str, target: str | None, spec: dict[str, Any]) -> int:
        """Create a job row and start its worker; returns the job id immediately."""
        jobs = JobStore(self.ws)
        job_id = jobs.create(name, kind, target)
        log_path = self.logs / f"job-{job_id}.log"
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        with open(log_path, "ab") as out:
            proc = subprocess.Popen(
                [self.python, "-m", "selftrack.server.worker", str(self.ws.root), str(job_id)],
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=str(self.ws.root),
            )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps({"kind": kind, **spec}).encode())
        proc.stdin.close()
        with self._lock:
            self._procs[job_id] = proc
        threading.Thread(target=self._watch, args=(job_id, proc, log_path), daemon=True).start()
        return job_id

    def running(self) -> list[int]:
        with self._lock:
            return [job_id for job_id, p in self._procs.items() if p.poll() is None]

    def _watch(self, job_id: int, proc: subprocess.Popen[bytes], log_path: Path) -> None:
        code = proc.wait()
        with self._lock:
            self._procs.pop(job_id, None)
        try:
            ws = Workspace(self.ws.root)
            jobs = JobStore(ws)
            job = jobs.get(job_id)
            if job.state.finished:
                return
            if code < 0:
                state, message = JobState.INTERRUPTED, f"the worker process was killed (signal {-code})"
            else:
                state, message = JobState.FAILED, f"the worker process exited with code {code}: {tail(log_path)}"
            jobs.log(job_id, message)
            jobs.finish(job_id, state, error=message)
            ws.close()
        except Exception:  # the watcher must never take the server down
            log.exception("could not record the end of job %s", job_id)


def tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "no output"
    return " | ".join(text[-lines:]) or "no output"
