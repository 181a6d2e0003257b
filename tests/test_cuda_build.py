"""The CUDA kernels compile wherever nvcc exists, GPU or not: the .cu files
include no torch header, so nvcc alone compiles them, and CI on CPU machines
catches CUDA compile errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CUDA_DIR = Path(__file__).resolve().parent.parent / "csrc" / "cuda"
SOURCES = sorted(CUDA_DIR.glob("*.cu"))
HEADERS = sorted(CUDA_DIR.glob("*.cuh"))
# The defines torch's own CUDA builds add, so that the kernels compile under them too.
TORCH_DEFINES = ["-D__CUDA_NO_HALF_OPERATORS__", "-D__CUDA_NO_HALF_CONVERSIONS__",
                 "-D__CUDA_NO_BFLOAT16_CONVERSIONS__", "-D__CUDA_NO_HALF2_OPERATORS__"]


def find_nvcc() -> str | None:
    candidates = [shutil.which("nvcc")]
    if os.environ.get("CUDA_HOME"):
        candidates.append(str(Path(os.environ["CUDA_HOME"]) / "bin" / "nvcc"))
    candidates.append("/usr/local/cuda/bin/nvcc")
    return next((c for c in candidates if c and Path(c).is_file() and os.access(c, os.X_OK)), None)


NVCC = find_nvcc()


def test_there_are_cuda_sources():
    assert SOURCES and HEADERS


@pytest.mark.parametrize("path", SOURCES + HEADERS, ids=lambda p: p.name)
def test_kernels_include_no_torch_header(path):
    includes = re.findall(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', path.read_text(), re.MULTILINE)
    torch_headers = [h for h in includes if h.split("/")[0] in ("torch", "ATen", "c10", "caffe2")]
    assert not torch_headers, f"{path.name} includes {torch_headers}: only the glue (.cpp) may include torch headers"


@pytest.mark.skipif(NVCC is None, reason="nvcc not found (PATH, $CUDA_HOME/bin, /usr/local/cuda/bin)")
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_nvcc_compiles(source, arch, tmp_path):
    command = [NVCC, "-c", "-std=c++17", f"-arch={arch}", "-I", str(CUDA_DIR), *TORCH_DEFINES,
               "-Werror", "all-warnings", str(source), "-o", str(tmp_path / f"{source.stem}.o")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
