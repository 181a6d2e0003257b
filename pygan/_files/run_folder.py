"""What a run folder holds besides its configuration and checkpoints, by
name: shared by the built-in plugins that write these files and by
``pygan report``, which reads them."""

from __future__ import annotations

import json
from pathlib import Path

from pygan._contracts.messages import PyganError, notice
from pygan._files.atomic import write_atomically

METRICS_FILE = "metrics.jsonl"  # one JSON object per step
LOSS_PLOT_FILE = "losses.png"
SAMPLES_DIR = "samples"  # a folder of NNNNN.png grids


def read_step_log(path: Path) -> list[dict]:
    """The rows of a step log such as metrics.jsonl: one JSON object per
    line, each with its whole-number "step".

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


def trim_step_log(path: Path, last_step: int) -> None:
    """Keep the rows of a step log up to ``last_step``, as a resumed run must:
    it continues from its checkpoint, so the steps logged after it were
    undone and are logged again as they are retrained. A last line cut short
    by a crash is dropped too. A log that does not exist is left so."""
    if Path(path).exists():
        kept = [row for row in read_step_log(path) if row["step"] <= last_step]
        write_atomically(path, "".join(json.dumps(row) + "\n" for row in kept).encode())


def _row(path: Path, number: int, line: bytes) -> dict:
    try:
        row = json.loads(line)
    except ValueError as error:  # not JSON, or not UTF-8
        raise PyganError(f"{path}, line {number}: not valid JSON ({error}); remove or repair that line") from None
    if not (isinstance(row, dict) and isinstance(row.get("step"), int)):
        raise PyganError(f"{path}, line {number}: not a step's metrics (a JSON object with a whole-number "
                         f"\"step\"); remove or repair that line")
    return row
