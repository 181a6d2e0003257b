"""The two kinds of failure pygan reports to a user instead of a traceback,
and the ways a signal stops it."""

import signal


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
