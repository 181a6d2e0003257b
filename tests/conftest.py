"""Shared fixtures. Tests import the *installed* pygan (run them with the
``pytest`` of the environment pygan is installed in, from the repository root)."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

REPO_ROOT = Path(__file__).resolve().parent.parent
# The real MNIST test split lies beside the repository (../shared/data/mnist);
# PYGAN_TEST_MNIST_DIR points elsewhere. Its absence fails the tests that need it.
MNIST_DIR = Path(os.environ.get("PYGAN_TEST_MNIST_DIR", REPO_ROOT.parent / "shared" / "data" / "mnist"))


def leaky_relu_conv2d_definition(x, weight, bias, stride, padding, negative_slope):
    """What the fused op computes, spelled out with torch's own ops: every
    kernel and the reference are tested against it."""
    top, bottom, left, right = padding
    return F.conv2d(F.pad(F.leaky_relu(x, negative_slope), (left, right, top, bottom)), weight, bias, stride)


# Tests of kernels run on every device type pygan has kernels for.
DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                                 reason="no CUDA device"))]


def require_mnist() -> Path:
    """The MNIST test split's folder. In CI its absence fails the test; on a
    user's machine, which has no ../shared, it skips it."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        reason = (f"the real MNIST test split is not at {MNIST_DIR} "
                  f"(set PYGAN_TEST_MNIST_DIR to a folder with t10k-images-idx3-ubyte.gz)")
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; in CI it must be there")
        pytest.skip(reason)
    return MNIST_DIR


@pytest.fixture
def mnist_dir() -> Path:
    return require_mnist()


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
