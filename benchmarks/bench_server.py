"""Web app under load: 50 browser-like clients on loopback while a training job runs.

Each client follows the running job's server-sent event stream (the job page) and lists a page of a
10,000-item dataset once per ``--list-interval`` seconds at a random offset (the dataset page), like a
team watching a training run. Reported: p50/p95 latency of the list requests, p50/p95 delay between an
event being written by the job's worker and a client receiving it, the CPU the server process and the
clients use, and the job's speed with the clients against without them, measured in the same run (runs
alternate: without, with, without, ...; a machine that gets busier or quieter shows in the spread of the
runs without clients, which the report gives).

The job is the re-identification training of the tutorial (``unsupervised_reid``, a fixed number of
steps, one loss event every 5 steps) on the generated plaza scene and its moving-object detections; each
run uses another seed, so each extracts its crops and trains from scratch (same work).
The 10,000-item dataset is written as catalog rows in one transaction (listing reads only the catalog;
importing 10,000 files would take the store minutes and measure something else).

    python benchmarks/bench_server.py [--clients 50] [--steps 300] [--list-interval 1.0]

Writes its section of BENCHMARKS.md (between ``<!-- server-load:start -->`` and ``<!-- server-load:end -->``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import cpu_name, load_average, write_section

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- server-load:start -->", "<!-- server-load:end -->"
TOKEN = "bench-token"
DATASET = "many"
BR = "  "  # ends a Markdown line with a line break


def prepare(work: Path, items: int) -> None:
    """The workspace: the plaza scene, its detections (a node run through the engine), a big dataset."""
    from selftrack.pipeline import Pipeline
    from selftrack.synth import SceneConfig, generate_scene, render_scene_video
    from selftrack.workspace import Workspace, import_videos

    shutil.rmtree(work, ignore_errors=True)
    ws = Workspace.init(work)
    scene = generate_scene(
        SceneConfig(width=640, height=360, fps=10, num_frames=300, num_objects=10, kind="plaza", seed=0)
    )
    video = work / "tmp" / "plaza-0.mp4"
    render_scene_video(scene, video)
    import_videos(ws, "videos", [video])
    video.unlink()
    pipe = Pipeline(ws)
    pipe.add_node(
        "detect",
        "object_detection",
        inputs={"video": "videos"},
        params={"detector": "motion", "resize": {"mode": "keep"}, "motion": {"merge_distance": 1, "min_area": 60}},
    )
    pipe.node("detect").run()
    ds = ws.create_dataset(DATASET, "video")
    meta = {
        "video": {"width": 1920, "height": 1080, "fps": "30/1", "frame_count": 9000, "codec": "h264", "duration": 300.0}
    }
    rows = [
        (
            ds.id,
            f"clip-{i:05d}",
            "mp4",
            json.dumps({**meta, "filename": f"clip-{i:05d}.mp4"}),
            f"items/{ds.id}/clip-{i:05d}.mp4",
            50_000_000 + i,
            "0" * 64,
            time.time(),
        )
        for i in range(items)
    ]
    with ws.transaction() as db:
        db.executemany(
            "INSERT INTO items(dataset_id, key, format, metadata, file, size, sha256, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    ws.close()


def start_server(work: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "selftrack", "serve", str(work), "--port", "0", "--token", TOKEN]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "200"}
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        if m:
            return proc, m.group(1)
    raise SystemExit("the server did not start")


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


def start_training(base: str, seed: int, steps: int) -> int:
    with httpx.Client(base_url=base, headers=headers(), timeout=60) as c:
        name = f"train-{seed}"
        params = {"stage1_steps": steps, "stage2_steps": 0, "log_every": 5, "eval_every": 10_000, "seed": seed}
        r = c.post(
            "/api/nodes",
            json={
                "name": name,
                "op": "unsupervised_reid",
                "inputs": {"video": "videos", "detections": "detect"},
                "params": params,
            },
        )
        r.raise_for_status()
        r = c.post(f"/api/nodes/{name}/run", json={})
        r.raise_for_status()
        return r.json()["job_id"]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def job_speed(base: str, job_id: int) -> dict[str, float]:
    with httpx.Client(base_url=base, headers=headers(), timeout=60) as c:
        job = c.get(f"/api/jobs/{job_id}").json()["job"]
    assert job["state"] == "done", job
    stages = {s["name"]: s for s in job["progress"]["stages"]}
    train = stages["appearance"]
    return {
        "job_seconds": job["finished_at"] - job["started_at"],
        "steps_per_second": train["done"] / train["elapsed"],
        "crops_per_second": stages["crops"]["done"] / stages["crops"]["elapsed"],
    }


async def wait_done(base: str, job_id: int) -> None:
    async with httpx.AsyncClient(base_url=base, headers=headers(), timeout=60) as c:
        while (await c.get(f"/api/jobs/{job_id}")).json()["job"]["state"] in ("queued", "running"):
            await asyncio.sleep(0.5)


class RawHttp:
    """A minimal HTTP/1.1 client on asyncio streams: what a browser tab costs the server, without httpx's own CPU
    (the clients share this machine's cores with the server and the job, as they would not in real use)."""

    def __init__(self, base: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def request(self, path: str, accept: str = "application/json") -> None:
        assert self.writer is not None
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {TOKEN}\r\n"
            f"Accept: {accept}\r\n\r\n".encode()
        )

    async def headers(self) -> dict[str, str]:
        assert self.reader is not None
        status = await self.reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(f"unexpected response {status!r}")
        out = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            k, _, v = line.decode().partition(":")
            out[k.strip().lower()] = v.strip()
        return out

    async def get_json(self, path: str) -> object:
        self.request(path)
        h = await self.headers()
        assert self.reader is not None
        return json.loads(await self.reader.readexactly(int(h["content-length"])))

    async def lines(self, path: str):
        self.request(path, "text/event-stream")
        await self.headers()
        assert self.reader is not None
        while line := await self.reader.readline():
            yield line.decode(errors="replace").rstrip("\r\n")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def client_task(
    base: str,
    job_id: int,
    interval: float,
    items: int,
    stop: asyncio.Event,
    out: dict[str, list[float]],
    rng: random.Random,
) -> None:
    """One browser tab: the job's event stream, the app-wide stream, and a page of the big dataset now and then."""
    job_conn, app_conn, list_conn = RawHttp(base), RawHttp(base), RawHttp(base)
    for conn in (job_conn, app_conn, list_conn):
        await conn.open()

    async def follow() -> None:
        kind = None
        async for line in job_conn.lines(f"/api/jobs/{job_id}/stream"):
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: ") and kind == "events":
                now = time.time()
                for ev in json.loads(line[6:])["events"]:
                    out["event_delay"].append(now - ev["ts"])

    async def app_events() -> None:  # every page also holds the app-wide stream (job list, nav badge)
        async for _line in app_conn.lines("/api/events"):
            pass

    async def browse() -> None:
        await asyncio.sleep(rng.random() * interval)
        while not stop.is_set():
            t0 = time.perf_counter()
            page = await list_conn.get_json(
                f"/api/datasets/{DATASET}/items?offset={rng.randrange(0, items - 100)}&limit=100"
            )
            out["list"].append(time.perf_counter() - t0)
            assert len(page["items"]) == 100  # type: ignore[index]
            await asyncio.sleep(interval)

    followers = [asyncio.create_task(follow()), asyncio.create_task(app_events())]
    try:
        await browse()
    finally:
        for f in followers:
            f.cancel()
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await f
        for conn in (job_conn, app_conn, list_conn):
            conn.close()


async def loaded_run(base: str, job_id: int, clients: int, interval: float, items: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"list": [], "event_delay": []}
    stop = asyncio.Event()
    rng = random.Random(0)
    tasks = [
        asyncio.create_task(client_task(base, job_id, interval, items, stop, out, random.Random(rng.random())))
        for _ in range(clients)
    ]
    await wait_done(base, job_id)
    stop.set()
    failures = [r for r in await asyncio.gather(*tasks, return_exceptions=True) if isinstance(r, BaseException)]
    if failures:
        raise SystemExit(f"{len(failures)} client(s) failed: {failures[0]!r}")
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--steps", type=int, default=300, help="training steps of each job")
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=2, help="runs with clients (each between two without)")
    parser.add_argument("--list-interval", type=float, default=1.0, help="seconds between a client's list requests")
    parser.add_argument("--work", type=Path, default=Path("/tmp/selftrack-bench-server"))
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md alone")
    args = parser.parse_args(argv)

    load_start = load_average()
    t0 = time.perf_counter()
    prepare(args.work, args.items)
    print(f"prepared in {time.perf_counter() - t0:.0f} s", flush=True)
    proc, base = start_server(args.work)
    try:
        runs = []
        samples: dict[str, list[float]] = {"list": [], "event_delay": []}
        client_cpus = []
        order = [False] + [True, False] * args.repeats  # without, with, without, ...: drift shows in the spread
        for seed, loaded in enumerate(order, start=1):
            cpu0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            job_id = start_training(base, seed, args.steps)
            if loaded:
                own0 = resource.getrusage(resource.RUSAGE_SELF)
                got = asyncio.run(loaded_run(base, job_id, args.clients, args.list_interval, args.items))
                own1 = resource.getrusage(resource.RUSAGE_SELF)
                client_cpus.append(
                    (own1.ru_utime + own1.ru_stime - own0.ru_utime - own0.ru_stime) / (time.perf_counter() - t0)
                )
                for k, v in got.items():
                    samples[k] += v
            else:
                asyncio.run(wait_done(base, job_id))
            speed = job_speed(base, job_id)
            speed["server_cpu"] = (cpu_seconds(proc.pid) - cpu0) / (time.perf_counter() - t0)
            runs.append((loaded, speed))
            print(
                ("with clients" if loaded else "no clients  "),
                json.dumps({k: round(v, 2) for k, v in speed.items()}),
                flush=True,
            )
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    base_runs = [s for loaded, s in runs if not loaded]
    loaded_runs = [s for loaded, s in runs if loaded]
    mean = {k: statistics.mean(s[k] for s in base_runs) for k in base_runs[0]}
    loaded_speed = {k: statistics.mean(s[k] for s in loaded_runs) for k in loaded_runs[0]}
    ratio_steps = loaded_speed["steps_per_second"] / mean["steps_per_second"]
    ratio_job = mean["job_seconds"] / loaded_speed["job_seconds"]
    spread = (min(s["steps_per_second"] for s in base_runs), max(s["steps_per_second"] for s in base_runs))
    client_cpu = statistics.mean(client_cpus)
    lst, ev = samples["list"], samples["event_delay"]
    print(
        f"list p50 {1000 * pct(lst, 50):.1f} ms p95 {1000 * pct(lst, 95):.1f} ms ({len(lst)} requests); "
        f"events p50 {1000 * pct(ev, 50):.1f} ms p95 {1000 * pct(ev, 95):.1f} ms ({len(ev)} deliveries); "
        f"speed ratio {ratio_steps:.3f} (steps/s), {ratio_job:.3f} (whole job)"
    )

    cmd = "python benchmarks/bench_server.py" + (
        " " + " ".join(argv if argv is not None else sys.argv[1:]) if (argv or sys.argv[1:]) else ""
    )
    text = (
        f"""{START}
## Web app under load

Command: `{cmd}`{BR}
Machine: {cpu_name()}, {os.cpu_count()} cores, load average {load_start:.1f} at the start, Python {platform.python_version()}{BR}
Date: {dt.datetime.now().strftime("%Y-%m-%d %H:%M")}

{args.clients} clients on loopback, each following a running training job's server-sent events and the app-wide event stream (a job page) and
listing a page of 100 items of a {args.items:,}-item dataset at a random offset every {args.list_interval:g} s (its dataset
page). The job: `unsupervised_reid` on the generated plaza scene (300 frames, moving-object detections), {args.steps}
steps, a loss event every 5 steps; {len(order)} runs in one invocation, each with another seed, alternating: no clients,
{args.clients} clients, no clients, ... The server and the job's worker share this machine's cores with the clients.

| measure | p50 | p95 | samples |
|---|---|---|---|
| list a page of the {args.items:,}-item dataset | {1000 * pct(lst, 50):.1f} ms | {1000 * pct(lst, 95):.1f} ms | {len(lst):,} requests |
| event delivery (worker writes it -> client has it) | {1000 * pct(ev, 50):.1f} ms | {1000 * pct(ev, 95):.1f} ms | {len(ev):,} deliveries |

| job | training steps/s | crops/s | whole job | server process CPU |
|---|---|---|---|---|
"""
        + "\n".join(
            f"| {'with ' + str(args.clients) + ' clients' if loaded else 'no clients'} | {s['steps_per_second']:.2f} | {s['crops_per_second']:.0f} | {s['job_seconds']:.1f} s | {100 * s['server_cpu']:.0f} % of a core |"
            for loaded, s in runs
        )
        + f"""

Speed with the clients over without them (means of the runs with and without): **{ratio_steps:.2f}** in training steps
per second, **{ratio_job:.2f}** for the whole job (1.00 = as fast); the runs without clients alone spread from
{spread[0]:.2f} to {spread[1]:.2f} steps/s, the machine's own noise. The server process used {100 * loaded_speed["server_cpu"]:.0f} % of one core
with the clients (jobs run in their own worker processes, not in it); the {args.clients} clients (one Python process, raw
HTTP/1.1 on asyncio) used {100 * client_cpu:.0f} % of one core on the same machine.
{END}
"""
    )
    if not args.no_write:
        write_section(ROOT / "BENCHMARKS.md", text, START, END)
        print("BENCHMARKS.md updated")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
