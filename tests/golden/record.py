"""Records what 20 seed-recipe steps produce, bit for bit, as the golden
file ``dcgan-seed0.json`` that ``tests/test_golden.py`` compares against.

``dcgan-seed0-main-0.1.json`` was recorded on main before the 0.2 core
refactoring (commit 85d6257); the refactored core reproduced it bit for bit
(commit 960bd64). The generator's exact-size transposed convolutions
(computed on mirrored images) then changed float32 rounding, not the
arithmetic, and ``dcgan-seed0.json`` was recorded anew. It was recorded
again when the generator's BatchNorm took the first edition's zero-debiased
moving statistics (commit 830e69a), which changed every step after the first,
and again when the default went back to the plain moving averages of
TensorFlow 2's Keras, the seed's (``KerasBatchNorm2d``), which came back
within float32 rounding of ``dcgan-seed0-main-0.1.json``:

    python tests/golden/record.py tests/golden/dcgan-seed0.json

It trains on the MNIST test split pygan ships, as the test does
(``--data-dir`` names another copy of it).

``dcgan-seed0-zero-debiased.json`` records the same run with
``--batchnorm-statistics zero-debiased``. Its ``previous`` metrics are those
main recorded when the zero-debiased statistics were the only ones (commit
547c225's ``dcgan-seed0.json``, put in its place before recording), so the
option is held to what the generator computed then, up to the float32
rounding of the channels-last networks and the one-pass BatchNorm since:

    git show 547c225:tests/golden/dcgan-seed0.json > tests/golden/dcgan-seed0-zero-debiased.json
    python tests/golden/record.py tests/golden/dcgan-seed0-zero-debiased.json

Each backend's run is recorded: the per-step metrics exactly (JSON floats
round-trip), and every tensor of both networks as the SHA-256 of its bytes
(with its float64 sum, to say how far off a mismatch is). Recording over an
existing file keeps that file's metrics as ``previous``: a change that moves
float32 rounding is recorded anew and must stay within rounding of them.

Recorded since (in ``dcgan-seed0.json``'s ``previous``): the generator's
BatchNorm, ReLU and transposed convolutions in channels-last memory, which
oneDNN sums in another order. Recorded again (both files, the fused runs
only moving) when the generator's image layer became tap planes
(``pygan.ops.conv_transpose2d``), which sum in yet another order: the first
four steps moved by 1.6e-5 relative at most. Recorded again (both files, the
fused runs only moving) when the discriminator's blocks 3 and 4 took
Winograd's algorithm on the CPU, which rounds float32 differently: the first
step the same, the first four within 3.3e-4 relative.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

import pygan

STEPS = 20
BACKENDS = ("fused", "reference")
# Each golden file and the options of the run it records.
GOLDENS = {"dcgan-seed0.json": (), "dcgan-seed0-zero-debiased.json": ("--batchnorm-statistics", "zero-debiased")}


def train_command(data_dir: Path, out: Path, options: tuple[str, ...] = ()) -> list[str]:
    return [str(Path(sys.executable).parent / "pygan"), "train", "--plugin", "dcgan", "--data-dir", str(data_dir),
            "--steps", str(STEPS), "--seed", "0", "--device", "cpu", "--sample-every", "0", *options,
            "--out", str(out)]


def fingerprint(tensor: torch.Tensor) -> dict:
    tensor = tensor.detach().cpu().contiguous()
    return {"sha256": hashlib.sha256(tensor.numpy().tobytes()).hexdigest(), "sum": float(tensor.double().sum())}


def record_run(out: Path) -> dict:
    """A finished run's metrics and its networks' fingerprints."""
    from pygan._training import checkpoint

    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    networks = checkpoint.load(out)["networks"]
    return {"metrics": metrics,
            "networks": {network: {name: fingerprint(t) for name, t in networks[network].items()}
                         for network in ("generator", "discriminator")}}


def train_and_record(data_dir: Path, backend: str, options: tuple[str, ...] = ()) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        # One thread: how many the machine has changes the order of float32
        # sums, and so the bits.
        subprocess.run(train_command(data_dir, out, options), check=True, capture_output=True,
                       env={**os.environ, "PYGAN_OPS": backend, "OMP_NUM_THREADS": "1"})
        return record_run(out)


def main() -> None:
    from pygan_plugins.mnist import PACKAGED

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("golden", type=Path, help=f"the JSON file to write, named one of {', '.join(GOLDENS)}")
    parser.add_argument("--data-dir", type=Path, default=PACKAGED["mnist"],
                        help="MNIST's test split (default: the copy pygan ships)")
    args = parser.parse_args()
    if args.golden.name not in GOLDENS:
        parser.error(f"{args.golden}: name it one of {', '.join(GOLDENS)} (each names the options it records)")
    data_dir, golden = args.data_dir, args.golden
    options = GOLDENS[golden.name]
    record = {"steps": STEPS, "torch": torch.__version__,
              "runs": {backend: train_and_record(data_dir, backend, options) for backend in BACKENDS}}
    if golden.exists():
        # What the last recording trained, which a change of float32 rounding
        # must stay close to (tests/test_golden.py).
        before = json.loads(golden.read_text())
        record["previous"] = {"torch": before["torch"],
                              "runs": {backend: run["metrics"] for backend, run in before["runs"].items()}}
    # Written to a temporary and renamed: an interrupted recording leaves the last one whole.
    pygan.write_atomically(golden, (json.dumps(record, indent=1) + "\n").encode())


if __name__ == "__main__":
    main()
