"""Fake (meta) implementations and autograd formulas of ``pygan::bias_act``
and ``pygan::bias_act_grad``, shared by every device's kernels. Imported
only once the extension has defined the ops.

With v = x + b (b broadcast along ``dim``) and D_k(v) = gain * act^(k)(v),
zero where the clamp cut the output:

    bias_act             y  = clamp(gain * act(v))
    bias_act_grad(k)     gv = g * D_k(v)         (linear in g)
    d gv / d v               = g * D_{k+1}(v)

so the gradient is bias_act_grad of order 1, and its own gradient in g is
bias_act_grad again and in x is bias_act_grad of order 2: R1's double
backward. The bias's gradient is the input's summed over the other
dimensions. For linear, relu and lrelu, D_2 is zero almost everywhere. As
NVlabs', gradients stop at the second order: a third of a curved activation
is refused.

Backward saves x and b, not the output: the kernels recompute the
activation (and the clamp's mask) as they go.
"""

from __future__ import annotations

import torch

from pygan.ops._autocast import run_in_autocast_dtype_on_cuda
from pygan.ops._parameters import ACTIVATIONS

_ops = torch.ops.pygan


def _check_devices(x, **operands):
    # A call mixing the meta device with another reaches only this fake
    # implementation (Meta outranks CPU and CUDA), never a kernel's checks.
    for name, t in operands.items():
        torch._check(t is None or t.device == x.device,
                     lambda: f"pygan::bias_act: {name} is on {t.device} but the input is on {x.device}")


@torch.library.register_fake("pygan::bias_act")
def _(x, b, dim, act, alpha, gain, clamp):
    _check_devices(x, b=b)
    return torch.empty_like(x)


@torch.library.register_fake("pygan::bias_act_grad")
def _(grad, x, b, order, dim, act, alpha, gain, clamp):
    _check_devices(x, grad=grad, b=b)
    return torch.empty_like(x)


def _sum_to_bias(t: torch.Tensor, dim: int) -> torch.Tensor:
    """t summed over every dimension but dim: the bias's share of a gradient."""
    others = [d for d in range(t.dim()) if d != dim]
    return t.sum(others) if others else t


def _setup_forward(ctx, inputs, output):
    x, b, dim, act, alpha, gain, clamp = inputs
    ctx.save_for_backward(x, b)
    ctx.settings = (dim, act, alpha, gain, clamp)


def _backward_forward(ctx, grad):
    x, b = ctx.saved_tensors
    needs_x, needs_b = ctx.needs_input_grad[:2]
    grad_x = _ops.bias_act_grad(grad, x, b, 1, *ctx.settings) if needs_x or needs_b else None
    grad_b = _sum_to_bias(grad_x, ctx.settings[0]) if needs_b else None
    return grad_x if needs_x else None, grad_b, None, None, None, None, None


def _setup_grad(ctx, inputs, output):
    grad, x, b, order, dim, act, alpha, gain, clamp = inputs
    ctx.save_for_backward(grad, x, b)
    ctx.order, ctx.settings = order, (dim, act, alpha, gain, clamp)


def _backward_grad(ctx, grad_grad):
    grad, x, b = ctx.saved_tensors
    needs_grad, needs_x, needs_b = ctx.needs_input_grad[:3]
    dim, act = ctx.settings[:2]
    d_grad = _ops.bias_act_grad(grad_grad, x, b, ctx.order, *ctx.settings) if needs_grad else None
    d_x = d_b = None
    # Piecewise linear activations: the gradient's derivative in x is zero almost everywhere.
    if (needs_x or needs_b) and ACTIVATIONS[act].curved:
        if ctx.order >= 2:
            raise RuntimeError(f"pygan.ops.bias_act: gradients of {act!r} stop at the second order "
                               "(as NVlabs' bias_act's); a third was asked for")
        d_x = _ops.bias_act_grad(grad_grad * grad, x, b, 2, *ctx.settings)
        d_b = _sum_to_bias(d_x, dim) if needs_b else None
    return d_grad, d_x if needs_x else None, d_b, None, None, None, None, None, None


torch.library.register_autograd("pygan::bias_act", _backward_forward, setup_context=_setup_forward)
torch.library.register_autograd("pygan::bias_act_grad", _backward_grad, setup_context=_setup_grad)
# Under autocast (--precision bf16) the CPU kernels, which have no 16-bit
# path, take float32: the bias of a bfloat16 activation is a float32 weight.
torch.library.register_autocast("pygan::bias_act", "cpu", torch.float32)
run_in_autocast_dtype_on_cuda("bias_act")
