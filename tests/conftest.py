"""Shared fixtures. Tests import the *installed* pygan (run them with the
``pytest`` of the environment pygan is installed in, from the repository root)."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import pytest
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
# The real MNIST test split: the one pygan ships (plugins/pygan_plugins/
# mnist_test_split), or wherever PYGAN_TEST_MNIST_DIR points.
MNIST_DIR = Path(os.environ.get("PYGAN_TEST_MNIST_DIR",
                                REPO_ROOT / "plugins" / "pygan_plugins" / "mnist_test_split"))


def leaky_relu_conv2d_definition(x, weight, bias, stride, padding, negative_slope):
    """What the fused op computes, spelled out with torch's own ops: every
    kernel and the reference are tested against it."""
    top, bottom, left, right = padding
    return F.conv2d(F.pad(F.leaky_relu(x, negative_slope), (left, right, top, bottom)), weight, bias, stride)


class FeatureNetwork(torch.nn.Module):
    """The tests' stand-in for InceptionV3: uint8 RGB images -> 16 features."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 16, 3, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(images.float() / 255)).mean(dim=(2, 3))


# The ops' results match their definitions to these, relative to the values' scale.
TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-5}
# The CPU kernels' Winograd path (5x5 layers of stride 1 and 2 with 128
# channels or more, csrc/winograd.h) rounds float32 several times more than
# direct convolution: its transforms subtract large terms.
WINOGRAD_TOLERANCE = {torch.float64: 1e-10, torch.float32: 1e-4}


def assert_matches(actual: torch.Tensor, expected: torch.Tensor, tolerance: dict | None = None) -> None:
    """Equal within the dtype's tolerance (``TOLERANCE``, or ``tolerance``),
    relative to the expected values' scale."""
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    if expected.numel() == 0:
        return
    scale = max(expected.abs().max().item(), 1.0)
    error = (actual - expected).abs().max().item()
    assert error <= (tolerance or TOLERANCE)[expected.dtype] * scale, f"max error {error:.3g} at scale {scale:.3g}"


def check_op(op, x, weight, bias, stride, padding, negative_slope, tolerance=None):
    """op's output and gradients for x, weight and bias match the definition's
    (leaky_relu_conv2d_definition), within the dtype's ``tolerance``."""
    inputs = [t.detach().requires_grad_() for t in (x, weight) + ((bias,) if bias is not None else ())]
    expected_inputs = [t.detach().clone().requires_grad_() for t in inputs]
    args = (stride, padding, negative_slope)
    out = op(inputs[0], inputs[1], inputs[2] if bias is not None else None, *args)
    expected = leaky_relu_conv2d_definition(expected_inputs[0], expected_inputs[1], expected_inputs[2] if bias is not None else None,
                          *args)
    assert_matches(out, expected, tolerance)
    grad = torch.randn_like(expected)
    for actual_grad, expected_grad in zip(torch.autograd.grad(out, inputs, grad, allow_unused=True),
                                          torch.autograd.grad(expected, expected_inputs, grad, allow_unused=True)):
        if expected_grad is None:  # nothing flows back through an empty batch
            continue
        assert_matches(actual_grad, expected_grad, tolerance)


def layout(t: torch.Tensor, kind: str) -> torch.Tensor:
    """t as a "contiguous", "channels_last" (4-d tensors) or "strided" tensor
    (every other element along the last dimension of a wider one)."""
    if kind == "channels_last" and t.dim() == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if kind == "strided" and t.dim() > 0:
        wide = torch.empty(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype, device=t.device)
        wide[..., ::2] = t
        return wide[..., ::2]
    return t


@contextlib.contextmanager
def backend(name: str):
    """pygan.ops on the backend PYGAN_OPS names, chosen afresh, inside the block."""
    import pygan.ops

    saved = os.environ.get("PYGAN_OPS"), dict(pygan.ops._selected)
    os.environ["PYGAN_OPS"] = name
    pygan.ops._selected.clear()
    try:
        yield
    finally:
        if saved[0] is None:
            os.environ.pop("PYGAN_OPS")
        else:
            os.environ["PYGAN_OPS"] = saved[0]
        pygan.ops._selected.clear()
        pygan.ops._selected.update(saved[1])


# NVlabs' StyleGAN2 activations, their default (alpha, gain), as facts to test against.
ACTIVATION_DEFAULTS = {"linear": (0.0, 1.0), "relu": (0.0, 2 ** 0.5), "lrelu": (0.2, 2 ** 0.5), "tanh": (0.0, 1.0),
                       "sigmoid": (0.0, 1.0), "elu": (0.0, 1.0), "selu": (0.0, 1.0), "softplus": (0.0, 1.0),
                       "swish": (0.0, 2 ** 0.5)}


def bias_act_definition(x, b=None, dim=1, act="linear", alpha=None, gain=None, clamp=None):
    """What bias_act computes, spelled out with torch.nn's activation modules."""
    default_alpha, default_gain = ACTIVATION_DEFAULTS[act]
    alpha = default_alpha if alpha is None else alpha
    gain = default_gain if gain is None else gain
    if b is not None:
        x = (x.movedim(dim, -1) + b).movedim(-1, dim)
    activation = {"linear": torch.nn.Identity(), "relu": torch.nn.ReLU(), "lrelu": torch.nn.LeakyReLU(alpha),
                  "tanh": torch.nn.Tanh(), "sigmoid": torch.nn.Sigmoid(), "elu": torch.nn.ELU(),
                  "selu": torch.nn.SELU(), "softplus": torch.nn.Softplus(), "swish": torch.nn.SiLU()}[act]
    y = activation(x) * gain
    if clamp is not None:
        y = torch.where(y > clamp, torch.full_like(y, clamp), torch.where(y < -clamp, torch.full_like(y, -clamp), y))
    return y


def bias_act_derivative_definition(x, b, dim, act, clamp, order, grad):
    """What bias_act's kernels compute for order 0 (the value), 1 (grad
    times the derivative in x) or 2 (grad times the second derivative), from
    the definition by autograd, with NVlabs' default alpha and gain."""
    alpha, gain = ACTIVATION_DEFAULTS[act]
    x = x.detach().clone().requires_grad_()
    y = bias_act_definition(x, b, dim if b is not None else 1, act, alpha, gain, clamp)
    if order == 0:
        return y.detach()
    (first,) = torch.autograd.grad(y, x, torch.ones_like(y) if order == 2 else grad, create_graph=order == 2)
    if order == 1:
        return first
    if not first.requires_grad:  # a constant derivative (linear)
        return torch.zeros_like(x)
    (second,) = torch.autograd.grad(first, x, grad, allow_unused=True)
    return torch.zeros_like(x) if second is None else second  # piecewise linear: nothing to differentiate


def upfirdn2d_definition(x, f, up=(1, 1), down=(1, 1), padding=(0, 0, 0, 0), flip_filter=False, gain=1.0):
    """What upfirdn2d computes, spelled out another way than the reference:
    zeros inserted by a transposed convolution with a one-pixel kernel,
    padding and cropping by F.pad and slicing, the filter as a sum of shifted
    copies (a true convolution unless flip_filter), and slicing for the
    downsampling. Pairs are (x, y); a 1-d filter is applied along both axes."""
    (up_x, up_y), (down_x, down_y), (x0, x1, y0, y1) = up, down, padding
    n, c, h, w = x.shape
    planes = x.reshape(n * c, 1, h, w)
    if (up_x, up_y) != (1, 1):  # (conv_transpose2d refuses an image of no pixels)
        impulse = torch.ones(1, 1, 1, 1, dtype=x.dtype, device=x.device)
        planes = F.conv_transpose2d(planes, impulse, stride=(up_y, up_x))  # (h - 1) * up_y + 1 high
        planes = F.pad(planes, (0, up_x - 1, 0, up_y - 1))
    planes = F.pad(planes, (max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)))
    planes = planes[:, :, max(-y0, 0):planes.shape[2] - max(-y1, 0), max(-x0, 0):planes.shape[3] - max(-x1, 0)]
    f = f.to(x.dtype)
    f2d = torch.outer(f, f) if f.dim() == 1 else f
    fh, fw = f2d.shape
    out_h, out_w = planes.shape[2] - fh + 1, planes.shape[3] - fw + 1
    out = torch.zeros(n * c, 1, out_h, out_w, dtype=x.dtype, device=x.device)
    for i in range(fh):
        for j in range(fw):
            # convolution: out[p] = sum_k f[k] * in[p + size - 1 - k]
            tap = f2d[i, j] if flip_filter else f2d[fh - 1 - i, fw - 1 - j]
            out = out + tap * planes[:, :, i:i + out_h, j:j + out_w]
    return (out[:, :, ::down_y, ::down_x] * gain).reshape(n, c, -(-out_h // down_y), -(-out_w // down_x))


# Tests of kernels run on every device type pygan has kernels for.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]


def missing(reason: str, in_ci: str = "in CI it must be there") -> NoReturn:
    """Skips the test for what this machine lacks; fails it in CI, which has it."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; {in_ci}")
    pytest.skip(reason)


def require_mnist() -> Path:
    """The MNIST test split's folder; its absence (a PYGAN_TEST_MNIST_DIR
    pointing nowhere) fails the test."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        missing(f"the MNIST test split is not at {MNIST_DIR} "
                f"(set PYGAN_TEST_MNIST_DIR to a folder with t10k-images-idx3-ubyte.gz)")
    return MNIST_DIR


@pytest.fixture
def mnist_dir() -> Path:
    return require_mnist()


def find_nvcc() -> str | None:
    """nvcc where the build looks for it (CMakeLists.txt): $CUDACXX, the
    PATH, $CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin."""
    candidates = [os.environ.get("CUDACXX"), shutil.which("nvcc")]
    candidates += [str(Path(os.environ[name]) / "bin" / "nvcc") for name in ("CUDA_HOME", "CUDA_PATH")
                   if os.environ.get(name)]
    candidates.append("/usr/local/cuda/bin/nvcc")
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


def require_nvcc() -> str:
    """nvcc's path. CI has nvcc (it builds the CUDA kernels there), so its
    absence fails the test in CI; on a machine without it, it skips it."""
    nvcc = find_nvcc()
    if nvcc is None:
        missing("nvcc not found ($CUDACXX, PATH, $CUDA_HOME/bin, $CUDA_PATH/bin, /usr/local/cuda/bin)")
    return nvcc


def pygan_command(*args: str, env: dict | None = None, cwd: Path | None = None,
                  timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the installed ``pygan`` script (as a user would) in a fresh process."""
    full_env = {**os.environ, **(env or {})}
    script = Path(sys.executable).parent / "pygan"
    return subprocess.run([str(script), *map(str, args)], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=timeout)


@pytest.fixture
def pygan():
    return pygan_command


class FullDiskFile(io.FileIO):
    """A file on a disk with room for ROOM bytes: writing past it fails as the kernel fails it."""

    ROOM = 10

    def write(self, data):
        if self.tell() + len(data) > self.ROOM:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


@pytest.fixture
def full_disk(monkeypatch):
    """Every temporary file pygan._files.atomic.atomic_writer opens is on a full disk."""
    import pygan._files.atomic

    monkeypatch.setattr(pygan._files.atomic, "open", lambda descriptor, mode: io.BufferedWriter(FullDiskFile(descriptor, "w")),
                        raising=False)


@pytest.fixture(scope="module")
def no_tf32():
    """cuDNN and cuBLAS convolutions and products in full float32: cuDNN
    allows TF32 by default, whose 10-bit mantissa is far outside float32
    tolerances. Module-wide, so hypothesis tests can use it too."""
    previous = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = previous
