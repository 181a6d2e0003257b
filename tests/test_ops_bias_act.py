"""bias_act is the function its definition spells out (bias, activation,
gain, clamp; tests/conftest.py), forward and gradients, on every backend,
with NVlabs' StyleGAN2 defaults."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import (
    ACTIVATION_DEFAULTS,
    DEVICES,
    assert_matches,
    backend,
    bias_act_definition,
    bias_act_derivative_definition,
    layout,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck, gradgradcheck

import pygan.ops
from pygan.ops import reference


def fused(*args, **kwargs):
    """The compiled op, through the public function's argument handling."""
    with backend("fused"):
        out = pygan.ops.bias_act(*args, **kwargs)
        assert pygan.ops._selected[out.device.type, "bias_act"][0] == "fused"
        return out


IMPLEMENTATIONS = {"fused": fused, "reference": reference.bias_act}


@st.composite
def problems(draw):
    shape = (draw(st.integers(0, 5)), *draw(st.lists(st.integers(1, 5), max_size=3)))  # the first may be empty
    act = draw(st.sampled_from(sorted(ACTIVATION_DEFAULTS)))
    return dict(shape=shape, dim=draw(st.integers(-len(shape), len(shape) - 1)), bias=draw(st.booleans()), act=act,
                alpha=draw(st.sampled_from([None, 0.0, 0.1, -0.3])) if act == "lrelu" else None,
                gain=draw(st.sampled_from([None, 1.0, 0.5, -2.0])),
                clamp=draw(st.sampled_from([None, 0.0, 0.5, 256.0])),
                dtype=draw(st.sampled_from([torch.float32, torch.float64])),
                layout=draw(st.sampled_from(["contiguous", "channels_last", "strided"])))


def check(op, problem, device):
    """op's output and gradients for x and b match the definition's."""
    options = dict(dtype=problem["dtype"], device=device)
    # Spread over the activations' curves, saturations and clamps.
    x = layout(3 * torch.randn(problem["shape"], **options), problem["layout"]).requires_grad_()
    b = torch.randn(x.shape[problem["dim"]], **options).requires_grad_() if problem["bias"] else None
    inputs = [t for t in (x, b) if t is not None]
    expected_inputs = [t.detach().clone().requires_grad_() for t in inputs]
    args = dict(dim=problem["dim"], act=problem["act"], alpha=problem["alpha"], gain=problem["gain"],
                clamp=problem["clamp"])
    out = op(*inputs, **args)
    expected = bias_act_definition(*expected_inputs, **args)
    assert_matches(out, expected)
    grad = torch.randn_like(expected)
    for actual_grad, expected_grad in zip(torch.autograd.grad(out, inputs, grad, allow_unused=True),
                                          torch.autograd.grad(expected, expected_inputs, grad, allow_unused=True)):
        if expected_grad is not None:  # nothing flows back through an empty tensor
            assert_matches(actual_grad, expected_grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=100, deadline=None)
@given(problem=problems())
def test_matches_definition(implementation, device, problem):
    check(IMPLEMENTATIONS[implementation], problem, device)


@pytest.mark.parametrize("act", sorted(ACTIVATION_DEFAULTS))
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_defaults_are_nvlabs(implementation, act):
    x = torch.linspace(-3, 3, 13, dtype=torch.float64)
    alpha, gain = ACTIVATION_DEFAULTS[act]
    unscaled = IMPLEMENTATIONS[implementation](x, act=act, gain=1.0, **({"alpha": alpha} if act == "lrelu" else {}))
    assert_matches(IMPLEMENTATIONS[implementation](x, act=act), unscaled * gain)


def test_stylegan2_layer_values():
    # A synthesis layer's activation: lrelu with gain sqrt(2), bias per channel, clamped to 256.
    x = torch.tensor([[[[-1.0, 2.0]], [[300.0, -400.0]]]], dtype=torch.float64)
    b = torch.tensor([0.5, 0.0], dtype=torch.float64)
    out = pygan.ops.bias_act(x, b, act="lrelu", clamp=256)
    expected = [[[[-0.5 * 0.2 * math.sqrt(2), 2.5 * math.sqrt(2)]], [[256.0, -400 * 0.2 * math.sqrt(2)]]]]
    assert_matches(out, torch.tensor(expected, dtype=torch.float64))


@pytest.mark.parametrize("kwargs, message", [
    (dict(act="gelu"), "unknown activation 'gelu'"),
    (dict(act="tanh", alpha=0.1), "takes none"),
    (dict(clamp=-1.0), "clamp must be"),
    (dict(clamp=math.inf), "clamp must be"),
    (dict(b=torch.randn(4)), r"expected a bias of shape \[3\]"),
    (dict(b=torch.randn(3, 1)), r"expected a bias of shape \[3\]"),
    (dict(b=torch.randn(5), dim=4), "dim 4 is out of range"),
])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bad_arguments_are_clear_errors(implementation, kwargs, message):
    with pytest.raises(ValueError, match=message):
        IMPLEMENTATIONS[implementation](torch.randn(2, 3, 4, 5), **kwargs)


def test_dim_and_no_bias():
    x, b = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    assert_matches(pygan.ops.bias_act(x, b, dim=-1), x + b)
    assert_matches(pygan.ops.bias_act(x, None, dim=7, act="relu", gain=1.0), x.clamp(min=0))  # dim unused


@pytest.mark.parametrize("args, message", [
    ((torch.randn(2, 3), None, 1, "gelu", 0.0, 1.0, None), "unknown activation 'gelu'; choose one of linear, relu"),
    ((torch.randn(2, 3), torch.randn(2), 1, "relu", 0.0, 1.0, None), r"expected a bias of shape \[3\]"),
    ((torch.randn(2, 3), torch.randn(3), 2, "relu", 0.0, 1.0, None), "dim 2 is out of range"),
    ((torch.randn(2, 3), torch.randn(3).double(), 1, "relu", 0.0, 1.0, None), "dtype"),
    ((torch.randn(2, 3), None, 1, "relu", 0.0, 1.0, -1.0), "clamp must be"),
    ((torch.randn(2, 3).half(), None, 1, "relu", 0.0, 1.0, None), "float32 and float64"),
])
def test_the_op_refuses_bad_arguments_clearly(args, message):
    with pytest.raises(RuntimeError, match=message):
        torch.ops.pygan.bias_act(*args)


def test_the_gradient_op_refuses_bad_arguments_clearly():
    x = torch.randn(2, 3)
    with pytest.raises(RuntimeError, match="order 1 and 2, not 3"):
        torch.ops.pygan.bias_act_grad(x, x, None, 3, 1, "tanh", 0.0, 1.0, None)
    with pytest.raises(RuntimeError, match=r"grad has shape \[3, 2\]"):
        torch.ops.pygan.bias_act_grad(x.t(), x, None, 1, 1, "tanh", 0.0, 1.0, None)
    with pytest.raises(RuntimeError, match="grad is on meta"):
        torch.ops.pygan.bias_act_grad(x.to("meta"), x, None, 1, 1, "tanh", 0.0, 1.0, None)


@pytest.mark.parametrize("kind", ["contiguous", "channels_last", "strided"])
def test_the_output_is_laid_out_as_empty_like(kind):
    x = layout(torch.randn(2, 3, 4, 5), kind)
    out = torch.ops.pygan.bias_act(x, torch.randn(3), 1, "lrelu", 0.2, 1.0, None)
    assert out.stride() == torch.empty_like(x).stride()


def test_autocast_runs_the_cpu_kernel_in_float32():
    # --precision bf16: a bfloat16 activation beside a float32 bias.
    x, b = torch.randn(2, 3, 4, 4, dtype=torch.bfloat16), torch.randn(3)
    with backend("fused"), torch.autocast("cpu", dtype=torch.bfloat16):
        out = pygan.ops.bias_act(x, b, act="lrelu", clamp=1.0)
    assert out.dtype == torch.float32
    assert_matches(out, bias_act_definition(x.float(), b, act="lrelu", clamp=1.0))


# --- autograd: gradients of both orders, opcheck, torch.compile ---------------------------------------------------

ops = torch.ops.pygan


def autograd_inputs(device, shape=(2, 3, 2, 3), dim=1):
    generator = torch.Generator().manual_seed(0)
    x = (3 * torch.randn(shape, generator=generator, dtype=torch.float64)).to(device).requires_grad_()
    b = torch.randn(shape[dim], generator=generator, dtype=torch.float64).to(device).requires_grad_()
    return x, b


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("clamp", [None, 1.0])
@pytest.mark.parametrize("act", sorted(ACTIVATION_DEFAULTS))
def test_gradcheck_and_gradgradcheck(device, act, clamp):
    # Seeded values: none lies within gradcheck's step of a kink or of the clamp.
    x, b = autograd_inputs(device)
    alpha, gain = ACTIVATION_DEFAULTS[act]

    def f(x, b):
        return ops.bias_act(x, b, 1, act, alpha, gain, clamp)

    assert gradcheck(f, (x, b))
    assert gradgradcheck(f, (x, b))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("clamp", [None, 1.0])
@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("act", sorted(ACTIVATION_DEFAULTS))
def test_gradient_kernels_match_the_definition(device, act, order, clamp):
    x, b = (t.detach() for t in autograd_inputs(device))
    grad = torch.randn_like(x)
    alpha, gain = ACTIVATION_DEFAULTS[act]
    expected = bias_act_derivative_definition(x, b, 1, act, clamp, order, grad)
    assert_matches(ops.bias_act_grad(grad, x, b, order, 1, act, alpha, gain, clamp), expected)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("act", ["lrelu", "swish"])
def test_r1_penalty_matches_the_reference(device, act):
    """R1 differentiates the input gradient once more: through a convolution,
    bias_act (clamped) and a downsampling, fused against reference."""
    x, b = autograd_inputs(device, (2, 3, 8, 8))
    weight = torch.randn(4, 3, 3, 3, dtype=torch.float64, device=device, requires_grad=True)
    f = pygan.ops.setup_filter([1, 3, 3, 1], device=device)

    def penalty(name):
        with backend(name):
            features = torch.nn.functional.conv2d(x, weight, padding=1)
            out = pygan.ops.downsample2d(pygan.ops.bias_act(features, b[:1].expand(4), act=act, clamp=2.0), f)
            (grad_x,) = torch.autograd.grad(out.square().sum(), x, create_graph=True)
            return torch.autograd.grad(grad_x.square().sum(), (weight, b))

    for fused_grad, reference_grad in zip(penalty("fused"), penalty("reference")):
        assert_matches(fused_grad, reference_grad)


def test_a_third_order_of_a_curved_activation_is_refused_clearly():
    x, b = autograd_inputs("cpu", (3,), dim=0)
    (g,) = torch.autograd.grad(ops.bias_act(x, b, 0, "tanh", 0.0, 1.0, None).sum(), x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="stop at the second order"):
        torch.autograd.grad(gg.sum(), x)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opcheck(device, dtype):
    x, b = (t.detach().to(dtype).requires_grad_() for t in autograd_inputs(device))
    grad = torch.randn_like(x)
    for args in [(x, b, 1, "lrelu", 0.2, 2 ** 0.5, 256.0), (x, None, 1, "tanh", 0.0, 1.0, None),
                 (x.detach().contiguous(memory_format=torch.channels_last).requires_grad_(), b, 1, "swish", 0.0, 1.0,
                  0.5)]:
        torch.library.opcheck(ops.bias_act.default, args)
    torch.library.opcheck(ops.bias_act_grad.default, (grad, x, b, 1, 1, "sigmoid", 0.0, 1.0, 0.5))
    # The second order's own derivative in x is the unsupported third order: x takes none here.
    torch.library.opcheck(ops.bias_act_grad.default, (grad.requires_grad_(), x.detach(), None, 2, 1, "elu", 0.0, 1.0,
                                                      None))


@pytest.mark.parametrize("device", DEVICES)
def test_compiled_matches_eager(device):
    x, b = (t.detach().float().requires_grad_() for t in autograd_inputs(device))

    def layer(x, b):
        return pygan.ops.bias_act(x, b, act="lrelu", clamp=256).square().sum()

    def value_and_gradients(fn):
        out = fn(x, b)
        return [out.detach(), *torch.autograd.grad(out, (x, b))]

    with backend("fused"):
        eager = value_and_gradients(layer)
        compiled = value_and_gradients(torch.compile(layer, fullgraph=True))
    torch.testing.assert_close(compiled, eager)
