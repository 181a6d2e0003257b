"""Autograd of the fused op on every device: numerical gradient checks
(first and second order), torch.library.opcheck, and torch.compile of the
seed discriminator."""

from __future__ import annotations

import pytest
import torch
from conftest import DEVICES
from torch.autograd import gradcheck, gradgradcheck

import pygan.ops  # noqa: F401  (registers the fake impls and autograd formulas)

ops = torch.ops.pygan

# (x shape, weight shape, stride, padding): asymmetric padding, strides 1 and 2,
# a single channel, a non-square kernel.
CASES = [
    ((2, 3, 6, 7), (4, 3, 3, 3), [2, 1], [0, 1, 2, 1]),
    ((1, 1, 5, 5), (2, 1, 5, 5), [2, 2], [1, 2, 1, 2]),
    ((2, 2, 4, 4), (3, 2, 2, 3), [1, 1], [2, 2, 2, 2]),
]
SLOPES = [0.0, 0.2, 1.0]


def away_from_zero(*shape, device="cpu"):
    """Values with |v| >= 0.1: the numerical derivative never straddles the activation's kink."""
    values = torch.rand(*shape, dtype=torch.float64) + 0.1
    signs = torch.randint(0, 2, shape, dtype=torch.float64).mul(2).sub(1)
    return (values * signs).to(device).requires_grad_()


def inputs(case, device):
    x_shape, weight_shape, stride, padding = case
    return (away_from_zero(*x_shape, device=device), away_from_zero(*weight_shape, device=device),
            away_from_zero(weight_shape[0], device=device), stride, padding)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("case", CASES)
def test_gradcheck_and_gradgradcheck(case, slope, device):
    x, weight, bias, stride, padding = inputs(case, device)

    def f(x, weight, bias):
        return ops.leaky_relu_conv2d(x, weight, bias, stride, padding, slope)

    assert gradcheck(f, (x, weight, bias))
    assert gradgradcheck(f, (x, weight, bias))


@pytest.mark.parametrize("device", DEVICES)
def test_backward_ops_have_gradients(device):
    x, weight, _, stride, padding = inputs(CASES[0], device)
    grad_output = away_from_zero(*ops.leaky_relu_conv2d(x, weight, None, stride, padding, 0.2).shape, device=device)
    assert gradcheck(lambda g, w: ops.leaky_relu_conv2d_backward_input(g, x, w, stride, padding, 0.2),
                     (grad_output, weight))
    assert gradcheck(lambda g, x: ops.leaky_relu_conv2d_backward_weight(g, x, weight.shape, stride, padding, 0.2),
                     (grad_output, x))


@pytest.mark.parametrize("device", DEVICES)
def test_gradient_penalty_matches_the_reference(device):
    """A WGAN-GP style penalty differentiates the input gradient once more."""
    from pygan.ops import reference

    x, weight, bias, stride, padding = inputs(CASES[0], device)

    def penalty(op):
        out = op(x, weight, bias, stride, padding, 0.2)
        (grad_x,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
        return torch.autograd.grad(grad_x.square().sum(), (weight, bias))

    for fused_grad, reference_grad in zip(penalty(ops.leaky_relu_conv2d), penalty(reference.leaky_relu_conv2d)):
        scale = reference_grad.abs().max().item()
        torch.testing.assert_close(fused_grad, reference_grad, rtol=1e-10, atol=1e-10 * scale)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_opcheck(dtype, device):
    if dtype == torch.bfloat16 and device == "cpu":
        pytest.skip("the CPU kernels take float32 and float64 (autocast casts bfloat16 to float32 for them)")
    x, weight, bias, stride, padding = (t.detach().to(dtype).requires_grad_() if isinstance(t, torch.Tensor) else t
                                        for t in inputs(CASES[0], device))
    grad_output = torch.randn(2, 4, 3, 8, dtype=dtype, device=device, requires_grad=True)
    torch.library.opcheck(ops.leaky_relu_conv2d.default, (x, weight, bias, stride, padding, 0.2))
    torch.library.opcheck(ops.leaky_relu_conv2d.default, (x, weight, None, stride, padding, 0.2))
    torch.library.opcheck(ops.leaky_relu_conv2d_backward_input.default, (grad_output, x, weight, stride, padding, 0.2))
    torch.library.opcheck(ops.leaky_relu_conv2d_backward_weight.default,
                          (grad_output, x, list(weight.shape), stride, padding, 0.2))


@pytest.mark.slow
@pytest.mark.parametrize("device", DEVICES)
def test_compiled_discriminator_matches_eager(device, no_tf32):
    from pygan_plugins.dcgan import Discriminator

    torch.manual_seed(0)
    discriminator = Discriminator().to(device)
    images = torch.rand(4, 1, 28, 28, device=device)

    def step(model):
        model.zero_grad(set_to_none=True)
        logits = model(images)
        logits.sum().backward()
        return [logits.detach()] + [p.grad for p in model.parameters()]

    eager = step(discriminator)
    compiled = step(torch.compile(discriminator, fullgraph=True))
    for compiled_value, eager_value in zip(compiled, eager):
        torch.testing.assert_close(compiled_value, eager_value, rtol=1e-5, atol=1e-5)
