"""pygan.ops.conv_transpose2d on generators' image layers, side by side: the
reference backend is F.conv_transpose2d (oneDNN on the CPU), what a user
runs instead; the fused one computes them as tap planes (see ratios.py for
the table)."""

from __future__ import annotations

import pytest
import torch

import pygan.ops

# (name, batch, in_channels, size, out_channels, kernel, stride, padding, output_padding)
IMAGE_LAYERS = [
    ("seed 32-to-1 28x28", 64, 32, 28, 1, 5, 1, 2, 0),   # the book generators' last layer
    ("RGB 64-to-3 32x32", 128, 64, 16, 3, 4, 2, 1, 0),  # dcgan64's shape, as a channels-last generator has it
]


def layer_inputs(layer):
    _, batch, in_channels, size, out_channels, kernel, stride, padding, output_padding = layer
    torch.manual_seed(0)
    # Generators keep their activations channels-last (the planes' condition).
    x = torch.randn(batch, in_channels, size, size).contiguous(memory_format=torch.channels_last).requires_grad_()
    weight = torch.randn(in_channels, out_channels, kernel, kernel, requires_grad=True)
    bias = torch.randn(out_channels, requires_grad=True)
    return (x, weight, bias, stride, padding, output_padding)


@pytest.mark.parametrize("layer", IMAGE_LAYERS, ids=[layer[0] for layer in IMAGE_LAYERS])
def test_image_layer_forward(benchmark, backend, layer):
    benchmark.group = f"conv_transpose2d forward {layer[0]}"
    args = layer_inputs(layer)
    with torch.no_grad():
        benchmark(pygan.ops.conv_transpose2d, *args)


@pytest.mark.parametrize("layer", IMAGE_LAYERS, ids=[layer[0] for layer in IMAGE_LAYERS])
def test_image_layer_forward_backward(benchmark, backend, layer):
    benchmark.group = f"conv_transpose2d forward+backward {layer[0]}"
    args = layer_inputs(layer)
    grad = torch.randn_like(pygan.ops.conv_transpose2d(*args))

    def step():
        return torch.autograd.grad(pygan.ops.conv_transpose2d(*args), args[:3], grad)

    benchmark(step)
