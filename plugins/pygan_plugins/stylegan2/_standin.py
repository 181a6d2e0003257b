"""TEMPORARY stand-in for pygan.ops.bias_act and pygan.ops.upfirdn2d until the
ops branch lands them on main; deleted before merging."""

import math

import torch
import torch.nn.functional as F

_GAINS = {"relu": math.sqrt(2), "lrelu": math.sqrt(2), "swish": math.sqrt(2)}


def bias_act(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.dim())])
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2 if alpha is None else alpha)
    elif act == "relu":
        x = F.relu(x)
    elif act == "tanh":
        x = torch.tanh(x)
    elif act != "linear":
        raise NotImplementedError(act)
    gain = _GAINS.get(act, 1.0) if gain is None else gain
    if gain != 1:
        x = x * gain
    if clamp is not None:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    if isinstance(padding, int):
        padding = [padding] * 4
    elif len(padding) == 2:
        padding = [padding[0], padding[0], padding[1], padding[1]]
    x0, x1, y0, y1 = padding
    x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    x = x[:, :, max(-y0, 0):x.shape[2] - max(-y1, 0), max(-x0, 0):x.shape[3] - max(-x1, 0)]
    if not flip_filter:
        f = f.flip(list(range(f.dim())))
    f = f.to(x.dtype)
    if f.dim() == 2:
        return F.conv2d(x, (f * gain)[None, None].expand(c, 1, -1, -1), stride=down, groups=c)
    x = F.conv2d(x, (f * gain)[None, None, None, :].expand(c, 1, 1, -1), stride=(1, down), groups=c)
    return F.conv2d(x, f[None, None, :, None].expand(c, 1, -1, 1), stride=(down, 1), groups=c)
