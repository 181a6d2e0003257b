"""Worker processes that never outlive pygan. They ignore Ctrl-C (the
process that started them hears it and stops them at once, instead of
waiting for their current task), and each exits as soon as its parent has
ended, however it ended (kill -9 included), instead of blocking forever as
an orphan holding its memory."""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterator, TypeVar

from pygan._contracts.messages import PyganError

Result = TypeVar("Result")

# The exit status of a worker whose parent has gone: nobody reads it.
ORPHANED = 1


def exit_with_parent() -> None:
    """In a multiprocessing child (forked or spawned): exit as soon as the
    parent process ends. Its end closes the pipe multiprocessing gives every
    child (``parent_process().sentinel``), which a thread waits on."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    threading.Thread(target=_exit_when_closed, args=(parent.sentinel,), name="pygan-exit-with-parent",
                     daemon=True).start()


def _exit_when_closed(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(ORPHANED)


def data_loader_worker_started(worker_id: int) -> None:
    """A torch DataLoader's ``worker_init_fn``: its workers do not outlive the
    training process (torch's own check notices a dead parent only after
    seconds)."""
    exit_with_parent()


def _pool_worker_started() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by parallel_map while it started
    exit_with_parent()


def parallel_map(function: Callable[..., Result], tasks: list[tuple], processes: int,
                 task: str) -> Iterator[Result]:
    """``function(*arguments)`` for each of ``tasks``, in ``processes``
    spawned workers, yielded in order. If the caller stops reading, or is
    interrupted, the workers are killed at once; a worker killed from
    outside (by the out-of-memory killer) is a PyganError naming ``task``."""
    executor = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_pool_worker_started)
    try:
        # The workers start (in map) with Ctrl-C blocked: one pressed while they
        # import is not theirs to hear (a traceback each). Blocked here too
        # meanwhile, not ignored, so that none is lost.
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            results = executor.map(function, *zip(*tasks))
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        yield from results
    except BrokenProcessPool as broken:
        _kill(executor)
        raise PyganError(f"a process {task} was killed ({broken}), perhaps by the system for lack of memory; "
                         f"try again with fewer --workers (0: none)") from None
    except BaseException:
        _kill(executor)
        raise
    executor.shutdown()


def _kill(executor: ProcessPoolExecutor) -> None:
    # Before Python 3.14 (terminate_workers) ProcessPoolExecutor has no public
    # way to stop workers in the middle of a task; shutdown() would wait for it.
    workers = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for worker in workers:
        with contextlib.suppress(OSError, ValueError):
            worker.kill()
    for worker in workers:
        with contextlib.suppress(OSError, ValueError, AssertionError):
            worker.join()
