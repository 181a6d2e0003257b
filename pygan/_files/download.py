"""Fetching files from the web into pygan's cache, verified and atomically.

This module knows nothing about any particular data set: a plugin gives it a
list of mirrors and the SHA-256 the file must have.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from pygan._contracts.messages import PyganError, UsageError, notice
from pygan._files.atomic import atomic_writer, reporting_write_errors

_CHUNK = 1 << 16
_PROGRESS_MIN_BYTES = 1 << 20  # smaller files arrive before a progress line would help
_PROGRESS_EVERY_S = 0.5


def cache_dir() -> Path:
    """The folder pygan keeps downloaded data in: $PYGAN_DATA_DIR, else ~/.cache/pygan."""
    return Path(os.environ.get("PYGAN_DATA_DIR") or Path.home() / ".cache" / "pygan")


class DownloadFailed(PyganError):
    """No mirror delivered the file."""


class _MirrorFailed(Exception):
    """One mirror did not deliver the right bytes; the next one may."""


def download(urls: list[str], sha256: str, destination: Path, *, max_bytes: int = 1 << 30,
             timeout: float = 30.0, deadline: float = 600.0) -> None:
    """Fetch ``destination`` from the first of ``urls`` that delivers bytes with this SHA-256.

    The bytes go to a temporary file beside ``destination`` that is renamed into
    place only once complete and verified, so an interrupted or corrupt
    transfer never leaves a file that looks like a finished download. A
    mirror fails when it sends more than ``max_bytes``, stays silent for
    ``timeout`` seconds, or has not finished after ``deadline`` seconds,
    headers and redirects included (its connections are shut then).

    Raises UsageError for a URL that is not http(s), WriteError when the
    file cannot be written (no mirror could help), and DownloadFailed
    listing every URL tried and why it failed.
    """
    for url in urls:
        _check_url(url)
    destination = Path(destination)
    with reporting_write_errors(destination.parent):
        destination.parent.mkdir(parents=True, exist_ok=True)
    failures = []
    for url in urls:
        try:
            _fetch(url, sha256.lower(), destination, _Limits(max_bytes, timeout, deadline))
            return
        except _MirrorFailed as exc:
            failures.append(f"  {url}: {exc}")
    tried = "\n".join(failures) if failures else "  (no mirrors given)"
    raise DownloadFailed(f"could not download {destination.name}:\n{tried}")


def _check_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # raises ValueError for a port that is not a number
    except ValueError as exc:
        raise UsageError(f"mirror URL {url!r} is malformed ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"mirror URL {url!r} is not supported: give an http:// or https:// URL with a host name")


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    timeout: float  # seconds one read may wait
    deadline: float  # seconds the whole transfer may take


def _fetch(url: str, sha256: str, destination: Path, limits: _Limits) -> None:
    # The writer removes its temporary file on any exception, Ctrl-C included.
    with atomic_writer(destination) as out:
        digest = _stream(url, out, limits, destination.name)
        if digest != sha256:
            raise _MirrorFailed(f"checksum mismatch: expected SHA-256 {sha256}, got {digest}")


class _HttpRedirectsOnly(urllib.request.HTTPRedirectHandler):
    """Follows a mirror's redirects to http(s) URLs only: urllib would also
    follow one to ftp://, which no mirror of a data set should need."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in ("http", "https"):
            raise _MirrorFailed(f"redirected to {newurl}, which is not an http(s) URL")
        redirected = super().redirect_request(req, fp, code, msg, headers, newurl)
        if redirected is not None:
            redirected.cutoff = req.cutoff
        return redirected


class _Cutoff:
    """The end of a transfer's time: every connection it opens (redirects
    too) is shut when it comes. urllib's timeout bounds each read, so a
    server trickling its headers a byte at a time would otherwise never time
    out, and the body loop's checks come only after the headers."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.timers: list[threading.Timer] = []

    def watch(self, connection: socket.socket) -> None:
        timer = threading.Timer(max(self.at - time.monotonic(), 0), _shut, (connection,))
        timer.daemon = True
        timer.start()
        self.timers.append(timer)

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def cancel(self) -> None:
        for timer in self.timers:
            timer.cancel()


def _shut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):  # closed already
        connection.shutdown(socket.SHUT_RDWR)  # a read blocked in another thread returns at once


def _cut_off(base: type[http.client.HTTPConnection]) -> type[http.client.HTTPConnection]:
    class Connection(base):
        def __init__(self, *args, cutoff: _Cutoff, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self.cutoff = cutoff

        def connect(self) -> None:
            super().connect()
            self.cutoff.watch(self.sock)

    return Connection


class _WithCutoff:
    """A urllib handler whose connections are shut at their request's cutoff."""

    def do_open(self, http_class, req, **kwargs):
        return super().do_open(functools.partial(_cut_off(http_class), cutoff=req.cutoff), req, **kwargs)


class _HttpWithCutoff(_WithCutoff, urllib.request.HTTPHandler):
    pass


class _HttpsWithCutoff(_WithCutoff, urllib.request.HTTPSHandler):
    pass


_OPENER = urllib.request.build_opener(_HttpRedirectsOnly, _HttpWithCutoff, _HttpsWithCutoff)


def _stream(url: str, out, limits: _Limits, name: str) -> str:
    """Copy the body at ``url`` into ``out``; return its SHA-256 hex digest.
    A failure to write ``out`` is a WriteError, which passes through."""
    request = urllib.request.Request(url, headers={"User-Agent": "pygan"})
    request.cutoff = cutoff = _Cutoff(limits.deadline)
    digest = hashlib.sha256()
    received = 0

    def too_slow() -> _MirrorFailed:
        return _MirrorFailed(f"too slow: {received:,} bytes in {limits.deadline:g} s")

    try:
        with _OPENER.open(request, timeout=min(limits.timeout, limits.deadline)) as response:
            expected = response.length  # from Content-Length, None when the server sends none
            if expected is not None and expected > limits.max_bytes:
                raise _MirrorFailed(f"offers {expected:,} bytes, more than the {limits.max_bytes:,} expected at most")
            progress = _Progress(name, expected)
            # read1, not read: read(n) waits for all n bytes, however slowly they trickle in.
            while chunk := response.read1(_CHUNK):
                received += len(chunk)
                if received > limits.max_bytes:
                    raise _MirrorFailed(f"sent more than the {limits.max_bytes:,} bytes expected at most")
                out.write(chunk)
                digest.update(chunk)
                progress.update(received)
            if cutoff.passed():  # the body ended because its connection was shut
                raise too_slow()
            if expected is not None and received != expected:
                raise _MirrorFailed(f"transfer interrupted: got {received} of {expected} bytes")
            progress.finish(received)
    except urllib.error.HTTPError as exc:
        raise _MirrorFailed(f"HTTP {exc.code} {exc.reason}") from exc
    except (OSError, http.client.HTTPException) as exc:
        # Resets and timeouts are OSErrors (URLError among them), a cut-off
        # body an HTTPException; any of them, once the time is up, is the cutoff.
        if cutoff.passed():
            raise too_slow() from exc
        if isinstance(exc, urllib.error.URLError):
            raise _MirrorFailed(str(exc.reason)) from exc
        raise _MirrorFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        cutoff.cancel()
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
