"""Reading files that come from elsewhere (data sets, pictures, archives)
so that none can hang pygan or exhaust its memory: only regular files are
read (a FIFO blocks a reader forever, a link to /dev/zero never ends), never
more bytes than a bound, and a zip member only after its declared size and
compression ratio are checked."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import zipfile
from pathlib import Path
from typing import BinaryIO, Iterator, Optional

from pygan._contracts.messages import PyganError
from pygan._files.atomic import MAX_DEFLATE_RATIO


class UnreadableFile(PyganError):
    """A file (or zip member) pygan will not read, or cannot; ``reason``
    says why, without the name, for lists of skipped files."""

    def __init__(self, where: str | Path, reason: str) -> None:
        super().__init__(f"{where}: {reason}")
        self.where, self.reason = where, reason


_KINDS = {stat.S_IFIFO: "a named pipe", stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device",
          stat.S_IFSOCK: "a socket", stat.S_IFDIR: "a folder"}


def open_regular(path: str | Path, max_bytes: Optional[int] = None) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file (after links)
    of at most ``max_bytes``; else UnreadableFile saying why. The check is
    made on the open file, so nothing swapped in after it is read instead."""
    try:
        # Non-blocking: opening a FIFO would otherwise wait for a writer forever.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        raise UnreadableFile(path, describe_os_error(error)) from None
    try:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise UnreadableFile(path, f"not a regular file ({_KINDS.get(stat.S_IFMT(status.st_mode), 'special')})")
        if max_bytes is not None and status.st_size > max_bytes:
            raise UnreadableFile(path, f"{describe_size(status.st_size)}, more than the {describe_size(max_bytes)} "
                                       f"such a file may have")
        os.set_blocking(descriptor, True)
        return open(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def read_regular(path: str | Path, max_bytes: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them
    (``open_regular``); one that grows past them while read is refused too."""
    try:
        with open_regular(path, max_bytes) as stream:
            # As many bytes as the file has (read(n) sets n bytes aside first),
            # and, for one that is growing, as many more as the bound allows.
            size = os.fstat(stream.fileno()).st_size
            data = stream.read(size + 1)
            if len(data) > size:
                data += stream.read(max_bytes + 1 - len(data))
    except UnreadableFile:
        raise
    except OSError as error:
        raise UnreadableFile(path, describe_os_error(error)) from None
    if len(data) > max_bytes:
        raise UnreadableFile(path, f"grew past the {describe_size(max_bytes)} such a file may have while read")
    return data


@contextlib.contextmanager
def open_zip(path: str | Path) -> Iterator[zipfile.ZipFile]:
    """The zip archive at ``path`` (a regular file) inside the block, or
    UnreadableFile naming the damage (a truncated file, a broken central
    directory)."""
    with open_regular(path) as stream:
        try:
            archive = zipfile.ZipFile(stream)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as error:
            raise UnreadableFile(path, f"a damaged zip archive ({error}); make it again, or unpack it and point "
                                       f"--data-dir at the folder") from None
        with archive:
            yield archive


def check_member(where: str, member: zipfile.ZipInfo, max_bytes: Optional[int] = None,
                 remedy: str = "zip it with deflate (the usual zip compression)") -> None:
    """Refuse a zip member pygan cannot inflate safely: compressed other than
    stored or deflated (``remedy`` says what to do), larger than
    ``max_bytes`` unpacked, or claiming more than deflate can expand its
    compressed bytes to (corrupt, or a bomb)."""
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise UnreadableFile(where, f"compressed with method {member.compress_type}, which pygan does not read; "
                                    f"{remedy}")
    if member.file_size > max(member.compress_size, 1) * MAX_DEFLATE_RATIO:
        raise UnreadableFile(where, f"corrupt or a zip bomb: claims {member.file_size:,} bytes unpacked from "
                                    f"{member.compress_size:,}")
    if max_bytes is not None and member.file_size > max_bytes:
        raise UnreadableFile(where, f"{describe_size(member.file_size)} unpacked, more than the "
                                    f"{describe_size(max_bytes)} such a file may have")


def read_member(archive: zipfile.ZipFile, member: zipfile.ZipInfo, max_bytes: int, where: str) -> bytes:
    """A zip member's bytes, checked first (``check_member``) and read with a
    bound; a member whose data do not match its header is UnreadableFile."""
    check_member(where, member, max_bytes)
    try:
        with archive.open(member) as stream:
            # zipfile stops at the declared size and checks the CRC there.
            data = stream.read(max_bytes + 1)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, RuntimeError) as error:
        raise UnreadableFile(where, f"damaged in the zip ({error})") from None
    return data


def describe_size(count: int) -> str:
    for unit, size in (("GiB", 2 ** 30), ("MiB", 2 ** 20), ("KiB", 2 ** 10)):
        if count >= size:
            return f"{count / size:,.1f} {unit}"
    return f"{count:,} bytes"


def describe_os_error(error: OSError) -> str:
    """Why ``error`` kept a file from being read, in words, without its name."""
    if error.errno == errno.ENOENT:
        return "does not exist (a dangling link, or removed meanwhile)"
    if error.errno == errno.ELOOP:
        return "a loop of symbolic links"
    return f"cannot be read: {error.strerror or error}"
