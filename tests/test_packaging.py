"""pygan requires the oldest torch its kernels load into, not an exact
release, and the kernels use nothing of torch but its stable C ABI: what
lets one build load into later torch releases. The CUDA kernels are built
wherever nvcc is, whatever the build's torch (CI's `pip install .` builds
them against a CPU torch), as a second library that only a CUDA torch loads."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from importlib import metadata
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, missing, require_nvcc

import pygan.ops
from pygan.ops import _extension

MIN_TORCH = re.search(r"set\(PYGAN_MIN_TORCH (\S+)\)", (REPO_ROOT / "CMakeLists.txt").read_text()).group(1)
OPS_LIBRARY = Path(_extension.build.__file__).with_name(_extension.build.ops_library)
TORCH_LIB = Path(torch.__file__).parent / "lib"


def test_the_installed_pygan_requires_the_torch_its_kernels_target_and_later():
    requirements = [r for r in metadata.requires("pygan") if re.match(r"torch\b", r) and "extra ==" not in r]
    assert requirements == [f"torch>={MIN_TORCH}"]
    assert _extension.build.min_torch_version == MIN_TORCH


def elf_tool(*args: str) -> str:
    if shutil.which(args[0]) is None:
        pytest.skip(f"{args[0]} (binutils) is not installed")
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def cuda_library() -> Path:
    """The installed CUDA kernels' library. Where nvcc is (CI), the build must
    have made it; without nvcc the test is skipped, except in CI."""
    build = _extension.build
    if not build.with_cuda:
        reason = f"the installed pygan has no CUDA kernels ({build.cuda_skipped}), though nvcc is at {require_nvcc()}"
        if build.cuda_skipped != "PYGAN_CUDA=OFF":
            pytest.fail(reason)
        missing(reason, "CI builds them")
    return Path(build.__file__).with_name(build.cuda_library)


def test_the_cuda_kernels_are_built_whatever_the_builds_torch():
    assert cuda_library().is_file()
    if os.environ.get("CI") == "true":  # CI's pip install . builds against the build requirement's torch
        assert _extension.build.torch_version.endswith("+cpu")


@pytest.mark.skipif(torch.version.cuda is not None, reason="torch is a CUDA build")
def test_a_cpu_torch_loads_the_cpu_kernels_only():
    library = cuda_library()
    mapped = Path("/proc/self/maps").read_text()  # importing pygan.ops._extension loaded the kernels
    assert OPS_LIBRARY.name in mapped and library.name not in mapped
    assert _extension.cuda_error == "not loaded: torch is a CPU build"
    assert not torch._C._dispatch_has_kernel_for_dispatch_key("pygan::leaky_relu_conv2d", "CUDA")


@pytest.mark.skipif(torch.version.cuda is None, reason="torch is a CPU build")
def test_a_cuda_torch_loads_the_cuda_kernels_too():
    library = cuda_library()
    assert library.name in Path("/proc/self/maps").read_text() and _extension.cuda_error is None
    assert all(pygan.ops._has_kernel("cuda", op) for op in pygan.ops._OPS)  # GPU or not


KERNEL_LIBRARIES = [pytest.param(lambda: OPS_LIBRARY, id="cpu"), pytest.param(cuda_library, id="cuda")]


def undefined_symbols(library: Path) -> dict[str, str]:
    """The library's undefined dynamic symbols (name@version where versioned), each with nm's type: U or w (weak)."""
    lines = elf_tool("nm", "-D", "--undefined-only", str(library)).splitlines()
    return {name: kind for kind, name in (line.split() for line in lines)}


@pytest.mark.parametrize("library", KERNEL_LIBRARIES)
def test_the_kernels_call_only_torchs_c_functions(library):
    library = library()
    undefined = undefined_symbols(library)
    # A mangled name from torch's C++ namespaces would tie the build to one release.
    cpp_api = [name for name in undefined if re.match(r"_ZN?K?(3c10|2at|5torch|6caffe2)", name)]
    assert not cpp_api, f"{library.name} uses torch's C++ API: {cpp_api[:10]}"
    assert "torch_library_impl" in undefined


def test_the_cpu_kernels_link_only_the_library_of_the_c_shims():
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", elf_tool("readelf", "-d", str(OPS_LIBRARY)))
    assert {name for name in needed if name.startswith(("libtorch", "libc10", "libcuda"))} == {"libtorch_cpu.so"}
    assert "torch_parallel_for" in undefined_symbols(OPS_LIBRARY)


def cuda_shims() -> set[str]:
    """The C functions torch's shim headers declare for CUDA builds only
    (under USE_CUDA): libtorch_cuda.so exports them, a CPU torch has none."""
    names = set()
    for header in (TORCH_LIB.parent / "include" / "torch" / "csrc").rglob("shim*.h"):
        for block in re.findall(r"#ifdef USE_CUDA\b(.*?)#endif\s*//\s*USE_CUDA", header.read_text(), re.DOTALL):
            names.update(re.findall(r"AOTI_TORCH_EXPORT[^;(]*?\b(\w+)\s*\(", block))
    return names


def test_the_cuda_kernels_need_only_the_c_library_and_torchs_c_shims():
    library = cuda_library()
    undefined = undefined_symbols(library)
    # Versioned: glibc, libstdc++, libgcc (and the static CUDA runtime's calls into glibc).
    system = ("GLIBC_", "GLIBCXX_", "CXXABI_", "GCC_")
    foreign = [name for name in undefined if "@" in name and not name.split("@")[1].startswith(system)]
    assert not foreign, f"{library.name} needs symbols of other libraries: {foreign[:10]}"
    # Unversioned (weak ones aside, which may stay unresolved): torch's C shims, which the CPU torch
    # here exports, or its CUDA shims, which only a CUDA torch's libtorch_cuda.so does. No CUDA runtime
    # function (it is linked in statically), nothing of pygan's own, nothing of torch's C++.
    strong = {name for name, kind in undefined.items() if "@" not in name and kind == "U"}
    cuda_needed = strong - exported_symbols(TORCH_LIB / "libtorch_cpu.so")
    assert cuda_needed <= cuda_shims(), f"{library.name} needs what torch does not export: {cuda_needed - cuda_shims()}"
    assert "aoti_torch_get_current_cuda_stream" in cuda_needed and "torch_library_impl" in strong
    if torch.version.cuda is not None:  # a CUDA torch: its libtorch_cuda.so has every one
        assert cuda_needed <= exported_symbols(TORCH_LIB / "libtorch_cuda.so")


def exported_symbols(library: Path) -> set[str]:
    return set(elf_tool("nm", "-D", "--defined-only", "--format=just-symbols", str(library)).split())


def test_the_cuda_kernels_link_no_cuda_runtime_and_find_libtorch_cuda_beside_torch():
    library = cuda_library()
    dynamic = elf_tool("readelf", "-d", str(library))
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[(.+)\]", dynamic)
    assert {name for name in needed if name.startswith(("libtorch", "libc10", "libcuda"))} == \
        {"libtorch_cpu.so", "libtorch_cuda.so"}
    assert re.search(r"\((RUNPATH|RPATH)\)\s+Library r(un)?path: \[\$ORIGIN/\.\./torch/lib\]", dynamic)
    # The static runtime's functions are hidden: the kernels' launches cannot bind to torch's runtime.
    assert not [name for name in exported_symbols(library) if name.startswith("cuda")]


def fatbin_targets(library: Path) -> set[str]:
    """What the library's fat binaries hold: sm_N for a cubin, compute_N for PTX.
    The .nv_fatbin section is a run of fat binaries (one per .cu file): a
    16-byte header (magic 0xBA55ED50, version, header size, payload size),
    then entries, each with its kind (1: PTX, 2: cubin) at byte 0, header
    size at 4, payload size at 8 and architecture at 28."""
    section = re.search(r"\.nv_fatbin\s+PROGBITS\s+[0-9a-f]+\s+([0-9a-f]+)\s+([0-9a-f]+)",
                        elf_tool("readelf", "-S", "-W", str(library)))
    offset, size = (int(field, 16) for field in section.groups())
    data = library.read_bytes()[offset:offset + size]
    targets, position = set(), 0
    while position + 16 <= len(data):
        magic, _, header_size, payload_size = struct.unpack_from("<IHHQ", data, position)
        if magic != 0xBA55ED50:  # padding between fat binaries
            position += 8
            continue
        entry, end = position + header_size, position + header_size + payload_size
        while entry < end:
            kind, _, entry_header, entry_size = struct.unpack_from("<HHIQ", data, entry)
            arch = struct.unpack_from("<I", data, entry + 28)[0]
            targets.add({1: "compute", 2: "sm"}[kind] + f"_{arch}")
            entry += entry_header + entry_size
        position = end
    return targets


def test_the_build_record_names_the_gpus_the_cuda_kernels_were_compiled_for():
    library = cuda_library()
    build = _extension.build
    assert fatbin_targets(library) == set(build.cuda_architectures)
    assert re.fullmatch(r"\d+\.\d+\.\d+", build.cuda_version) and build.cuda_skipped == ""
    if os.environ.get("CI") == "true":  # CI builds the default list: Turing to Blackwell, and PTX for later GPUs
        assert {"sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120", "compute_120"} <= set(build.cuda_architectures)
