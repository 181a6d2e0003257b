"""What only bias_act's and upfirdn2d's CUDA kernels have: 16-bit inputs
computed in float32 against the float64 definitions, autocast in its own
dtype, and CUDA-graph capture. The tests every device shares (the
equivalence sweeps, gradcheck, gradgradcheck, opcheck, torch.compile) are
parametrized over devices in test_ops_bias_act.py and test_ops_upfirdn2d.py;
the kernels' arithmetic is tested without a GPU by test_cuda_emulation.py."""

from __future__ import annotations

import pytest
import torch
from conftest import ACTIVATION_DEFAULTS, backend, bias_act_derivative_definition, upfirdn2d_definition

import pygan.ops

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")

ops = torch.ops.pygan
# Relative to the values' scale: float32 arithmetic, and 16-bit storage of inputs and outputs.
TOLERANCE = {torch.float32: 1e-5, torch.bfloat16: 3e-2, torch.float16: 5e-3}


def assert_close(actual, expected, relative):
    scale = max(expected.abs().max().item(), 1.0)
    error = (actual.cpu().double() - expected).abs().max().item()
    assert error <= relative * scale, f"max error {error:.3g} at scale {scale:.3g}"


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("act", sorted(ACTIVATION_DEFAULTS))
def test_bias_act_matches_the_float64_definition(act, order, dtype):
    generator = torch.Generator().manual_seed(0)
    x, grad = (torch.randn(3, 8, 5, 6, generator=generator, dtype=torch.float64) for _ in range(2))
    b = torch.randn(8, generator=generator, dtype=torch.float64)
    # Rounded to the dtype first, so that only the kernel's arithmetic differs.
    x, b, grad = (t.to(dtype).double() for t in (x, b, grad))
    expected = bias_act_derivative_definition(x, b, 1, act, 0.9, order, grad)
    alpha, gain = ACTIVATION_DEFAULTS[act]
    x_, b_, grad_ = (t.to("cuda", dtype) for t in (x, b, grad))
    if order == 0:
        actual = ops.bias_act(x_, b_, 1, act, alpha, gain, 0.9)
    else:
        actual = ops.bias_act_grad(grad_, x_, b_, order, 1, act, alpha, gain, 0.9)
    assert actual.dtype == dtype
    assert_close(actual, expected, TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", list(TOLERANCE))
@pytest.mark.parametrize("channels_last", [False, True])
def test_upfirdn2d_matches_the_float64_definition(dtype, channels_last):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 7, 6, generator=generator, dtype=torch.float64).to(dtype).double()
    f = torch.randn(3, 4, generator=generator, dtype=torch.float64).to(dtype).double()
    expected = upfirdn2d_definition(x, f, (2, 1), (1, 2), (1, 2, -1, 3), False, 1.5)
    x_ = x.to("cuda", dtype)
    x_ = x_.contiguous(memory_format=torch.channels_last) if channels_last else x_
    actual = ops.upfirdn2d(x_, f.to("cuda", dtype), [2, 1], [1, 2], [1, 2, -1, 3], False, 1.5)
    assert actual.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    assert_close(actual, expected, TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_runs_in_its_dtype(dtype):
    x, b = torch.randn(2, 4, 8, 8, device="cuda"), torch.randn(4, device="cuda")
    f = pygan.ops.setup_filter([1, 3, 3, 1], device="cuda")
    with backend("fused"), torch.autocast("cuda", dtype=dtype):
        y = pygan.ops.upsample2d(pygan.ops.bias_act(x, b, act="lrelu", clamp=256), f)
    assert y.dtype == dtype
    with backend("reference"):
        expected = pygan.ops.upsample2d(pygan.ops.bias_act(x, b, act="lrelu", clamp=256), f)
    assert_close(y, expected.cpu().double(), TOLERANCE[dtype])


def test_forward_and_backward_capture_in_a_cuda_graph():
    """The kernels only enqueue work on the current stream: a graph replays them."""
    x = torch.randn(2, 4, 8, 8, device="cuda", requires_grad=True)
    b = torch.randn(4, device="cuda", requires_grad=True)
    f = pygan.ops.setup_filter([1, 3, 3, 1], device="cuda")

    def step():
        y = pygan.ops.downsample2d(pygan.ops.bias_act(x, b, act="lrelu", clamp=256), f)
        return torch.autograd.grad(y.square().sum(), (x, b))

    with backend("fused"):
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            eager = step()  # warm-up, outside the graph
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            captured = step()
        with torch.no_grad():
            x.mul_(0.5)
        graph.replay()
        expected = step()
    for replayed, wanted, before in zip(captured, expected, eager):
        torch.testing.assert_close(replayed, wanted)
        assert not torch.equal(replayed, before)
