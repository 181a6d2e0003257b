"""The CUDA kernels compile wherever nvcc exists, GPU or not: the .cu files
include no torch header, so nvcc alone compiles them, and CI on CPU machines
catches CUDA compile errors. Their glue (*_cuda.cpp) compiles against the
installed torch's stable headers, CUDA build of torch or not: the headers
are the same, only the library linked differs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from conftest import REPO_ROOT, find_nvcc, require_nvcc

CUDA_DIR = REPO_ROOT / "csrc" / "cuda"
SOURCES = sorted(CUDA_DIR.glob("*.cu"))
GLUE = sorted(CUDA_DIR.glob("*_cuda.cpp"))
HEADERS = sorted(CUDA_DIR.glob("*.cuh"))
# The defines torch's own CUDA builds add, so that the kernels compile under them too.
TORCH_DEFINES = ["-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__",
                 "-D__CUDA_NO_BFLOAT16_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__"]


NVCC = find_nvcc()


def find_cuda_include() -> Path | None:
    candidates = [Path(os.environ["CUDA_HOME"]) / "include"] if os.environ.get("CUDA_HOME") else []
    if NVCC:
        candidates.append(Path(NVCC).resolve().parent.parent / "include")
    candidates.append(Path("/usr/local/cuda/include"))
    return next((c for c in candidates if (c / "cuda_runtime.h").is_file()), None)


def test_there_are_cuda_sources():
    assert SOURCES and HEADERS


@pytest.mark.parametrize("path", SOURCES + HEADERS, ids=lambda p: p.name)
def test_kernels_include_no_torch_header(path):
    includes = re.findall(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', path.read_text(), re.MULTILINE)
    torch_headers = [h for h in includes if h.split("/")[0] in ("torch", "ATen", "c10", "caffe2")]
    assert not torch_headers, f"{path.name} includes {torch_headers}: only the glue (.cpp) may include torch headers"


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles(source, arch, tmp_path):
    command = [require_nvcc(), "-c", "-std=c++17", f"-arch={arch}", "-I", str(CUDA_DIR), *TORCH_DEFINES,
               "-Werror", "all-warnings", str(source), "-o", str(tmp_path / f"{source.stem}.o")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"


def cmake_release(variable: str) -> tuple[int, int]:
    """The torch release CMakeLists.txt sets `variable` to."""
    found = re.search(rf"set\({variable} (\d+)\.(\d+)\)", (REPO_ROOT / "CMakeLists.txt").read_text())
    return int(found[1]), int(found[2])


@pytest.mark.skipif(find_cuda_include() is None or shutil.which("g++") is None,
                    reason="no CUDA toolkit headers (cuda_runtime.h) or g++")
# pygan's own minimum, and the oldest release PYGAN_TARGET_TORCH may name:
# the installed headers hide what that release's stable ABI lacks.
@pytest.mark.parametrize("release", [cmake_release("PYGAN_MIN_TORCH"), cmake_release("_oldest_target_torch")],
                         ids=lambda release: "torch%d.%d" % release)
@pytest.mark.parametrize("source", GLUE, ids=lambda p: p.name)
def test_glue_compiles_against_the_stable_headers(source, release):
    # As CMakeLists.txt builds it: hidden symbols, torch's stable ABI held to the target release,
    # USE_CUDA for its CUDA shims.
    major, minor = release
    target = (major << 56) | (minor << 48)
    command = ["g++", "-std=c++17", "-fsyntax-only", "-fvisibility=hidden", "-Wall", "-Werror", f"-DTORCH_TARGET_VERSION={target:#x}",
               "-DUSE_CUDA", "-I", str(REPO_ROOT / "csrc"), "-I", str(CUDA_DIR), "-I", str(find_cuda_include()),
               "-I", str(Path(torch.__file__).parent / "include"), str(source)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
