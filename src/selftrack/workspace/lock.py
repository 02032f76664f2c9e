"""The workspace lock: writers hold its shared side, ``gc`` its exclusive side.

Why a lock at all: a writer places an item's file under ``items/`` and only then commits its catalog row
(that order is what makes writes atomic). Between the two, the file has no row, so a garbage collector
that deleted every file without a row would rob the writer (issue 13: ``gc`` looping beside an import lost
committed items). Git solves the same problem with a lock and a grace period; so do we: a writer holds the
shared side from the moment it places a file until its row is committed, and ``gc`` takes the exclusive
side, so it only ever sees files whose writer is done (committed) or dead (crashed: a true orphan).

Why ``flock`` on a lock file (and not POSIX ``fcntl``/``lockf`` record locks, nor SQLite's own lock):

* ``flock`` locks belong to an open file description, so two threads of one process (the web server
  running ``gc`` while an import runs in another thread) exclude each other as two processes do. POSIX
  record locks belong to the *process*: a process's shared and exclusive requests never conflict, and
  closing any descriptor of the file drops all of them (a library opening the file would release ours).
* On a local disk ``flock`` is exact and released by the kernel when the holder dies (``kill -9``
  included): no stale lock files, no pid files to clean up.
* On NFS, Linux (since 2.6.12) implements ``flock`` with the server's byte-range locks (NLM / NFSv4
  locks), so writers on several machines of a shared workspace (the Ray executor) still exclude ``gc``.
  Mounts with ``local_lock=flock`` or ``nolock`` make it per-client only; the grace period (``gc`` removes
  only orphans older than it) is the second line of defence there, as in Git.
* SQLite's locks cannot be used: a writer holds them for one transaction, not for the file placement
  before it, and ``gc`` must not block catalog readers.

The lock is re-entrant per thread (a batch import holding the shared side calls ``put_file``, which takes
it again). A writer never asks for the lock while inside an SQLite transaction and ``gc`` takes the
exclusive side before any transaction, so the two kinds of lock cannot deadlock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from selftrack.core.errors import StoreError

LOCK_NAME = "selftrack.lock"


class WorkspaceLock:
    """A shared/exclusive lock on ``<workspace>/selftrack.lock`` (``flock``)."""

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / LOCK_NAME
        self._local = threading.local()

    def _held(self) -> list[tuple[int, bool]]:
        held = getattr(self._local, "held", None)
        if held is None or getattr(self._local, "pid", None) != os.getpid():
            held = self._local.held = []  # a forked child does not inherit its parent's holds
            self._local.pid = os.getpid()
        return held

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except PermissionError:
            # a read-only workspace: flock needs no write access, and readers never take the lock
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    @contextlib.contextmanager
    def _acquire(self, exclusive: bool, timeout: float | None, what: str) -> Iterator[None]:
        held = self._held()
        if held and (held[-1][1] or not exclusive):  # re-entrant: exclusive covers all, shared covers shared
            held.append((-1, exclusive))
            try:
                yield
            finally:
                held.pop()
            return
        if held and exclusive:
            raise StoreError(f"{what}: cannot take the workspace lock exclusively while this thread writes")
        fd = self._open()
        try:
            mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
            deadline = None if timeout is None else time.monotonic() + timeout
            delay = 0.005
            while True:
                try:
                    fcntl.flock(fd, mode | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise StoreError(f"{what}: cannot lock {self.path} ({exc.strerror})") from None
                if deadline is not None and time.monotonic() >= deadline:
                    side = "exclusively" if exclusive else "for writing"
                    raise StoreError(
                        f"{what}: the workspace is busy (could not lock {self.path} {side} within {timeout:g} s); "
                        "try again when the other command is done"
                    )
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
            held.append((fd, exclusive))
            try:
                yield
            finally:
                held.pop()
        finally:
            os.close(fd)  # closing the descriptor releases the flock

    def shared(self, *, timeout: float | None = None, what: str = "write") -> contextlib.AbstractContextManager[None]:
        """Held by writers while they have files under ``items/`` whose rows are not committed yet."""
        return self._acquire(False, timeout, what)

    def exclusive(self, *, timeout: float | None = 60.0, what: str = "gc") -> contextlib.AbstractContextManager[None]:
        """Held by ``gc`` (and ``check --repair``): no writer is between placing a file and committing it."""
        return self._acquire(True, timeout, what)
