"""Fake (meta) implementation and autograd formula of ``pygan::upfirdn2d``,
shared by every device's kernels. Imported only once the extension has
defined the op.

upfirdn2d is linear in x: its gradient is the transposed operation, again
an upfirdn2d, with the filter flipped, up and down swapped, and the padding
that brings the output gradient back onto the input's pixels. Being the op
itself, it has this gradient too: every order works (R1 needs the second).
The filter takes no gradient (pygan.ops.upfirdn2d refuses one that asks).
"""

from __future__ import annotations

import torch

from pygan.ops._autocast import run_in_autocast_dtype_on_cuda

_ops = torch.ops.pygan


def _output_size(size, up, down, pad0, pad1, taps):
    return (size * up + pad0 + pad1 - taps) // down + 1


@torch.library.register_fake("pygan::upfirdn2d")
def _(x, f, up, down, padding, flip_filter, gain):
    torch._check(f.device == x.device, lambda: f"pygan::upfirdn2d: the filter is on {f.device} but the input is on "
                                                f"{x.device}")
    torch._check(x.dim() == 4 and f.dim() == 2, lambda: "pygan::upfirdn2d: expected a 4-d input and a 2-d filter")
    n, c, height, width = x.shape
    shape = (n, c, _output_size(height, up[1], down[1], padding[2], padding[3], f.shape[0]),
             _output_size(width, up[0], down[0], padding[0], padding[1], f.shape[1]))
    # The kernels write channels-last exactly when the input is.
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.empty(shape, dtype=x.dtype, device=x.device,
                       memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _setup(ctx, inputs, output):
    x, f, up, down, padding, flip_filter, gain = inputs
    ctx.save_for_backward(f)
    ctx.x_size = x.shape[2:]
    ctx.settings = (up, down, padding, flip_filter, gain)


def _backward(ctx, grad):
    (f,) = ctx.saved_tensors
    (up_x, up_y), (down_x, down_y), (x0, x1, y0, y1), flip_filter, gain = ctx.settings
    height, width = ctx.x_size
    out_height, out_width = grad.shape[2:]
    taps_y, taps_x = f.shape
    # The forward's output pixel o read upsampled input pixels o * down + k - pad0:
    # spread back, its gradient lands where the transposed operation puts it.
    padding = [taps_x - x0 - 1, width * up_x - out_width * down_x + x0 - up_x + 1,
               taps_y - y0 - 1, height * up_y - out_height * down_y + y0 - up_y + 1]
    grad_x = None
    if ctx.needs_input_grad[0]:
        grad_x = _ops.upfirdn2d(grad, f, [down_x, down_y], [up_x, up_y], padding, not flip_filter, gain)
    return grad_x, None, None, None, None, None, None


torch.library.register_autograd("pygan::upfirdn2d", _backward, setup_context=_setup)
# Under autocast (--precision bf16) the CPU kernel, which has no 16-bit path,
# takes float32.
torch.library.register_autocast("pygan::upfirdn2d", "cpu", torch.float32)
run_in_autocast_dtype_on_cuda("upfirdn2d")
