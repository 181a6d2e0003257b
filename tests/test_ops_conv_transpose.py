"""pygan.ops.conv_transpose2d is F.conv_transpose2d: computed as tap planes
for few output channels on the CPU (pygan/ops/_conv_transpose.py), equal to
torch's within float rounding forward and bit for bit backward, since the
backward is torch's own call; torch's everywhere else."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_matches, backend, layout
from hypothesis import given, settings
from hypothesis import strategies as st

import pygan.ops
from pygan.ops import _conv_transpose


@st.composite
def problems(draw):
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    output_padding = tuple(draw(st.integers(0, s - 1)) for s in stride)
    size = (draw(st.integers(1, 6)), draw(st.integers(1, 6)))
    # Crop no more than leaves one output pixel along each axis.
    padding = tuple(draw(st.integers(0, ((n - 1) * s + k + e - 1) // 2))
                    for n, s, k, e in zip(size, stride, kernel, output_padding))
    batch, channels = draw(st.integers(1, 3)), draw(st.integers(1, 6))
    out_channels = draw(st.integers(1, _conv_transpose.MAX_OUT_CHANNELS))
    return dict(x=(batch, channels, *size), weight=(channels, out_channels, *kernel), stride=stride,
                padding=padding, output_padding=output_padding, bias=draw(st.booleans()),
                layout=draw(st.sampled_from(["contiguous", "channels_last", "strided"])),
                dtype=draw(st.sampled_from([torch.float32, torch.float64])))


def operands(problem, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = layout(torch.randn(problem["x"], generator=generator, dtype=problem["dtype"]), problem["layout"])
    weight = torch.randn(problem["weight"], generator=generator, dtype=problem["dtype"])
    bias = torch.randn(problem["weight"][1], generator=generator, dtype=problem["dtype"]) if problem["bias"] else None
    return x, weight, bias


@settings(max_examples=60, deadline=None)
@given(problem=problems())
def test_matches_torch_forward_within_rounding_and_backward_bit_for_bit(problem):
    args = (problem["stride"], problem["padding"], problem["output_padding"])
    x, weight, bias = operands(problem)
    # The planes are the faster way for channels-last images only, but
    # correct in every layout.
    assert _conv_transpose.applies(x, weight, bias, *args) == (
        _conv_transpose._memory_format(x) == torch.channels_last)
    ours = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, weight, bias)]
    theirs = [t.detach().clone().requires_grad_() if t is not None else None for t in (x, weight, bias)]
    out = _conv_transpose.by_tap_planes(*ours, *args)
    expected = F.conv_transpose2d(*theirs, *args)
    assert_matches(out, expected)
    # The next layer sees the memory layout torch's own output has (where
    # only one of the two describes it).
    for memory_format in (torch.contiguous_format, torch.channels_last):
        if expected.is_contiguous(memory_format=memory_format) and not expected.is_contiguous():
            assert out.is_contiguous(memory_format=memory_format)
        if expected.is_contiguous() and not expected.is_contiguous(memory_format=torch.channels_last):
            assert out.is_contiguous()
    grad = torch.randn(expected.shape, dtype=expected.dtype)
    wanted = [t for t in ours if t is not None]
    for actual, reference in zip(torch.autograd.grad(out, wanted, grad),
                                 torch.autograd.grad(expected, [t for t in theirs if t is not None], grad)):
        assert torch.equal(actual, reference)


@pytest.mark.parametrize("stride, padding, output_padding", [(1, 2, 0), (2, 2, 1), ((3, 1), (1, 0), (2, 0))])
def test_gradcheck_and_gradgradcheck(stride, padding, output_padding):
    # Gradient penalties differentiate the generator's image layer twice.
    generator = torch.Generator().manual_seed(1)
    inputs = [torch.randn(shape, generator=generator, dtype=torch.float64, requires_grad=True)
              for shape in ((2, 3, 4, 3), (3, 2, 5, 4), (2,))]
    pairs = [(v, v) if isinstance(v, int) else v for v in (stride, padding, output_padding)]

    def planes(x, weight, bias):
        return _conv_transpose.by_tap_planes(x, weight, bias, *pairs)

    assert torch.autograd.gradcheck(planes, inputs)
    assert torch.autograd.gradgradcheck(planes, inputs)


def test_the_seed_image_layer_runs_as_tap_planes_and_wider_layers_as_torch(monkeypatch):
    calls = []
    monkeypatch.setattr(_conv_transpose, "by_tap_planes",
                        lambda *args: calls.append(args[1].shape) or F.conv_transpose2d(*args))
    with backend("fused"):
        for out_channels in (1, 3, 4, 32):
            x = torch.randn(2, 32, 7, 7).contiguous(memory_format=torch.channels_last)
            pygan.ops.conv_transpose2d(x, torch.randn(32, out_channels, 5, 5), None, 1, 2)
        # A contiguous input stays with torch, whose backward is slower from the planes.
        pygan.ops.conv_transpose2d(torch.randn(2, 32, 7, 7), torch.randn(32, 1, 5, 5), None, 1, 2)
    assert [shape[1] for shape in calls] == [1, 3]


def test_the_reference_backend_is_torch_bit_for_bit():
    x, weight, bias = torch.randn(4, 32, 7, 7).contiguous(memory_format=torch.channels_last), torch.randn(32, 1, 5, 5), torch.randn(1)
    with backend("reference"):
        assert torch.equal(pygan.ops.conv_transpose2d(x, weight, bias, 2, 2, 1),
                           F.conv_transpose2d(x, weight, bias, 2, 2, 1))
    with backend("fused"):
        fused = pygan.ops.conv_transpose2d(x, weight, bias, 2, 2, 1)
    assert not torch.equal(fused, F.conv_transpose2d(x, weight, bias, 2, 2, 1))  # another order of sums
    assert_matches(fused, F.conv_transpose2d(x, weight, bias, 2, 2, 1))


@pytest.mark.parametrize("x_shape, weight_shape, kwargs", [
    ((2, 4, 5, 5), (3, 1, 5, 5), {}),                                   # a weight for another input
    ((2, 4, 5, 5), (4, 1, 5, 5), dict(stride=2, output_padding=2)),     # output padding >= stride
    ((2, 4, 1, 1), (4, 1, 3, 3), dict(padding=2)),                      # cropping every pixel
    ((2, 4, 5, 5), (4, 1, 5, 5), dict(dtype=torch.float64)),            # a float64 weight for float32 images
])
def test_bad_arguments_get_torch_own_errors(x_shape, weight_shape, kwargs):
    # Left to torch, whose message says what is wrong, rather than failing
    # somewhere inside the planes' matrix product.
    x, weight = torch.randn(x_shape), torch.randn(weight_shape, dtype=kwargs.pop("dtype", torch.float32))
    with pytest.raises(RuntimeError) as torch_error:
        F.conv_transpose2d(x, weight, None, **kwargs)
    with backend("fused"), pytest.raises(RuntimeError) as ours:
        pygan.ops.conv_transpose2d(x, weight, None, **kwargs)
    assert str(ours.value) == str(torch_error.value)


def test_an_empty_batch_is_torch_own():
    x, weight = torch.randn(0, 4, 5, 5), torch.randn(4, 1, 5, 5)
    assert not _conv_transpose.applies(x, weight, None, (1, 1), (2, 2), (0, 0))
    assert pygan.ops.conv_transpose2d(x, weight, None, 1, 2).shape == (0, 1, 5, 5)


def test_compiles_whole_and_matches_eager():
    x, weight, bias = torch.randn(2, 8, 7, 7).contiguous(memory_format=torch.channels_last), torch.randn(8, 1, 5, 5), torch.randn(1)

    def layer(x, weight, bias):
        return torch.sigmoid(pygan.ops.conv_transpose2d(x, weight, bias, 2, 2, 1))

    with backend("fused"):
        eager = layer(x, weight, bias)
        torch._dynamo.reset()
        compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")(x, weight, bias)
    assert_matches(compiled, eager)


def test_under_autocast_it_computes_in_bfloat16_as_torch_does_and_float32_weights_get_gradients():
    x = torch.randn(2, 8, 7, 7, dtype=torch.bfloat16).contiguous(memory_format=torch.channels_last)
    x.requires_grad_()  # a bf16 activation
    weight, bias = torch.randn(8, 3, 5, 5, requires_grad=True), torch.randn(3, requires_grad=True)
    with backend("fused"), torch.autocast("cpu", dtype=torch.bfloat16):
        ours = pygan.ops.conv_transpose2d(x, weight, bias, 2, 2, 1)
        theirs = F.conv_transpose2d(x, weight, bias, 2, 2, 1)
    assert ours.dtype == theirs.dtype == torch.bfloat16
    torch.testing.assert_close(ours, theirs, atol=0.1, rtol=0.02)
    grads = torch.autograd.grad(ours.float().sum(), (x, weight, bias))
    assert [g.dtype for g in grads] == [torch.bfloat16, torch.float32, torch.float32]
    for ours_grad, theirs_grad in zip(grads, torch.autograd.grad(theirs.float().sum(), (x, weight, bias))):
        torch.testing.assert_close(ours_grad, theirs_grad)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_opcheck(dtype, memory_format):
    # The op's fake implementation, autograd registration and schema agree
    # with what it computes (torch.compile relies on them).
    x = torch.randn(2, 4, 5, 6, dtype=dtype).contiguous(memory_format=memory_format).requires_grad_()
    weight = torch.randn(4, 3, 5, 5, dtype=dtype, requires_grad=True)
    for bias in (None, torch.randn(3, dtype=dtype, requires_grad=True)):
        torch.library.opcheck(torch.ops.pygan.conv_transpose2d_planes, (x, weight, bias, [2, 2], [2, 2], [1, 1]))


def test_the_layer_is_nn_conv_transpose2d_with_its_state_dict_and_routes_its_forward():
    torch.manual_seed(0)
    ours = pygan.ops.ConvTranspose2d(16, 3, 4, 2, 1, bias=True)
    theirs = torch.nn.ConvTranspose2d(16, 3, 4, 2, 1, bias=True)
    theirs.load_state_dict(ours.state_dict())
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    x = torch.randn(2, 16, 8, 8).contiguous(memory_format=torch.channels_last)
    with backend("fused"):
        out = ours(x)
        # Only what the planes do not cover is nn.ConvTranspose2d exactly.
        assert torch.equal(ours(x, output_size=[17, 17]), theirs(x, output_size=[17, 17]))
    assert not torch.equal(out, theirs(x))  # the planes' order of sums
    assert_matches(out, theirs(x))
    grouped = pygan.ops.ConvTranspose2d(4, 2, 3, groups=2)
    assert torch.equal(grouped(torch.ones(1, 4, 5, 5)),
                       F.conv_transpose2d(torch.ones(1, 4, 5, 5), grouped.weight, grouped.bias, groups=2))
