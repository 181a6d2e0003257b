"""Fetching files from the web into pygan's cache, verified and atomically.

This module knows nothing about any particular data set: a plugin gives it a
list of mirrors and the SHA-256 the file must have.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pygan.console import notice
from pygan.errors import PyganError
from pygan.files import atomic_writer

_CHUNK = 1 << 16
_PROGRESS_MIN_BYTES = 1 << 20  # smaller files arrive before a progress line would help
_PROGRESS_EVERY_S = 0.5


def cache_dir() -> Path:
    """The folder pygan keeps downloaded data in: $PYGAN_DATA_DIR, else ~/.cache/pygan."""
    return Path(os.environ.get("PYGAN_DATA_DIR") or Path.home() / ".cache" / "pygan")


class _MirrorFailed(Exception):
    """One mirror did not deliver the right bytes; the next one may."""


def download(urls: list[str], sha256: str, destination: Path, *, timeout: float = 30.0) -> None:
    """Fetch ``destination`` from the first of ``urls`` that delivers bytes with this SHA-256.

    The bytes go to a temporary file beside ``destination`` that is renamed into
    place only once complete and verified, so an interrupted or corrupt
    transfer never leaves a file that looks like a finished download.
    Raises PyganError listing every URL tried and why it failed.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PyganError(f"{destination.parent}: cannot create the download folder: {exc.strerror or exc}") from exc
    failures = []
    for url in urls:
        try:
            _fetch(url, sha256.lower(), destination, timeout)
            return
        except _MirrorFailed as exc:  # a WriteError (a full disk, say) is no mirror's fault: no mirror can help
            failures.append(f"  {url}: {exc}")
    tried = "\n".join(failures) if failures else "  (no mirrors given)"
    raise PyganError(f"could not download {destination.name}:\n{tried}")


def _fetch(url: str, sha256: str, destination: Path, timeout: float) -> None:
    # The writer removes its temporary file on any exception, Ctrl-C included.
    with atomic_writer(destination) as out:
        digest = _stream(url, out, timeout, destination.name)
        if digest != sha256:
            raise _MirrorFailed(f"checksum mismatch: expected SHA-256 {sha256}, got {digest}")


def _stream(url: str, out, timeout: float, name: str) -> str:
    """Copy the body at ``url`` into ``out``; return its SHA-256 hex digest."""
    request = urllib.request.Request(url, headers={"User-Agent": "pygan"})
    digest = hashlib.sha256()
    received = 0
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            expected = response.length  # from Content-Length, None when the server sends none
            progress = _Progress(name, expected)
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                progress.update(received)
            if expected is not None and received != expected:
                raise _MirrorFailed(f"transfer interrupted: got {received} of {expected} bytes")
            progress.finish(received)
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        raise _MirrorFailed(str(exc.reason)) from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        # Resets and timeouts are OSErrors, a cut-off body an HTTPException,
        # a malformed URL a ValueError.
        raise _MirrorFailed(f"{type(exc).__name__}: {exc}") from exc
    return digest.hexdigest()


class _Progress:
    """A one-line byte count and rate on stderr, for files big enough to wait for."""

    def __init__(self, name: str, total: int | None):
        self.name = name
        self.total = total
        self.start = self.last = time.monotonic()
        self.shown = total is None or total >= _PROGRESS_MIN_BYTES
        if self.shown:
            notice(f"downloading {name}" + (f" ({_megabytes(total)})" if total else ""))

    def update(self, received: int) -> None:
        now = time.monotonic()
        # Carriage-return redraws only make sense on a terminal, not in a log file.
        if self.shown and sys.stderr.isatty() and now - self.last >= _PROGRESS_EVERY_S:
            self.last = now
            of_total = f" of {_megabytes(self.total)}" if self.total else ""
            print(f"\r  {_megabytes(received)}{of_total}, {self._rate(received, now)}",
                  end="", file=sys.stderr, flush=True)

    def finish(self, received: int) -> None:
        if self.shown:
            if sys.stderr.isatty():
                print(file=sys.stderr)
            notice(f"downloaded {self.name}: {_megabytes(received)}, {self._rate(received, time.monotonic())}")

    def _rate(self, received: int, now: float) -> str:
        return f"{_megabytes(received / max(now - self.start, 1e-6))}/s"


def _megabytes(n: float) -> str:
    return f"{n / 1e6:.1f} MB"
