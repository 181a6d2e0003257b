"""The two kinds of failure pygan reports to a user instead of a traceback."""


class PyganError(Exception):
    """A problem with the user's data, files or environment: exit status 1."""

    exit_status = 1


class UsageError(PyganError):
    """A bad command line or option value: exit status 2."""

    exit_status = 2
