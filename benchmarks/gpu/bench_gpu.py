"""GPU timings of the fused op against the pure-torch (cuDNN) reference:
the seed discriminator's forward+backward at batch 64 and 4096, and each of
its layers at batch 64. CUDA events around each call, after a warm-up; the
median of many repetitions. Then the seed's whole training step (batch 64),
wall time per step over a few hundred steps: pygan's step on the reference
ops (torch's own kernels) run eagerly, the fused ops eagerly, and the fused
ops replayed from a CUDA graph. Writes a JSON file and prints the tables.

    python benchmarks/gpu/bench_gpu.py --out bench.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

import pygan.ops
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._training.engine import GRAPH_WARMUP_STEPS
from pygan._training.runner import create_runner

LAYERS = [  # (name, channels, size, out_channels, stride, padding)
    ("block1", 1, 28, 32, 2, (1, 2, 1, 2)),
    ("block2", 32, 14, 64, 2, (1, 2, 1, 2)),
    ("block3", 64, 7, 128, 2, (2, 2, 2, 2)),
    ("block4", 128, 4, 256, 1, (2, 2, 2, 2)),
]
BACKENDS = ["reference", "fused"]


def use_backend(backend: str) -> None:
    os.environ["PYGAN_OPS"] = backend
    pygan.ops._selected.clear()


def median_ms(fn, reps: int, warmup: int = 10) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def discriminator_case(batch: int):
    from pygan_plugins.dcgan import Discriminator

    torch.manual_seed(0)
    discriminator = Discriminator().cuda()
    images = torch.rand(batch, 1, 28, 28, device="cuda")

    def step():
        discriminator.zero_grad(set_to_none=True)
        discriminator(images).sum().backward()

    return step


def layer_case(layer, batch: int, backward: bool):
    _, channels, size, out_channels, stride, padding = layer
    torch.manual_seed(0)
    x = torch.randn(batch, channels, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
    x.requires_grad_(channels > 1)  # block 1 reads the images, which need no gradient
    weight = torch.randn(out_channels, channels, 5, 5, device="cuda", requires_grad=True)
    bias = torch.randn(out_channels, device="cuda", requires_grad=True)
    args = (x, weight, bias, (stride, stride), padding, 0.2)
    if not backward:
        def forward():
            with torch.no_grad():
                pygan.ops.leaky_relu_conv2d(*args)
        return forward
    grad = torch.randn_like(pygan.ops.leaky_relu_conv2d(*args))
    inputs = [t for t in (x, weight, bias) if t.requires_grad]
    return lambda: torch.autograd.grad(pygan.ops.leaky_relu_conv2d(*args), inputs, grad)


def training_step_ms(backend: str, graphs: bool, steps: int) -> float:
    """Wall milliseconds per training step, reading the metrics back as
    ``pygan train`` does (every --sync-every steps)."""
    use_backend(backend)
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "device": "cuda", "cuda_graphs": graphs})
    data = torch.rand(10_000, 1, 28, 28, device="cuda")
    with tempfile.TemporaryDirectory() as out:
        trainer = create_runner(plugins, config, Path(out), data)

        def run(count: int) -> None:
            for _ in range(count):
                trainer.enqueue_step()
                if trainer.engine.metric_rows.full:
                    trainer.read_metrics()
            trainer.read_metrics()
            torch.cuda.synchronize()

        run(GRAPH_WARMUP_STEPS + 20)
        assert (trainer.engine.graph is not None) == graphs
        start = time.perf_counter()
        run(steps)
        return (time.perf_counter() - start) * 1e3 / steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench_gpu.json")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--steps", type=int, default=500, help="timed training steps per variant")
    options = parser.parse_args()

    # (name, make the step, repetitions, TF32 allowed)
    cases = [("discriminator fwd+bwd batch 64", lambda: discriminator_case(64), options.reps, False),
             ("discriminator fwd+bwd batch 4096 tf32", lambda: discriminator_case(4096), options.reps // 10, True)]
    for layer in LAYERS:
        cases.append((f"{layer[0]} fwd batch 64", lambda layer=layer: layer_case(layer, 64, False), options.reps, False))
        cases.append((f"{layer[0]} fwd+bwd batch 64", lambda layer=layer: layer_case(layer, 64, True),
                      options.reps, False))

    results = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "cases": {}}
    print(f"{'case':42} {'reference ms':>13} {'fused ms':>10} {'speed-up':>9}")
    for name, make, reps, tf32 in cases:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
        times = {}
        for backend in BACKENDS:
            use_backend(backend)
            times[backend] = median_ms(make(), reps)
            assert pygan.ops._selected["cuda", "leaky_relu_conv2d"][0] == backend, pygan.ops._selected
        times["speedup"] = times["reference"] / times["fused"]
        results["cases"][name] = times
        print(f"{name:42} {times['reference']:13.4f} {times['fused']:10.4f} {times['speedup']:8.2f}x", flush=True)

    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = True, False  # torch's defaults
    steps = {"plain torch, eager": training_step_ms("reference", False, options.steps),
             "fused, eager": training_step_ms("fused", False, options.steps),
             "fused, CUDA graph": training_step_ms("fused", True, options.steps)}
    results["training_step_ms"] = steps
    print(f"\n{'training step, dcgan batch 64':42} {'ms/step':>13} {'40,000 steps':>13}")
    for name, ms in steps.items():
        print(f"{name:42} {ms:13.3f} {ms * 40:12.1f}s")
    with open(options.out, "w") as file:
        json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()
