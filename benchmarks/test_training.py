"""The seed's whole training step, and the optimizer update within it, on
the CPU: fused against reference, and pygan against the same step written
in plain PyTorch (plain_dcgan.py), side by side (see ratios.py)."""

from __future__ import annotations

from itertools import chain
from pathlib import Path
from typing import Callable

import pytest
import torch
from plain_dcgan import PlainDCGAN

import pygan.ops
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._training.runner import create_runner, prepare_out_dir


def pygan_seed_step(data: torch.Tensor, out_dir: Path, compile: bool = False) -> Callable[[], dict[str, float]]:
    """pygan's seed dcgan training step on ``data``, as a callable (with
    ``--compile`` if ``compile``).

    The only place the benchmarks reach into pygan's training core, so that
    a new core is benchmarked by repointing this function alone.
    """
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "device": "cpu", "compile": compile})
    prepare_out_dir(out_dir, resuming=False)
    return create_runner(plugins, config, out_dir, data).step


def seed_data() -> torch.Tensor:
    # MNIST-shaped images in [0, 1]; the step's cost does not depend on their values.
    return torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_training_step(benchmark, backend, tmp_path):
    benchmark.group = "dcgan training step batch 64"
    step = pygan_seed_step(seed_data(), tmp_path)
    step()  # the first step allocates

    benchmark(step)
    assert pygan.ops._select("cpu", "leaky_relu_conv2d") == backend


@pytest.mark.parametrize("implementation", ["plain", "pygan"])
def test_step_against_plain_pytorch(benchmark, implementation, tmp_path):
    benchmark.group = "dcgan training step batch 64 against plain PyTorch"
    data = seed_data()
    step = pygan_seed_step(data, tmp_path) if implementation == "pygan" else PlainDCGAN(data).step
    step()

    benchmark(step)


def test_rmsprop_update(benchmark, backend):
    from pygan_plugins.dcgan import Discriminator, Generator

    benchmark.group = "rmsprop update of the dcgan networks"
    torch.manual_seed(0)
    params = [p.detach() for p in chain(Discriminator().parameters(), Generator().parameters())]
    grads = [torch.randn_like(p) for p in params]
    square_avgs = [torch.rand_like(p) for p in params]
    updates, skip = torch.zeros((), dtype=torch.int64), torch.zeros((), dtype=torch.bool)

    benchmark(pygan.ops.rmsprop_step_, params, grads, square_avgs, updates, skip, 1e-4, 3e-8, 0.9, 1e-7)
    assert updates.item() > 0 and torch.isfinite(params[0]).all()
