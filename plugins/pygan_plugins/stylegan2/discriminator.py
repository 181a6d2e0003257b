"""StyleGAN2's discriminator, as NVlabs' stylegan2-ada-pytorch defines it:
blocks from the image's resolution down to 8x8 (architecture 'resnet', the
default, 'orig' or 'skip'), then the 4x4 epilogue with the minibatch
standard deviation, a convolution, two fully connected layers and, for a
conditional one, the projection onto the class label's embedding (the
label mapped through a mapping network of its own).

The constructor takes NVlabs' arguments, by their names and with their
defaults (see ``generator.py``); ``num_fp16_res`` and
``fp16_channels_last`` change nothing. Images come in pygan's [0, 1] and
are mapped to NVlabs' [-1, 1] first.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pygan.ops import downsample2d
from pygan_plugins.stylegan2.generator import MappingNetwork, channel_counts, resolution_log2
from pygan_plugins.stylegan2.layers import Conv2dLayer, FullyConnected, register_filter

ARCHITECTURES = ("orig", "skip", "resnet")


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise ValueError(f"the discriminator's architecture is one of {', '.join(ARCHITECTURES)}, "
                         f"not {architecture!r}")


class DiscriminatorBlock(nn.Module):
    """One resolution: fromRGB (the first block, or every block in 'skip'), a
    3x3 convolution, a 3x3 convolution downsampling by 2; 'resnet' adds a
    1x1 downsampling skip connection, both paths scaled by 1/sqrt(2);
    'skip' downsamples the image for the next block's fromRGB.

    Layers numbered below ``freeze_layers`` (counted from the first block's
    first, ``first_layer``) keep their weights as buffers, not parameters:
    NVlabs' Freeze-D."""

    nvlabs_names = {"from_rgb": "fromrgb", "conv": "conv0", "conv_down": "conv1"}
    nvlabs_filter = True

    def __init__(self, in_channels: int, tmp_channels: int, out_channels: int, resolution: int, img_channels: int,
                 first_layer: int, architecture: str = "resnet", activation: str = "lrelu",
                 resample_filter=(1, 3, 3, 1), conv_clamp: float | None = None, fp16_channels_last: bool = False,
                 freeze_layers: int = 0) -> None:
        _check_architecture(architecture)
        super().__init__()
        self.in_channels, self.resolution, self.architecture = in_channels, resolution, architecture
        register_filter(self, resample_filter)
        self.num_layers = 0

        def layer(*args, **kwargs) -> Conv2dLayer:
            trainable = first_layer + self.num_layers >= freeze_layers
            self.num_layers += 1
            return Conv2dLayer(*args, resample_filter=resample_filter, trainable=trainable, **kwargs)

        if in_channels == 0 or architecture == "skip":
            self.from_rgb = layer(img_channels, tmp_channels, 1, activation=activation, conv_clamp=conv_clamp)
        self.conv = layer(tmp_channels, tmp_channels, 3, activation=activation, conv_clamp=conv_clamp)
        self.conv_down = layer(tmp_channels, out_channels, 3, activation=activation, down=2, conv_clamp=conv_clamp)
        if architecture == "resnet":
            self.skip = layer(tmp_channels, out_channels, 1, bias=False, down=2)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.in_channels == 0 or self.architecture == "skip":
            y = self.from_rgb(img)
            x = y if x is None else x + y
            img = downsample2d(img, self.resample_filter) if self.architecture == "skip" else None
        if self.architecture == "resnet":
            y = self.skip(x, gain=math.sqrt(0.5))
            x = self.conv_down(self.conv(x), gain=math.sqrt(0.5))
            return y + x, img
        return self.conv_down(self.conv(x)), img


class MinibatchStdLayer(nn.Module):
    """Appends ``num_channels`` feature maps holding the standard deviation
    of the features across groups of ``group_size`` samples (the whole batch
    when None, or when the batch is smaller), averaged over each of
    ``num_channels`` slices of the channels and over the pixels.

    Groups take every (N / G)-th sample: sample i is in group i mod (N / G),
    as NVlabs forms them."""

    def __init__(self, group_size: int | None, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = n if self.group_size is None else min(self.group_size, n)
        if n % g:
            raise ValueError(f"the minibatch standard deviation takes groups of {g} samples: the batch of {n} is "
                             f"not a multiple of {g}; choose a batch size that is")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # (N / G, F, C / F, H, W): over each group
        y = y.mean(dim=(2, 3, 4)).reshape(-1, f, 1, 1)
        return torch.cat([x, y.repeat(g, 1, h, w)], dim=1)


class DiscriminatorEpilogue(nn.Module):
    """The 4x4 end: fromRGB ('skip'), minibatch standard deviation, a 3x3
    convolution, a fully connected layer, the output layer; conditional, the
    output (``cmap_dim`` wide) projected onto the label's mapping, divided by
    sqrt(cmap_dim)."""

    nvlabs_names = {"from_rgb": "fromrgb"}

    def __init__(self, in_channels: int, cmap_dim: int, resolution: int, img_channels: int,
                 architecture: str = "resnet", mbstd_group_size: int | None = 4, mbstd_num_channels: int = 1,
                 activation: str = "lrelu", conv_clamp: float | None = None) -> None:
        _check_architecture(architecture)
        super().__init__()
        self.cmap_dim, self.architecture = cmap_dim, architecture
        if architecture == "skip":
            self.from_rgb = Conv2dLayer(img_channels, in_channels, 1, activation=activation)
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnected(in_channels * resolution ** 2, in_channels, activation=activation)
        self.out = FullyConnected(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, img: torch.Tensor | None, cmap: torch.Tensor | None) -> torch.Tensor:
        if self.architecture == "skip":
            x = x + self.from_rgb(img)
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / math.sqrt(self.cmap_dim))
        return x


class Discriminator(nn.Module):
    """StyleGAN2's discriminator: ``forward(img, c)`` maps images (N, C, H, W)
    in pygan's [0, 1] and one-hot labels (N, c_dim; None when
    unconditional) to logits (N, 1)."""

    def __init__(self, c_dim: int, img_resolution: int, img_channels: int, architecture: str = "resnet",
                 channel_base: int = 32768, channel_max: int = 512, num_fp16_res: int = 0,
                 conv_clamp: float | None = None, cmap_dim: int | None = None, block_kwargs: dict | None = None,
                 mapping_kwargs: dict | None = None, epilogue_kwargs: dict | None = None) -> None:
        super().__init__()
        log2 = resolution_log2(img_resolution)
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(log2, 2, -1)]
        channels = channel_counts(self.block_resolutions + [4], channel_base, channel_max)
        cmap_dim = 0 if c_dim == 0 else channels[4] if cmap_dim is None else cmap_dim
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        self.blocks = nn.ModuleDict()
        first_layer = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(channels[res] if res < img_resolution else 0, channels[res],
                                       channels[res // 2], res, first_layer=first_layer,
                                       **(block_kwargs or {}), **common)
            self.blocks[str(res)] = block
            first_layer += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, cmap_dim, num_ws=None, w_avg_beta=None, **(mapping_kwargs or {}))
        self.epilogue = DiscriminatorEpilogue(channels[4], cmap_dim, 4, **(epilogue_kwargs or {}), **common)
        self.nvlabs_names = {"blocks": {str(res): f"b{res}" for res in self.block_resolutions}, "epilogue": "b4"}

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        img = img * 2 - 1
        x = None
        for block in self.blocks.values():
            x, img = block(x, img)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.epilogue(x, img, cmap)
