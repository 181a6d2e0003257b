"""StyleGAN2's generator (Karras et al. 2020, configuration F): the mapping
network from (z, class) to w, and the synthesis network from w to an image,
as NVlabs' stylegan2-ada-pytorch defines them.

The constructors take NVlabs' arguments, by their names and with their
defaults, so a network can be built from the ``init_kwargs`` an NVlabs
pickle records (stylegan3's copy passes the synthesis arguments flat, which
``Generator`` accepts too; its defaults differ, see ``nvlabs.py``).
Arguments that only choose how NVlabs computes on a GPU (``num_fp16_res``,
``fp16_channels_last``, ``fused_modconv_default``) are accepted and change
nothing: pygan's networks compute in their parameters' dtype (float32), or
in the precision ``--precision`` asks for, where NVlabs' cast z, c and w to
float32 first.

Images: NVlabs' generator draws in [-1, 1]; pygan's images lie in [0, 1],
so ``Generator.forward`` returns ``(image + 1) / 2`` and the network in
between computes exactly NVlabs' function.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pygan.ops import bias_act, upsample2d
from pygan_plugins.stylegan2.layers import FullyConnected, activation_gain, modulated_conv2d, register_filter

NOISE_MODES = ("random", "const", "none")


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """x scaled to unit mean square along dimension 1."""
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def channel_counts(resolutions, channel_base: int, channel_max: int) -> dict[int, int]:
    """NVlabs' feature-map counts: ``channel_base / resolution``, at most ``channel_max``."""
    return {res: min(channel_base // res, channel_max) for res in resolutions}


def resolution_log2(img_resolution: int) -> int:
    if img_resolution < 4 or img_resolution & (img_resolution - 1):
        raise ValueError(f"StyleGAN2's resolution is a power of two from 4, not {img_resolution}")
    return int(math.log2(img_resolution))


class MappingNetwork(nn.Module):
    """z (normalised to unit second moment) and the class label's embedding
    (a linear layer of the one-hot label, normalised likewise), concatenated,
    through ``num_layers`` fully connected layers with leaky ReLU and
    learning-rate multiplier 0.01, to w; broadcast to ``num_ws`` copies.

    In training mode each call moves ``w_avg``, the tracked mean of w, towards
    the batch's mean by ``1 - w_avg_beta`` (unless ``update_w_avg=False``);
    truncation pulls w towards it: ``w_avg + psi (w - w_avg)``, for the first
    ``truncation_cutoff`` copies only when given."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int | None, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None, activation: str = "lrelu",
                 lr_multiplier: float = 0.01, w_avg_beta: float | None = 0.995) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.w_avg_beta = w_avg_beta
        embed_features = 0 if c_dim == 0 else w_dim if embed_features is None else embed_features
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnected(c_dim, embed_features)
        self.layers = nn.ModuleList(FullyConnected(features[i], features[i + 1], activation=activation,
                                                   lr_multiplier=lr_multiplier) for i in range(num_layers))
        self.nvlabs_names = {"layers": [f"fc{i}" for i in range(num_layers)]}
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, update_w_avg: bool = True) -> torch.Tensor:
        parts = []
        if self.z_dim > 0:
            parts.append(normalize_2nd_moment(z))
        if self.c_dim > 0:
            parts.append(normalize_2nd_moment(self.embed(c)))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for layer in self.layers:
            x = layer(x)
        if self.w_avg_beta is not None and self.training and update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x.unsqueeze(1).expand(-1, self.num_ws, -1)
        if truncation_psi != 1:
            if self.w_avg_beta is None:
                raise ValueError("truncation needs the tracked average of w, which this mapping network does not keep")
            if self.num_ws is None or truncation_cutoff is None:
                x = self.w_avg.lerp(x, truncation_psi)
            else:
                head = self.w_avg.lerp(x[:, :truncation_cutoff], truncation_psi)
                x = torch.cat([head, x[:, truncation_cutoff:]], dim=1)
        return x


class SynthesisLayer(nn.Module):
    """A modulated (and demodulated) convolution, upsampling with ``up=2``,
    then per-pixel noise times a learned strength (starting at 0), bias,
    leaky ReLU with gain sqrt(2) (times ``gain``) and the optional clamp.

    ``noise_mode``: ``random`` draws fresh N(0, 1) noise per sample,
    ``const`` uses the layer's fixed ``noise_const`` image, ``none`` adds
    none."""

    nvlabs_names = {"style": "affine"}
    nvlabs_filter = True

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, kernel_size: int = 3,
                 up: int = 1, use_noise: bool = True, activation: str = "lrelu", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation = activation
        self.act_gain = activation_gain(activation)
        self.conv_clamp = conv_clamp
        register_filter(self, resample_filter)
        self.style = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros(out_channels))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", grouped: bool | None = None,
                gain: float = 1.0) -> torch.Tensor:
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, self.style(w), self.resample_filter, up=self.up, noise=noise,
                             grouped=grouped)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(nn.Module):
    """A modulated 1x1 convolution to the image channels, without
    demodulation (the styles scaled by the equalised-lr gain instead), plus
    bias, clamped to +-``conv_clamp``."""

    nvlabs_names = {"style": "affine"}

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.style = FullyConnected(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, grouped: bool | None = None) -> torch.Tensor:
        x = modulated_conv2d(x, self.weight, self.style(w) * self.weight_gain, demodulate=False, grouped=grouped)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(nn.Module):
    """One resolution of the synthesis network, architecture 'skip': the
    learned 4x4 constant (first block) or an upsampling SynthesisLayer, a
    second SynthesisLayer, and a ToRGB layer whose image is added to the
    previous block's, upsampled.

    It takes ``num_conv + num_torgb`` ws: one per layer; its ToRGB layer
    shares its w with the next block's first layer."""

    nvlabs_names = {"conv_up": "conv0", "conv": "conv1", "to_rgb": "torgb"}
    nvlabs_filter = True

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, img_channels: int,
                 is_last: bool, architecture: str = "skip", resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, fp16_channels_last: bool = False,
                 fused_modconv_default=True, **layer_kwargs) -> None:
        if architecture != "skip":
            raise ValueError(f"pygan's StyleGAN2 generator has the 'skip' architecture only, not {architecture!r}")
        super().__init__()
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        register_filter(self, resample_filter)
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution))
        else:
            self.conv_up = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                          resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
        self.conv = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                   **layer_kwargs)
        self.to_rgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                noise_mode: str = "random", grouped: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        ws = ws.unbind(dim=1)
        if self.in_channels == 0:
            x = self.conv(self.const.unsqueeze(0).expand(ws[0].shape[0], -1, -1, -1), ws[0], noise_mode, grouped)
        else:
            x = self.conv_up(x, ws[0], noise_mode, grouped)
            x = self.conv(x, ws[1], noise_mode, grouped)
        y = self.to_rgb(x, ws[-1], grouped)
        img = y if img is None else upsample2d(img, self.resample_filter) + y
        return x, img


class SynthesisNetwork(nn.Module):
    """The blocks from 4x4 to ``img_resolution``, with NVlabs' channel counts;
    ``forward(ws)`` takes (N, num_ws, w_dim) and returns (N, C, H, W) in
    NVlabs' range."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int, channel_base: int = 32768,
                 channel_max: int = 512, num_fp16_res: int = 0, **block_kwargs) -> None:
        super().__init__()
        log2 = resolution_log2(img_resolution)
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        channels = channel_counts(self.block_resolutions, channel_base, channel_max)
        self.blocks = nn.ModuleDict()
        for res in self.block_resolutions:
            self.blocks[str(res)] = SynthesisBlock(channels[res // 2] if res > 4 else 0, channels[res], w_dim, res,
                                                   img_channels, is_last=res == img_resolution, **block_kwargs)
        self.nvlabs_names = {"blocks": {str(res): f"b{res}" for res in self.block_resolutions}}
        self.num_ws = sum(block.num_conv for block in self.blocks.values()) + 1

    def forward(self, ws: torch.Tensor, noise_mode: str = "random", grouped: bool | None = None) -> torch.Tensor:
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode is one of {', '.join(NOISE_MODES)}, not {noise_mode!r}")
        x = img = None
        first = 0
        for block in self.blocks.values():
            x, img = block(x, img, ws.narrow(1, first, block.num_conv + block.num_torgb), noise_mode, grouped)
            first += block.num_conv
        return img


class Generator(nn.Module):
    """StyleGAN2's generator: ``forward(z, c)`` maps z (N, z_dim) and one-hot
    labels c (N, c_dim; None when unconditional) to images (N, C, H, W) in
    pygan's [0, 1] (NVlabs' image plus 1, halved).

    ``noise_mode`` unset: random per-pixel noise in training mode, the
    learned constant noise in inference mode (as NVlabs' generate.py and
    snapshot grids draw), so that pictures drawn from a seed are the same
    every time.

    For training (NVlabs keep these in their loss): ``mixing=(z2, cutoff)``
    mixes styles, the layers' ws from ``cutoff`` (a 0-d int64 tensor) on
    coming from z2 (mapped without moving ``w_avg``); ``return_ws=True``
    returns (images, ws), the ws the synthesis network was given, which
    path-length regularisation differentiates by."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping_kwargs: dict | None = None, synthesis_kwargs: dict | None = None,
                 **flat_synthesis_kwargs) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels,
                                          **(synthesis_kwargs or {}), **flat_synthesis_kwargs)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1,
                truncation_cutoff: int | None = None, noise_mode: str | None = None,
                grouped: bool | None = None, mixing: tuple[torch.Tensor, torch.Tensor] | None = None,
                return_ws: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        ws = self.mapping(z, c, truncation_psi, truncation_cutoff)
        if mixing is not None:
            z2, cutoff = mixing
            later = torch.arange(self.num_ws, device=ws.device) >= cutoff  # a mask, not a slice: no host read
            ws = torch.where(later[:, None], self.mapping(z2, c, truncation_psi, truncation_cutoff,
                                                          update_w_avg=False), ws)
        noise_mode = noise_mode or ("random" if self.training else "const")
        images = self.synthesis(ws, noise_mode, grouped) * 0.5 + 0.5
        return (images, ws) if return_ws else images
