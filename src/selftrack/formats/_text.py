"""Shared plumbing for the text formats: tolerant loading of numeric tables, lossless number
formatting and atomic writes.

Why one loader: MOT det/gt/results, GMC and YOLO label files are all "one record per line, numbers
separated by commas or whitespace". The happy path is a single ``np.loadtxt`` call (C parser, no
Python object per line); only when something is wrong do we walk the lines one by one, so the error
can name the file, the line number and the offending text.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
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


MAX_NESTING = 64
"""Deepest nesting of YAML lists and mappings accepted (pipeline files nest 4 or 5 levels)."""

MAX_YAML_VALUES = 100_000
"""Most values a YAML document may expand to once its aliases are followed (a 373-byte "billion laughs"
document expands to 10^9; a pipeline file has hundreds)."""


def load_json(path: PathLike) -> Any:
    """Parse a JSON file; syntax errors become :class:`FormatError` with the line and column."""
    return parse_json(read_text(path), str(path))


def parse_json(text: str, where: str) -> Any:
    """Parse JSON text; a file nested deeper than the parser's recursion allows is refused in one line."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormatError(f"{where}, line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from exc
    except RecursionError:
        raise FormatError(f"{where}: JSON nested too deeply (thousands of levels); refused") from None


def parse_yaml(text: str, where: str, *, plain: bool = True) -> Any:
    """``yaml.safe_load`` with limits: nesting, values after aliases, and with ``plain`` JSON types only.

    Dates stay strings (``2024-01-01`` is a name here, not a date).

    Aliases are how YAML shares a value; a document of nested aliases ("billion laughs") loads quickly as
    shared references but expands to 10^9 values as soon as anything walks it (printing an error, saving it
    as JSON). The expanded size is counted on the composed node graph before anything is built.
    """
    import yaml

    loader = _YamlLoader(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:
            raise FormatError(f"{where}: YAML nested too deeply; refused") from None
        except yaml.YAMLError as exc:
            raise FormatError(f"{where}: not valid YAML ({str(exc).splitlines()[0]}{_yaml_mark(exc)})") from None
        if node is None:
            return None
        _check_yaml_size(node, where)
        try:
            value = loader.construct_document(node)
        except yaml.YAMLError as exc:
            raise FormatError(f"{where}: not valid YAML ({str(exc).splitlines()[0]}{_yaml_mark(exc)})") from None
    finally:
        loader.dispose()
    if plain:
        _check_plain(value, where)
    return value


def _yaml_mark(exc: Exception) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _check_yaml_size(root: Any, where: str) -> None:
    import yaml

    size: dict[int, int] = {}
    stack: list[tuple[Any, int]] = [(root, 0)]
    while stack:  # iterative post-order with memo: shared (aliased) nodes are counted once per use
        node, depth = stack.pop()
        if id(node) in size:
            continue
        if depth > MAX_NESTING:
            raise FormatError(f"{where}: YAML nested more than {MAX_NESTING} levels deep; refused")
        if isinstance(node, yaml.ScalarNode):
            size[id(node)] = 1
            continue
        children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else node.value
        pending = [c for c in children if id(c) not in size]
        if pending:
            stack.append((node, depth))
            stack.extend((c, depth + 1) for c in pending if c is not node)
            if any(c is node for c in pending):
                raise FormatError(f"{where}: YAML value refers to itself; refused")
            continue
        size[id(node)] = 1 + sum(size[id(c)] for c in children)
        if size[id(node)] > MAX_YAML_VALUES:
            raise FormatError(
                f"{where}: YAML expands to more than {MAX_YAML_VALUES} values through its aliases "
                "(a 'billion laughs' document?); refused"
            )


def _check_plain(value: Any, where: str) -> None:
    """Only what JSON can hold: the pipeline is saved as JSON (no sets, bytes, dates, non-string keys)."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            bad = [k for k in v if not isinstance(k, str)]
            if bad:
                raise FormatError(f"{where}: YAML mapping keys must be text, got {bad[0]!r}")
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif not (v is None or isinstance(v, (str, int, float, bool))):
            raise FormatError(f"{where}: YAML value of type {type(v).__name__} is not supported (use plain values)")
        elif isinstance(v, float) and not math.isfinite(v):
            raise FormatError(f"{where}: YAML number {v} is not finite")


def _yaml_loader_class() -> type:
    import yaml

    class Loader(yaml.SafeLoader):
        """SafeLoader whose timestamps stay strings (``2024-01-01`` is a name, not a date, here)."""

    Loader.yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return Loader


class _LazyLoader:
    _cls: type | None = None

    def __call__(self, text: str) -> Any:
        if _LazyLoader._cls is None:
            _LazyLoader._cls = _yaml_loader_class()
        return _LazyLoader._cls(text)


_YamlLoader = _LazyLoader()


def atomic_write_text(path: PathLike, text: str | Iterable[str]) -> None:
    """Write ``text`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader (or a crash) never sees a half-written detection file: it gets the old one or the new one.
    """
    path = Path(path)
    if path.is_dir():
        raise FormatError(f"{path}: is a folder; name the file to write")
    path.parent.mkdir(parents=True, exist_ok=True)
    # open(..., "x") rather than mkstemp: the file gets the usual umask permissions, not 0600.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "x", encoding="utf-8", newline="\n") as fh:
            if isinstance(text, str):
                fh.write(text)
            else:  # chunks: a table of millions of rows is never one string in memory
                for chunk in text:
                    fh.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def table_chunks(
    columns: Iterable[np.ndarray], integer: Iterable[bool], *, decimals: int = 6, sep: str = ",", rows: int = 50_000
) -> Iterator[str]:
    """:func:`format_table` of ``rows`` rows at a time (bounded memory for files of millions of boxes)."""
    cols, flags = list(columns), list(integer)
    n = len(cols[0]) if cols else 0
    for start in range(0, n, rows):
        yield format_table([c[start : start + rows] for c in cols], flags, decimals=decimals, sep=sep)


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

    def __init__(self, values: np.ndarray, text: str | None, path: PathLike, delimiter: str | None) -> None:
        self.values = values
        self.path = str(path)
        self.delimiter = delimiter
        self._given_text = text
        self._line_numbers: np.ndarray | None = None

    @property
    def _text(self) -> str:
        """The file's text, read again only when an error must quote a line (tables stream otherwise)."""
        if self._given_text is None:
            self._given_text = _TRAILING_SEPARATORS.sub("", read_text(self.path))
        return self._given_text

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

    The file is streamed in blocks into ``np.loadtxt`` (memory: the values, not the text); only an error
    reads the text again, to name the line.

    Raises:
        FormatError: naming the file and line of the first malformed line (wrong count of values,
            a value that is not a number, NaN or infinity).
    """
    try:
        first = _first_data_line(path)
    except UnicodeDecodeError:
        read_text(path)  # raises the FormatError naming the line of the bad byte
        raise
    if first is None:
        return Table(np.zeros((0, 0)), None, path, None)
    delimiter = "," if "," in first else None
    try:
        values = np.loadtxt(_stream_lines(path), delimiter=delimiter, comments="#", ndmin=2, dtype=np.float64)
    except UnicodeDecodeError:
        read_text(path)  # raises the FormatError naming the line of the bad byte
        raise
    except ValueError as exc:
        text = _TRAILING_SEPARATORS.sub("", read_text(path))
        _locate_parse_error(text, path, delimiter)
        raise FormatError(f"{path}: cannot be read as a table of numbers ({exc})") from exc
    table = Table(values, None, path, delimiter)
    allowed = sorted(set(allowed_columns)) if allowed_columns is not None else None
    if allowed is not None and table.num_columns not in allowed:
        expected = ", ".join(map(str, allowed[:-1])) + (" or " if len(allowed) > 1 else "") + str(allowed[-1])
        raise table.error(0, f"a {what} line has {expected} values, this one has {table.num_columns}")
    table.check(~np.isfinite(values).all(axis=1), "NaN or infinite value")
    return table


_BLOCK = 8 << 20


def _text_blocks(path: PathLike) -> Iterator[str]:
    """The file as text in blocks of about 8 MB that end at a line end (universal newlines, BOM dropped)."""
    with open(path, encoding="utf-8-sig", errors="strict", newline=None) as fh:
        rest = ""
        while block := fh.read(_BLOCK):
            block = rest + block
            cut = block.rfind("\n") + 1
            if cut == 0:
                rest = block
                continue
            rest = block[cut:]
            yield block[:cut]
        if rest:
            yield rest


def _first_data_line(path: PathLike) -> str | None:
    for block in _text_blocks(path):
        first = _FIRST_DATA_LINE.search(_TRAILING_SEPARATORS.sub("", block))
        if first is not None:
            return first.group(1)
    return None


def _stream_lines(path: PathLike) -> Iterator[str]:
    for block in _text_blocks(path):
        yield from _TRAILING_SEPARATORS.sub("", block).split("\n")


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
