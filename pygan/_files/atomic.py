"""Writing files so that a crash or a failed write never leaves a damaged
one behind, and a failure says which file and why; and a bound for what
compressed files can hold."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, TypeVar

from pygan._contracts.messages import PyganError, notice

# atomic_writer's temporary files: ".NAME.XXXXXXXX.tmp" beside NAME (older
# pygans made the same names with tempfile.mkstemp).
TEMPORARY_NAME = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp")

Result = TypeVar("Result")

# Deflate (gzip, zip) expands data at most about 1032-fold: a compressed file
# that claims to hold more is corrupt, or a bomb, and is refused unread.
MAX_DEFLATE_RATIO = 1032


class WriteError(PyganError):
    """A file could not be written; what was saved before is unchanged."""


def write_error(path: Path, error: OSError) -> WriteError:
    """The error to report for ``error`` while writing ``path``."""
    reason = error.strerror or str(error)
    if error.errno == errno.ENOENT and not Path(path).parent.is_dir():
        reason = f"the folder {Path(path).parent} does not exist"
    elif error.errno in (errno.ENOSPC, errno.EDQUOT):
        reason += f"; free space on the disk of {Path(path).parent} (or write elsewhere), then run the command again"
    return WriteError(f"cannot write {path}: {reason}")


@contextlib.contextmanager
def reporting_write_errors(path: Path) -> Iterator[None]:
    """Turn an OSError in the block into a WriteError naming ``path``."""
    try:
        yield
    except OSError as error:
        raise write_error(path, error) from error


class TemporaryFile:
    """atomic_writer's temporary file, as its caller writes to it. A write
    that fails raises a WriteError, which is also kept: libraries writing
    here report a failed write as something else (torch.save as "unexpected
    pos") or catch it, and atomic_writer reports the real cause."""

    def __init__(self, path: Path, stream: BinaryIO) -> None:
        self.path, self.stream = path, stream
        self.failure: WriteError | None = None

    def write(self, data) -> int:
        return self.attempt(self.stream.write, data)

    def flush(self) -> None:
        self.attempt(self.stream.flush)

    def attempt(self, operation: Callable[..., Result], *args) -> Result:
        try:
            return operation(*args)
        except OSError as error:
            self.failure = self.failure or write_error(self.path, error)
            raise self.failure from error


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[TemporaryFile]:
    """Open a temporary file beside ``path``; on success flush it to disk and
    rename it over ``path``, on failure remove it. Readers see the old file or
    the new one, never a mixture. Any failure to write raises a WriteError
    naming ``path`` and the reason (a full disk, a read-only folder)."""
    path = Path(path)
    temporary, stream = _create_temporary(path)
    output = TemporaryFile(path, stream)
    try:
        with stream:
            yield output
            output.flush()
            output.attempt(os.fsync, stream.fileno())
        output.attempt(os.replace, temporary, path)
    except BaseException as error:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if output.failure is not None and isinstance(error, Exception) and error is not output.failure:
            raise output.failure from error
        raise


def _create_temporary(path: Path) -> tuple[Path, BinaryIO]:
    """A new, empty ".NAME.XXXXXXXX.tmp" beside ``path``, created as open()
    creates files: with the permissions the umask allows (mkstemp's would be
    0600, unreadable to anyone else sharing a run folder or data cache)."""
    while True:
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
        except FileExistsError:  # another writer's: draw another name
            continue
        except OSError as error:
            raise write_error(path, error) from error
        return temporary, open(descriptor, "wb")


def write_atomically(path: Path, data: bytes) -> None:
    with atomic_writer(path) as stream:
        stream.write(data)


def remove_orphaned_temporaries(folder: Path) -> list[Path]:
    """Delete the temporary files that writes killed midway left in
    ``folder`` and below, with a notice; returns their paths. Call it only
    while nothing else writes there."""
    orphans = sorted(path for path in Path(folder).rglob(".*.tmp")
                     if TEMPORARY_NAME.fullmatch(path.name) and path.is_file())
    for orphan in orphans:
        with contextlib.suppress(FileNotFoundError):
            orphan.unlink()
    if orphans:
        notice(f"removed {len(orphans)} temporary file(s) left in {folder} by an interrupted write")
    return orphans
