"""The CUDA kernels' arithmetic, tested without a GPU.

csrc/cuda/*.cu are compiled by the host C++ compiler against the small
runtime in tests/cuda_emulation/ (csrc/cuda/launch.cuh turns each launch
into CPU threads, one per CUDA thread, with __syncthreads a barrier), and
their results compared with the float64 definition of the op. This catches
errors of indexing, tiling, padding, stride phases and split reductions on
every CI run. What only a GPU shows (its memory model, real float16
rounding, speed) is tests/test_cuda_ops.py's, on a GPU. Every buffer is
surrounded by NaN guard elements, and outputs start as NaN, so a write out of
bounds or an element never written fails the comparison.

With PYGAN_KERNELS_ON_GPU=1 the same kernels are compiled by nvcc instead and
run on the GPU, on buffers in GPU memory, 16-bit ones in real 16-bit types:
the kernels checked against the definitions where pygan's extension cannot be
built or loaded (benchmarks/gpu/run.sh). Each check then prints its largest
error.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    ACTIVATION_DEFAULTS,
    REPO_ROOT,
    bias_act_derivative_definition,
    leaky_relu_conv2d_definition,
    missing,
    require_nvcc,
    upfirdn2d_definition,
)

from pygan.ops import reference

CUDA_DIR = REPO_ROOT / "csrc" / "cuda"
EMULATION_DIR = Path(__file__).resolve().parent / "cuda_emulation"
GUARD = 17  # NaN elements either side of every buffer
DTYPES = {"float32": 0, "float64": 1, "float16": 2, "bfloat16": 3}  # pygan::cuda::DType
ON_GPU = os.environ.get("PYGAN_KERNELS_ON_GPU") == "1"
if ON_GPU:
    # The inputs are rounded to 16 bits, the definition is not: the bounds are
    # a few units of the types' last place, relative to the largest value.
    STORAGE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
               "bfloat16": torch.bfloat16}
    TOLERANCE = {"float32": 1e-5, "float64": 1e-11, "float16": 1e-2, "bfloat16": 6e-2}
else:
    # The emulated 16-bit types hold a float: their paths are tested for indexing, at float32 precision.
    STORAGE = {"float32": torch.float32, "float64": torch.float64, "float16": torch.float32,
               "bfloat16": torch.float32}
    TOLERANCE = {"float32": 1e-5, "float64": 1e-11, "float16": 1e-5, "bfloat16": 1e-5}
DEVICE = "cuda" if ON_GPU else "cpu"
SEED_LAYERS = [  # (N, C, H, W, O, KH, KW, stride, padding) of the seed discriminator at batch 2
    (2, 1, 28, 28, 32, 5, 5, (2, 2), (1, 2, 1, 2)),
    (2, 32, 14, 14, 64, 5, 5, (2, 2), (1, 2, 1, 2)),
    (2, 64, 7, 7, 128, 5, 5, (2, 2), (2, 2, 2, 2)),
    (2, 128, 4, 4, 256, 5, 5, (1, 1), (2, 2, 2, 2)),
]
ODD_SHAPES = [
    (2, 3, 6, 7, 4, 3, 3, (2, 1), (0, 1, 2, 1)),
    (0, 3, 6, 7, 4, 3, 3, (2, 1), (0, 1, 2, 1)),  # an empty batch
    (3, 5, 9, 11, 7, 1, 1, (3, 4), (1, 2, 0, 3)),  # strides larger than the kernel
    (2, 3, 5, 5, 2, 2, 2, (4, 3), (1, 0, 2, 1)),
    (1, 70, 5, 6, 67, 3, 2, (1, 2), (1, 1, 0, 2)),  # channels that fill no whole tile
    (2, 17, 3, 3, 65, 3, 3, (1, 1), (0, 0, 0, 0)),
    (2, 3, 1, 2, 3, 4, 4, (2, 3), (3, 0, 1, 2)),  # an image smaller than the kernel
    (1, 2, 3, 3, 3, 1, 1, (256, 257), (0, 0, 0, 0)),  # more stride phases than a grid's z extent
    (5, 6, 13, 10, 9, 3, 5, (3, 2), (2, 0, 4, 1)),
]


def find_compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def build_command(library: Path) -> list[str]:
    sources = [str(path) for path in sorted(CUDA_DIR.glob("*.cu"))]
    exports = str(EMULATION_DIR / "exports.cpp")
    if ON_GPU:
        if not torch.cuda.is_available():
            pytest.fail("PYGAN_KERNELS_ON_GPU=1, but torch sees no CUDA device")
        # The GPU's own architecture; the CUDA runtime linked statically, as the extension links it.
        return [require_nvcc(), "-std=c++17", "-O3", "-arch=native", "-shared", "-Xcompiler", "-fPIC",
                "-cudart", "static", "-I", str(CUDA_DIR), *sources, exports, "-o", str(library)]
    compiler = find_compiler()
    if compiler is None:
        missing("no C++ compiler (g++, c++ or $CXX) to build the CUDA emulation with",
                "CI builds the extension, so it must have one")
    return [compiler, "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-DPYGAN_CUDA_EMULATION",
            "-I", str(EMULATION_DIR), "-I", str(CUDA_DIR), "-x", "c++", *sources, "-x", "none", exports,
            "-o", str(library)]


@pytest.fixture(scope="module")
def kernels(tmp_path_factory):
    library = tmp_path_factory.mktemp("cuda_emulation") / "kernels.so"
    command = build_command(library)
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    lib = ctypes.CDLL(str(library))
    p, i, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
    lib.forward.argtypes = [i, p, p, p, p, d, p]
    lib.backward_input.argtypes = [i, p, p, p, p, d, p]
    lib.backward_weight_splits.argtypes = [p, i]
    lib.backward_weight_workspace.argtypes = [p, i]
    lib.backward_weight_workspace.restype = ctypes.c_longlong
    lib.backward_weight.argtypes = [i, p, p, p, d, i, p, p, p]
    lib.rmsprop.argtypes = [i, p, p, p, p, p, p, d, d, d, d]
    q = ctypes.c_longlong
    lib.bias_act.argtypes = [i, i, i, i, q, q, q, p, p, p, d, d, d, p]
    lib.upfirdn2d.argtypes = [i, p, p, p, i, i, d, p, p, p]
    return lib


class Buffer:
    """A flat array of the kernels' element type for ``dtype`` (on the GPU
    with PYGAN_KERNELS_ON_GPU=1), with NaN guards on both sides; ``pointer``
    is its first element."""

    def __init__(self, values: np.ndarray | None, size: int, dtype: str) -> None:
        array = torch.full((size + 2 * GUARD,), float("nan"), dtype=STORAGE[dtype])
        if values is not None:
            array[GUARD:GUARD + size] = torch.from_numpy(np.ascontiguousarray(values).reshape(-1))
        self.array = array.to(DEVICE)
        self.size = size

    @property
    def pointer(self) -> int:
        return self.array.data_ptr() + GUARD * self.array.element_size()

    @property
    def values(self) -> np.ndarray:
        array = self.array.cpu().double().numpy()  # on the GPU, after the kernels (the same stream)
        assert np.isnan(array[:GUARD]).all() and np.isnan(array[GUARD + self.size:]).all(), \
            "a kernel wrote outside its buffer"
        return array[GUARD:GUARD + self.size]


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().permute(0, 2, 3, 1).contiguous().numpy()


def inputs_and_expected(case, slope, bias, seed=0):
    """Inputs, and the float64 definition's output and gradients (x, weight, bias)."""
    n, c, h, w, o, kh, kw, stride, (top, bottom, left, right) = case
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=generator, dtype=torch.float64)
    if x.numel():
        x.view(-1)[::7] = 0.0  # leaky_relu'(0) is the slope, as in torch
    weight = torch.randn(o, c, kh, kw, generator=generator, dtype=torch.float64)
    b = torch.randn(o, generator=generator, dtype=torch.float64) if bias else None
    x_, weight_ = x.clone().requires_grad_(), weight.clone().requires_grad_()
    out = leaky_relu_conv2d_definition(x_, weight_, b, stride, (top, bottom, left, right), slope)
    grad_out = torch.randn(out.shape, generator=generator, dtype=torch.float64)
    grad_x, grad_weight = torch.autograd.grad(out, (x_, weight_), grad_out)
    return x, weight, b, grad_out, out.detach(), grad_x, grad_weight, grad_out.sum((0, 2, 3))


def conv_shape(case):
    n, c, h, w, o, kh, kw, (sh, sw), (top, bottom, left, right) = case
    out_h, out_w = (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1
    return (ctypes.c_int * 13)(n, c, h, w, o, kh, kw, out_h, out_w, sh, sw, top, left)


def assert_close(actual: np.ndarray, expected: torch.Tensor, dtype: str) -> None:
    expected = expected.reshape(-1).numpy()
    assert not np.isnan(actual).any(), f"{np.isnan(actual).sum()} elements never written"
    scale = max(np.abs(expected).max(initial=0.0), 1.0)
    error = np.abs(actual - expected).max(initial=0.0)
    if ON_GPU:
        print(f"  {dtype}: max error {error:.3g} at scale {scale:.3g}")
    assert error <= TOLERANCE[dtype] * scale, f"max error {error:.3g} at scale {scale:.3g}"


def run_op(kernels, case, dtype, slope=0.2, bias=True, splits=None, multiprocessors=132):
    x, weight, b, grad_out, out, grad_x, grad_weight, grad_bias = inputs_and_expected(case, slope, bias)
    code, shape = DTYPES[dtype], conv_shape(case)
    x_buf, weight_buf, grad_out_buf = (Buffer(nhwc(t), t.numel(), dtype) for t in (x, weight, grad_out))
    bias_buf = Buffer(b.numpy(), b.numel(), dtype) if bias else None

    out_buf = Buffer(None, out.numel(), dtype)
    assert kernels.forward(code, shape, x_buf.pointer, weight_buf.pointer, bias_buf.pointer if bias else None,
                           slope, out_buf.pointer) == 0
    assert_close(out_buf.values, torch.from_numpy(nhwc(out)), dtype)

    grad_x_buf = Buffer(None, x.numel(), dtype)
    assert kernels.backward_input(code, shape, grad_out_buf.pointer, x_buf.pointer, weight_buf.pointer, slope,
                                  grad_x_buf.pointer) == 0
    assert_close(grad_x_buf.values, torch.from_numpy(nhwc(grad_x)), dtype)

    splits = splits or kernels.backward_weight_splits(shape, multiprocessors)
    # The workspace holds the accumulation type: float64 for float64, else float32.
    workspace = Buffer(None, kernels.backward_weight_workspace(shape, splits),
                       "float64" if dtype == "float64" else "float32")
    grad_weight_buf, grad_bias_buf = Buffer(None, weight.numel(), dtype), Buffer(None, grad_bias.numel(), dtype)
    assert kernels.backward_weight(code, shape, grad_out_buf.pointer, x_buf.pointer, slope, splits,
                                   workspace.pointer, grad_weight_buf.pointer, grad_bias_buf.pointer) == 0
    assert not np.isnan(workspace.values).any(), "a split left part of the workspace unwritten"
    assert_close(grad_weight_buf.values, grad_weight, dtype)  # [O, C, KH, KW], contiguous
    assert_close(grad_bias_buf.values, grad_bias, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", SEED_LAYERS, ids=["block1", "block2", "block3", "block4"])
def test_seed_layers_match_the_definition(kernels, case, dtype):
    run_op(kernels, case, dtype)


@pytest.mark.parametrize("case", ODD_SHAPES, ids=lambda case: "N{}C{}_{}x{}_O{}_k{}x{}_s{}_p{}".format(*case))
def test_odd_shapes_match_the_definition(kernels, case):
    run_op(kernels, case, "float64")


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_the_16_bit_paths_index_as_float32(kernels, dtype):
    run_op(kernels, ODD_SHAPES[0], dtype)
    run_op(kernels, SEED_LAYERS[1], dtype)


@pytest.mark.parametrize("slope, bias", [(0.0, True), (1.0, False), (-0.5, True)])
def test_slopes_and_no_bias(kernels, slope, bias):
    run_op(kernels, ODD_SHAPES[4], "float64", slope=slope, bias=bias)


@pytest.mark.parametrize("splits", [1, 2, 3, 7, 100])
def test_every_weight_gradient_split_sums_to_the_definition(kernels, splits):
    run_op(kernels, ODD_SHAPES[-1], "float64", splits=splits)


@pytest.mark.parametrize("multiprocessors", [1, 4, 132])
def test_the_chosen_split_count_sums_to_the_definition(kernels, multiprocessors):
    run_op(kernels, (40, 2, 8, 8, 3, 3, 3, (1, 1), (1, 1, 1, 1)), "float64", multiprocessors=multiprocessors)


def test_rmsprop_kernel_matches_the_reference_across_launch_batches(kernels):
    generator = torch.Generator().manual_seed(0)
    shapes = [(16, 8, 5, 5), (7,), ()] + [(3, 5)] * 50  # more tensors than one launch takes (48)
    params = [torch.randn(shape, generator=generator) for shape in shapes]
    expected = [p.clone() for p in params]
    params = [p.to(DEVICE) for p in params]
    square_avgs = [torch.zeros_like(p) for p in params]
    expected_avgs = [torch.zeros_like(p) for p in expected]
    updates, expected_updates = torch.zeros((), dtype=torch.int64, device=DEVICE), torch.zeros((), dtype=torch.int64)
    pointers = lambda tensors: (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])  # noqa: E731
    numels = (ctypes.c_int64 * len(params))(*[p.numel() for p in params])
    for skip in (False, True, False):
        grads = [torch.randn(p.shape, generator=generator) for p in params]
        skip_flag = torch.tensor(skip)
        on_device = [g.to(DEVICE) for g in grads]
        assert kernels.rmsprop(len(params), pointers(params), pointers(on_device), pointers(square_avgs), numels,
                               skip_flag.to(DEVICE).data_ptr(), updates.data_ptr(), 1e-3, 0.5, 0.9, 1e-7) == 0
        reference.rmsprop_step_(expected, grads, expected_avgs, expected_updates, skip_flag, 1e-3, 0.5, 0.9, 1e-7)
    assert updates.item() == expected_updates.item() == 2
    for actual, wanted in zip(params + square_avgs, expected + expected_avgs):
        torch.testing.assert_close(actual.cpu(), wanted, rtol=1e-6, atol=1e-7)


# --- bias_act -----------------------------------------------------------------------------------

ACTIVATIONS = list(ACTIVATION_DEFAULTS)  # in pygan::Activation's order
# (shape, bias dim, layout): the bias's runs along memory are long (NCHW), single elements
# (channels-last, a 2-d input), or the whole tensor (a bias of one element).
BIAS_ACT_CASES = [((2, 5, 3, 4), 1, "nchw"), ((2, 5, 3, 4), 1, "nhwc"), ((3, 7), 1, "nchw"), ((4, 3), 0, "nchw"),
                  ((2, 1, 3, 3), 1, "nchw"), ((3, 6), None, "nchw")]


def memory_order(t: torch.Tensor, kind: str) -> torch.Tensor:
    """t's elements in the order of its memory when laid out as kind."""
    return (t.permute(0, 2, 3, 1) if kind == "nhwc" else t).contiguous().reshape(-1)


def run_bias_act(kernels, case, act, order, clamp, dtype="float64", seed=0):
    shape, dim, kind = case
    generator = torch.Generator().manual_seed(seed)
    x = 3 * torch.randn(shape, generator=generator, dtype=torch.float64)
    b = torch.randn(shape[dim], generator=generator, dtype=torch.float64) if dim is not None else None
    grad = torch.randn(shape, generator=generator, dtype=torch.float64)
    expected = bias_act_derivative_definition(x, b, dim, act, clamp, order, grad)
    if b is None:
        run, count = 1, 1
    elif shape[dim] == 1:
        run, count = x.numel(), 1
    else:  # the bias dimension's stride in that layout, and its size
        laid_out = x.contiguous(memory_format=torch.channels_last) if kind == "nhwc" else x
        run, count = laid_out.stride(dim), shape[dim]
    x_buf, grad_buf = (Buffer(memory_order(t, kind).numpy(), t.numel(), dtype) for t in (x, grad))
    b_buf = Buffer(b.numpy(), b.numel(), dtype) if b is not None else None
    out = Buffer(None, x.numel(), dtype)
    alpha, gain = ACTIVATION_DEFAULTS[act]
    assert kernels.bias_act(DTYPES[dtype], ACTIVATIONS.index(act), order, clamp is not None, x.numel(), run, count,
                            x_buf.pointer, grad_buf.pointer if order else None,
                            b_buf.pointer if b is not None else None,
                            alpha, gain, clamp or 0.0, out.pointer) == 0
    assert_close(out.values, memory_order(expected, kind), dtype)


@pytest.mark.parametrize("order", [0, 1, 2])
@pytest.mark.parametrize("clamp", [None, 0.7])
@pytest.mark.parametrize("act", ACTIVATIONS)
def test_bias_act_matches_the_definition(kernels, act, clamp, order):
    run_bias_act(kernels, BIAS_ACT_CASES[0], act, order, clamp)


@pytest.mark.parametrize("case", BIAS_ACT_CASES[1:], ids=lambda case: f"{case[0]}_dim{case[1]}_{case[2]}")
def test_bias_act_follows_the_bias_along_memory(kernels, case):
    for order in (0, 1):
        run_bias_act(kernels, case, "lrelu", order, 0.7)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_bias_act_other_dtypes(kernels, dtype):
    run_bias_act(kernels, BIAS_ACT_CASES[1], "swish", 1, 0.7, dtype)


# --- upfirdn2d ----------------------------------------------------------------------------------

# (x shape, filter shape, up, down, padding (x0, x1, y0, y1), flip): StyleGAN2's, odd factors and crops.
UPFIRDN2D_CASES = [
    ((2, 3, 4, 4), (4, 4), (2, 2), (1, 1), (2, 1, 2, 1), False),
    ((2, 3, 8, 8), (4, 4), (1, 1), (2, 2), (1, 1, 1, 1), False),
    ((1, 2, 9, 9), (4, 4), (1, 1), (1, 1), (1, 1, 1, 1), True),
    ((2, 3, 5, 6), (3, 2), (3, 1), (2, 3), (-1, 2, 1, -2), False),
    ((1, 2, 3, 2), (1, 4), (1, 2), (2, 1), (0, 3, 2, 2), True),
    ((1, 1, 0, 3), (1, 1), (1, 1), (1, 1), (0, 0, 2, 1), False),  # no input rows, padded to some
]


def strides_of(shape, channels_last):
    n, c, h, w = shape
    return (h * w * c, 1, w * c, c) if channels_last else (c * h * w, h * w, w, 1)


def run_upfirdn2d(kernels, case, x_layout, out_layout, dtype="float64"):
    shape, taps, up, down, padding, flip = case
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator, dtype=torch.float64)
    f = torch.randn(taps, generator=generator, dtype=torch.float64)
    expected = upfirdn2d_definition(x, f, up, down, padding, flip, 1.5)
    n, c, h, w = shape
    (oh, ow), (fh, fw) = expected.shape[2:], taps
    geometry = (ctypes.c_int64 * 14)(n, c, w, up[0], down[0], padding[0], fw, ow, h, up[1], down[1], padding[2], fh, oh)
    x_buf = Buffer(memory_order(x, x_layout).numpy(), x.numel(), dtype)
    f_buf = Buffer(f.numpy(), f.numel(), dtype)
    out = Buffer(None, expected.numel(), dtype)
    x_strides = (ctypes.c_int64 * 4)(*strides_of(shape, x_layout == "nhwc"))
    out_strides = (ctypes.c_int64 * 4)(*strides_of(expected.shape, out_layout == "nhwc"))
    assert kernels.upfirdn2d(DTYPES[dtype], geometry, x_strides, out_strides, out_layout == "nhwc", flip, 1.5,
                             x_buf.pointer, f_buf.pointer, out.pointer) == 0
    assert_close(out.values, memory_order(expected, out_layout), dtype)


@pytest.mark.parametrize("layouts", [("nchw", "nchw"), ("nhwc", "nhwc"), ("nhwc", "nchw")])
@pytest.mark.parametrize("case", UPFIRDN2D_CASES, ids=lambda case: "x{}_f{}_up{}_down{}_p{}_flip{}".format(*case))
def test_upfirdn2d_matches_the_definition(kernels, case, layouts):
    run_upfirdn2d(kernels, case, *layouts)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_upfirdn2d_other_dtypes(kernels, dtype):
    run_upfirdn2d(kernels, UPFIRDN2D_CASES[0], "nchw", "nhwc", dtype)
