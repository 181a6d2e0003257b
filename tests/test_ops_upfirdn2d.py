"""upfirdn2d is the function its definition spells out (upsample, pad, FIR
filter, downsample, gain; tests/conftest.py), forward and gradient, on every
backend; its helpers pad as NVlabs' StyleGAN2 does."""

from __future__ import annotations

import pytest
import torch
from conftest import DEVICES, assert_matches, backend, layout, upfirdn2d_definition
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch.autograd import gradcheck, gradgradcheck

import pygan.ops
from pygan.ops import reference


def fused(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """The compiled op, through the public function's argument handling."""
    with backend("fused"):
        out = pygan.ops.upfirdn2d(x, f, up, down, padding, flip_filter, gain)
        assert pygan.ops._selected[x.device.type, "upfirdn2d"][0] == "fused"
        return out


IMPLEMENTATIONS = {"fused": fused, "reference": reference.upfirdn2d}


@st.composite
def problems(draw):
    separable = draw(st.booleans())
    taps = (draw(st.integers(1, 4)),) if separable else (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    up, down = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(-2, 3)) for _ in range(4))
    shape = (draw(st.integers(0, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7)))
    width, height = taps[-1], taps[0]
    assume(shape[3] * up[0] + padding[0] + padding[1] >= width and shape[2] * up[1] + padding[2] + padding[3] >= height)
    return dict(shape=shape, taps=taps, up=up, down=down, padding=padding, flip_filter=draw(st.booleans()),
                gain=draw(st.sampled_from([1.0, 2.5, -0.5])),
                dtype=draw(st.sampled_from([torch.float32, torch.float64])),
                layout=draw(st.sampled_from(["contiguous", "channels_last", "strided"])))


def check(op, problem, device):
    """op's output and input gradient match the definition's."""
    options = dict(dtype=problem["dtype"], device=device)
    x = layout(torch.randn(problem["shape"], **options), problem["layout"]).requires_grad_()
    f = torch.randn(problem["taps"], **options)
    args = (problem["up"], problem["down"], problem["padding"], problem["flip_filter"], problem["gain"])
    out = op(x, f, *args)
    x_ = x.detach().clone().requires_grad_()
    expected = upfirdn2d_definition(x_, f, *args)
    assert_matches(out, expected)
    grad = torch.randn_like(expected)
    (actual_grad,) = torch.autograd.grad(out, x, grad, allow_unused=True)
    (expected_grad,) = torch.autograd.grad(expected, x_, grad, allow_unused=True)
    if expected_grad is not None:  # nothing flows back through an empty batch
        assert_matches(actual_grad, expected_grad)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@settings(max_examples=60, deadline=None)
@given(problem=problems())
def test_matches_definition(implementation, device, problem):
    check(IMPLEMENTATIONS[implementation], problem, device)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_arguments_take_every_form(implementation):
    op = IMPLEMENTATIONS[implementation]
    x, f = torch.randn(2, 3, 5, 6, dtype=torch.float64), torch.randn(3, 2, dtype=torch.float64)
    assert_matches(op(x, f, up=2, down=3, padding=1), upfirdn2d_definition(x, f, (2, 2), (3, 3), (1, 1, 1, 1)))
    assert_matches(op(x, f, up=(2, 1), padding=(1, -1)), upfirdn2d_definition(x, f, (2, 1), (1, 1), (1, 1, -1, -1)))
    assert_matches(op(x, None, down=(1, 2)), x[:, :, ::2, :])  # no filter: the identity
    exact = torch.tensor([[1.0, 2.0], [-3.0, 0.5]])  # float32, used in x's dtype
    assert_matches(op(x, exact), upfirdn2d_definition(x, exact.double()))


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_empty_inputs(implementation):
    op = IMPLEMENTATIONS[implementation]
    assert op(torch.randn(2, 0, 4, 4), torch.ones(3, 3), up=2, padding=1).shape == (2, 0, 8, 8)
    out = op(torch.randn(1, 2, 0, 3), torch.ones(1, 1), padding=(0, 0, 2, 1))  # no pixels, padded to some
    assert out.shape == (1, 2, 3, 3) and not out.any()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("up, down, padding", [(1, 1, (3, -2, 1, 2)), ((1, 2), (1, 3), (0, 4, -1, 0)),
                                               (2, 2, (1, 2, 1, 2))])
def test_wide_rows_match_definition(device, up, down, padding):
    """Rows of hundreds of pixels, which the CPU kernel filters in place rather than by blocks of planes."""
    x = torch.randn(2, 3, 5, 300, dtype=torch.float64, device=device)
    problem = dict(shape=x.shape, taps=(3, 4), up=up if isinstance(up, tuple) else (up, up),
                   down=down if isinstance(down, tuple) else (down, down), padding=padding, flip_filter=False,
                   gain=2.0, dtype=torch.float64, layout="contiguous")
    check(fused, problem, device)


def test_a_separable_filter_is_its_outer_product():
    x, f = torch.randn(2, 3, 6, 5, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    args = dict(up=(2, 1), down=(1, 2), padding=(2, 1, 0, 3), gain=3.0)
    assert_matches(pygan.ops.upfirdn2d(x, f, **args), pygan.ops.upfirdn2d(x, torch.outer(f, f), **args))


def test_flip_filter_correlates():
    x = torch.zeros(1, 1, 1, 5, dtype=torch.float64)
    x[0, 0, 0, 2] = 1  # an impulse reproduces the filter, reversed when correlating
    f = torch.tensor([[1.0, 2.0, 4.0]], dtype=torch.float64)
    padding = (1, 1, 0, 0)
    assert pygan.ops.upfirdn2d(x, f, padding=padding).flatten().tolist() == [0, 1, 2, 4, 0]
    assert pygan.ops.upfirdn2d(x, f, padding=padding, flip_filter=True).flatten().tolist() == [0, 4, 2, 1, 0]


@pytest.mark.parametrize("kwargs, message", [
    (dict(x=torch.randn(3, 4, 4)), "4-d input"),
    (dict(f=torch.randn(2, 2, 2)), "1-d or 2-d"),
    (dict(f=torch.randn(0)), "non-empty"),
    (dict(f=torch.randn(2, 2, requires_grad=True)), "takes no gradient"),
    (dict(up=0), "up must be"),
    (dict(down=(1, 2, 3)), "down must be"),
    (dict(padding=(1, 2, 3)), "padding must be"),
    (dict(padding=-2), "fewer than the filter's 3 taps"),
])
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bad_arguments_are_clear_errors(implementation, kwargs, message):
    arguments = dict(x=torch.randn(1, 2, 4, 4), f=torch.ones(3, 3)) | kwargs
    with pytest.raises(ValueError, match=message):
        IMPLEMENTATIONS[implementation](**arguments)


@pytest.mark.parametrize("args, message", [
    ((torch.randn(1, 2, 4), torch.ones(2, 2), [1, 1], [1, 1], [0, 0, 0, 0]), "4-d input"),
    ((torch.randn(1, 2, 4, 4), torch.ones(2), [1, 1], [1, 1], [0, 0, 0, 0]), "2-d filter"),
    ((torch.randn(1, 2, 4, 4), torch.ones(2, 2).double(), [1, 1], [1, 1], [0, 0, 0, 0]), "dtype"),
    ((torch.randn(1, 2, 4, 4), torch.ones(2, 2, device="meta"), [1, 1], [1, 1], [0, 0, 0, 0]), "is on meta"),
    ((torch.randn(1, 2, 4, 4), torch.ones(2, 2), [0, 1], [1, 1], [0, 0, 0, 0]), "at least 1"),
    ((torch.randn(1, 2, 4, 4), torch.ones(2, 2), [1, 1], [1, 1], [0, 0, -3, 0]), "fewer than the filter's 2 taps"),
    ((torch.randn(1, 2, 4, 4), torch.ones(2, 2), [2**62, 1], [1, 1], [0, 0, 0, 0]), "larger than 2\\^63 - 1"),
    ((torch.randn(1, 2, 4, 4).half(), torch.ones(2, 2).half(), [1, 1], [1, 1], [0, 0, 0, 0]), "float32 and float64"),
])
def test_the_op_refuses_bad_arguments_clearly(args, message):
    with pytest.raises(RuntimeError, match=message):
        torch.ops.pygan.upfirdn2d(*args, False, 1.0)


@pytest.mark.parametrize("shape, channels_last", [((2, 3, 4, 5), False), ((2, 3, 4, 5), True), ((2, 1, 4, 5), True),
                                                  ((0, 3, 4, 5), True)])
def test_the_output_is_channels_last_when_the_input_is(shape, channels_last):
    x = torch.randn(shape)
    x = x.contiguous(memory_format=torch.channels_last) if channels_last else x
    args = ([2, 2], [1, 1], [1, 1, 1, 1], False, 1.0)
    out = torch.ops.pygan.upfirdn2d(x, torch.ones(3, 3), *args)
    fake = torch.ops.pygan.upfirdn2d(x.to("meta"), torch.ones(3, 3, device="meta"), *args)
    assert out.stride() == fake.stride()
    # NCHW-contiguous wins a tie: a 1-channel or empty input is both.
    nhwc = channels_last and not x.is_contiguous()
    assert out.is_contiguous(memory_format=torch.channels_last if nhwc else torch.contiguous_format)


def test_autocast_runs_the_cpu_kernel_in_float32():
    x, f = torch.randn(2, 3, 4, 4, dtype=torch.bfloat16), pygan.ops.setup_filter([1, 3, 3, 1])
    with backend("fused"), torch.autocast("cpu", dtype=torch.bfloat16):
        out = pygan.ops.upsample2d(x, f)
    assert out.dtype == torch.float32
    assert_matches(out, upfirdn2d_definition(x.float(), f, (2, 2), (1, 1), (2, 1, 2, 1), gain=4))


# --- autograd: gradients of every order, opcheck, torch.compile --------------------------------------------------

ops = torch.ops.pygan
# (x shape, filter shape, up, down, padding): StyleGAN2's up and down, odd factors, cropping.
AUTOGRAD_CASES = [
    ((1, 2, 3, 4), (4, 4), [2, 2], [1, 1], [2, 1, 2, 1]),
    ((2, 1, 6, 5), (4, 4), [1, 1], [2, 2], [1, 1, 1, 1]),
    ((1, 2, 4, 3), (3, 2), [3, 1], [2, 3], [-1, 2, 1, -2]),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("flip_filter", [False, True])
@pytest.mark.parametrize("case", AUTOGRAD_CASES)
def test_gradcheck_and_gradgradcheck(device, case, flip_filter):
    shape, taps, up, down, padding = case
    x = torch.randn(shape, dtype=torch.float64, device=device, requires_grad=True)
    f = torch.randn(taps, dtype=torch.float64, device=device)

    def op(x):
        return ops.upfirdn2d(x, f, up, down, padding, flip_filter, 1.5)

    assert gradcheck(op, (x,))
    assert gradgradcheck(op, (x,))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("case", AUTOGRAD_CASES)
def test_opcheck(device, dtype, case):
    shape, taps, up, down, padding = case
    x = torch.randn(shape, dtype=dtype, device=device, requires_grad=True)
    f = torch.randn(taps, dtype=dtype, device=device)
    torch.library.opcheck(ops.upfirdn2d.default, (x, f, up, down, padding, False, 2.0))
    x_nhwc = x.detach().contiguous(memory_format=torch.channels_last).requires_grad_()
    torch.library.opcheck(ops.upfirdn2d.default, (x_nhwc, f, up, down, padding, True, 1.0))


@pytest.mark.parametrize("device", DEVICES)
def test_compiled_matches_eager(device):
    x = torch.randn(2, 3, 8, 8, device=device, requires_grad=True)
    f = pygan.ops.setup_filter([1, 3, 3, 1], device=device)

    def resample(x):
        return pygan.ops.downsample2d(pygan.ops.upsample2d(x, f), f, down=(2, 1)).square().sum()

    def value_and_gradient(fn):
        out = fn(x)
        return [out.detach(), *torch.autograd.grad(out, x)]

    with backend("fused"):
        eager = value_and_gradient(resample)
        compiled = value_and_gradient(torch.compile(resample, fullgraph=True))
    torch.testing.assert_close(compiled, eager)


# --- StyleGAN2's helpers ---------------------------------------------------------------------------

def test_setup_filter_normalises_the_outer_product():
    f = pygan.ops.setup_filter([1, 3, 3, 1])
    assert f.dtype == torch.float32 and f.shape == (4, 4)
    assert torch.equal(f, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    taps = pygan.ops.setup_filter([1, 2, 3, 4, 4, 3, 2, 1])  # 8 taps or more stay separable
    assert taps.shape == (8,) and torch.allclose(taps, torch.tensor([1.0, 2, 3, 4, 4, 3, 2, 1]) / 20)
    assert pygan.ops.setup_filter([1, 3, 3, 1], separable=True).shape == (4,)
    assert torch.equal(pygan.ops.setup_filter(None), torch.ones(1, 1))
    assert torch.equal(pygan.ops.setup_filter([1.0, 2.0], normalize=False, flip_filter=True, gain=4),
                       4 * torch.tensor([[4.0, 2.0], [2.0, 1.0]]))
    # A separable filter is applied twice: each pass carries the square root of the gain.
    assert torch.allclose(pygan.ops.setup_filter([1, 1, 1, 1, 1, 1, 1, 1], gain=4).sum(), torch.tensor(2.0))


@pytest.mark.parametrize("helper, kwargs, padding, gain, size", [
    # NVlabs' padding for a 4-tap filter: filter2d keeps the size, upsample2d doubles it, downsample2d halves it.
    ("filter2d", {}, (2, 1, 2, 1), 1, (6, 8)),
    ("filter2d", dict(padding=(1, 0, -1, 2)), (3, 1, 1, 3), 1, (7, 9)),
    ("upsample2d", {}, (2, 1, 2, 1), 4, (12, 16)),
    ("upsample2d", dict(up=(2, 1)), (2, 1, 2, 1), 2, (6, 16)),
    ("downsample2d", {}, (1, 1, 1, 1), 1, (3, 4)),
    ("downsample2d", dict(down=(1, 2), gain=3), (2, 1, 1, 1), 3, (3, 8)),
])
def test_helpers_pad_as_nvlabs(helper, kwargs, padding, gain, size):
    x, f = torch.randn(2, 3, 6, 8, dtype=torch.float64), pygan.ops.setup_filter([1, 3, 3, 1]).double()
    up = kwargs.get("up", (2, 2) if helper == "upsample2d" else (1, 1))
    down = kwargs.get("down", (2, 2) if helper == "downsample2d" else (1, 1))
    out = getattr(pygan.ops, helper)(x, f, **kwargs)
    assert out.shape[2:] == size
    assert_matches(out, upfirdn2d_definition(x, f, up, down, padding, gain=gain))


@pytest.mark.parametrize("helper", ["filter2d", "upsample2d", "downsample2d"])
def test_helpers_keep_a_constant_image_constant_away_from_the_border(helper):
    x = torch.full((1, 2, 8, 8), 3.0, dtype=torch.float64)
    out = getattr(pygan.ops, helper)(x, pygan.ops.setup_filter([1, 3, 3, 1]))
    torch.testing.assert_close(out[:, :, 2:-2, 2:-2], torch.full_like(out[:, :, 2:-2, 2:-2], 3.0))
