"""bias_act is the function its definition spells out (bias, activation,
gain, clamp; tests/conftest.py), forward and gradients, on every backend,
with NVlabs' StyleGAN2 defaults."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import ACTIVATION_DEFAULTS, DEVICES, assert_matches, bias_act_definition, layout
from hypothesis import given, settings
from hypothesis import strategies as st

import pygan.ops
from pygan.ops import reference

IMPLEMENTATIONS = {"public": pygan.ops.bias_act, "reference": reference.bias_act}


@st.composite
def problems(draw):
    shape = (draw(st.integers(0, 5)), *draw(st.lists(st.integers(1, 5), max_size=3)))  # the first may be empty
    act = draw(st.sampled_from(sorted(ACTIVATION_DEFAULTS)))
    return dict(shape=shape, dim=draw(st.integers(-len(shape), len(shape) - 1)), bias=draw(st.booleans()), act=act,
                alpha=draw(st.sampled_from([None, 0.0, 0.1, -0.3])) if act == "lrelu" else None,
                gain=draw(st.sampled_from([None, 1.0, 0.5, -2.0])), clamp=draw(st.sampled_from([None, 0.0, 0.5, 256.0])),
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
