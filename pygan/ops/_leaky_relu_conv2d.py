"""Fake (meta) implementations and autograd formulas of the fused
``pygan::leaky_relu_conv2d`` op and its two backward ops, shared by every
device's kernels. Imported only once the extension has defined the ops.

Backward saves the input x, not leaky_relu(x): the kernels recompute the
activation. The backward ops have autograd formulas too, written with the
fused ops themselves, so double backward (gradient penalties) works. With
a = leaky_relu(x) and m = leaky_relu'(x) (1 where x > 0, else the slope):

    forward          y  = conv(a, w) + b
    backward_input   gx = conv_transpose(gy, w) * m     (linear in gy and w; 0 a.e. in x)
    backward_weight  gw = correlate(gy, a), gb = sum(gy) (linear in gy and in a)

A negative slope of 1 makes leaky_relu the identity, which lets the fused ops
express conv(m * v, w) and correlate(gy, m * v).
"""

from __future__ import annotations

import torch

from pygan.ops._autocast import run_in_autocast_dtype_on_cuda

_ops = torch.ops.pygan


def _output_shape(x, weight_size, stride, padding):
    n, _, height, width = x.shape
    out_channels, _, kernel_h, kernel_w = weight_size
    top, bottom, left, right = padding
    return (n, out_channels, (height + top + bottom - kernel_h) // stride[0] + 1,
            (width + left + right - kernel_w) // stride[1] + 1)


def _channels_last(shape, like: torch.Tensor) -> torch.Tensor:
    # The CPU kernels compute in NHWC and return channels-last tensors.
    return torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=torch.channels_last)


def _check_devices(x, **operands):
    # A call mixing the meta device with another reaches only this fake
    # implementation (Meta outranks CPU and CUDA in dispatch), never a kernel's
    # device check, so it is refused here; torch's conv2d would return a CPU
    # tensor of uninitialized values.
    for name, t in operands.items():
        torch._check(t is None or t.device == x.device,
                     lambda: f"pygan::leaky_relu_conv2d: {name} is on {t.device} but the input is on {x.device}")


@torch.library.register_fake("pygan::leaky_relu_conv2d")
def _(x, weight, bias, stride, padding, negative_slope):
    _check_devices(x, weight=weight, bias=bias)
    torch._check(x.dim() == 4 and weight.dim() == 4, lambda: "leaky_relu_conv2d: expected 4-d input and weight")
    torch._check(x.shape[1] == weight.shape[1], lambda: "leaky_relu_conv2d: input and weight channels differ")
    return _channels_last(_output_shape(x, weight.shape, stride, padding), x)


@torch.library.register_fake("pygan::leaky_relu_conv2d_backward_input")
def _(grad_output, x, weight, stride, padding, negative_slope):
    _check_devices(x, grad_output=grad_output, weight=weight)
    return _channels_last(x.shape, x)


@torch.library.register_fake("pygan::leaky_relu_conv2d_backward_weight")
def _(grad_output, x, weight_size, stride, padding, negative_slope):
    _check_devices(x, grad_output=grad_output)
    return x.new_empty(weight_size), x.new_empty(weight_size[0])


def _activation_derivative(x: torch.Tensor, negative_slope: float) -> torch.Tensor:
    # Built in x's dtype: a Python float slope would round through float32.
    return torch.where(x > 0, torch.ones_like(x), torch.full_like(x, negative_slope))


def _setup_forward(ctx, inputs, output):
    x, weight, bias, stride, padding, negative_slope = inputs
    ctx.save_for_backward(x, weight)
    ctx.conv = (stride, padding, negative_slope)


def _backward_forward(ctx, grad):
    x, weight = ctx.saved_tensors
    # Both kernels read grad in NHWC: convert it once, not once each.
    grad = grad.contiguous(memory_format=torch.channels_last)
    needs_x, needs_weight, needs_bias = ctx.needs_input_grad[:3]
    grad_x = _ops.leaky_relu_conv2d_backward_input(grad, x, weight, *ctx.conv) if needs_x else None
    grad_weight = grad_bias = None
    if needs_weight or needs_bias:
        grad_weight, grad_bias = _ops.leaky_relu_conv2d_backward_weight(grad, x, weight.shape, *ctx.conv)
    return (grad_x, grad_weight if needs_weight else None, grad_bias if needs_bias else None,
            None, None, None)


def _setup_backward_input(ctx, inputs, output):
    grad_output, x, weight, stride, padding, negative_slope = inputs
    ctx.save_for_backward(grad_output, x, weight)
    ctx.conv = (stride, padding, negative_slope)


def _backward_backward_input(ctx, grad):
    grad_output, x, weight = ctx.saved_tensors
    stride, padding, negative_slope = ctx.conv
    masked = grad * _activation_derivative(x, negative_slope)
    needs_grad_output, _, needs_weight = ctx.needs_input_grad[:3]
    d_grad_output = (_ops.leaky_relu_conv2d(masked, weight, None, stride, padding, 1.0)
                     if needs_grad_output else None)
    d_weight = (_ops.leaky_relu_conv2d_backward_weight(grad_output, masked, weight.shape, stride, padding, 1.0)[0]
                if needs_weight else None)
    # backward_input is piecewise constant in x: its derivative there is 0 almost everywhere.
    return d_grad_output, None, d_weight, None, None, None


def _setup_backward_weight(ctx, inputs, output):
    grad_output, x, weight_size, stride, padding, negative_slope = inputs
    ctx.save_for_backward(grad_output, x)
    ctx.conv = (stride, padding, negative_slope)


def _backward_backward_weight(ctx, grad_weight_grad, grad_bias_grad):
    grad_output, x = ctx.saved_tensors
    needs_grad_output, needs_x = ctx.needs_input_grad[:2]
    # The bias gradient sums grad_output over pixels: its derivative spreads
    # grad_bias_grad over every pixel, which is what the forward's bias adds.
    d_grad_output = (_ops.leaky_relu_conv2d(x, grad_weight_grad, grad_bias_grad, *ctx.conv)
                     if needs_grad_output else None)
    d_x = _ops.leaky_relu_conv2d_backward_input(grad_output, x, grad_weight_grad, *ctx.conv) if needs_x else None
    return d_grad_output, d_x, None, None, None, None


torch.library.register_autograd("pygan::leaky_relu_conv2d", _backward_forward, setup_context=_setup_forward)
torch.library.register_autograd("pygan::leaky_relu_conv2d_backward_input", _backward_backward_input,
                                setup_context=_setup_backward_input)
torch.library.register_autograd("pygan::leaky_relu_conv2d_backward_weight", _backward_backward_weight,
                                setup_context=_setup_backward_weight)
# Under autocast (--precision bf16) the CPU kernels, which have no 16-bit
# path, take float32 inputs: mixed-precision callers pass bfloat16 activations
# beside float32 weights.
torch.library.register_autocast("pygan::leaky_relu_conv2d", "cpu", torch.float32)

run_in_autocast_dtype_on_cuda("leaky_relu_conv2d")
