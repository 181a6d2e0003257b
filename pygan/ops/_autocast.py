"""Autocast on CUDA for pygan's ops whose CUDA kernels have float16 and
bfloat16 paths (float32 accumulation): under autocast they run in its
dtype, every floating CUDA tensor argument cast to it. (register_autocast
cannot say this: it fixes one dtype when registering. On the CPU, whose
kernels have no 16-bit path, each op registers float32 with it.)"""

from __future__ import annotations

import torch

_library = torch.library.Library("pygan", "FRAGMENT")


def run_in_autocast_dtype_on_cuda(name: str) -> None:
    """Registers the AutocastCUDA kernel of ``torch.ops.pygan.<name>``."""
    op = getattr(torch.ops.pygan, name).default

    def autocast_cuda(keyset, *args):
        dtype = torch.get_autocast_dtype("cuda")

        def cast(t):
            return t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() and t.is_cuda else t

        with torch._C._ExcludeDispatchKeyGuard(torch._C.DispatchKeySet(torch._C.DispatchKey.AutocastCUDA)):
            return op(*map(cast, args))

    _library.impl(name, autocast_cuda, "AutocastCUDA", with_keyset=True)
