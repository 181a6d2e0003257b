"""Loads pygan's compiled kernels once, and remembers why they did not load,
so that ``pygan info`` and the backend selection can say so.

Three files make the extension: ``pygan._C``, a small Python module that says
what the kernels were built with and needs no torch; ``libpygan_ops.so``
beside it, the operators' schemas and CPU kernels, built on torch's stable
ABI, whose loading registers the operators under ``torch.ops.pygan``; and,
where nvcc was found at build time, ``libpygan_ops_cuda.so``, the CUDA
kernels, loaded after it and only into a torch with CUDA (it needs
libtorch_cuda.so). Both load into the torch release they target
(``_C.min_torch_version``) and every later one.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.torch_version import TorchVersion

REBUILD = ("pip install --no-build-isolation --no-deps --force-reinstall PYGAN_SOURCE "
           "(the folder or sdist pygan came from; needs scikit-build-core, pybind11, cmake and ninja)")


def _load():
    """(``pygan._C``, None) once the kernels are loaded, else (``pygan._C`` or
    None, why not)."""
    try:
        from pygan import _C
    except ImportError as error:
        return None, f"the compiled extension pygan._C failed to import: {error}"
    running = torch.__version__
    if TorchVersion(running) < _C.min_torch_version:
        return _C, (f"pygan's compiled kernels were built against torch {_C.torch_version} and need torch "
                    f"{_C.min_torch_version} or later, but torch {running} is installed; upgrade torch "
                    f"(pip install 'torch>={_C.min_torch_version}')")
    try:
        torch.ops.load_library(Path(_C.__file__).with_name(_C.ops_library))
    except OSError as error:
        return _C, (f"pygan's compiled kernels, built against torch {_C.torch_version}, cannot load into the "
                    f"installed torch {running} ({error}); rebuild them against it: {REBUILD}")
    return _C, None


def _load_cuda(build) -> str | None:
    """None once the CUDA kernels are loaded (after the CPU ones), else why not."""
    if not build.with_cuda:
        return f"not built ({build.cuda_skipped} when pygan was built)"
    if torch.version.cuda is None:
        return f"not loaded: torch is a {'ROCm' if getattr(torch.version, 'hip', None) else 'CPU'} build"
    try:
        torch.ops.load_library(Path(build.__file__).with_name(build.cuda_library))
    except OSError as error:
        return (f"not loaded: built with CUDA {build.cuda_version}, they cannot load into torch {torch.__version__} "
                f"(CUDA {torch.version.cuda}): {error}; rebuild them against it: {REBUILD}")
    return None


build, error = _load()
"""``build`` is ``pygan._C`` (what the kernels were built with) where it imports."""
module = build if error is None else None
"""The extension, or None when its kernels did not load; ``error`` then says why."""
cuda_error = _load_cuda(build) if module is not None else "not loaded: pygan's kernels did not load"
"""None when the CUDA kernels are loaded too, else why not."""
