"""Exceptions raised by selftrack.

Every error a user can cause (bad file, bad parameter, bad box) is a ``SelftrackError`` whose
message names the item and the problem, so the CLI and the web app can show it as is instead of a
traceback. They subclass the builtin that best describes them (``ValueError`` for bad content,
``FileNotFoundError`` for missing files) so callers that do not know selftrack still catch them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


class SelftrackError(Exception):
    """Base class of every error selftrack raises on purpose."""


class ValidationError(SelftrackError, ValueError):
    """Data that does not satisfy its contract (inverted boxes, NaN, frames out of range...)."""


class FormatError(SelftrackError, ValueError):
    """A file that cannot be parsed in the format it claims to be in; names the file and line."""


class VideoError(SelftrackError, RuntimeError):
    """A video that cannot be opened, probed or decoded; names the file and the frame."""


class StoreError(SelftrackError, RuntimeError):
    """A workspace operation that cannot be carried out (unknown dataset, duplicate key...)."""


class InUseError(StoreError):
    """A change refused because something else uses what it would change (a running job, a node)."""


class UnsafeArchiveError(SelftrackError, ValueError):
    """An archive refused on import: path traversal, links, or larger than the allowed size."""


def error_message(exc: BaseException) -> str:
    """What a job's error or log shows for ``exc``: a ``SelftrackError``'s own words, as the CLI prints them
    (its class name means nothing to the person reading); anything else is a bug, named by its type."""
    if isinstance(exc, SelftrackError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def validation_problems(exc: Any, *, fields: Iterable[str] = (), flags: Mapping[str, str] | None = None) -> list[str]:
    """A pydantic ``ValidationError`` as one line per problem, in the words of the person who typed the value.

    Each line names the key (``batch_size=0``) or, when ``flags`` maps the key to the command-line flag that
    set it, the flag (``--minutes -1``), then what is allowed. An unknown key is named with the valid ones
    (``fields``). pydantic's type names, error counts and links are left out. Duck-typed on ``exc.errors()``
    so this module needs no pydantic.
    """
    flags = flags or {}
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()))
        kind = err.get("type", "")
        allowed = problem_text(err, fields=fields)
        if kind == "extra_forbidden":
            lines.append(f"unknown parameter {loc!r}" + allowed.removeprefix("unknown parameter"))
        elif kind == "missing":
            lines.append(f"{flags.get(loc, loc)}: {allowed}")
        elif not loc:
            lines.append(allowed)
        elif loc in flags:
            lines.append(f"{flags[loc]} {_shown(err.get('input'))}: {allowed}")
        else:
            lines.append(f"{loc}={_shown(err.get('input'))}: {allowed}")
    return lines


def problem_text(err: Mapping[str, Any], *, fields: Iterable[str] = ()) -> str:
    """What is wrong with one pydantic error's value, without naming the key: the text a form shows beside
    the field (``should be less than or equal to 1``; ``unknown parameter; valid parameters: a, b``).

    ``fields`` (the model's field names) are listed for an unknown key at the top level only: a nested key's
    valid names are another model's.
    """
    kind = err.get("type", "")
    if kind == "extra_forbidden":
        valid = ", ".join(sorted(fields)) if len(tuple(err.get("loc", ()))) <= 1 else ""
        return "unknown parameter" + (f"; valid parameters: {valid}" if valid else "")
    if kind == "missing":
        return "a value is required"
    return _allowed(str(err.get("msg", "")))


def validation_message(
    what: str, exc: Any, *, fields: Iterable[str] = (), flags: Mapping[str, str] | None = None
) -> str:
    """``invalid {what}: <problem>``, or one indented line per problem when there are several."""
    lines = validation_problems(exc, fields=fields, flags=flags)
    if len(lines) == 1:
        return f"invalid {what}: {lines[0]}"
    return f"invalid {what}:\n" + "\n".join(f"  {line}" for line in lines)


def _allowed(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    if msg.startswith("Input should be "):
        return "should be " + msg[len("Input should be ") :]
    return msg[:1].lower() + msg[1:]


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class SelftrackWarning(UserWarning):
    """Input that is used, but probably not as the user meant (scores outside [0, 1], boxes left out).

    Raised with :func:`warnings.warn`: the CLI prints each as one ``warning:`` line, a pipeline job logs it.
    Nothing is silently wrong: what is done about the input is said in the message.
    """
