"""How pygan speaks to the person running it instead of with a traceback:
the failures it reports (each with its exit status), the ways a signal
stops it, and notices, on stderr so that stdout stays parseable."""

import signal
import sys


class PyganError(Exception):
    """A problem with the user's data, files or environment: exit status 1."""

    exit_status = 1


class UsageError(PyganError):
    """A bad command line or option value: exit status 2."""

    exit_status = 2


class Interrupted(PyganError):
    """Training stopped by a signal after saving a checkpoint: exit 128 +
    signal. Data-parallel ranks other than 0 stop silently (``announce``
    False): rank 0 speaks for the run."""

    def __init__(self, message: str, signal_number: int, announce: bool = True) -> None:
        super().__init__(message)
        self.exit_status = 128 + signal_number
        self.announce = announce


class Terminated(KeyboardInterrupt):
    """SIGTERM where pygan has nothing to save (outside training): it unwinds
    as Ctrl-C does, so worker processes are stopped and half-written files
    removed, and pygan exits with 128 + 15."""

    signal_number = signal.SIGTERM


_said: set[str] = set()


def notice(message: str) -> None:
    """Tell the user something worth knowing that is not an error."""
    print(f"pygan: {message}", file=sys.stderr, flush=True)


def notice_once(message: str) -> None:
    """Like notice(), but a message repeated in one process is printed once."""
    if message not in _said:
        _said.add(message)
        notice(message)
