"""The CPU kernels' Winograd path (csrc/winograd.h): 5x5 layers of stride 1
(F(4x4, 5x5)) and stride 2 (F(4x4, 3x3) of the input's pixel phases) with at
least 128 output channels and 128 input channels (at stride 2, counting each
of the input's four times). It computes the definition, forward and every
gradient, at every size, padding and tile edge; its float32 rounding is
bounded on the seed discriminator's layers."""

from __future__ import annotations

import pytest
import torch
from conftest import TOLERANCE, WINOGRAD_TOLERANCE, assert_matches, check_op, layout
from conftest import leaky_relu_conv2d_definition as definition
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck, gradgradcheck

import pygan.ops  # noqa: F401  (registers the fake impls and autograd formulas)
from pygan.ops import reference

ops = torch.ops.pygan
# The fewest input channels that take the path at each stride, and one more.
CHANNELS = {1: [128, 129], 2: [32, 33]}
# (x shape, out channels, stride, padding): one layer of each algorithm, with
# asymmetric padding and a partial tile.
CASES = [((1, 128, 5, 6), 128, [1, 1], [2, 1, 0, 3]), ((1, 32, 9, 7), 128, [2, 2], [1, 2, 2, 1])]


@st.composite
def problems(draw):
    stride = draw(st.sampled_from([1, 2]))
    padding = tuple(draw(st.integers(0, 4)) for _ in range(4))
    # The padded image holds a kernel; outputs up to three tiles of 4 a side.
    height = draw(st.integers(max(1, 5 - padding[0] - padding[1]), 6 + 6 * stride))
    width = draw(st.integers(max(1, 5 - padding[2] - padding[3]), 6 + 6 * stride))
    return dict(
        shape=(draw(st.integers(0, 3)), draw(st.sampled_from(CHANNELS[stride])), height, width),
        out_channels=draw(st.sampled_from([128, 131])),
        stride=(stride, stride),
        padding=padding,
        bias=draw(st.booleans()),
        negative_slope=draw(st.sampled_from([0.0, 0.2, 1.0])),
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        layout=draw(st.sampled_from(["contiguous", "channels_last", "strided"])),
    )


def operands(shape, out_channels, dtype=torch.float64, bias=True):
    x = torch.randn(shape, dtype=dtype)
    weight = torch.randn(out_channels, shape[1], 5, 5, dtype=dtype) / (5 * shape[1] ** 0.5)
    return x, weight, torch.randn(out_channels, dtype=dtype) if bias else None


def outputs_and_gradients(op, x, weight, bias, stride, padding, slope, grad):
    """op's output, and its gradients for x, weight and bias (when given)."""
    inputs = [t.detach().requires_grad_() for t in (x, weight, bias) if t is not None]
    out = op(inputs[0], inputs[1], inputs[2] if bias is not None else None, stride, padding, slope)
    return [out.detach(), *torch.autograd.grad(out, inputs, grad.to(out.dtype))]


@settings(max_examples=40, deadline=None)
@given(problem=problems())
def test_matches_definition(problem):
    x, weight, bias = operands(problem["shape"], problem["out_channels"], problem["dtype"], problem["bias"])
    check_op(ops.leaky_relu_conv2d, layout(x, problem["layout"]), weight, bias, problem["stride"],
             problem["padding"], problem["negative_slope"], WINOGRAD_TOLERANCE)


@pytest.mark.parametrize("layer", [(64, 7, 128, 2, (2, 2, 2, 2)), (128, 4, 256, 1, (2, 2, 2, 2))],
                         ids=["block3", "block4"])
def test_float32_rounding_on_the_seed_layers(layer):
    """Against the float64 definition, with Keras' initial weights: within
    WINOGRAD_TOLERANCE of the values' scale."""
    channels, size, out_channels, stride, padding = layer
    torch.manual_seed(0)
    x = torch.randn(16, channels, size, size)
    weight = torch.nn.init.xavier_uniform_(torch.empty(out_channels, channels, 5, 5))
    bias = torch.randn(out_channels) / 10
    args = ((stride, stride), padding, 0.2)
    grad = torch.randn_like(definition(x, weight, bias, *args))
    exact = outputs_and_gradients(definition, x.double(), weight.double(), bias.double(), *args, grad.double())
    for actual, expected in zip(outputs_and_gradients(ops.leaky_relu_conv2d, x, weight, bias, *args, grad), exact):
        assert_matches(actual.double(), expected, {torch.float64: WINOGRAD_TOLERANCE[torch.float32]})


@pytest.mark.parametrize("case", CASES, ids=["stride1", "stride2"])
def test_gradcheck_and_gradgradcheck(case):
    x_shape, out_channels, stride, padding = case
    x, weight, bias = (t.requires_grad_() for t in operands(x_shape, out_channels))

    def f(x, weight, bias):
        return ops.leaky_relu_conv2d(x, weight, bias, stride, padding, 0.2)

    # Fast mode checks a random projection of the Jacobian: the weights alone
    # have 100,000 entries to perturb.
    assert gradcheck(f, (x, weight, bias), fast_mode=True)
    assert gradgradcheck(f, (x, weight, bias), fast_mode=True)


@pytest.mark.parametrize("case", CASES, ids=["stride1", "stride2"])
def test_gradient_penalty_matches_the_reference(case):
    x_shape, out_channels, stride, padding = case
    x, weight, bias = (t.requires_grad_() for t in operands(x_shape, out_channels))

    def penalty(op):
        out = op(x, weight, bias, stride, padding, 0.2)
        (grad_x,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
        return torch.autograd.grad(grad_x.square().sum(), (weight, bias))

    for fused_grad, reference_grad in zip(penalty(ops.leaky_relu_conv2d), penalty(reference.leaky_relu_conv2d)):
        assert_matches(fused_grad, reference_grad, TOLERANCE)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", CASES, ids=["stride1", "stride2"])
def test_opcheck(case, dtype):
    x_shape, out_channels, stride, padding = case
    x, weight, bias = (t.to(dtype).requires_grad_() for t in operands(x_shape, out_channels))
    grad_output = torch.randn_like(definition(x, weight, bias, stride, padding, 0.2)).requires_grad_()
    torch.library.opcheck(ops.leaky_relu_conv2d.default, (x, weight, bias, stride, padding, 0.2))
    torch.library.opcheck(ops.leaky_relu_conv2d_backward_input.default, (grad_output, x, weight, stride, padding, 0.2))
    torch.library.opcheck(ops.leaky_relu_conv2d_backward_weight.default,
                          (grad_output, x, list(weight.shape), stride, padding, 0.2))


@pytest.mark.parametrize("stride, channels, taken", [(1, 128, True), (1, 127, False), (2, 32, True), (2, 31, False)])
def test_which_layers_take_the_path(stride, channels, taken):
    """Winograd spreads each input's rounding over its whole tile: in float32
    a huge input pixel perturbs an output pixel whose patch does not reach it,
    which direct convolution leaves exact. So whether a layer took the path
    shows: 128 output channels and 128 input channels at stride 1, 32 (four
    phases of 32) at stride 2, not one fewer."""
    torch.manual_seed(0)
    size = 4 * stride - stride + 1  # one tile of output with padding 2
    x, weight, bias = operands((1, channels, size, size), 128, torch.float32)
    x[:, :, -1, -1] = 1e6  # outside output pixel (0, 0)'s patch, which spans input rows and columns -2 to 2
    args = (x, weight, bias, [stride, stride], [2, 2, 2, 2], 1.0)
    error = (ops.leaky_relu_conv2d(*args)[0, :, 0, 0].double() - definition(*args)[0, :, 0, 0].double()).abs().max()
    assert (error > 1e-2) == taken, f"error {error.item():.3g} at an output pixel the huge one does not touch"


@pytest.mark.parametrize("layer", [(64, 7, 128, 2, 610), (128, 4, 256, 1, 341)], ids=["block3", "block4"])
def test_a_batch_of_several_chunks(layer):
    """The kernels work through the batch in chunks of transformed tiles of
    at most 2**22 elements: 303 samples of block 3, 170 of block 4. Two
    whole chunks and a part, the weight gradient summed over all three."""
    channels, size, out_channels, stride, batch = layer
    x, weight, bias = operands((batch, channels, size, size), out_channels, torch.float32)
    check_op(ops.leaky_relu_conv2d, x, weight, bias, (stride, stride), (2, 2, 2, 2), 0.2, WINOGRAD_TOLERANCE)


def test_a_layer_whose_scratch_is_not_kept():
    """Scratch beyond 64 MiB is the call's own, freed after it: 512 to 512
    channels at stride 1 transform the weights into 64 MiB alone."""
    x, weight, bias = operands((2, 512, 4, 4), 512, torch.float32)
    check_op(ops.leaky_relu_conv2d, x, weight, bias, (1, 1), (2, 2, 2, 2), 0.2, WINOGRAD_TOLERANCE)
