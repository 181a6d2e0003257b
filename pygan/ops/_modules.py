"""Layers shared by architectures: TensorFlow-style 'same' padding, the
LeakyReLU+conv block that runs through pygan's fused operator, and Keras'
'same' transposed convolution."""

from __future__ import annotations

import math

import torch
from torch import nn

from pygan import ops


def same_padding(size: int, kernel_size: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same' padding along one axis, as (before, after).

    The output has ceil(size / stride) elements; when the total padding is odd
    TensorFlow puts the extra element after (bottom/right), which PyTorch's
    symmetric ``padding=`` cannot express.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel_size - size, 0)
    return total // 2, total - total // 2


class LeakyReLUConv2d(nn.Module):
    """``conv2d(leaky_relu(x))`` with 'same' padding, as one fused op.

    Equivalent to Keras' ``LeakyReLU(alpha)`` followed by
    ``Conv2D(kernel_size, strides, padding='same')``, with Keras' initial
    values: Glorot-uniform kernel, zero bias. ``padding=P`` pads P zeros on
    every side instead, as PyTorch's ``Conv2d(padding=P)``; ``bias=False``
    leaves the bias out.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 negative_slope: float = 0.2, padding: int | None = None, bias: bool = True) -> None:
        super().__init__()
        self.stride = stride
        self.negative_slope = negative_slope
        self.padding = padding
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        nn.init.xavier_uniform_(self.weight)
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_channels))
        else:
            self.register_parameter("bias", None)

    def padding_for(self, height: int, width: int) -> tuple[int, int, int, int]:
        if self.padding is not None:
            return (self.padding,) * 4
        kernel_size = self.weight.shape[-1]
        return (*same_padding(height, kernel_size, self.stride), *same_padding(width, kernel_size, self.stride))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padding = self.padding_for(x.shape[-2], x.shape[-1])
        return ops.leaky_relu_conv2d(x, self.weight, self.bias, (self.stride, self.stride), padding,
                                     self.negative_slope)

    def extra_repr(self) -> str:
        out_channels, in_channels, kernel_size, _ = self.weight.shape
        padding = "'same'" if self.padding is None else self.padding
        return (f"{in_channels}, {out_channels}, kernel_size={kernel_size}, stride={self.stride}, "
                f"negative_slope={self.negative_slope}, padding={padding}, bias={self.bias is not None}")


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` computed by ``pygan.ops.conv_transpose2d``: on
    the CPU, a layer with at most three output channels (a generator's image
    layer) given channels-last input runs as tap planes, several times faster
    than oneDNN's forward.
    Same parameters, state dict and initial values as ``nn.ConvTranspose2d``;
    with groups, dilation or an ``output_size`` it is that layer exactly."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        if output_size is not None or self.groups != 1 or self.dilation != (1, 1):
            return super().forward(x, output_size)
        return ops.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding)


class SameConvTranspose2d(nn.ConvTranspose2d):
    """Keras' ``Conv2DTranspose(padding='same')``: the output is input * stride,
    computed on mirrored images (flipped in height and width).

    It is the gradient of a 'same' convolution, so its output is the full
    transposed convolution cropped by that convolution's (before, after)
    padding. PyTorch crops ``padding`` rows at the top and ``padding -
    output_padding`` at the bottom, the opposite of TensorFlow when they
    differ; on mirrored images TensorFlow's crop is PyTorch's, so the output
    is computed at its exact size instead of one row and column more and
    sliced (a slice that also sends strided tensors into BatchNorm).
    Callers mirror the input once and the final output once (``Generator``).
    Initial values as in Keras: Glorot-uniform kernel, zero bias.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride)
        nn.init.xavier_uniform_(self.weight)
        nn.init.zeros_(self.bias)

    def forward(self, mirrored: torch.Tensor) -> torch.Tensor:
        (kernel_size, _), (stride, _) = self.kernel_size, self.stride
        (top, bottom), (left, right) = (same_padding(size * stride, kernel_size, stride)
                                        for size in mirrored.shape[-2:])
        return ops.conv_transpose2d(mirrored, self.weight.flip(-2, -1), self.bias, stride, padding=(bottom, right),
                                    output_padding=(bottom - top, right - left))
