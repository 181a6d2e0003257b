"""StyleGAN2's two operators, compiled kernel against reference, side by
side (see ratios.py for the table), at the shapes its networks run at batch
8: feature maps of 512 channels up to 32x32, then 256, 128 and 64 channels
at 64, 128 and 256 pixels (NVlabs' channel counts for a 64x64 network with
preset auto and a 256x256 one with paper256, which agree up to 64x64).

bias_act as every layer uses it (lrelu, gain sqrt(2), clamp 256, a bias per
channel); upfirdn2d with the [1, 3, 3, 1] filter as upsample2d (the
generator's skip connections), downsample2d (the discriminator's), and the
filtering after the generator's transposed convolution (padding 1, gain 4,
on its 2R + 1 pixels). A resampling "at" a shape is the one of the block
working at that resolution: upsampling to it, downsampling from it."""

from __future__ import annotations

import pytest
import torch

import pygan.ops

BATCH = 8
# (channels, resolution) of the feature maps.
SHAPES = [(512, 4), (512, 8), (512, 16), (512, 32), (256, 64), (128, 128), (64, 256)]
IDS = [f"{channels}x{size}x{size}" for channels, size in SHAPES]
FILTER = pygan.ops.setup_filter([1, 3, 3, 1])
RESAMPLINGS = {
    "upsample2d": lambda x: pygan.ops.upsample2d(x, FILTER),
    "downsample2d": lambda x: pygan.ops.downsample2d(x, FILTER),
    "filter": lambda x: pygan.ops.upfirdn2d(x, FILTER, padding=1, gain=4),
}


def feature_map(channels: int, size: int, requires_grad: bool) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.randn(BATCH, channels, size, size, requires_grad=requires_grad)


def forward_backward(op, inputs):
    """One forward and backward of op, the output's gradient drawn once."""
    grad = torch.randn_like(op(*inputs))

    def step():
        return torch.autograd.grad(op(*inputs), inputs, grad)

    return step


def layer_activation(x, b):
    return pygan.ops.bias_act(x, b, act="lrelu", clamp=256)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_bias_act_forward(benchmark, backend, shape):
    benchmark.group = f"bias_act forward {BATCH}x{IDS[SHAPES.index(shape)]}"
    x, b = feature_map(*shape, False), torch.randn(shape[0])
    benchmark(layer_activation, x, b)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_bias_act_forward_backward(benchmark, backend, shape):
    benchmark.group = f"bias_act forward+backward {BATCH}x{IDS[SHAPES.index(shape)]}"
    x, b = feature_map(*shape, True), torch.randn(shape[0], requires_grad=True)
    benchmark(forward_backward(layer_activation, (x, b)))


def resampling_input(kind: str, shape) -> tuple[int, int]:
    channels, size = shape
    # Upsampling reads the half-size map; the filter, the transposed convolution's 2R + 1 pixels.
    return channels, {"upsample2d": size // 2, "downsample2d": size, "filter": size + 1}[kind]


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("kind", RESAMPLINGS)
def test_upfirdn2d_forward(benchmark, backend, kind, shape):
    benchmark.group = f"upfirdn2d {kind} forward at {BATCH}x{IDS[SHAPES.index(shape)]}"
    x = feature_map(*resampling_input(kind, shape), False)
    benchmark(RESAMPLINGS[kind], x)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
@pytest.mark.parametrize("kind", RESAMPLINGS)
def test_upfirdn2d_forward_backward(benchmark, backend, kind, shape):
    benchmark.group = f"upfirdn2d {kind} forward+backward at {BATCH}x{IDS[SHAPES.index(shape)]}"
    x = feature_map(*resampling_input(kind, shape), True)
    benchmark(forward_backward(RESAMPLINGS[kind], (x,)))
