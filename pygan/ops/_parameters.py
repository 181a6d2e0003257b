"""What the arguments of ``bias_act`` and ``upfirdn2d`` mean, in one place:
the activations and their defaults, and the forms ``up``, ``down``,
``padding`` and the filter may take. The public functions and the
references both resolve their arguments here, so the compiled and the
reference backends agree on every default and refuse the same input.

The conventions are those of NVlabs' StyleGAN2 (stylegan2-ada-pytorch's
``torch_utils.ops``), so that its networks port without surprises: pairs are
(x, y), that is (width, height), and padding is (x0, x1, y0, y1).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch


class Activation(NamedTuple):
    alpha: float  # the default shape parameter (lrelu's negative slope; the others have none)
    gain: float  # the default gain: sqrt(2) keeps the signal's magnitude where half of it is cut
    curved: bool  # whether the second derivative is nonzero (R1's double backward needs it)


ACTIVATIONS = {
    "linear": Activation(0.0, 1.0, False),
    "relu": Activation(0.0, math.sqrt(2), False),
    "lrelu": Activation(0.2, math.sqrt(2), False),
    "tanh": Activation(0.0, 1.0, True),
    "sigmoid": Activation(0.0, 1.0, True),
    "elu": Activation(0.0, 1.0, True),
    "selu": Activation(0.0, 1.0, True),
    "softplus": Activation(0.0, 1.0, True),
    "swish": Activation(0.0, math.sqrt(2), True),
}


def activation(act: str, alpha: float | None, gain: float | None, clamp: float | None) -> tuple[float, float]:
    """(alpha, gain) with the activation's defaults filled in; refuses an
    unknown activation, an alpha for one without a parameter, and a negative
    or non-finite clamp."""
    if act not in ACTIVATIONS:
        raise ValueError(f"bias_act: unknown activation {act!r}; choose one of {', '.join(ACTIVATIONS)}")
    if alpha is not None and act != "lrelu":
        raise ValueError(f"bias_act: alpha is lrelu's negative slope; {act!r} takes none")
    if clamp is not None and not (clamp >= 0 and math.isfinite(clamp)):
        raise ValueError(f"bias_act: clamp must be a finite number >= 0 (or None for no clamp), got {clamp}")
    spec = ACTIVATIONS[act]
    return float(spec.alpha if alpha is None else alpha), float(spec.gain if gain is None else gain)


def bias_dim(x: torch.Tensor, b: torch.Tensor | None, dim: int) -> int:
    """The dimension of x that b runs along, non-negative; checks b's shape."""
    if b is None:
        return dim
    if not -x.dim() <= dim < x.dim():
        raise ValueError(f"bias_act: dim {dim} is out of range for a {x.dim()}-d input")
    dim %= x.dim()
    if b.dim() != 1 or b.shape[0] != x.shape[dim]:
        raise ValueError(f"bias_act: expected a bias of shape [{x.shape[dim]}] (dimension {dim} of the input, "
                         f"shape {list(x.shape)}), got {list(b.shape)}")
    return dim


def scaling(value, name: str) -> tuple[int, int]:
    """``up`` or ``down``: an int, or (x, y); each at least 1."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in pair):
        raise ValueError(f"upfirdn2d: {name} must be an int >= 1 or a pair (x, y) of them, got {value!r}")
    return pair


def padding(value) -> tuple[int, int, int, int]:
    """An int (all sides), (x, y) or (x0, x1, y0, y1); negative values crop."""
    values = (value,) * 4 if isinstance(value, int) else tuple(value)
    if len(values) == 2:
        values = (values[0], values[0], values[1], values[1])
    if len(values) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ValueError(f"upfirdn2d: padding must be an int, (x, y) or (x0, x1, y0, y1) of ints, got {value!r}")
    return values


def resampling_filter(f: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
    """The filter as upfirdn2d uses it: 2-d [height, width], or 1-d taps
    applied along both axes (separable); None is the identity. In x's dtype
    and on its device; a filter takes no gradient."""
    if x.dim() != 4:
        raise ValueError(f"upfirdn2d: expected a 4-d input (N, C, H, W), got shape {list(x.shape)}")
    if f is None:
        return torch.ones(1, 1, dtype=x.dtype, device=x.device)
    if not isinstance(f, torch.Tensor) or f.dim() not in (1, 2) or f.numel() == 0:
        shape = list(f.shape) if isinstance(f, torch.Tensor) else type(f).__name__
        raise ValueError(f"upfirdn2d: the filter must be a non-empty 1-d or 2-d tensor, got {shape}")
    if f.requires_grad:
        raise ValueError("upfirdn2d: the filter takes no gradient; pass f.detach() (filters are fixed buffers)")
    return f.to(device=x.device, dtype=x.dtype)


def _check_axis(size: int, up: int, pad0: int, pad1: int, taps: int, axis: str) -> None:
    padded = size * up + pad0 + pad1
    if padded < taps:
        raise ValueError(f"upfirdn2d: along {axis} the upsampled, padded input has {padded} pixels "
                         f"({size} x {up} + {pad0} + {pad1}), fewer than the filter's {taps} taps")


def resampling(x: torch.Tensor, f: torch.Tensor | None, up, down, padding_):
    """upfirdn2d's arguments checked and in one form: (f, (up_x, up_y),
    (down_x, down_y), (x0, x1, y0, y1)); refuses a filter longer than the
    upsampled, padded input."""
    f = resampling_filter(f, x)
    up, down, padding_ = scaling(up, "up"), scaling(down, "down"), padding(padding_)
    _check_axis(x.shape[3], up[0], padding_[0], padding_[1], f.shape[-1], "x")
    _check_axis(x.shape[2], up[1], padding_[2], padding_[3], f.shape[0], "y")
    return f, up, down, padding_
