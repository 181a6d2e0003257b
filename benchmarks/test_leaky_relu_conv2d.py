"""Fused against reference, side by side: each group of pytest-benchmark
holds one measurement on both backends (see ratios.py for the table)."""

from __future__ import annotations

import pytest
import torch

import pygan.ops

BATCHES = [64, 128]
# (name, channels, size, out_channels, stride, padding): the seed discriminator's blocks.
SEED_LAYERS = [
    ("block1", 1, 28, 32, 2, (1, 2, 1, 2)),
    ("block2", 32, 14, 64, 2, (1, 2, 1, 2)),
    ("block3", 64, 7, 128, 2, (2, 2, 2, 2)),
    ("block4", 128, 4, 256, 1, (2, 2, 2, 2)),
]


def layer_inputs(layer, batch):
    _, channels, size, out_channels, stride, padding = layer
    torch.manual_seed(0)
    x = torch.randn(batch, channels, size, size)
    weight = torch.randn(out_channels, channels, 5, 5, requires_grad=True)
    bias = torch.randn(out_channels, requires_grad=True)
    # In the discriminator block 1 reads the images, which need no gradient.
    x.requires_grad_(channels > 1)
    return x, weight, bias, (stride, stride), padding


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("layer", SEED_LAYERS, ids=[layer[0] for layer in SEED_LAYERS])
def test_forward(benchmark, backend, layer, batch):
    benchmark.group = f"forward {layer[0]} batch {batch}"
    x, weight, bias, stride, padding = layer_inputs(layer, batch)
    with torch.no_grad():
        benchmark(pygan.ops.leaky_relu_conv2d, x, weight, bias, stride, padding, 0.2)


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("layer", SEED_LAYERS, ids=[layer[0] for layer in SEED_LAYERS])
def test_forward_backward(benchmark, backend, layer, batch):
    benchmark.group = f"forward+backward {layer[0]} batch {batch}"
    x, weight, bias, stride, padding = layer_inputs(layer, batch)
    grad = torch.randn_like(pygan.ops.leaky_relu_conv2d(x, weight, bias, stride, padding, 0.2))

    def step():
        out = pygan.ops.leaky_relu_conv2d(x, weight, bias, stride, padding, 0.2)
        inputs = [t for t in (x, weight, bias) if t.requires_grad]
        return torch.autograd.grad(out, inputs, grad)

    benchmark(step)


# Batch 128 is the seed's discriminator step (64 real + 64 fake images), batch 64 its generator step.
@pytest.mark.parametrize("batch", BATCHES)
def test_discriminator_forward_backward(benchmark, backend, batch):
    from pygan_plugins.dcgan import Discriminator

    benchmark.group = f"discriminator forward+backward batch {batch}"
    torch.manual_seed(0)
    discriminator = Discriminator()
    images = torch.rand(batch, 1, 28, 28)

    def step():
        discriminator.zero_grad(set_to_none=True)
        discriminator(images).sum().backward()

    benchmark(step)
