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


def _pad_or_crop(x: torch.Tensor, x0: int, x1: int, y0: int, y1: int) -> torch.Tensor:
    """x with zeros added (positive values) or pixels cut (negative) on each
    side; padding first, as a crop may cut into the other side's padding."""
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    return x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1) -> torch.Tensor:
    """Upsample (insert ``up - 1`` zeros after each pixel), pad (negative
    padding crops), filter with f (a convolution; a correlation with
    ``flip_filter``), keep every ``down``-th pixel, times ``gain``; see
    ``pygan.ops.upfirdn2d``. Each channel is filtered alone: a depthwise
    convolution."""
    f, (up_x, up_y), (down_x, down_y), (pad_x0, pad_x1, pad_y0, pad_y1) = _parameters.resampling(
        x, f, up, down, padding)
    n, channels, height, width = x.shape
    if channels == 0:  # there is no convolution of 0 groups: filter one zero channel, keep none of it
        return upfirdn2d(x.new_zeros(n, 1, height, width), f, up, down, padding, flip_filter, gain)[:, :0]
    # A separable filter is its outer product (one convolution rather than two).
    f = (torch.outer(f, f) if f.dim() == 1 else f) * gain
    taps_y, taps_x = f.shape
    weight = f[None, None].expand(channels, 1, taps_y, taps_x)
    if up_x == up_y == 1:
        # conv2d correlates: a convolution is a correlation with the flipped filter.
        return F.conv2d(_pad_or_crop(x, pad_x0, pad_x1, pad_y0, pad_y1), weight if flip_filter else weight.flip([2, 3]),
                        stride=(down_y, down_x), groups=channels)
    # A transposed convolution inserts the zeros and convolves (a correlation
    # with its kernel flipped) at once, without multiplying the zeros. Its
    # output starts taps - 1 pixels before the padded image's first output,
    # and ends up - taps pixels after the last (zero insertion adds up - 1
    # zeros after the last pixel).
    x = F.conv_transpose2d(x, weight.flip([2, 3]) if flip_filter else weight, stride=(up_y, up_x), groups=channels)
    x = _pad_or_crop(x, pad_x0 - taps_x + 1, pad_x1 + up_x - taps_x, pad_y0 - taps_y + 1, pad_y1 + up_y - taps_y)
    return x[:, :, ::down_y, ::down_x]
