"""Claiming a run folder for one run at a time.

A run holds an exclusive ``flock`` on ``RUN_DIR/.pygan.lock`` for its whole
life, with its process id written inside. The kernel releases the lock
when the process ends, however it ends (kill -9 included), so a lock left
by a killed run is free to take; the file's leftover process id says whose
it was.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Iterator

from pygan._contracts.messages import UsageError, notice

LOCK_FILE = ".pygan.lock"


@contextlib.contextmanager
def claimed(folder: Path) -> Iterator[None]:
    """Hold ``folder`` for this process inside the block; a folder another
    live run holds is refused, naming its process."""
    path = Path(folder) / LOCK_FILE
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{folder} is in use by another pygan run ({_holder(descriptor) or 'unknown process'}); "
                             f"wait for it to finish, or choose another --out") from None
        previous = _holder(descriptor)
        if previous:
            notice(f"{folder}: taking over from a run that ended without releasing it ({previous})")
        _write(descriptor, f"process {os.getpid()} on {socket.gethostname()}")
        try:
            yield
        finally:
            _write(descriptor, "")  # released cleanly: nothing to take over
    finally:
        os.close(descriptor)


def _holder(descriptor: int) -> str:
    os.lseek(descriptor, 0, os.SEEK_SET)
    return os.read(descriptor, 256).decode(errors="replace").strip()


def _write(descriptor: int, text: str) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, text.encode(), 0)
