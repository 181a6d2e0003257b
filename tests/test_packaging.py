"""pygan requires the oldest torch its kernels load into, not an exact
release, and the kernels use nothing of torch but its stable C ABI: what
lets one build load into later torch releases."""

from __future__ import annotations

import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
from conftest import REPO_ROOT

from pygan.ops import _extension

MIN_TORCH = re.search(r"set\(PYGAN_MIN_TORCH (\S+)\)", (REPO_ROOT / "CMakeLists.txt").read_text()).group(1)
OPS_LIBRARY = Path(_extension.build.__file__).with_name(_extension.build.ops_library)


def test_the_installed_pygan_requires_the_torch_its_kernels_target_and_later():
    requirements = [r for r in metadata.requires("pygan") if re.match(r"torch\b", r) and "extra ==" not in r]
    assert requirements == [f"torch>={MIN_TORCH}"]
    assert _extension.build.min_torch_version == MIN_TORCH


def elf_tool(*args: str) -> str:
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} (binutils) is not installed")
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def test_the_kernels_call_only_torchs_c_functions():
    undefined = elf_tool("nm", "-D", "--undefined-only", str(OPS_LIBRARY)).split()
    # A mangled name from torch's C++ namespaces would tie the build to one release.
    cpp_api = [name for name in undefined if re.match(r"_ZN?K?(3c10|2at|5torch|6caffe2)", name)]
    assert not cpp_api, f"{OPS_LIBRARY.name} uses torch's C++ API: {cpp_api[:10]}"
    assert "torch_library_impl" in undefined and "torch_parallel_for" in undefined


def test_the_kernels_link_only_the_libraries_of_the_c_shims():
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", elf_tool("readelf", "-d", str(OPS_LIBRARY)))
    torch_libraries = {name for name in needed if name.startswith(("libtorch", "libc10"))}
    assert torch_libraries <= {"libtorch_cpu.so", "libtorch_cuda.so"} and "libtorch_cpu.so" in torch_libraries
