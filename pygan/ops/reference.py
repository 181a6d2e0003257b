"""The pure-torch reference of pygan's operators: the backend used where no
compiled kernel exists, and the baseline the compiled kernels are measured
against, so it is the fastest pure-torch formulation we know."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pygan.ops import _parameters


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


# The activations of bias_act, as NVlabs' StyleGAN2 defines them: alpha is
# lrelu's slope only (elu's is 1), swish is x * sigmoid(x).
_ACTIVATION_FUNCTIONS = {
    "linear": lambda x, alpha: x,
    "relu": lambda x, alpha: F.relu(x),
    "lrelu": F.leaky_relu,
    "tanh": lambda x, alpha: torch.tanh(x),
    "sigmoid": lambda x, alpha: torch.sigmoid(x),
    "elu": lambda x, alpha: F.elu(x),
    "selu": lambda x, alpha: F.selu(x),
    "softplus": lambda x, alpha: F.softplus(x),
    "swish": lambda x, alpha: F.silu(x),
}


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """``clamp(gain * act(x + b), -clamp, clamp)``, b added along dimension
    ``dim``; each step optional (see ``pygan.ops.bias_act``)."""
    alpha, gain = _parameters.activation(act, alpha, gain, clamp)
    if b is not None:
        dim = _parameters.bias_dim(x, b, dim)
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.dim())])
    x = _ACTIVATION_FUNCTIONS[act](x, alpha)
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1) -> torch.Tensor:
    """Upsample (insert ``up - 1`` zeros after each pixel), pad (negative
    padding crops), filter with f (a convolution; a correlation with
    ``flip_filter``), keep every ``down``-th pixel, times ``gain``; see
    ``pygan.ops.upfirdn2d``."""
    f = _parameters.resampling_filter(f, x)
    (up_x, up_y), (down_x, down_y) = _parameters.scaling(up, "up"), _parameters.scaling(down, "down")
    pad_x0, pad_x1, pad_y0, pad_y1 = _parameters.padding(padding)
    n, channels, height, width = x.shape
    _parameters.output_size(height, up_y, down_y, pad_y0, pad_y1, f.shape[0], "y")
    _parameters.output_size(width, up_x, down_x, pad_x0, pad_x1, f.shape[-1], "x")
    # Each channel is filtered alone: the planes as a batch of 1-channel images.
    x = x.reshape(n * channels, 1, height, width)
    if up_x > 1 or up_y > 1:
        x = F.pad(x.reshape(n * channels, height, 1, width, 1), [0, up_x - 1, 0, 0, 0, up_y - 1])
        x = x.reshape(n * channels, 1, height * up_y, width * up_x)
    # Pad, then crop: a crop may cut into the padding of the other side.
    x = F.pad(x, [max(pad_x0, 0), max(pad_x1, 0), max(pad_y0, 0), max(pad_y1, 0)])
    x = x[:, :, max(-pad_y0, 0):x.shape[2] - max(-pad_y1, 0), max(-pad_x0, 0):x.shape[3] - max(-pad_x1, 0)]
    # conv2d correlates: a convolution is a correlation with the flipped filter.
    if not flip_filter:
        f = f.flip(list(range(f.dim())))
    if f.dim() == 2:
        x = F.conv2d(x, (f * gain)[None, None], stride=(down_y, down_x))
    else:  # separable: along x with the gain, then along y
        x = F.conv2d(x, (f * gain)[None, None, None, :], stride=(1, down_x))
        x = F.conv2d(x, f[None, None, :, None], stride=(down_y, 1))
    return x.reshape(n, channels, x.shape[2], x.shape[3])
