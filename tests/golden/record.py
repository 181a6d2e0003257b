"""Records what 20 seed-recipe steps produce, bit for bit, as the golden
file ``dcgan-seed0.json`` that ``tests/test_golden.py`` compares against.

It was run once on main before the 0.2 core refactoring (commit 85d6257), so
that the refactored core can be proven to train dcgan exactly as before:

    python tests/golden/record.py ../shared/data/mnist tests/golden/dcgan-seed0.json

Each backend's run is recorded: the per-step metrics exactly (JSON floats
round-trip), and every tensor of both networks as the SHA-256 of its bytes
(with its float64 sum, to say how far off a mismatch is).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

STEPS = 20
BACKENDS = ("fused", "reference")


def train_command(data_dir: Path, out: Path) -> list[str]:
    return [str(Path(sys.executable).parent / "pygan"), "train", "--plugin", "dcgan", "--data-dir", str(data_dir),
            "--steps", str(STEPS), "--seed", "0", "--device", "cpu", "--sample-every", "0", "--out", str(out)]


def fingerprint(tensor: torch.Tensor) -> dict:
    tensor = tensor.detach().cpu().contiguous()
    return {"sha256": hashlib.sha256(tensor.numpy().tobytes()).hexdigest(), "sum": float(tensor.double().sum())}


def record_run(out: Path, networks: dict[str, dict[str, torch.Tensor]]) -> dict:
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return {"metrics": metrics,
            "networks": {network: {name: fingerprint(t) for name, t in state.items()}
                         for network, state in networks.items()}}


def main() -> None:
    data_dir, golden = Path(sys.argv[1]), Path(sys.argv[2])
    record = {"steps": STEPS, "torch": torch.__version__, "runs": {}}
    for backend in BACKENDS:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            subprocess.run(train_command(data_dir, out), check=True, env={**os.environ, "PYGAN_OPS": backend})
            (checkpoint,) = (out / "checkpoints").glob("*.pt")
            state = torch.load(checkpoint, weights_only=True)
            record["runs"][backend] = record_run(out, {"generator": state["generator"],
                                                       "discriminator": state["discriminator"]})
    golden.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
