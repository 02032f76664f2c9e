"""Soak: concurrent writers, a gc loop and random ``kill -9`` on one workspace; then tracking/eval at scale.

Usage: ``nice -n 10 python benchmarks/bench_soak.py [--minutes 10] [--scale 500000,5000000] [--no-write]``.

Part 1 (soak), for ``--minutes``: four writer loops share one workspace: two import detection files
(each round a fresh source dataset, all-or-nothing), two run a pipeline (``track`` then ``detection_filter``
over imported detections, with the tracker's params changed every round so older outputs become garbage);
a fifth loop runs ``selftrack gc --grace 0`` (the most aggressive gc) without pause; every few seconds one of
these processes is killed with SIGKILL and its loop starts the next round. Each successful import is
recorded with the sha256 of every item it committed. At the end: ``selftrack check`` over the workspace and
a comparison of every recorded item with the catalog. *Lost* counts recorded items missing or changed, plus
rows whose file is missing or damaged; it must be 0. Errors are counted by kind (first words of the CLI's
one-line error; a traceback is its own kind and must not occur). Peak memory: the largest resident set of
any one process, and of all of them together (sampled twice a second).

Part 2 (scale): MOTChallenge detections made by tiling MOT17-04's public detections (and its ground truth)
over consecutive frame ranges, 0.5 M and 5 M boxes; ``selftrack track`` (ByteTrack, defaults) and
``selftrack eval`` are timed as separate processes (wall time, CPU time and peak resident set from
``wait4``). Linear means 10x the boxes takes about 10x the time and memory stays bounded.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import cpu_name, load_average, write_section

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SELFTRACK_SHARED_DATA", ROOT.parent / "shared" / "data"))
START, END = "<!-- soak:start -->", "<!-- soak:end -->"
CLI = [sys.executable, "-c", "from selftrack.cli.main import main; main()"]


# ---------------------------------------------------------------------------------------------- part 1: soak
class Soak:
    def __init__(self, root: Path, minutes: float, seed: int) -> None:
        self.root = root
        self.ws = root / "ws"
        self.deadline = time.time() + minutes * 60
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.procs: dict[str, subprocess.Popen] = {}
        self.committed: dict[tuple[str, str], str] = {}  # (dataset, key) -> sha256, from successful imports
        self.errors: collections.Counter[str] = collections.Counter()
        self.rounds: collections.Counter[str] = collections.Counter()
        self.kills: collections.Counter[str] = collections.Counter()
        self.peak_one = 0
        self.peak_all = 0

    def run_cli(self, name: str, args: list[str]) -> tuple[int, str]:
        proc = subprocess.Popen(
            [*CLI, "-w", str(self.ws), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        with self.lock:
            self.procs[name] = proc
        out, err = proc.communicate()
        with self.lock:
            self.procs.pop(name, None)
        if proc.returncode == -signal.SIGKILL:
            self.errors["killed (kill -9)"] += 1
        elif proc.returncode != 0:
            self.errors[self.kind(err)] += 1
        return proc.returncode, out

    @staticmethod
    def kind(stderr: str) -> str:
        if "Traceback" in stderr:
            return "TRACEBACK: " + stderr.strip().splitlines()[-1][:80]
        line = next((ln for ln in stderr.splitlines() if ln.startswith("error:")), stderr.strip()[:60])
        for known in (
            "workspace is busy",
            "interrupted",
            "failed",
            "is not complete",
            "no dataset",
            "dataset was deleted",
        ):
            if known in line:
                return f"error: ...{known}..."
        return line[:70]

    def importer(self, name: str, files: Path) -> None:
        n = 0
        while time.time() < self.deadline:
            n += 1
            dataset = f"{name}-{n}"
            code, _ = self.run_cli(name, ["import-detections", str(files), "-d", dataset])
            self.rounds[name] += 1
            if code == 0:
                from selftrack.workspace import Workspace

                ws = Workspace(self.ws)
                with self.lock:
                    for item in ws.items(dataset):
                        self.committed[(dataset, item.key)] = item.sha256
                ws.close()

    def runner(self, name: str, source: str) -> None:
        n = 0
        while time.time() < self.deadline:
            n += 1
            thresh = round(0.3 + 0.1 * (n % 4), 2)
            yaml_text = (
                f"nodes:\n  {name}-track:\n    op: track\n    inputs: {{detections: {source}}}\n"
                f"    params: {{tracker: bytetrack, tracker_params: {{track_thresh: {thresh}}}}}\n"
                f"  {name}-filter:\n    op: detection_filter\n    inputs: {{detections: {name}-track}}\n"
                "    params: {min_score: 0.2}\n"
            )
            path = self.root / f"{name}.yaml"
            path.write_text(yaml_text)
            self.run_cli(name, ["run", str(path), "--workers", "2"])
            self.rounds[name] += 1

    def collector(self) -> None:
        while time.time() < self.deadline:
            self.run_cli("gc", ["gc", "--grace", "0"])
            self.rounds["gc"] += 1

    def killer(self) -> None:
        while time.time() < self.deadline:
            time.sleep(self.rng.uniform(2.0, 6.0))
            with self.lock:
                names = [n for n, p in self.procs.items() if p.poll() is None]
                if not names:
                    continue
                victim = self.rng.choice(names)
                proc = self.procs[victim]
            try:
                proc.send_signal(signal.SIGKILL)
                self.kills[victim.rstrip("0123456789-")] += 1
            except ProcessLookupError:
                pass

    def sampler(self) -> None:
        while time.time() < self.deadline + 30:
            total = 0
            for pid in [p.pid for p in list(self.procs.values())] + self.children():
                rss = rss_of(pid)
                total += rss
                self.peak_one = max(self.peak_one, rss)
            self.peak_all = max(self.peak_all, total)
            time.sleep(0.5)

    def children(self) -> list[int]:
        """Pool workers (grandchildren of this process) count too."""
        pids = []
        parents = {p.pid for p in list(self.procs.values())}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    ppid = int((entry / "stat").read_text().rsplit(") ", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                if ppid in parents:
                    pids.append(int(entry.name))
        return pids

    def setup(self) -> tuple[Path, list[str]]:
        from selftrack.workspace import Workspace, import_detections

        Workspace.init(self.ws)
        files = self.root / "dets"
        files.mkdir()
        rng = np.random.default_rng(0)
        for i in range(60):  # 60 sequences of 60 frames, 4 moving boxes each
            start = rng.uniform(0, 400, (4, 2))
            rows = [
                f"{f},-1,{x + 3 * f:.1f},{y + f:.1f},30,60,{rng.uniform(0.2, 1.0):.2f}"
                for f in range(1, 61)
                for x, y in start
            ]
            (files / f"seq{i:03d}.txt").write_text("\n".join(rows) + "\n")
        ws = Workspace(self.ws)
        sources = []
        for k in range(2):
            import_detections(ws, f"source{k}", sorted(files.glob("*.txt"))[k * 30 : (k + 1) * 30])
            sources.append(f"source{k}")
        return files, sources

    def run(self) -> dict[str, object]:
        files, sources = self.setup()
        threads = [
            threading.Thread(target=self.importer, args=("import-a", files)),
            threading.Thread(target=self.importer, args=("import-b", files)),
            threading.Thread(target=self.runner, args=("run-a", sources[0])),
            threading.Thread(target=self.runner, args=("run-b", sources[1])),
            threading.Thread(target=self.collector),
            threading.Thread(target=self.killer),
            threading.Thread(target=self.sampler, daemon=True),
        ]
        started = time.time()
        for t in threads:
            t.start()
        for t in threads[:-1]:
            t.join()
        elapsed = time.time() - started
        return self.verify(elapsed)

    def verify(self, elapsed: float) -> dict[str, object]:
        from selftrack.workspace import Workspace
        from selftrack.workspace.maintenance import check_workspace

        subprocess.run([*CLI, "-w", str(self.ws), "jobs"], capture_output=True)  # marks killed jobs interrupted
        report = check_workspace(self.ws)
        ws = Workspace(self.ws)
        current = {(ds.name, it.key): it.sha256 for ds in ws.datasets() for it in ws.items(ds.name)}
        lost_imports = [k for k, sha in self.committed.items() if current.get(k) != sha]
        items = sum(len(ws.keys(ds.name)) for ds in ws.datasets())
        half_done = [
            ds.name
            for ds in ws.datasets()
            if ds.done and ds.kind.value == "source" and ds.name.startswith("import") and len(ws.keys(ds.name)) != 60
        ]
        return {
            "seconds": elapsed,
            "rounds": dict(self.rounds),
            "kills": dict(self.kills),
            "errors": dict(self.errors),
            "imports_committed": len(self.committed),
            "items_at_end": items,
            "lost": len(lost_imports) + len(report.missing) + len(report.damaged),
            "lost_examples": lost_imports[:5] + report.missing[:5] + report.damaged[:5],
            "half_done": half_done,
            "check_ok": report.ok,
            "orphans_left": len(report.orphans),
            "peak_one_mb": self.peak_one / 2**20,
            "peak_all_mb": self.peak_all / 2**20,
        }


def rss_of(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------------------------------------- part 2: scale
def tiled(source: Path, boxes: int, out: Path) -> int:
    """``source`` repeated over consecutive frame ranges until it has ``boxes`` lines; returns the frames."""
    src = np.loadtxt(source, delimiter=",")
    frames = int(src[:, 0].max())
    reps = -(-boxes // len(src))
    with open(out, "w") as fh:
        for r in range(reps):
            part = src.copy()
            part[:, 0] += r * frames
            if len(part) + r * len(src) > boxes:
                part = part[: boxes - r * len(src)]
            if src.shape[1] > 7:  # gt: keep ids apart between copies
                part[:, 1] += r * 100_000
            np.savetxt(fh, part, fmt=["%d", "%d"] + ["%.2f"] * (src.shape[1] - 2), delimiter=",")
    return frames * reps


def timed(args: list[str]) -> dict[str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([*CLI, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args)} failed: {err}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def scale(sizes: list[int], scratch: Path) -> list[dict[str, float]]:
    rows = []
    seq = DATA / "mot17" / "MOT17-04"
    for n in sizes:
        det, gt, out = scratch / f"det{n}.txt", scratch / f"gt{n}.txt", scratch / f"tracks{n}.txt"
        frames = tiled(seq / "det" / "det.txt", n, det)
        tiled(seq / "gt" / "gt.txt", n, gt)
        track = timed(["track", "--detections", str(det), "--out", str(out)])
        ev = timed(["eval", "--gt", str(gt), "--tracks", str(out), "--benchmark", "mot17", "--json"])
        rows.append({"boxes": n, "frames": frames, "track": track, "eval": ev})
        for path in (det, gt, out):
            path.unlink()
        print(f"{n} boxes: track {track}, eval {ev}", flush=True)
    return rows


# ---------------------------------------------------------------------------------------------- report
def report(soak: dict | None, rows: list[dict], command: str, minutes: float) -> str:
    out = [START, "## Reliability soak and tracking/evaluation at scale", ""]
    out += [
        f"Command: `{command}`  ",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, load average {load_average():.1f} at the end (shared with "
        "other engineers' jobs: wall times are inflated; CPU times are the process's own)  ",
        f"Date: {datetime.date.today().isoformat()}, code at commit {commit()}",
        "",
    ]
    if soak is not None:
        errors = ", ".join(f"{k}: {v}" for k, v in sorted(soak["errors"].items(), key=lambda kv: -kv[1])) or "none"
        out += [
            f"### Soak: {minutes:g} minutes, 4 writers + gc loop + random kill -9, one workspace",
            "",
            "Writers: two import loops (60 MOT files per round into a fresh dataset, all-or-nothing), two pipeline "
            "loops (`track` -> `detection_filter`, 2 workers, ByteTrack's threshold changed every round so older "
            "outputs become garbage); a `gc --grace 0` loop; one of these processes killed with SIGKILL every 2-6 s.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| rounds (import-a, import-b, run-a, run-b, gc) | {', '.join(str(soak['rounds'].get(k, 0)) for k in ('import-a', 'import-b', 'run-a', 'run-b', 'gc'))} |",
            f"| kill -9 sent (by loop) | {', '.join(f'{k} {v}' for k, v in sorted(soak['kills'].items()))} |",
            f"| items committed by successful imports | {soak['imports_committed']} |",
            f"| items in the workspace at the end | {soak['items_at_end']} |",
            f"| **items lost** (committed then missing or changed, or rows with a missing/damaged file) | **{soak['lost']}** |",
            f"| datasets marked done but half-written | {len(soak['half_done'])} |",
            f"| `selftrack check` at the end | {'ok' if soak['check_ok'] else 'FAILED'} |",
            f"| unreferenced files left (removed by the next gc) | {soak['orphans_left']} |",
            f"| peak memory, largest process / all at once | {soak['peak_one_mb']:.0f} MB / {soak['peak_all_mb']:.0f} MB |",
            "",
            f"Errors by kind (exits other than 0, each a one-line error; tracebacks would be listed as such): {errors}.",
            "",
        ]
    if rows:
        out += [
            "### Tracking and evaluation at scale",
            "",
            "MOT17-04's public detections and ground truth tiled over consecutive frame ranges (27 detections and "
            "103 gt boxes per frame); `selftrack track` (ByteTrack, defaults) writes MOTChallenge results, "
            "`selftrack eval --benchmark mot17` scores them against the tiled gt. Each is a separate process: wall "
            "and CPU seconds, peak resident memory (`wait4`).",
            "",
            "| boxes | frames | track wall s | track CPU s | track peak MB | eval wall s | eval CPU s | eval peak MB |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in rows:
            t, e = r["track"], r["eval"]
            out.append(
                f"| {r['boxes']:,} | {r['frames']:,} | {t['wall']:.1f} | {t['cpu']:.1f} | {t['rss_mb']:.0f} | "
                f"{e['wall']:.1f} | {e['cpu']:.1f} | {e['rss_mb']:.0f} |"
            )
        if len(rows) >= 2:
            a, b = rows[0], rows[-1]
            ratio = b["boxes"] / a["boxes"]
            out += [
                "",
                f"{ratio:.0f}x the boxes: track CPU x{b['track']['cpu'] / a['track']['cpu']:.1f}, eval CPU "
                f"x{b['eval']['cpu'] / a['eval']['cpu']:.1f}; peak memory x{b['track']['rss_mb'] / a['track']['rss_mb']:.1f} "
                f"(track) and x{b['eval']['rss_mb'] / a['eval']['rss_mb']:.1f} (eval).",
            ]
    out.append(END)
    return "\n".join(out) + "\n"


def commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "src"], capture_output=True, text=True)
    except OSError:
        return "unknown"
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--scale", default="500000,5000000", help="box counts for part 2 ('' to skip)")
    parser.add_argument("--skip-soak", action="store_true")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--no-write", action="store_true", help="print the section instead of writing BENCHMARKS.md")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="selftrack-soak-"))
    try:
        soak = None if args.skip_soak else Soak(scratch, args.minutes, args.seed).run()
        if soak is not None:
            print(json.dumps(soak, indent=1, default=str), flush=True)
        rows = scale([int(x) for x in args.scale.split(",") if x], scratch) if args.scale else []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    command = "nice -n 10 python benchmarks/bench_soak.py " + " ".join(sys.argv[1:])
    text = report(soak, rows, command.strip(), args.minutes)
    if args.no_write:
        print(text)
    else:
        write_section(ROOT / "BENCHMARKS.md", text, START, END)
        print(text)


if __name__ == "__main__":
    main()
