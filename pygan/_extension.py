"""Loads pygan's compiled extension, ``pygan._C``, once, and remembers why it
did not load so that ``pygan info`` and the backend selection can say so.

Importing the extension registers its operators under ``torch.ops.pygan``.
"""

from __future__ import annotations

import torch


def _base_version(version: str) -> str:
    # "2.13.0+cpu" and "2.13.0+cu126" are the same release for the C++ ABI check;
    # the local part only says which accelerator torch was built for.
    return version.split("+")[0]


def _load():
    try:
        from pygan import _C
    except ImportError as error:
        return None, f"the compiled extension pygan._C failed to import: {error}"
    built_for, running = _base_version(_C.torch_version), _base_version(torch.__version__)
    if built_for != running:
        return None, (f"the compiled extension pygan._C was built for torch {built_for} but torch "
                      f"{running} is installed; reinstall pygan")
    return _C, None


module, error = _load()
"""The extension module, or None; when None, ``error`` says why."""
