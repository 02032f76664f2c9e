"""Exceptions raised by selftrack.

Every error a user can cause (bad file, bad parameter, bad box) is a ``SelftrackError`` whose
message names the item and the problem, so the CLI and the web app can show it as is instead of a
traceback. They subclass the builtin that best describes them (``ValueError`` for bad content,
``FileNotFoundError`` for missing files) so callers that do not know selftrack still catch them.
"""

from __future__ import annotations


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


class UnsafeArchiveError(SelftrackError, ValueError):
    """An archive refused on import: path traversal, links, or larger than the allowed size."""


class SelftrackWarning(UserWarning):
    """Input that is used, but probably not as the user meant (scores outside [0, 1], boxes left out).

    Raised with :func:`warnings.warn`: the CLI prints each as one ``warning:`` line, a pipeline job logs it.
    Nothing is silently wrong: what is done about the input is said in the message.
    """
