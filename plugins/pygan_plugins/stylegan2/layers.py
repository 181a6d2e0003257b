"""StyleGAN2's layers: equalised learning rate, FIR resampling around
convolutions, and the modulated convolution.

Equalised learning rate (Karras et al. 2018): every weight is stored drawn
from N(0, 1) (divided by the layer's learning-rate multiplier) and scaled at
run time by ``lr_multiplier / sqrt(fan_in)``, so Adam's steps are the same
size for every layer whatever its fan-in; a multiplier below 1 (the mapping
network's 0.01) slows a layer down by that factor.

Resampling is StyleGAN2's: upsampling inserts zeros and low-pass filters with
the normalised [1, 3, 3, 1] FIR filter (times 4, so a constant image keeps its
value), downsampling filters and keeps every other pixel, both through
``pygan.ops.upfirdn2d`` (filters prepared by ``pygan.ops.setup_filter``).
Around a convolution they are arranged as NVlabs' ``conv2d_resample``
arranges them, so that the layers compute the same functions of the same
weights (which also fixes which way round an upsampling layer's kernel is
applied: as a transposed convolution, a true convolution rather than a
correlation).

Each module that corresponds to one of NVlabs' modules says, in
``nvlabs_names``, how its children are named there, and in
``nvlabs_filter``, whether NVlabs keeps a ``resample_filter`` buffer in it;
``pygan_plugins.stylegan2.nvlabs`` builds the state-dict key mapping from them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from pygan.ops import bias_act, downsample2d, setup_filter, upfirdn2d

# The gain of each activation that keeps a unit-variance input's output at unit variance (He et al.).
ACTIVATION_GAINS = {"linear": 1.0, "relu": math.sqrt(2), "lrelu": math.sqrt(2), "tanh": 1.0, "sigmoid": 1.0,
                    "elu": 1.0, "selu": 1.0, "softplus": 1.0, "swish": math.sqrt(2)}
DEMODULATION_EPSILON = 1e-8


def activation_gain(activation: str) -> float:
    if activation not in ACTIVATION_GAINS:
        raise ValueError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATION_GAINS)}")
    return ACTIVATION_GAINS[activation]


def register_filter(module: nn.Module, taps) -> None:
    """Gives ``module`` its FIR filter, ``pygan.ops.setup_filter(taps)``, as
    the buffer ``resample_filter``, built where the module's tensors are (the
    default device: ``torch.device("meta")`` builds a network without
    memory) and left out of its state dict, the taps being a constructor
    argument."""
    module.register_buffer("resample_filter", setup_filter(taps, device=torch.get_default_device()),
                           persistent=False)


def upsample_padding(filter_size: int, factor: int) -> tuple[int, int]:
    """Padding (before, after) that makes ``upfirdn2d(up=factor)`` return
    exactly ``factor`` times the input size, the filter centred."""
    return (filter_size + factor - 1) // 2, (filter_size - factor) // 2


def downsample_padding(filter_size: int, factor: int) -> tuple[int, int]:
    """Padding (before, after) that makes ``upfirdn2d(down=factor)`` return
    exactly the input size over ``factor``, the filter centred."""
    return (filter_size - factor + 1) // 2, (filter_size - factor) // 2


def resampled_conv2d(x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor | None, up: int = 1, down: int = 1,
                     groups: int = 1) -> torch.Tensor:
    """A square-kernel convolution with 'same' padding (``kernel // 2``) with
    respect to the upsampled image, with FIR up- or downsampling around it.

    Without resampling it is ``F.conv2d`` (a correlation). Downsampling
    filters the padded input, then convolves with stride ``down`` (a 1x1
    kernel: downsamples first, then convolves). Upsampling is a transposed
    convolution with stride ``up`` (the kernel applied as a true
    convolution, groups as in ``F.conv2d``) followed by the filter, which
    the transposed convolution's output, one pixel short of or past the
    upsampled size, is padded or cropped for."""
    kernel = weight.shape[-1]
    padding = kernel // 2
    if up == 1 and down == 1:
        return F.conv2d(x, weight, padding=padding, groups=groups)
    taps = f.shape[0]
    if down > 1:
        if kernel == 1:
            return F.conv2d(downsample2d(x, f, down=down), weight, groups=groups)
        before, after = downsample_padding(taps, down)
        x = upfirdn2d(x, f, padding=(padding + before, padding + after) * 2)
        return F.conv2d(x, weight, stride=down, groups=groups)
    before, after = upsample_padding(taps, up)
    # The transposed convolution's output extends kernel - 1 pixels before the
    # upsampled image and kernel - up after it; the filter's padding takes that off.
    pad_before = padding + before - (kernel - 1)
    pad_after = padding + after - (kernel - up)
    crop = max(min(-pad_before, -pad_after), 0)  # what conv_transpose2d's own padding can crop evenly
    out_channels, in_channels = weight.shape[0], weight.shape[1]
    # conv_transpose2d takes (in, out / groups, k, k): per group, swap the two channel axes.
    weight = weight.reshape(groups, out_channels // groups, in_channels, kernel, kernel).transpose(1, 2)
    weight = weight.reshape(groups * in_channels, out_channels // groups, kernel, kernel)
    x = F.conv_transpose2d(x, weight, stride=up, padding=crop, groups=groups)
    return upfirdn2d(x, f, padding=(pad_before + crop, pad_after + crop) * 2, gain=up ** 2)


def demodulation(weight: torch.Tensor, styles: torch.Tensor) -> torch.Tensor:
    """1 / the norm of each sample's modulated kernel, (N, out channels):
    ``sum over (in, ky, kx) of (weight * style)^2`` is the styles' squares
    times the kernels' per-input-channel sums of squares, one small matmul
    instead of building every sample's kernel."""
    return (styles.square() @ weight.square().sum(dim=(2, 3)).t() + DEMODULATION_EPSILON).rsqrt()


def modulated_conv2d(x: torch.Tensor, weight: torch.Tensor, styles: torch.Tensor, f: torch.Tensor | None = None,
                     up: int = 1, demodulate: bool = True, noise: torch.Tensor | None = None,
                     grouped: bool | None = None) -> torch.Tensor:
    """StyleGAN2's modulated convolution (Karras et al. 2020, eq. 1-3): each
    sample's kernel is ``weight`` with input channel i scaled by its style
    s_i, and, with ``demodulate``, each output channel's kernel divided by
    its norm; then ``noise`` (already scaled) is added.

    Two ways to compute it, equal up to float rounding:

    - grouped: build every sample's kernel, (N, out, in, k, k), and apply
      each to its own sample: one grouped convolution with N groups, or, for
      a 1x1 kernel without resampling, one batched matrix product;
    - shared: scale the activations by the styles, convolve every sample with
      the one shared kernel, and scale the output by the demodulation.

    ``grouped=None`` picks the faster (``prefer_grouped``)."""
    n, in_channels = x.shape[:2]
    out_channels, kernel = weight.shape[0], weight.shape[-1]
    if grouped is None:
        grouped = prefer_grouped(weight, up)
    scale = demodulation(weight, styles) if demodulate else None
    if grouped:
        w = weight.unsqueeze(0) * styles.reshape(n, 1, in_channels, 1, 1)
        if scale is not None:
            w = w * scale.reshape(n, out_channels, 1, 1, 1)
        if kernel == 1 and up == 1:
            y = torch.bmm(w.reshape(n, out_channels, in_channels), x.reshape(n, in_channels, -1))
            x = y.reshape(n, out_channels, *x.shape[2:])
        else:
            x = resampled_conv2d(x.reshape(1, n * in_channels, *x.shape[2:]),
                                 w.reshape(n * out_channels, in_channels, kernel, kernel), f, up=up, groups=n)
            x = x.reshape(n, out_channels, *x.shape[2:])
        return x if noise is None else x + noise
    x = resampled_conv2d(x * styles.reshape(n, in_channels, 1, 1), weight, f, up=up)
    if scale is not None:
        scale = scale.reshape(n, out_channels, 1, 1)
        return x * scale if noise is None else torch.addcmul(noise, x, scale)
    return x if noise is None else x + noise


def prefer_grouped(weight: torch.Tensor, up: int) -> bool:
    """Whether the grouped modulated convolution is the faster one. For 1x1
    kernels without resampling (ToRGB), a batched matrix product of each
    sample's small kernel is 2.5-4.5 times faster than scaling the whole
    activation and running a 1x1 convolution. For 3x3 kernels the shared
    kernel is 1.3-5 times faster at batch 8 below 64x64, the more so the
    smaller the image: the grouped path builds N copies of each kernel
    (75 MB for a 512-channel layer at batch 8), uses each for one sample,
    and in backward reduces N weight gradients; at 64x64 both are as fast,
    and at batch 1 within noise. Measured on the CPU (2 threads, forward
    and forward plus backward; see benchmarks/test_stylegan2.py); NVlabs'
    GPU default (grouped for inference) is not measured here."""
    return weight.shape[-1] == 1 and up == 1


# Positively homogeneous activations, act(g y) = g act(y) for g > 0: a layer with one of these
# applies its equalised-lr gain g to the output (in bias_act's gain, the bias divided by g)
# instead of multiplying the whole weight by it, forward and backward, on every call.
HOMOGENEOUS = ("linear", "relu", "lrelu")


def equalized_weight(weight: torch.Tensor, weight_gain: float, activation: str) -> torch.Tensor:
    """The weight to apply: scaled by its gain, unless ``equalized_bias_act`` will."""
    return weight if activation in HOMOGENEOUS else weight * weight_gain


def equalized_bias_act(y: torch.Tensor, weight_gain: float, bias: torch.Tensor | None, activation: str,
                       gain: float, clamp: float | None) -> torch.Tensor:
    """``clamp(gain * act(y' + bias))``, y' = y computed with the weight
    ``equalized_weight`` gave: ``weight_gain * y`` where that was the
    unscaled weight, ``gain * act(g y + b) = (gain g) act(y + b / g)``."""
    if activation in HOMOGENEOUS:
        bias = None if bias is None else bias / weight_gain
        gain = gain * weight_gain
    return bias_act(y, bias, act=activation, gain=gain, clamp=clamp)


class FullyConnected(nn.Module):
    """A fully connected layer with equalised learning rate: ``act(x W^T g +
    b m) * gain``, W stored from N(0, 1) / m, g = m / sqrt(in), m the
    learning-rate multiplier; b starts at ``bias_init``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, activation: str = "linear",
                 lr_multiplier: float = 1.0, bias_init: float = 0.0) -> None:
        super().__init__()
        self.activation = activation
        self.act_gain = activation_gain(activation)
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_multiplier)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias if self.bias is None or self.bias_gain == 1 else self.bias * self.bias_gain
        if self.activation == "linear" and bias is not None:
            return torch.addmm(bias.unsqueeze(0), x, self.weight.t(), alpha=self.weight_gain)
        weight = equalized_weight(self.weight, self.weight_gain, self.activation)
        return equalized_bias_act(x @ weight.t(), self.weight_gain, bias, self.activation, self.act_gain, None)


class Conv2dLayer(nn.Module):
    """A convolution with equalised learning rate, optional FIR up- or
    downsampling (``resampled_conv2d``), bias, activation with its gain, and
    the optional clamp of the output to +-``conv_clamp``.

    ``forward(x, gain)`` multiplies the output (and the clamp) by ``gain``:
    the residual discriminator's 1/sqrt(2). A layer that is not
    ``trainable`` keeps its weight and bias as buffers."""

    nvlabs_filter = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 activation: str = "linear", up: int = 1, down: int = 1, resample_filter=(1, 3, 3, 1),
                 conv_clamp: float | None = None, trainable: bool = True) -> None:
        super().__init__()
        self.activation = activation
        self.act_gain = activation_gain(activation)
        self.up, self.down = up, down
        self.conv_clamp = conv_clamp
        register_filter(self, resample_filter)
        weight = torch.randn(out_channels, in_channels, kernel_size, kernel_size)
        bias = torch.zeros(out_channels) if bias else None
        if trainable:
            self.weight = nn.Parameter(weight)
            self.bias = None if bias is None else nn.Parameter(bias)
        else:  # frozen: kept (and saved) as buffers, which no optimizer sees
            self.register_buffer("weight", weight)
            self.register_buffer("bias", bias)
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        weight = equalized_weight(self.weight, self.weight_gain, self.activation)
        x = resampled_conv2d(x, weight, self.resample_filter, up=self.up, down=self.down)
        clamp = None if self.conv_clamp is None else self.conv_clamp * gain
        return equalized_bias_act(x, self.weight_gain, self.bias, self.activation, self.act_gain * gain, clamp)
