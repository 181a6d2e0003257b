"""What only the fused op's CUDA kernels have: 16-bit inputs with float32
accumulation against the float64 definition (TF32 off), the fake impls'
strides, autocast, the seed discriminator against the CPU, CUDA-graph
capture and no synchronization. The tests every device shares (gradcheck,
opcheck, the equivalence sweeps) are parametrized over devices in
test_ops_autograd.py and test_ops_equivalence.py."""

from __future__ import annotations

import pytest
import torch
from conftest import leaky_relu_conv2d_definition as definition

import pygan.ops  # noqa: F401  (registers the fake impls and autograd formulas)

pytestmark = [pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
              pytest.mark.usefixtures("no_tf32")]


@pytest.fixture(autouse=True)
def the_kernels(monkeypatch):
    """The kernels themselves: PYGAN_OPS=auto runs cuDNN on CUDA, where the
    kernel measured slower."""
    monkeypatch.setenv("PYGAN_OPS", "fused")
    monkeypatch.setattr(pygan.ops, "_selected", {})


ops = torch.ops.pygan
# (x shape, weight shape, stride, padding): the seed discriminator's layers at
# batch 3, and odd shapes: strides larger than the kernel, a non-square kernel,
# more channels than a tile, a phase of the transposed convolution with no tap.
CASES = [
    ((3, 1, 28, 28), (32, 1, 5, 5), (2, 2), (1, 2, 1, 2)),
    ((3, 32, 14, 14), (64, 32, 5, 5), (2, 2), (1, 2, 1, 2)),
    ((3, 64, 7, 7), (128, 64, 5, 5), (2, 2), (2, 2, 2, 2)),
    ((3, 128, 4, 4), (256, 128, 5, 5), (1, 1), (2, 2, 2, 2)),
    ((2, 3, 6, 7), (4, 3, 3, 3), (2, 1), (0, 1, 2, 1)),
    ((2, 5, 9, 8), (70, 5, 2, 3), (3, 2), (0, 3, 1, 0)),
    ((1, 67, 5, 5), (3, 67, 1, 1), (2, 2), (0, 0, 0, 0)),
]
SLOPES = [0.0, 0.2, 1.0]


def fused_and_grads(x, weight, bias, stride, padding, slope, grad):
    """The fused op's output and its gradients for x, weight and bias."""
    inputs = [t.detach().requires_grad_() for t in (x, weight, bias)]
    out = ops.leaky_relu_conv2d(*inputs, list(stride), list(padding), slope)
    return [out, *torch.autograd.grad(out, inputs, grad)]


def expected_and_grads(x, weight, bias, stride, padding, slope, grad):
    """The definition's, in float64 on the CPU."""
    inputs = [t.detach().cpu().double().requires_grad_() for t in (x, weight, bias)]
    out = definition(*inputs, stride, padding, slope)
    return [out, *torch.autograd.grad(out, inputs, grad.cpu().double())]


def assert_close(actual, expected, relative):
    """Max error within `relative` of the expected values' scale."""
    scale = max(expected.abs().max().item(), 1.0)
    error = (actual.cpu().double() - expected).abs().max().item()
    assert error <= relative * scale, f"max error {error:.3g} at scale {scale:.3g}"


def make(case, dtype, seed=0):
    x_shape, weight_shape, stride, padding = case
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(x_shape, generator=generator, dtype=torch.float64)
    weight = torch.randn(weight_shape, generator=generator, dtype=torch.float64) / weight_shape[1] ** 0.5
    bias = torch.randn(weight_shape[0], generator=generator, dtype=torch.float64)
    return [t.to("cuda", dtype) for t in (x, weight, bias)] + [stride, padding]


@pytest.mark.parametrize("slope", SLOPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("dtype, relative", [(torch.float64, 1e-10), (torch.float32, 1e-4),
                                             (torch.bfloat16, 3e-2), (torch.float16, 5e-3)])
def test_matches_float64_definition(case, slope, dtype, relative):
    x, weight, bias, stride, padding = make(case, dtype)
    out_shape = definition(x.cpu().double(), weight.cpu().double(), None, stride, padding, slope).shape
    grad = torch.randn(out_shape, dtype=torch.float64).to("cuda", dtype)
    actual = fused_and_grads(x, weight, bias, stride, padding, slope, grad)
    expected = expected_and_grads(x, weight, bias, stride, padding, slope, grad)
    for a, e in zip(actual, expected):
        assert a.dtype == dtype and a.device.type == "cuda"
        assert_close(a, e, relative)


def test_outputs_have_the_fake_impls_strides():
    x, weight, bias, stride, padding = make(CASES[1], torch.float32)
    out = ops.leaky_relu_conv2d(x, weight, bias, stride, padding, 0.2)
    grad = torch.randn_like(out)
    with torch._subclasses.FakeTensorMode() as mode:
        fake = [mode.from_tensor(t) for t in (x, weight, bias, grad)]
        fake_out = ops.leaky_relu_conv2d(*fake[:3], stride, padding, 0.2)
        fake_gx = ops.leaky_relu_conv2d_backward_input(fake[3], fake[0], fake[1], stride, padding, 0.2)
        fake_gw, fake_gb = ops.leaky_relu_conv2d_backward_weight(fake[3], fake[0], weight.shape, stride, padding, 0.2)
    gx = ops.leaky_relu_conv2d_backward_input(grad, x, weight, stride, padding, 0.2)
    gw, gb = ops.leaky_relu_conv2d_backward_weight(grad, x, weight.shape, stride, padding, 0.2)
    for real, fake_value in [(out, fake_out), (gx, fake_gx), (gw, fake_gw), (gb, fake_gb)]:
        assert real.shape == fake_value.shape and real.stride() == fake_value.stride()


def test_rejects_mixed_devices():
    with pytest.raises(RuntimeError, match="weight is on"):
        ops.leaky_relu_conv2d(torch.randn(1, 3, 8, 8, device="cuda"), torch.randn(4, 3, 5, 5), None,
                              [1, 1], [0, 0, 0, 0], 0.2)


# --- the seed discriminator --------------------------------------------------------------------

def discriminator_step(device, dtype=torch.float32, batch=6):
    from pygan_plugins.dcgan import Discriminator

    torch.manual_seed(0)
    discriminator = Discriminator().to(device, dtype)
    images = torch.rand(batch, 1, 28, 28, generator=torch.Generator().manual_seed(1)).to(device, dtype)
    logits = discriminator(images)
    logits.sum().backward()
    return [logits] + [p.grad for p in discriminator.parameters()]


def test_discriminator_on_cuda_matches_cpu():
    assert pygan.ops._select("cuda", "leaky_relu_conv2d") == "fused"
    for on_cuda, on_cpu in zip(discriminator_step("cuda", torch.float64), discriminator_step("cpu", torch.float64)):
        torch.testing.assert_close(on_cuda.cpu(), on_cpu, rtol=1e-10, atol=1e-10)
    for on_cuda, on_cpu in zip(discriminator_step("cuda"), discriminator_step("cpu")):
        torch.testing.assert_close(on_cuda.cpu(), on_cpu, rtol=1e-4, atol=1e-4)


def test_forward_and_backward_never_synchronize():
    from pygan_plugins.dcgan import Discriminator

    discriminator = Discriminator().cuda()
    images = torch.rand(8, 1, 28, 28, device="cuda")
    discriminator(images).sum().backward()  # first call: lazy initialization may synchronize
    torch.cuda.set_sync_debug_mode("error")
    try:
        discriminator(images).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


def test_cuda_graph_capture_replays_forward_and_backward():
    from pygan_plugins.dcgan import Discriminator

    torch.manual_seed(0)
    discriminator = Discriminator().cuda()
    static_images = torch.rand(16, 1, 28, 28, device="cuda")

    def step():
        discriminator.zero_grad(set_to_none=False)
        logits = discriminator(static_images)
        logits.sum().backward()
        return logits

    # Warm up on a side stream, as torch.cuda.graphs asks, before capturing.
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        static_logits = step()

    new_images = torch.rand(16, 1, 28, 28, device="cuda")
    static_images.copy_(new_images)
    graph.replay()
    replayed = [static_logits.clone()] + [p.grad.clone() for p in discriminator.parameters()]
    eager = [step().detach()] + [p.grad for p in discriminator.parameters()]
    # cuBLAS may pick other algorithms under capture: equal up to rounding.
    for r, e in zip(replayed, eager):
        torch.testing.assert_close(r, e, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_autocast_runs_the_kernels_in_its_dtype(dtype):
    x = torch.rand(4, 32, 14, 14, device="cuda")
    weight, bias = torch.randn(64, 32, 5, 5, device="cuda") / 10, torch.randn(64, device="cuda")
    with torch.autocast("cuda", dtype=dtype):
        out = pygan.ops.leaky_relu_conv2d(x, weight, bias, (2, 2), (1, 2, 1, 2), 0.2)
    assert out.dtype == dtype
    expected = definition(x, weight, bias, (2, 2), (1, 2, 1, 2), 0.2)
    torch.testing.assert_close(out.float(), expected, rtol=2e-2, atol=2e-2)
