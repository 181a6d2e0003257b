"""A transposed convolution with few output channels, computed on the CPU as
one matrix product and a sum of shifted planes (``by_tap_planes``).

Why: oneDNN, which runs PyTorch's transposed convolutions on the CPU,
vectorises them over output channels. A generator's image layer has one or
three, and there oneDNN's forward is slow: the seed generator's last layer
(32 channels to 1, 28x28, batch 64) took 10.6 ms where the same products
here take 2.4 ms, one thread each. Its backward is fast (it is a
convolution over the many input channels), so the backward is torch's own:
``convolution_backward``, the very call autograd makes for
``F.conv_transpose2d``, which keeps the gradients of any order.

How: every input pixel adds weight[c, :, i, j] * x[c] to the output pixel
its kernel tap (i, j) lands on. One matrix product gives, per tap and
output channel, the plane of those contributions over all input pixels; the
planes are then added into the output at the tap's offset, every
``stride``-th pixel, and the padding cropped. The sums run in another order
than oneDNN's, so results agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import torch

# Output channels up to which the tap planes beat oneDNN's forward: at 1 and
# 3 (grayscale and RGB image layers) they were 1.4x to 5x faster, at 8 three
# times slower, as the planes grow with the output channels times the taps.
MAX_OUT_CHANNELS = 3


def applies(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
            padding: tuple[int, int], output_padding: tuple[int, int]) -> bool:
    """Whether ``by_tap_planes`` is the faster way: a non-empty batch of float
    images on the CPU, in channels-last memory, and a layer with few output
    channels. (With a contiguous input, torch's backward, which the planes
    share, ran 3.7x slower from them than from its own forward: dcgan64's
    64-to-3 layer, batch 128, 2 threads.) Anything unusual (mismatched
    shapes or dtypes, an output of no pixels) is left to torch, whose errors
    say what is wrong."""
    if not (x.device.type == "cpu" and x.is_floating_point() and x.dim() == 4 and weight.dim() == 4
            and x.numel() > 0 and x.shape[1] == weight.shape[0] and weight.shape[1] <= MAX_OUT_CHANNELS
            and _memory_format(x) == torch.channels_last):
        return False
    # Under autocast the operands are cast to one dtype, as for torch's own.
    if not torch.is_autocast_enabled("cpu") and any(t is not None and t.dtype != x.dtype for t in (weight, bias)):
        return False
    if any(step < 1 or pad < 0 or not 0 <= extra < step
           for step, pad, extra in zip(stride, padding, output_padding)):
        return False
    return min(_output_size(x, weight, stride, padding, output_padding)[2:]) > 0


def _output_size(x: torch.Tensor, weight: torch.Tensor, stride, padding, output_padding) -> list[int]:
    return [x.shape[0], weight.shape[1]] + [
        (size - 1) * step + kernel + extra - 2 * pad
        for size, kernel, step, pad, extra in zip(x.shape[2:], weight.shape[2:], stride, padding, output_padding)]


def _memory_format(x: torch.Tensor) -> torch.memory_format:
    # x's layout, as torch's own output has it: channels-last only where x is
    # unambiguously so.
    channels_last = x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    return torch.channels_last if channels_last else torch.contiguous_format


# An op of its own, not an autograd.Function, so that torch.compile calls it
# whole: traced, its 25 strided additions took Inductor minutes to compile
# into a slower step. It needs no compiled library, so its schema is
# declared here, from the signature.
@torch.library.custom_op("pygan::conv_transpose2d_planes", mutates_args=())
def _planes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: list[int],
            padding: list[int], output_padding: list[int]) -> torch.Tensor:
    n, in_channels, height, width = x.shape
    _, out_channels, kernel_h, kernel_w = weight.shape
    (stride_h, stride_w), (pad_h, pad_w) = stride, padding
    # planes[i, j, o] is the (n, height, width) plane of tap (i, j)'s
    # contributions to output channel o. x as a (channels, pixels) matrix is
    # a view in either memory layout.
    planes = (weight.permute(2, 3, 1, 0).reshape(-1, in_channels)
              @ x.transpose(0, 1).reshape(in_channels, -1)).view(kernel_h, kernel_w, out_channels, n, height, width)
    # Every tap's plane at its offset in the uncropped output (the output and
    # its padding), channels first.
    _, _, out_h, out_w = _output_size(x, weight, stride, padding, output_padding)
    full = x.new_zeros(out_channels, n, out_h + 2 * pad_h, out_w + 2 * pad_w)
    for i in range(kernel_h):
        for j in range(kernel_w):
            full[:, :, i:i + (height - 1) * stride_h + 1:stride_h, j:j + (width - 1) * stride_w + 1:stride_w] += \
                planes[i, j]
    out = full[:, :, pad_h:pad_h + out_h, pad_w:pad_w + out_w].permute(1, 0, 2, 3)
    out = out.contiguous(memory_format=_memory_format(x))
    if bias is not None:
        out += bias.view(1, -1, 1, 1)
    return out


@_planes.register_fake
def _(x, weight, bias, stride, padding, output_padding):
    return torch.empty(_output_size(x, weight, stride, padding, output_padding), dtype=x.dtype, device=x.device,
                       memory_format=_memory_format(x))


def _setup_context(ctx, inputs, output):
    x, weight, bias, stride, padding, output_padding = inputs
    ctx.save_for_backward(x, weight)
    ctx.conv = (stride, padding, output_padding, bias is not None)


def _backward(ctx, grad):
    # torch's own backward of F.conv_transpose2d: the same call, so the same
    # gradients, bit for bit, and differentiable again.
    x, weight = ctx.saved_tensors
    stride, padding, output_padding, has_bias = ctx.conv
    mask = [ctx.needs_input_grad[0], ctx.needs_input_grad[1], has_bias and ctx.needs_input_grad[2]]
    grad_x, grad_weight, grad_bias = torch.ops.aten.convolution_backward(
        grad, x, weight, [weight.shape[1]] if has_bias else None, stride, padding, [1, 1], True, output_padding,
        1, mask)
    return grad_x, grad_weight, grad_bias, None, None, None


_planes.register_autograd(_backward, setup_context=_setup_context)


def by_tap_planes(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                  padding: tuple[int, int], output_padding: tuple[int, int]) -> torch.Tensor:
    """``F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)``
    (groups 1, dilation 1) as tap planes; see the module's docstring."""
    args = [list(stride), list(padding), list(output_padding)]
    if not torch.is_autocast_enabled("cpu"):
        return _planes(x, weight, bias, *args)
    # What autocast does for F.conv_transpose2d: every operand in its dtype,
    # so that the backward's convolution gets them alike.
    dtype = torch.get_autocast_dtype("cpu")
    x, weight, bias = (t if t is None else t.to(dtype) for t in (x, weight, bias))
    with torch.autocast("cpu", enabled=False):
        return _planes(x, weight, bias, *args)
