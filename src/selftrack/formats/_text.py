"""Shared plumbing for the text formats: tolerant loading of numeric tables, lossless number
formatting and atomic writes.

Why one loader: MOT det/gt/results, GMC and YOLO label files are all "one record per line, numbers
separated by commas or whitespace". The happy path is a single ``np.loadtxt`` call (C parser, no
Python object per line); only when something is wrong do we walk the lines one by one, so the error
can name the file, the line number and the offending text.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from selftrack.core.errors import FormatError

PathLike = str | os.PathLike[str]

_TRAILING_SEPARATORS = re.compile(r"[ \t,;]+$", re.MULTILINE)
_FIRST_DATA_LINE = re.compile(r"^[ \t]*([^#\s].*)$", re.MULTILINE)
_EXPONENT = re.compile(r"[-+]?\d+(?:\.\d*)?e[-+]\d+")


def read_text(path: PathLike) -> str:
    """The file's text (UTF-8, BOM tolerated), with a :class:`FormatError` naming the line of a bad byte."""
    raw = Path(path).read_bytes()
    try:
        return raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise FormatError(f"{path}, line {line}: not UTF-8 text (byte {exc.start})") from exc


def load_json(path: PathLike) -> Any:
    """Parse a JSON file; syntax errors become :class:`FormatError` with the line and column."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{path}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from exc


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader (or a crash) never sees a half-written detection file: it gets the old one or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # open(..., "x") rather than mkstemp: the file gets the usual umask permissions, not 0600.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def format_table(columns: Iterable[np.ndarray], integer: Iterable[bool], *, decimals: int = 6, sep: str = ",") -> str:
    """Rows of numbers as text, one line each (with a final newline), without loss up to ``decimals``.

    Floats are rounded to ``decimals`` places and printed without trailing zeros, so ``x + w - x``
    rounding noise (``31.029999999999973``) is written as ``31.03`` and ``912.0`` as ``912``.
    """
    cols = list(columns)
    flags = list(integer)
    if not cols or len(cols[0]) == 0:
        return ""
    fmts, values = [], []
    for col, is_int in zip(cols, flags, strict=True):
        if is_int:
            fmts.append("%d")
            values.append(np.asarray(col, dtype=np.int64).tolist())
        else:
            # %.15g prints a value rounded to `decimals` places exactly (up to 9 integer digits) and
            # drops trailing zeros in C; "+ 0.0" turns the -0.0 left by rounding tiny negatives into 0.
            fmts.append("%.15g")
            values.append((np.round(np.asarray(col, dtype=np.float64), decimals) + 0.0).tolist())
    fmt = sep.join(fmts)
    text = "\n".join([fmt % row for row in zip(*values, strict=True)]) + "\n"
    if "e" in text:  # rare: |value| < 1e-4 or huge; write it positionally like every other number
        text = _EXPONENT.sub(lambda m: _plain(float(m.group(0)), decimals), text)
    return text


def _plain(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


class Table:
    """A numeric table read from a text file, able to point at the line any row came from."""

    def __init__(self, values: np.ndarray, text: str, path: PathLike, delimiter: str | None) -> None:
        self.values = values
        self.path = str(path)
        self.delimiter = delimiter
        self._text = text
        self._line_numbers: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)

    @property
    def num_columns(self) -> int:
        return int(self.values.shape[1]) if self.values.ndim == 2 else 0

    def line_numbers(self) -> np.ndarray:
        """1-based line number of each row (blank and comment lines are not rows). Only needed on errors."""
        if self._line_numbers is None:
            self._line_numbers = np.array(
                [i + 1 for i, line in enumerate(self._text.split("\n")) if _is_data_line(line)], dtype=np.int64
            )
        return self._line_numbers

    def line_text(self, row: int) -> str:
        lineno = int(self.line_numbers()[row])
        return self._text.split("\n")[lineno - 1].strip()

    def error(self, row: int, problem: str) -> FormatError:
        lineno = int(self.line_numbers()[row])
        return FormatError(f"{self.path}, line {lineno}: {problem}: {self.line_text(row)!r}")

    def check(self, bad: np.ndarray, problem: str | Callable[[int], str]) -> None:
        """Raise a :class:`FormatError` for the first row where ``bad`` is true (and say how many there are)."""
        rows = np.flatnonzero(bad)
        if len(rows) == 0:
            return
        row = int(rows[0])
        text = problem(row) if callable(problem) else problem
        if len(rows) > 1:
            text += f" ({len(rows)} such lines in all)"
        raise self.error(row, text)


def _is_data_line(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def load_table(path: PathLike, *, allowed_columns: Iterable[int] | None = None, what: str = "file") -> Table:
    """Load a comma- or whitespace-separated numeric table.

    Blank lines, ``#`` comment lines and trailing separators are ignored; an empty file gives a
    ``(0, 0)`` table. Every row must have the same number of values, one of ``allowed_columns``.

    Raises:
        FormatError: naming the file and line of the first malformed line (wrong count of values,
            a value that is not a number, NaN or infinity).
    """
    text = _TRAILING_SEPARATORS.sub("", read_text(path))
    first = _FIRST_DATA_LINE.search(text)
    if first is None:
        return Table(np.zeros((0, 0)), text, path, None)
    delimiter = "," if "," in first.group(1) else None
    try:
        values = np.loadtxt(io.StringIO(text), delimiter=delimiter, comments="#", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        _locate_parse_error(text, path, delimiter)
        raise FormatError(f"{path}: cannot be read as a table of numbers ({exc})") from exc
    table = Table(values, text, path, delimiter)
    allowed = sorted(set(allowed_columns)) if allowed_columns is not None else None
    if allowed is not None and table.num_columns not in allowed:
        expected = ", ".join(map(str, allowed[:-1])) + (" or " if len(allowed) > 1 else "") + str(allowed[-1])
        raise table.error(0, f"a {what} line has {expected} values, this one has {table.num_columns}")
    table.check(~np.isfinite(values).all(axis=1), "NaN or infinite value")
    return table


def _locate_parse_error(text: str, path: PathLike, delimiter: str | None) -> None:
    """Walk the lines to find why ``np.loadtxt`` failed, and raise a FormatError naming the line."""
    expected: int | None = None
    expected_line = 0
    for lineno, line in enumerate(text.split("\n"), start=1):
        content = line.split("#", 1)[0]
        if not content.strip():
            continue
        tokens = [t.strip() for t in content.split(delimiter)] if delimiter else content.split()
        if expected is None:
            expected, expected_line = len(tokens), lineno
        elif len(tokens) != expected:
            mixed = delimiter is None and "," in content
            hint = f" (commas here, whitespace on line {expected_line})" if mixed else ""
            raise FormatError(
                f"{path}, line {lineno}: {len(tokens)} values where line {expected_line} has {expected}{hint}: "
                f"{line.strip()!r}"
            )
        for col, token in enumerate(tokens, start=1):
            try:
                float(token)
            except ValueError:
                shown = repr(token) if token else "an empty value"
                raise FormatError(
                    f"{path}, line {lineno}, column {col}: {shown} is not a number: {line.strip()!r}"
                ) from None
