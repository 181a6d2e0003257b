"""StyleGAN2's networks (pygan_plugins.stylegan2) on the CPU, side by side
(see ratios.py for the table):

- the generator step's forward and backward at batch 8, 64x64, preset auto,
  on the reference operators and on the fused ones;
- the modulated convolution's two ways (``modulated_conv2d``) at the layer
  shapes of that network, the measurement behind ``prefer_grouped``.

The comparison with NVlabs' own code needs their code, which pygan does not
ship: issue 20's note gives that measurement and how it was made."""

from __future__ import annotations

import pytest
import torch

import pygan.ops
from pygan.ops import setup_filter
from pygan_plugins.stylegan2 import presets
from pygan_plugins.stylegan2.discriminator import Discriminator
from pygan_plugins.stylegan2.generator import Generator
from pygan_plugins.stylegan2.layers import modulated_conv2d

BATCH = 8
# (in channels, out channels, input size, kernel, up): synthesis layers of the 64x64 auto network,
# the smallest and the largest 3x3 ones, an upsampling one, and its last ToRGB.
MODULATED_LAYERS = [(512, 512, 4, 3, 1), (512, 256, 32, 3, 2), (256, 256, 64, 3, 1), (256, 3, 64, 1, 1)]


def test_generator_step(benchmark, backend):
    """Generator forward, discriminator forward, backward through both (the
    generator's update) with every parameter requiring its gradient."""
    benchmark.group = f"stylegan2 auto 64x64 G forward + D forward and backward, batch {BATCH}"
    g_kwargs, d_kwargs = presets.network_kwargs(presets.preset("auto", 64), 64, 3, 0)
    torch.manual_seed(0)
    generator, discriminator = Generator(**g_kwargs), Discriminator(**d_kwargs)
    z = torch.randn(BATCH, g_kwargs["z_dim"])

    def step():
        generator.zero_grad(set_to_none=True)
        discriminator.zero_grad(set_to_none=True)
        discriminator(generator(z)).sum().backward()

    benchmark.pedantic(step, rounds=3, warmup_rounds=1)
    assert pygan.ops._select("cpu", "bias_act") == pygan.ops._select("cpu", "upfirdn2d") == backend


@pytest.mark.parametrize("modulation", ["shared", "grouped"])
@pytest.mark.parametrize("layer", MODULATED_LAYERS, ids=[f"{i}-{o}-{s}x{s}-k{k}-up{u}" for i, o, s, k, u in
                                                         MODULATED_LAYERS])
def test_modulated_conv2d(benchmark, modulation, layer):
    in_channels, out_channels, size, kernel, up = layer
    benchmark.group = f"modulated conv2d forward and backward {in_channels}->{out_channels} {size}x{size} " \
                      f"k{kernel} up {up} batch {BATCH}"
    torch.manual_seed(0)
    x = torch.randn(BATCH, in_channels, size, size, requires_grad=True)
    weight = torch.randn(out_channels, in_channels, kernel, kernel, requires_grad=True)
    styles = torch.randn(BATCH, in_channels, requires_grad=True)
    f = setup_filter([1, 3, 3, 1])

    def run():
        y = modulated_conv2d(x, weight, styles, f, up=up, demodulate=kernel > 1, grouped=modulation == "grouped")
        y.sum().backward()

    benchmark(run)
