"""What a run folder holds besides its configuration and checkpoints, by
name: shared by the built-in plugins that write these files and by
``pygan report``, which reads them."""

from __future__ import annotations

import json
from pathlib import Path

from pygan.console import notice
from pygan.errors import PyganError

METRICS = "metrics.jsonl"  # one JSON object per step
LOSS_PLOT = "losses.png"
SAMPLES = "samples"  # a folder of NNNNN.png grids


def read_metrics(path: Path) -> list[dict]:
    """The rows of a metrics.jsonl, each a JSON object with its "step".

    A last line without its newline that is not a whole row was cut short
    (by a crash, a power loss or a full disk) and is left out, with a
    notice. Any other line that is not a row is an error naming it.
    """
    lines = Path(path).read_bytes().split(b"\n")
    unterminated = lines.pop()  # b"" when the file ends with a newline, as it should
    rows = [_row(path, number, line) for number, line in enumerate(lines, 1) if line.strip()]
    if unterminated.strip():
        try:
            rows.append(_row(path, len(lines) + 1, unterminated))
        except PyganError:
            notice(f"{path}: left out its last line, cut short by an interrupted write: {unterminated[:40]!r}...")
    return rows


def _row(path: Path, number: int, line: bytes) -> dict:
    try:
        row = json.loads(line)
    except ValueError as error:  # not JSON, or not UTF-8
        raise PyganError(f"{path}, line {number}: not valid JSON ({error}); remove or repair that line") from None
    if not (isinstance(row, dict) and isinstance(row.get("step"), int)):
        raise PyganError(f"{path}, line {number}: not a step's metrics (a JSON object with a whole-number "
                         f"\"step\"); remove or repair that line")
    return row
