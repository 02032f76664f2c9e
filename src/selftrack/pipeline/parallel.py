"""Parallel pieces of one item: how an op splits a long video and who runs the pieces.

An op that can split its work (detection over frame ranges, tracking over overlapping chunks) calls
``ctx.map(fn, pieces, frames=...)`` and gets the results back in order. It does not know where they
ran: the executor gives each task a :class:`Mapper`. The local executor's is a process pool on this
machine (:class:`ProcessMapper`; in-process when one worker is all there is); the Ray executor's
submits Ray tasks, so the pieces of one six-hour video spread over the whole cluster.

``fn`` must be a module-level function (it is pickled by reference) and each piece plain data.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any

from selftrack.core.errors import SelftrackError


class PieceFailed(SelftrackError):
    """A piece raised; the message names which piece and why."""


class PiecesStopped(SelftrackError):
    """The job was asked to stop while pieces ran; ``ctx.map`` turns it into the op's ``StopRequested``."""


class Mapper(ABC):
    """Runs ``fn`` over pieces of one item, in parallel where it can."""

    @abstractmethod
    def map(
        self,
        fn: Callable[[Any], Any],
        pieces: Sequence[Any],
        *,
        on_done: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        gpu: bool = False,
    ) -> list[Any]:
        """``[fn(p) for p in pieces]``; ``on_done(i)`` as piece ``i`` finishes; raises
        :class:`PiecesStopped` when ``should_stop()`` turns true. ``gpu``: the
        pieces would use an accelerator if the worker has one (the Ray mapper asks for one)."""

    @property
    def workers(self) -> int:
        return 1


class SerialMapper(Mapper):
    """One piece after the other, in this process."""

    def map(
        self,
        fn: Callable[[Any], Any],
        pieces: Sequence[Any],
        *,
        on_done: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        gpu: bool = False,
    ) -> list[Any]:
        out = []
        for i, piece in enumerate(pieces):
            if should_stop is not None and should_stop():
                raise PiecesStopped("stopped on request")
            out.append(fn(piece))
            if on_done is not None:
                on_done(i)
        return out


class ProcessMapper(Mapper):
    """A spawn process pool of ``max_workers`` on this machine (serial in-process for one worker or one piece).

    ``initializer(*initargs)`` runs in each pool process first (the local executor's: die with the parent).
    """

    def __init__(
        self, max_workers: int, initializer: Callable[..., None] | None = None, initargs: tuple[Any, ...] = ()
    ) -> None:
        self.max_workers = max(1, int(max_workers))
        self.initializer, self.initargs = initializer, initargs

    @property
    def workers(self) -> int:
        return self.max_workers

    def map(
        self,
        fn: Callable[[Any], Any],
        pieces: Sequence[Any],
        *,
        on_done: Callable[[int], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        gpu: bool = False,
    ) -> list[Any]:
        workers = min(self.max_workers, len(pieces))
        if workers <= 1:
            return SerialMapper().map(fn, pieces, on_done=on_done, should_stop=should_stop)
        results: list[Any] = [None] * len(pieces)
        pool = cf.ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=self.initializer,
            initargs=self.initargs,
        )
        try:
            index = {pool.submit(fn, piece): i for i, piece in enumerate(pieces)}
            running = set(index)
            while running:
                done, running = cf.wait(running, timeout=0.5, return_when=cf.FIRST_COMPLETED)
                for fut in done:
                    i = index[fut]
                    try:
                        results[i] = fut.result()
                    except Exception as e:
                        raise PieceFailed(f"piece {i + 1} of {len(pieces)}: {type(e).__name__}: {e}") from e
                    if on_done is not None:
                        on_done(i)
                if running and should_stop is not None and should_stop():
                    _terminate(pool)
                    raise PiecesStopped("stopped on request")
        except BaseException:
            _terminate(pool)  # a failed piece or a stop: the others' work is not wanted
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        return results


def _terminate(pool: cf.ProcessPoolExecutor) -> None:
    """End the pool's worker processes now (running pieces do not check for stop themselves)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()
