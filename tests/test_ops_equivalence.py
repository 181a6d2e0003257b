"""The fused leaky_relu_conv2d is the same function as its definition,
conv2d(pad(leaky_relu(x))), forward and every gradient, on both backends."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import DEVICES, WINOGRAD_TOLERANCE, assert_matches, check_op, layout
from conftest import leaky_relu_conv2d_definition as definition
from hypothesis import given, settings
from hypothesis import strategies as st

import pygan.ops
from pygan.ops import reference

# The definition's float32 convolutions on CUDA must not round through TF32.
pytestmark = pytest.mark.usefixtures("no_tf32")


def fused(*args):
    return torch.ops.pygan.leaky_relu_conv2d(*args)


@st.composite
def problems(draw):
    kernel_h, kernel_w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    padding = tuple(draw(st.integers(0, 3)) for _ in range(4))
    # The padded image holds at least one kernel.
    height = draw(st.integers(max(1, kernel_h - padding[0] - padding[1]), 9))
    width = draw(st.integers(max(1, kernel_w - padding[2] - padding[3]), 9))
    batch, channels, out_channels = draw(st.integers(0, 3)), draw(st.integers(1, 6)), draw(st.integers(1, 7))
    return dict(
        shape=(batch, channels, height, width),
        weight_shape=(out_channels, channels, kernel_h, kernel_w),
        bias=draw(st.booleans()),
        stride=(draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        padding=padding,
        negative_slope=draw(st.sampled_from([0.0, 0.2, 1.0])),
        dtype=draw(st.sampled_from([torch.float32, torch.float64])),
        layout=draw(st.sampled_from(["contiguous", "channels_last", "strided"])),
    )


def make_inputs(problem, device):
    options = dict(dtype=problem["dtype"], device=device)
    x = layout(torch.randn(problem["shape"], **options), problem["layout"])
    weight = torch.randn(problem["weight_shape"], **options)
    bias = torch.randn(problem["weight_shape"][0], **options) if problem["bias"] else None
    return x, weight, bias


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("op", [fused, reference.leaky_relu_conv2d], ids=["fused", "reference"])
@settings(max_examples=60, deadline=None)
@given(problem=problems())
def test_matches_definition(op, device, problem):
    x, weight, bias = make_inputs(problem, device)
    check_op(op, x, weight, bias, problem["stride"], problem["padding"], problem["negative_slope"])


SEED_LAYERS = [  # (channels, size, out_channels, stride, padding) of the seed discriminator
    (1, 28, 32, 2, (1, 2, 1, 2)),
    (32, 14, 64, 2, (1, 2, 1, 2)),
    (64, 7, 128, 2, (2, 2, 2, 2)),  # blocks 3 and 4 take the CPU kernels' Winograd path
    (128, 4, 256, 1, (2, 2, 2, 2)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("layer", SEED_LAYERS, ids=["block1", "block2", "block3", "block4"])
def test_seed_layers(device, dtype, layer):
    channels, size, out_channels, stride, padding = layer
    x = torch.randn(5, channels, size, size, dtype=dtype, device=device)
    weight = torch.randn(out_channels, channels, 5, 5, dtype=dtype, device=device) / 10
    bias = torch.randn(out_channels, dtype=dtype, device=device)
    check_op(fused, x, weight, bias, (stride, stride), padding, 0.2,
             WINOGRAD_TOLERANCE if device == "cpu" and out_channels >= 128 else None)


@pytest.mark.parametrize("device", DEVICES)
def test_an_empty_batch_has_the_output_shape_and_zero_weight_gradient(device):
    x = torch.randn(0, 3, 8, 8, device=device, requires_grad=True)
    weight = torch.randn(4, 3, 5, 5, device=device, requires_grad=True)
    out = fused(x, weight, None, [2, 2], [1, 2, 1, 2], 0.2)
    assert out.shape == (0, 4, 4, 4)
    (grad_weight,) = torch.autograd.grad(out.sum(), weight)
    assert torch.equal(grad_weight, torch.zeros_like(weight))


@pytest.mark.parametrize("device", DEVICES)
def test_leaky_relu_at_zero_and_signed_zero_match_torch(device):
    x = torch.tensor([0.0, -0.0, 1.0, -1.0], device=device).view(1, 4, 1, 1)
    weight = torch.eye(4, device=device).view(4, 4, 1, 1)
    assert torch.equal(fused(x, weight, None, [1, 1], [0, 0, 0, 0], 0.2), F.leaky_relu(x, 0.2))


@pytest.mark.parametrize("args, message", [
    ((torch.randn(3, 8, 8), torch.randn(4, 3, 5, 5), None, [1, 1], [0, 0, 0, 0]), "4-d input"),
    ((torch.randn(1, 3, 8, 8), torch.randn(4, 2, 5, 5), None, [1, 1], [0, 0, 0, 0]), "input channels"),
    ((torch.randn(1, 3, 8, 8), torch.randn(4, 3, 5, 5).double(), None, [1, 1], [0, 0, 0, 0]), "dtype"),
    ((torch.randn(1, 3, 8, 8).int(), torch.randn(4, 3, 5, 5).int(), None, [1, 1], [0, 0, 0, 0]), "float32"),
    ((torch.randn(1, 3, 8, 8), torch.randn(4, 3, 5, 5), torch.randn(3), [1, 1], [0, 0, 0, 0]), "bias"),
    ((torch.randn(1, 3, 8, 8), torch.randn(4, 3, 5, 5), None, [0, 1], [0, 0, 0, 0]), "stride"),
    ((torch.randn(1, 3, 8, 8), torch.randn(4, 3, 5, 5), None, [1, 1], [0, -1, 0, 0]), "padding"),
    ((torch.randn(1, 3, 2, 8), torch.randn(4, 3, 5, 5), None, [1, 1], [0, 0, 0, 0]), "smaller than the kernel"),
])
def test_bad_arguments_are_clear_errors(args, message):
    with pytest.raises(RuntimeError, match=message):
        fused(*args, 0.2)


@pytest.mark.parametrize("stride, padding", [
    ([1, 1], [2**63 - 1, 2**63 - 1, 0, 0]),  # the padded height overflows int64
    ([2**62, 1], [2**62, 2**62 - 20, 0, 0]),  # the padded height fits, the padded image does not
], ids=["padding", "stride"])
def test_sizes_that_overflow_are_refused(stride, padding):
    with pytest.raises(RuntimeError, match=r"larger than 2\^63 - 1 elements"):
        fused(torch.randn(1, 1, 8, 8), torch.randn(4, 1, 5, 5), None, stride, padding, 0.2)


@pytest.mark.parametrize("x_device, weight_device, bias_device", [
    ("cpu", "meta", None), ("meta", "cpu", None), ("cpu", "cpu", "meta"), ("meta", "meta", "cpu")])
def test_operands_on_another_device_than_the_input_are_refused(x_device, weight_device, bias_device):
    x, weight = torch.randn(1, 3, 8, 8, device=x_device), torch.randn(4, 3, 5, 5, device=weight_device)
    bias = torch.randn(4, device=bias_device) if bias_device else None
    with pytest.raises(RuntimeError, match=f"is on {weight_device if bias is None else bias_device}"):
        fused(x, weight, bias, [1, 1], [0, 0, 0, 0], 0.2)


@pytest.mark.parametrize("grad_device, x_device", [("meta", "cpu"), ("cpu", "meta")])
def test_backward_operands_on_another_device_are_refused(grad_device, x_device):
    grad_output, x = torch.randn(1, 4, 4, 4, device=grad_device), torch.randn(1, 3, 8, 8, device=x_device)
    weight = torch.randn(4, 3, 5, 5, device=x_device)
    with pytest.raises(RuntimeError, match="grad_output is on"):
        torch.ops.pygan.leaky_relu_conv2d_backward_input(grad_output, x, weight, [1, 1], [0, 0, 0, 0], 0.2)
    with pytest.raises(RuntimeError, match="grad_output is on"):
        torch.ops.pygan.leaky_relu_conv2d_backward_weight(grad_output, x, [4, 3, 5, 5], [1, 1], [0, 0, 0, 0], 0.2)


def test_meta_inputs_give_the_output_shape():
    out = fused(torch.randn(2, 3, 8, 8, device="meta"), torch.randn(4, 3, 5, 5, device="meta"), None, [2, 2],
                [1, 2, 1, 2], 0.2)
    assert out.device.type == "meta" and out.shape == (2, 4, 4, 4)


@pytest.mark.parametrize("x_shape, weight_shape", [((1, 3, 8, 8), (4, 3, 0, 0)), ((1, 3, 8, 8), (4, 3, 0, 5)),
                                                   ((1, 0, 8, 8), (4, 0, 5, 5))],
                         ids=["kernel 0x0", "kernel 0x5", "0 input channels"])
@pytest.mark.parametrize("op", [fused, reference.leaky_relu_conv2d], ids=["fused", "reference"])
def test_empty_kernels_and_channels_are_refused_by_both_backends(op, x_shape, weight_shape):
    # torch's conv2d refuses the empty kernels, and answers 0 input channels
    # with a 0-channel output that ignores the weight and the bias.
    with pytest.raises(RuntimeError, match="kernel|input channel"):
        op(torch.randn(x_shape), torch.randn(weight_shape), torch.randn(4), [1, 1], [0, 0, 0, 0], 0.2)


@pytest.mark.parametrize("backend", ["fused", "reference"])
def test_an_int_stride_is_both_strides(monkeypatch, backend):
    monkeypatch.setenv("PYGAN_OPS", backend)
    monkeypatch.setattr(pygan.ops, "_selected", {})
    x, weight, bias = torch.randn(2, 3, 9, 9, dtype=torch.float64), torch.randn(4, 3, 3, 3, dtype=torch.float64), None
    out = pygan.ops.leaky_relu_conv2d(x, weight, bias, 2, (0, 1, 1, 0), 0.2)
    assert pygan.ops._selected["cpu", "leaky_relu_conv2d"][0] == backend
    assert_matches(out, definition(x, weight, bias, (2, 2), (0, 1, 1, 0), 0.2))


def test_padding_needs_four_values():
    with pytest.raises(RuntimeError):
        fused(torch.randn(1, 3, 8, 8), torch.randn(4, 3, 5, 5), None, [1, 1], [0, 0], 0.2)


# --- the seed discriminator, on either backend --------------------------------------------------

def run_discriminator(monkeypatch, backend: str, images: torch.Tensor):
    from pygan_plugins.dcgan import Discriminator

    monkeypatch.setenv("PYGAN_OPS", backend)
    monkeypatch.setattr(pygan.ops, "_selected", {})
    torch.manual_seed(0)
    discriminator = Discriminator().to(images.device, torch.float64)
    images = images.clone().requires_grad_()
    logits = discriminator(images)
    logits.sum().backward()
    assert pygan.ops._selected[images.device.type, "leaky_relu_conv2d"][0] == backend
    return [logits, images.grad] + [p.grad for p in discriminator.parameters()]


@pytest.mark.parametrize("device", DEVICES)
def test_discriminator_is_the_same_on_both_backends(monkeypatch, device):
    images = torch.rand(6, 1, 28, 28, dtype=torch.float64, device=device)
    for fused_value, reference_value in zip(run_discriminator(monkeypatch, "fused", images),
                                            run_discriminator(monkeypatch, "reference", images)):
        assert_matches(fused_value, reference_value)
