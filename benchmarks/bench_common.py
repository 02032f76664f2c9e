"""Pieces every benchmark script shares: the machine line of a report and writing a marked section.

Each ``bench_*.py`` writes its own section of ``BENCHMARKS.md`` between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers, so one script's re-run never touches another's results. Scripts run
as ``python benchmarks/bench_x.py``, which puts this folder on ``sys.path``.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import sys
from pathlib import Path
from typing import Any


def cpu_name() -> str:
    """The processor's model name (``/proc/cpuinfo``), else what ``platform`` knows."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def load_average() -> float:
    """One-minute load average (NaN where the OS has none): timings on a shared machine need it beside them."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def note_run(results: dict[str, Any], script: str, argv: list[str] | None, sections: list[str]) -> None:
    """Record in a script's saved ``results`` which command measured which sections, and on what machine.

    A report-only run (no ``sections``) keeps the measuring runs' command and machine lines; the report
    lists the last four commands that added to it.
    """
    if sections:
        shown = [
            a
            for a in (argv if argv is not None else sys.argv[1:])
            if a not in ("--work", "--no-write") and "/tmp" not in a
        ]
        results.setdefault("commands", []).append(
            " ".join([f"python benchmarks/{script}", *shown])
            + f" ({datetime.date.today().isoformat()}: {', '.join(sections)})"
        )
    results["command"] = "; ".join(results.get("commands", [])[-4:])
    if sections or "machine" not in results:
        results["date"] = datetime.date.today().isoformat()
        results["machine"] = (
            f"{cpu_name()}, {os.cpu_count()} cores (nproc, shared with other jobs), load average {load_average():.1f} at "
            f"start, Python {platform.python_version()}"
        )


def write_section(path: Path, section: str, start: str, end: str, *, after: str | None = None) -> None:
    """Put ``section`` (which begins with ``start`` and ends with ``end``) in place of the old one in ``path``.

    The rest of the file is left as it was. Without an old section the new one goes right after the
    ``after`` marker when given and present, else at the end of the file.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head + section.rstrip("\n") + rest.split(end, 1)[1]
    elif after is not None and after in text:
        head, tail = text.split(after, 1)
        text = head + after + "\n\n" + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")
