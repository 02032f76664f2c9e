"""Progress as a person sees it: one row per stage, each in its own unit, on a terminal or in a log file.

A row is ``label  bar  pct  done/total unit  rate/s  ETA m:ss  elapsed``. Its numbers are laid out first
and never cut: on a narrow terminal the bar shrinks, then the label, then the rate goes, and the
numbers stay whole (an 80-column ``train-reid`` used to read ``2390/… 0:09:17 0:00:…``). The clock is
redrawn four times a second whether or not progress came in, so it never freezes; the percentage is the
stage's own ``done / total`` with a total fixed when the stage starts, so it only rises.

Off a terminal (piped, ``nohup``, CI) there is no live view: a line with the current stage's numbers is
printed every ``SELFTRACK_PROGRESS_INTERVAL`` seconds (default 10) and a line when each stage ends, so a
long ``detect`` leaves a trail in its log instead of one line at the end.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.live import Live
from rich.text import Text

from selftrack.pipeline.progress import JobProgress, StageProgress

INTERVAL_ENV = "SELFTRACK_PROGRESS_INTERVAL"
"""Seconds between progress lines when stderr is not a terminal (default 10)."""

FINISHED = ("done", "stopped", "failed", "interrupted")


def clock(seconds: float) -> str:
    """``m:ss`` under an hour, ``h:mm:ss`` from there."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def count(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:.1f}"


def per_second(rate: float) -> str:
    return f"{rate:.0f}/s" if rate >= 100 else (f"{rate:.1f}/s" if rate >= 1 else f"{rate:.2f}/s")


@dataclass
class Row:
    """One line of progress. ``state``: running, done, stopped, failed, interrupted, waiting, up to date."""

    label: str
    unit: str = ""
    done: float = 0.0
    total: float | None = None
    state: str = "running"
    elapsed: float = 0.0
    rate: float | None = None
    eta: float | None = None
    note: list[str] = field(default_factory=list)

    @classmethod
    def of_stage(cls, stage: StageProgress, label: str, now: float | None = None) -> Row:
        return cls(
            label=label,
            unit=stage.unit,
            done=stage.done,
            total=stage.total if stage.total > 0 else None,
            state=stage.state,
            elapsed=stage.elapsed(now),
            rate=stage.rate(now),
            eta=stage.eta_seconds(now),
        )

    def percent(self) -> int | None:
        if not self.total:
            return None
        return (
            100
            if self.state == "done" and self.done >= self.total
            else min(99, math.floor(100 * self.done / self.total))
        )

    def numbers(self, *, with_rate: bool = True) -> str:
        """Everything but the label and the bar: the part that is never cut."""
        if self.state in ("waiting", "up to date"):
            return self.state
        parts = []
        pct = self.percent()
        if pct is not None:
            parts.append(f"{pct:3d}% {count(self.done)}/{count(self.total or 0)} {self.unit}")
        else:
            parts.append(f"{count(self.done)} {self.unit}".strip())
        if with_rate and self.rate and self.elapsed >= 1.0:  # a rate over a split second is noise
            parts.append(per_second(self.rate))
        if self.state == "running":
            if self.total:
                parts.append(f"ETA {clock(self.eta)}" if self.eta is not None else "ETA -")
            parts.append(clock(self.elapsed))
        elif self.state == "done":
            parts.append(f"done in {clock(self.elapsed)}")
        else:
            parts.append(f"{self.state} after {clock(self.elapsed)}")
        return "  ".join(parts)


def format_row(
    row: Row, width: int, *, label_width: int | None = None, numbers_width: int = 0, bar: bool = True
) -> Text:
    """``row`` in at most ``width`` columns (unless its numbers alone are wider); the numbers are never cut.

    ``label_width`` and ``numbers_width`` line the rows up (the widest label and numbers of all rows).
    When room runs out the bar goes first, then the rate, then the label is shortened.
    """
    label_w = min(len(row.label), 28) if label_width is None else label_width
    numbers = row.numbers()
    if label_w + 1 + len(numbers) > width:
        numbers = row.numbers(with_rate=False)
    numbers_w = max(len(numbers), numbers_width)
    bar_w = (
        width - label_w - 1 - numbers_w - 1 if bar and row.total and row.state not in ("waiting", "up to date") else 0
    )
    if bar_w < 6:
        bar_w = 0
    label_w = max(0, min(label_w, width - len(numbers) - 1 - (bar_w + 1 if bar_w else 0)))
    label = row.label if len(row.label) <= label_w else row.label[: max(0, label_w - 1)] + "…"
    text = Text(no_wrap=True, overflow="ignore")
    if label_w:
        text.append(label.ljust(label_w), style="bold")
        text.append(" ")
    if bar_w:
        filled = round(bar_w * min(1.0, row.done / row.total)) if row.total else 0
        if row.state != "done":
            filled = min(filled, bar_w - 1)  # a full bar means done
        text.append("━" * filled, style="green" if row.state == "done" else "magenta")
        text.append("━" * (bar_w - filled), style="grey30")
        text.append(" ")
    style = "green" if row.state == "done" else ("red" if row.state in ("failed", "stopped", "interrupted") else "")
    text.append(numbers, style=style)
    return text


def format_note(parts: list[str], width: int, indent: str = "  ") -> Text | None:
    """The parts (``loss 0.412``...) that fit whole in ``width``; a part is never cut."""
    shown, used = [], len(indent)
    for part in parts:
        if used + len(part) + (2 if shown else 0) > width:
            break
        used += len(part) + (2 if shown else 0)
        shown.append(part)
    return Text(indent + "  ".join(shown), style="dim", no_wrap=True, overflow="ignore") if shown else None


def render(rows: list[Row], width: int, header: str | None = None) -> Text:
    """Rows (and the notes of running ones) as lines of at most ``width`` columns."""
    label_w = min(28, max((len(r.label) for r in rows), default=0))
    numbers_w = max((len(r.numbers()) for r in rows if r.total), default=0)
    if label_w + 1 + numbers_w + 7 > width:  # no room for bars: labels share what the numbers leave
        label_w = max(6, min(label_w, width - numbers_w - 1))
    out = Text(no_wrap=True, overflow="ignore")
    lines: list[Text] = []
    if header:
        lines.append(Text(header if len(header) <= width else header[: width - 1] + "…", style="bold"))
    for row in rows:
        lines.append(format_row(row, width, label_width=label_w, numbers_width=numbers_w))
        if row.note and row.state == "running":
            note = format_note(row.note, width)
            if note is not None:
                lines.append(note)
    for i, line in enumerate(lines):
        if i:
            out.append("\n")
        out.append_text(line)
    return out


def job_rows(p: JobProgress, now: float | None = None) -> list[Row]:
    """A job's plan as rows: finished and running stages, nodes found up to date, nodes still waiting."""
    now = time.time() if now is None else now
    by_node: dict[str, list[StageProgress]] = {}
    for s in p.stages:
        by_node.setdefault(s.node, []).append(s)
    rows = []
    for step in p.plan or [{"node": s.node, "state": "done"} for s in p.stages]:
        node = step["node"]
        stages = by_node.get(node, [])
        for s in stages:
            rows.append(Row.of_stage(s, node if s.name == node else f"{node}: {s.name}", now))
        if not stages:
            state = step.get("state")
            if state == "done":
                rows.append(Row(node, state="up to date"))
            elif state == "running" and p.state == "running":
                rows.append(Row(node, state="running", elapsed=0.0, unit="starting"))
            else:
                rows.append(Row(node, state="waiting"))
    return rows


class Display:
    """Rows on stderr: redrawn live on a terminal, or a line every ``interval`` seconds to a pipe or file.

    ``rows`` is a function giving the current rows; it is called at each redraw, so elapsed times and
    ETAs move with the clock even when no progress arrives.
    """

    def __init__(
        self,
        console: Console,
        rows: Callable[[], list[Row]],
        *,
        header: Callable[[], str | None] | None = None,
        interval: float | None = None,
        transient: bool = False,
    ) -> None:
        self.console = console
        self.rows = rows
        self.header = header or (lambda: None)
        env = os.environ.get(INTERVAL_ENV)
        self.interval = interval if interval is not None else (float(env) if env else 10.0)
        self.live = console.is_terminal and not console.is_dumb_terminal
        self.transient = transient  # live view only: cleared at the end (the caller prints its own summary)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._printed_final: set[int] = set()
        self._live: Live | None = None
        self._started = time.monotonic()

    def __rich__(self) -> Text:
        with self._lock:
            return render(self.rows(), self.console.width, self.header())

    def __enter__(self) -> Display:
        if self.live:
            self._live = Live(self, console=self.console, refresh_per_second=4, transient=self.transient)
            self._live.__enter__()
        else:
            self._thread = threading.Thread(target=self._tick, name="selftrack-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.__exit__(None, None, None)
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.print_lines(final=True)

    def _tick(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(0.5):
            self.print_lines(final=False, due=time.monotonic() - last >= self.interval)
            if time.monotonic() - last >= self.interval:
                last = time.monotonic()

    def print_lines(self, *, final: bool, due: bool = False) -> None:
        """Off a terminal: each stage's line once when it ends, and the running ones when ``due``."""
        with self._lock:
            rows = self.rows()
        width = max(self.console.width, 100)
        # a quick one-stage command: its own summary line says it all
        quick = len(rows) <= 1 and time.monotonic() - self._started < self.interval
        for i, row in enumerate(rows):
            ended = row.state in FINISHED or row.state == "up to date"
            if ended and quick:
                continue
            if ended and i not in self._printed_final:
                self._printed_final.add(i)
                self._print(row, width)
            elif row.state == "running" and (due or final) and row.unit != "starting":
                self._print(row, width)

    def _print(self, row: Row, width: int) -> None:
        line = format_row(row, width, bar=False)
        if row.note and row.state == "running":
            line.append("  " + "  ".join(row.note), style="dim")
        self.console.print(line, highlight=False, soft_wrap=True)


class CommandProgress:
    """What a plain command (``detect``, ``track``, ``train-reid``) reports: stages it opens, progress, notes.

    Call it as ``progress(done, total, what)`` (the API's callback); ``stage(label, unit, total)`` opens
    the next stage; a total that differs from the current stage's opens the next one too (the previous
    is closed as done), so a stage's total never changes under a person's eyes.
    """

    def __init__(self, label: str, unit: str, *, say: Callable[[str], None] | None = None) -> None:
        self.label = label
        self.unit = unit
        self.stages: list[tuple[str, StageProgress]] = []
        self.note: list[str] = []
        self.say = say  # given: the first progress report is turned into a time estimate for the whole
        self._started = time.time()
        self._first: tuple[float, float] | None = None
        self._lock = threading.Lock()

    def stage(self, label: str, unit: str, total: float | None) -> None:
        with self._lock:
            self._close("done")
            self.stages.append((label, StageProgress("", label, unit, 0.0, float(total or 0), started_at=time.time())))
            self.note = []

    def __call__(self, done: float, total: float | None = None, what: str = "") -> None:
        current = self.current
        if current is None or (total and current.total and float(total) != current.total):
            label = self.label if not self.stages else f"{self.label} ({len(self.stages) + 1})"
            self.stage(label, self.unit, total)
            current = self.current
        assert current is not None
        with self._lock:
            if total and not current.total:
                current.total = float(total)
            current.done = max(current.done, min(float(done), current.total or float(done)))
            if what:
                self.note = [what]
        if self.say is not None and current.done > 0 and current.total:
            line = self.estimate(current)
            if line is not None:
                say, self.say = self.say, None
                say(line)

    def estimate(self, stage: StageProgress) -> str | None:
        """How long the whole will take, once the first batch tells (``None``: not yet).

        A slow first batch (5 s or more, set-up included) is taken as it is; a quick one is followed for 2 s
        more and the rate taken from the batches after it, without the set-up.
        """
        now = time.time()
        if self._first is None:
            self._first = (now, stage.done)
            if now - self._started < 5.0 and stage.done < stage.total:
                return None
            rate, seconds, left = stage.done / max(now - self._started, 1e-6), now - self._started, None
        else:
            t0, d0 = self._first
            if (now - self._started < 2.0 and stage.done < stage.total) or stage.done <= d0:
                return None
            rate, seconds = (stage.done - d0) / max(now - t0, 1e-6), now - self._started
        left = (stage.total - stage.done) / rate
        return (
            f"{self.label}: {count(stage.done)} {stage.unit} in {seconds:.1f} s ({per_second(rate)}); "
            f"all {count(stage.total)} {stage.unit}: about {clock(seconds + left)} in all"
        )

    def set_note(self, *parts: str) -> None:
        with self._lock:
            self.note = [p for p in parts if p]

    @property
    def current(self) -> StageProgress | None:
        return self.stages[-1][1] if self.stages else None

    def _close(self, state: str) -> None:
        if self.stages and self.stages[-1][1].state == "running":
            self.stages[-1][1].state = state
            self.stages[-1][1].finished_at = time.time()

    def finish(self, state: str = "done") -> None:
        with self._lock:
            self._close(state)

    def rows(self) -> list[Row]:
        now = time.time()
        with self._lock:
            rows = [Row.of_stage(s, label, now) for label, s in self.stages]
            if rows and rows[-1].state == "running":
                rows[-1].note = list(self.note)
            return rows


@contextmanager
def command_progress(
    console: Console, label: str, unit: str = "", *, estimate: bool = False
) -> Iterator[CommandProgress]:
    """Rows for a plain command; an exception marks the running stage failed (Ctrl-C: stopped).

    ``estimate``: print the time the whole will take, from the first report (slow detectors).
    """
    say = (lambda line: console.print(line, highlight=False, markup=False)) if estimate else None
    progress = CommandProgress(label, unit, say=say)
    with Display(console, progress.rows):
        try:
            yield progress
        except KeyboardInterrupt:
            progress.finish("stopped")
            raise
        except BaseException:
            progress.finish("failed")
            raise
        progress.finish("done")
