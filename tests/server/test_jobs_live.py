"""Jobs on a real server: live updates by server-sent events, and a restart that shows every job as it is."""

from __future__ import annotations

import json
import os
import signal
import time

from server_helpers import wait_job

from selftrack.workspace import Workspace, gc_files


def sse_events(client, path: str, until, timeout: float = 60.0) -> list[tuple[str, dict]]:
    """Read a server-sent event stream until ``until(events)`` is true."""
    events: list[tuple[str, dict]] = []
    end = time.monotonic() + timeout
    with client.stream("GET", path, timeout=timeout) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in r.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                events.append((kind, json.loads(line[6:])))
                if until(events):
                    return events
            if time.monotonic() > end:
                break
    raise AssertionError(f"stream ended before the condition: {[k for k, _ in events]}")


def test_a_job_is_followed_by_server_sent_events_to_its_end(live_server):
    server = live_server()
    with server.client() as c:
        job_id = c.post("/api/imports/generated", json={"frames": 60, "people": 3}).json()["job_id"]
        finished = lambda ev: any(k in ("job", "snapshot") and d["job"] and d["job"]["state"] == "done" for k, d in ev)  # noqa: E731
        events = sse_events(c, f"/api/jobs/{job_id}/stream", finished)
        kinds = [k for k, _ in events]
        assert kinds[0] == "snapshot"
        states = [d["job"]["state"] for k, d in events if k in ("snapshot", "job") and d["job"]]
        assert states[-1] == "done"
        logs = [line for k, d in events if k == "log" for line in d["lines"]] + events[0][1]["log"]
        assert any("generated plaza-0" in line for line in logs)
        # the app-wide stream lists the job and announces the new datasets
        glob = sse_events(c, "/api/events", lambda ev: {"jobs", "datasets"} <= {k for k, _ in ev})
        jobs = next(d["jobs"] for k, d in glob if k == "jobs")
        assert jobs[0]["id"] == job_id and jobs[0]["state"] == "done"
        assert next(d["version"] for k, d in glob if k == "datasets")[0] == 2  # videos + ground truth


def test_a_restarted_server_shows_finished_running_and_interrupted_jobs(live_server):
    server = live_server()
    with server.client() as c:
        done_id = c.post("/api/imports/generated", json={"frames": 20, "people": 2, "dataset": "small"}).json()[
            "job_id"
        ]
        assert wait_job(c, done_id)["state"] == "done"
        long_id = c.post("/api/imports/generated", json={"frames": 20000, "people": 2, "dataset": "long"}).json()[
            "job_id"
        ]
        end = time.monotonic() + 60
        while time.monotonic() < end:  # until it is drawing frames
            stage = c.get(f"/api/jobs/{long_id}").json()["job"]["progress"]["stage"]
            if stage and stage["done"] > 0:
                break
            time.sleep(0.2)
    server.kill()  # the server dies; the job's worker lives in its own session and goes on

    again = live_server(root=server.root)
    with again.client() as c:
        jobs = {j["id"]: j for j in c.get("/api/jobs").json()["jobs"]}
        assert jobs[done_id]["state"] == "done"
        running = jobs[long_id]
        assert running["state"] == "running" and running["pid"] not in (server.proc.pid, again.proc.pid)
        before = running["progress"]["stage"]["done"]
        time.sleep(1.5)
        assert c.get(f"/api/jobs/{long_id}").json()["job"]["progress"]["stage"]["done"] > before  # still working
        os.kill(running["pid"], signal.SIGKILL)  # now the worker dies too (out of memory, a reboot...)
        time.sleep(0.5)
        jobs = {j["id"]: j for j in c.get("/api/jobs").json()["jobs"]}
        assert jobs[long_id]["state"] == "interrupted"
        assert "ended without finishing" in jobs[long_id]["error"]
        assert jobs[done_id]["state"] == "done"
        # nothing half-made is left marked as data: the interrupted scene never became an item
        assert c.get("/api/datasets/long").status_code == 404 or c.get("/api/datasets/long/items").json()["total"] == 0
    # and the frames it was writing are in a tmp/ folder named for its process: gc removes it at once
    ws = Workspace(server.root)
    assert [p.name for p in (ws.root / "tmp").iterdir()], "the killed worker left no staging folder to test"
    gc_files(ws)
    assert [p.name for p in (ws.root / "tmp").iterdir()] == []
    ws.close()
