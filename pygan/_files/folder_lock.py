"""Claiming a folder for one pygan process at a time: a run folder (one run
in it), or a cache folder (one process filling it).

The claimer holds an exclusive ``flock`` on ``FOLDER/.pygan.lock`` for as
long as it needs the folder, with its process id written inside. The kernel
releases the lock when the process ends, however it ends (kill -9
included), so a lock left by a killed process is free to take; the file's
leftover process id says whose it was. A forked child (a DataLoader worker)
would share the lock and keep it after its parent is killed: children drop
their copies as they start.
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

# The lock descriptors this process holds, which forked children must close.
_held: set[int] = set()


def _drop_inherited_locks() -> None:
    for descriptor in _held:
        os.close(descriptor)  # the child's copy only: the parent keeps its lock
    _held.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


@contextlib.contextmanager
def claimed(folder: Path, wait: bool = False, user: str = "run") -> Iterator[None]:
    """Hold ``folder`` for this process inside the block. A folder another
    live process holds is refused, naming it; with ``wait``, it is waited
    for instead, with a notice. ``user`` names what holds folders like it
    in messages ("run": "in use by another pygan run")."""
    descriptor = os.open(Path(folder) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    try:
        if not _lock(descriptor, blocking=False):
            holder = _holder(descriptor) or "unknown process"
            if not wait:
                raise UsageError(f"{folder} is in use by another pygan {user} ({holder}); wait for it to finish, "
                                 f"or choose another --out")
            notice(f"{folder} is in use by another pygan {user} ({holder}); waiting for it")
            _lock(descriptor, blocking=True)
        _held.add(descriptor)
        previous = _holder(descriptor)
        if previous:
            notice(f"{folder}: taking over from a {user} that ended without releasing it ({previous})")
        _write(descriptor, f"process {os.getpid()} on {socket.gethostname()}")
        try:
            yield
        finally:
            _write(descriptor, "")  # released cleanly: nothing to take over
    finally:
        _held.discard(descriptor)
        os.close(descriptor)


@contextlib.contextmanager
def claimed_if_free(folder: Path) -> Iterator[bool]:
    """Hold ``folder`` inside the block if no live process holds it (True),
    without waiting or saying anything; else leave it (False)."""
    try:
        descriptor = os.open(Path(folder) / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except OSError:  # a folder this process may not write: nothing to do in it
        yield False
        return
    try:
        free = _lock(descriptor, blocking=False)
        if free:
            _held.add(descriptor)
        yield free
    finally:
        _held.discard(descriptor)
        os.close(descriptor)


def _lock(descriptor: int, blocking: bool) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    return True


def _holder(descriptor: int) -> str:
    os.lseek(descriptor, 0, os.SEEK_SET)
    return os.read(descriptor, 256).decode(errors="replace").strip()


def _write(descriptor: int, text: str) -> None:
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, text.encode(), 0)
