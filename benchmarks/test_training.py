"""The seed's whole training step, and the optimizer update within it, on
the CPU: fused against reference, side by side (see ratios.py)."""

from __future__ import annotations

from itertools import chain

import torch

import pygan.ops
from pygan.config import resolve_config
from pygan.plugins import load_plugins
from pygan.runner import create_runner, prepare_out_dir


def test_training_step(benchmark, backend, tmp_path):
    benchmark.group = "dcgan training step batch 64"
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "device": "cpu"})
    prepare_out_dir(tmp_path, resuming=False)
    data = torch.rand(1000, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    trainer = create_runner(plugins, config, tmp_path, data)
    trainer.step()  # the first step allocates

    benchmark(trainer.step)
    assert pygan.ops._select("cpu") == backend


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
