"""Which backend pygan.ops uses, and how it tells the user."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest
import torch

import pygan.ops
from pygan._contracts import messages as console
from pygan._contracts.messages import PyganError, UsageError
from pygan.ops import _extension


@pytest.fixture
def fresh(monkeypatch):
    """A process that has chosen no backend and printed no notice yet."""
    monkeypatch.setattr(pygan.ops, "_selected", {})
    monkeypatch.setattr(console, "_said", set())
    for name in ("PYGAN_OPS", "PYGAN_REQUIRE_EXT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture
def no_extension(fresh):
    fresh.setattr(_extension, "module", None)
    fresh.setattr(_extension, "error", "the compiled extension pygan._C failed to import: boom")
    return fresh


def test_compiled_kernel_is_the_default(fresh, capsys):
    assert all(pygan.ops._select("cpu", op) == "fused" for op in pygan.ops._OPS)
    assert capsys.readouterr().err == ""


def test_reference_on_request(fresh, capsys):
    fresh.setenv("PYGAN_OPS", "reference")
    assert pygan.ops._select("cpu", "leaky_relu_conv2d") == "reference"
    assert pygan.ops._select("cpu", "conv_transpose2d") == "reference"
    assert capsys.readouterr().err == ""


def test_unknown_request_is_a_usage_error(fresh):
    fresh.setenv("PYGAN_OPS", "fast")
    with pytest.raises(UsageError, match="PYGAN_OPS"):
        pygan.ops._select("cpu", "leaky_relu_conv2d")


def test_missing_extension_warns_once_and_uses_the_reference(no_extension, capsys):
    x, weight = torch.randn(1, 2, 5, 5), torch.randn(3, 2, 3, 3)
    for _ in range(2):
        pygan.ops.leaky_relu_conv2d(x, weight, None, (1, 1), (1, 1, 1, 1), 0.2)
    assert pygan.ops._selected["cpu", "leaky_relu_conv2d"][0] == "reference"
    err = capsys.readouterr().err
    assert err.count("boom") == 1 and "warning" in err
    # An op built from torch's own operators needs no extension.
    assert pygan.ops._select("cpu", "conv_transpose2d") == "fused"


@pytest.mark.parametrize("variable, value", [("PYGAN_REQUIRE_EXT", "1"), ("PYGAN_OPS", "fused")])
def test_missing_extension_is_an_error_when_required(no_extension, variable, value):
    no_extension.setenv(variable, value)
    with pytest.raises(PyganError, match="boom"):
        pygan.ops._select("cpu", "leaky_relu_conv2d")


def test_device_without_kernel_is_announced_and_uses_the_reference(fresh, capsys):
    assert pygan.ops._select("xpu", "leaky_relu_conv2d") == "reference"
    assert pygan.ops._select("xpu", "leaky_relu_conv2d") == "reference"
    assert capsys.readouterr().err.count("no compiled leaky_relu_conv2d kernel for xpu") == 1
    fresh.setattr(pygan.ops, "_selected", {})
    fresh.setenv("PYGAN_OPS", "fused")
    with pytest.raises(PyganError, match="xpu"):
        pygan.ops._select("xpu", "leaky_relu_conv2d")


def test_the_choice_is_made_per_op(fresh, capsys):
    """A device with kernels for some ops runs those compiled, the others on
    the reference (an extension built before an op existed, or CUDA kernels
    still to be written for one)."""
    fresh.setattr(pygan.ops, "_has_kernel", lambda device_type, op: op != "rmsprop_step_")
    param, updates = torch.zeros(3), torch.zeros((), dtype=torch.int64)
    step = (lambda: pygan.ops.rmsprop_step_([param], [torch.ones(3)], [torch.zeros(3)], updates, torch.tensor(False),
                                            0.1, 0.0, 0.9, 1e-7))
    step()
    pygan.ops.leaky_relu_conv2d(torch.randn(1, 2, 4, 4), torch.randn(3, 2, 3, 3), None, 1, (1, 1, 1, 1), 0.2)
    assert pygan.ops._selected["cpu", "rmsprop_step_"][0] == "reference" and updates.item() == 1
    assert pygan.ops._selected["cpu", "leaky_relu_conv2d"][0] == "fused"
    assert capsys.readouterr().err.count("no compiled rmsprop_step_ kernel for cpu") == 1
    fresh.setattr(pygan.ops, "_selected", {})
    fresh.setenv("PYGAN_OPS", "fused")
    with pytest.raises(PyganError, match="rmsprop_step_ kernel for cpu"):
        step()


def test_auto_takes_the_reference_where_the_kernel_was_measured_slower(fresh, capsys):
    """The CUDA LeakyReLU+conv lost to cuDNN on an H200: auto runs cuDNN
    there, silently (nothing is missing), and PYGAN_OPS=fused still asks for
    the kernel."""
    fresh.setattr(pygan.ops, "_has_kernel", lambda device_type, op: True)  # as where the CUDA kernels loaded
    assert pygan.ops._select("cuda", "leaky_relu_conv2d") == "reference"
    assert "slower than cuDNN" in pygan.ops._selected["cuda", "leaky_relu_conv2d"][1]
    assert pygan.ops._select("cuda", "rmsprop_step_") == "fused"
    assert pygan.ops._select("cpu", "leaky_relu_conv2d") == "fused"
    assert capsys.readouterr().err == ""
    fresh.setattr(pygan.ops, "_selected", {})
    fresh.setenv("PYGAN_OPS", "fused")
    assert pygan.ops._select("cuda", "leaky_relu_conv2d") == "fused"


def test_an_op_the_extension_does_not_define_has_no_kernel():
    assert not pygan.ops._has_kernel("cpu", "no_such_op")


def test_the_kernels_load_into_the_running_torch():
    assert _extension.error is None and _extension.module is _extension.build
    assert torch.__version__ >= _extension.build.min_torch_version


def older_than_the_target() -> str:
    """A torch release just before the one the kernels were built for."""
    major, minor = map(int, _extension.build.min_torch_version.split("."))
    return f"{major}.{minor - 1}.9+cpu"


def test_a_torch_older_than_the_kernels_target_is_refused_naming_both(monkeypatch):
    older = older_than_the_target()
    monkeypatch.setattr(torch, "__version__", older)
    build, error = _extension._load()
    assert build is _extension.build
    assert f"built against torch {build.torch_version}" in error and f"torch {older} is installed" in error
    assert f"pip install 'torch>={build.min_torch_version}'" in error


def test_kernels_that_cannot_load_name_both_versions_and_the_rebuild(monkeypatch):
    def load_library(path):
        raise OSError(f"{path}: undefined symbol: torch_new_shim")

    monkeypatch.setattr(torch, "__version__", "2.99.0+cu999")
    monkeypatch.setattr(torch.ops, "load_library", load_library)
    _, error = _extension._load()
    assert f"built against torch {_extension.build.torch_version}" in error
    assert "cannot load into the installed torch 2.99.0+cu999" in error and "undefined symbol" in error
    assert "pip install --no-build-isolation --no-deps --force-reinstall" in error


def test_backend_info(fresh):
    info = pygan.ops.backend_info()
    assert info["extension_loaded"] and info["extension_error"] is None
    assert info["devices"]["cpu"] == {
        **{op: {"selected": "fused", "reason": "compiled kernel"} for op in pygan.ops._OPS},
        # needs no compiled kernel, so it is reported but has none
        **{op: {"selected": "fused", "reason": reason} for op, reason in pygan.ops._ARRANGED.items()}}
    cuda = info["cuda_kernels"]
    assert cuda["loaded"] == (_extension.cuda_error is None) and cuda["why_not"] == _extension.cuda_error
    assert cuda["built"] == _extension.build.with_cuda and cuda["architectures"] == _extension.build.cuda_architectures
    expected_devices = ["cpu", "cuda"] if cuda["loaded"] else ["cpu"]
    assert info["kernels"] == {op: expected_devices for op in pygan.ops._OPS}


@pytest.fixture
def built_with_cuda(monkeypatch):
    """A build record that says the CUDA kernels were built, and a
    torch.ops.load_library that records what it is asked to load."""
    monkeypatch.setattr(_extension.build, "with_cuda", True)
    monkeypatch.setattr(_extension.build, "cuda_library", "libpygan_ops_cuda.so")
    monkeypatch.setattr(_extension.build, "cuda_version", "13.0.88")
    loaded = []
    monkeypatch.setattr(torch.ops, "load_library", lambda path: loaded.append(path.name))
    return loaded


@pytest.mark.parametrize("torch_cuda", [None, "13.0"])
def test_the_cuda_kernels_load_after_the_cpu_ones_and_only_into_a_cuda_torch(built_with_cuda, monkeypatch,
                                                                            torch_cuda):
    monkeypatch.setattr(torch.version, "cuda", torch_cuda)
    build, error = _extension._load()
    cuda_error = _extension._load_cuda(build)
    assert error is None
    if torch_cuda is None:
        assert built_with_cuda == [build.ops_library] and cuda_error == "not loaded: torch is a CPU build"
    else:
        assert built_with_cuda == [build.ops_library, "libpygan_ops_cuda.so"] and cuda_error is None


def test_a_rocm_torch_is_not_given_the_cuda_kernels(built_with_cuda, monkeypatch):
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", "7.0", raising=False)
    assert _extension._load_cuda(_extension.build) == "not loaded: torch is a ROCm build" and built_with_cuda == []


def test_cuda_kernels_that_cannot_load_say_why(built_with_cuda, monkeypatch):
    def load_library(path):
        raise OSError(f"{path}: undefined symbol: torch_new_cuda_shim")

    monkeypatch.setattr(torch.version, "cuda", "13.0")
    monkeypatch.setattr(torch.ops, "load_library", load_library)
    why = _extension._load_cuda(_extension.build)
    assert why.startswith(f"not loaded: built with CUDA 13.0.88, they cannot load into torch {torch.__version__} "
                          "(CUDA 13.0)") and "undefined symbol: torch_new_cuda_shim" in why


def test_cuda_kernels_not_built_say_why(monkeypatch):
    monkeypatch.setattr(_extension.build, "with_cuda", False)
    monkeypatch.setattr(_extension.build, "cuda_skipped", "PYGAN_CUDA=OFF")
    assert _extension._load_cuda(_extension.build) == "not built (PYGAN_CUDA=OFF when pygan was built)"


def test_cuda_tensors_without_cuda_kernels_say_why(fresh, capsys):
    fresh.setattr(_extension, "cuda_error", "not built (PYGAN_CUDA=OFF when pygan was built)")
    fresh.setattr(pygan.ops, "_has_kernel", lambda device_type, op: device_type != "cuda")
    fresh.setattr(_extension.build, "with_cuda", False)
    fresh.setenv("PYGAN_REQUIRE_EXT", "1")  # kernels never built are not a broken build
    assert pygan.ops._select("cuda", "rmsprop_step_") == "reference"
    assert ("no compiled rmsprop_step_ kernel for cuda tensors: its CUDA kernels are not built (PYGAN_CUDA=OFF "
            "when pygan was built)") in capsys.readouterr().err


def test_cuda_kernels_built_but_not_loaded_are_an_error_when_required(fresh):
    fresh.setattr(_extension, "cuda_error", "not loaded: boom")
    fresh.setattr(pygan.ops, "_has_kernel", lambda device_type, op: device_type != "cuda")
    fresh.setattr(_extension.build, "with_cuda", True)
    fresh.setattr(torch.version, "cuda", "13.0")
    fresh.setenv("PYGAN_REQUIRE_EXT", "1")
    with pytest.raises(PyganError, match="its CUDA kernels are not loaded: boom"):
        pygan.ops._select("cuda", "rmsprop_step_")


def test_backend_info_reports_a_required_missing_extension(no_extension):
    no_extension.setenv("PYGAN_REQUIRE_EXT", "1")
    info = pygan.ops.backend_info()
    assert not info["extension_loaded"] and "boom" in info["extension_error"]
    assert all(info["devices"]["cpu"][op]["selected"] == "error" for op in pygan.ops._OPS)
    assert all(info["devices"]["cpu"][op]["selected"] == "fused" for op in pygan.ops._ARRANGED)


# A real process whose extension cannot be imported.
BROKEN = """
import sys
sys.modules["pygan._C"] = None  # makes `from pygan import _C` raise ImportError
import torch, pygan.ops
print(pygan.ops.leaky_relu_conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3), None, (1, 1), (0, 0, 0, 0), 0.2).item())
"""


def run_broken(script=BROKEN, **env):
    env = {k: v for k, v in os.environ.items() if k not in ("PYGAN_OPS", "PYGAN_REQUIRE_EXT")} | env
    # Not from the checkout, whose pygan/ (without the compiled files) would
    # shadow the installed one.
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
                          cwd=tempfile.gettempdir())


# A real process whose torch is older than the kernels need.
OLD_TORCH = """
import torch
torch.__version__ = "{older}"
import pygan.ops
print(pygan.ops.leaky_relu_conv2d(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3), None, 1, (0, 0, 0, 0), 0.2).item())
"""


def test_an_unloadable_build_warns_and_uses_the_reference_unless_required():
    older = older_than_the_target()
    script = OLD_TORCH.format(older=older)
    warned = run_broken(script=script)
    assert warned.returncode == 0 and warned.stdout.strip() == "9.0"
    assert warned.stderr.count(f"torch {older} is installed") == 1
    failed = run_broken(script=script, PYGAN_REQUIRE_EXT="1")
    assert failed.returncode != 0 and "PyganError" in failed.stderr and older in failed.stderr


def test_broken_build_in_a_real_process():
    warned = run_broken()
    assert warned.returncode == 0 and warned.stdout.strip() == "9.0"
    assert warned.stderr.count("pygan._C failed to import") == 1
    failed = run_broken(PYGAN_REQUIRE_EXT="1")
    assert failed.returncode != 0 and "PyganError" in failed.stderr


def test_info_lists_each_op_when_a_device_mixes_backends(fresh, capsys):
    from pygan._commands.cli import command_info

    fresh.setattr(pygan.ops, "_has_kernel", lambda device_type, op: op != "rmsprop_step_")
    command_info(None)
    out = capsys.readouterr().out
    assert "  cpu: fused (compiled kernel)\n" in out and "cpu, leaky_relu_conv2d" not in out
    assert "  cpu, rmsprop_step_: reference (pygan has no compiled rmsprop_step_ kernel for cpu tensors)" in out
    assert f"  cpu, conv_transpose2d: fused ({pygan.ops._ARRANGED['conv_transpose2d']})" in out
