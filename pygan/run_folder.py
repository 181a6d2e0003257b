"""What a run folder holds besides its configuration and checkpoints, by
name: shared by the built-in plugins that write these files and by
``pygan report``, which reads them."""

from __future__ import annotations

import json
from pathlib import Path

METRICS = "metrics.jsonl"  # one JSON object per step
LOSS_PLOT = "losses.png"
SAMPLES = "samples"  # a folder of NNNNN.png grids


def read_metrics(path: Path) -> list[dict]:
    with open(path) as stream:
        return [json.loads(line) for line in stream if line.strip()]
