"""Messages for the person running pygan, on stderr so stdout stays parseable."""

import sys

_said: set[str] = set()


def notice(message: str) -> None:
    """Tell the user something worth knowing that is not an error."""
    print(f"pygan: {message}", file=sys.stderr, flush=True)


def notice_once(message: str) -> None:
    """Like notice(), but a message repeated in one process is printed once."""
    if message not in _said:
        _said.add(message)
        notice(message)
