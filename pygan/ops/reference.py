"""The pure-torch reference of pygan's operators: the backend used where no
compiled kernel exists, and the baseline the compiled kernels are measured
against, so it is the fastest pure-torch formulation we know."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def leaky_relu_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding,
                      negative_slope: float) -> torch.Tensor:
    """``conv2d(leaky_relu(x, negative_slope), weight, bias, stride)`` with zero
    padding (top, bottom, left, right)."""
    top, bottom, left, right = padding
    # conv2d pads symmetrically without a copy; only the asymmetric excess goes
    # through F.pad. Padding after the activation is the same since leaky_relu(0) = 0.
    pad_h, pad_w = min(top, bottom), min(left, right)
    activated = F.leaky_relu(x, negative_slope)
    if (top, bottom, left, right) != (pad_h, pad_h, pad_w, pad_w):
        activated = F.pad(activated, (left - pad_w, right - pad_w, top - pad_h, bottom - pad_h))
    return F.conv2d(activated, weight, bias, tuple(stride), (pad_h, pad_w))
