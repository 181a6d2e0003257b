"""The pure-torch reference of pygan's operators: the backend used where no
compiled kernel exists, and the baseline the compiled kernels are measured
against, so it is the fastest pure-torch formulation we know."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def leaky_relu_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding,
                      negative_slope: float) -> torch.Tensor:
    """``conv2d(leaky_relu(x, negative_slope), weight, bias, stride)`` with zero
    padding (top, bottom, left, right); ``stride`` is an int or a pair."""
    # conv2d would return a 0-channel output, ignoring the weight's output
    # channels and the bias; the compiled kernels refuse this too.
    torch._check(x.dim() != 4 or x.shape[1] > 0,
                 lambda: f"leaky_relu_conv2d: expected at least one input channel, got an input of shape {tuple(x.shape)}")
    top, bottom, left, right = padding
    # conv2d pads symmetrically without a copy; only the asymmetric excess goes
    # through F.pad. Padding after the activation is the same since leaky_relu(0) = 0.
    pad_h, pad_w = min(top, bottom), min(left, right)
    activated = F.leaky_relu(x, negative_slope)
    if (top, bottom, left, right) != (pad_h, pad_h, pad_w, pad_w):
        activated = F.pad(activated, (left - pad_w, right - pad_w, top - pad_h, bottom - pad_h))
    return F.conv2d(activated, weight, bias, stride, (pad_h, pad_w))


def rmsprop_step_(params: list[torch.Tensor], grads: list[torch.Tensor], square_avgs: list[torch.Tensor],
                  updates: torch.Tensor, skip: torch.Tensor, lr: float, decay: float, alpha: float,
                  eps: float) -> None:
    """RMSprop with Keras' time decay, in place, unless ``skip`` (a bool
    tensor) is true: ``lr_t = lr / (1 + decay * updates)``, ``v = alpha v +
    (1 - alpha) g^2``, ``p -= lr_t g / (sqrt(v) + eps)``, ``updates += 1``.
    Written with torch.optim.RMSprop's operations, in its order, and with no
    host synchronization: skip and updates stay tensors."""
    lr_t = (lr / (1 + decay * updates.double())).float()
    for param, grad, square_avg in zip(params, grads, square_avgs):
        new_square_avg = (square_avg * alpha).addcmul_(grad, grad, value=1 - alpha)
        new_param = param - lr_t * (grad / new_square_avg.sqrt().add_(eps))
        square_avg.copy_(torch.where(skip, square_avg, new_square_avg))
        param.copy_(torch.where(skip, param, new_param))
    updates.add_(skip.logical_not())
