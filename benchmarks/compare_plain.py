"""pygan's seed training step against the same step in plain PyTorch
(plain_dcgan.py), interleaved in one process: the machine's load changes
under both alike, which back-to-back pytest-benchmark runs cannot promise.

    python benchmarks/compare_plain.py --rounds 40 --data-dir ../shared/data/mnist

Each round times one step of each, in alternating order; the table gives
each one's median over the rounds, and the median over the rounds of the
plain step's time over pygan's (above 1, pygan is faster).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from conftest import THREADS
from plain_dcgan import PlainDCGAN
from test_training import pygan_seed_step, seed_data

from pygan._config.registry import load_plugins

WARMUP_STEPS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=THREADS)
    parser.add_argument("--data-dir", type=Path, help="MNIST folder (default: random images)")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time each step by the process's CPU time, not the wall clock: with --threads 1 it "
                             "barely moves when other programs load the machine")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = seed_data() if args.data_dir is None else load_plugins().dataset("mnist").load(args.data_dir).images

    clock = time.process_time if args.cpu_time else time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        steps = {"pygan": pygan_seed_step(data, Path(tmp) / "run"), "plain": PlainDCGAN(data).step}
        for step in steps.values():
            for _ in range(WARMUP_STEPS):
                step()
        times: dict[str, list[float]] = {name: [] for name in steps}
        for round_ in range(args.rounds):
            for name in sorted(steps, reverse=round_ % 2 == 1):
                start = clock()
                steps[name]()
                times[name].append(clock() - start)

    ratios = [plain / pygan for plain, pygan in zip(times["plain"], times["pygan"])]
    print(f"{args.rounds} interleaved rounds, {args.threads} threads, batch 64, "
          f"{'CPU time' if args.cpu_time else 'wall time'}")
    for name, values in times.items():
        print(f"{name:>6}: median {statistics.median(values) * 1e3:7.1f} ms, "
              f"quartiles {' - '.join(f'{q * 1e3:.1f}' for q in statistics.quantiles(values)[::2])} ms")
    print(f" ratio: {statistics.median(ratios):.3f}x (plain time / pygan time, median over rounds)")


if __name__ == "__main__":
    main()
