"""pygan 0.2's module paths, kept working for plugins written against them.

0.2 had no stated public surface, so third-party plugins imported what they
needed from wherever it lived (``from pygan.layers import LeakyReLUConv2d``,
``pygan.step.StepContext``, ``from pygan.options import whole``). Those
modules are gone; each old path is registered here as a small module whose
names are the public ones they became, so such a plugin keeps working. Each
use warns (``DeprecationWarning``) with the name to import instead.
"""

from __future__ import annotations

import importlib
import sys
import types
import warnings

# old module -> {old name: (public module, public name)}
_RENAMES: dict[str, dict[str, tuple[str, str]]] = {
    "pygan.layers": {name: ("pygan.ops", name) for name in ("LeakyReLUConv2d", "SameConvTranspose2d",
                                                            "same_padding")},
    "pygan.specs": {name: ("pygan", name) for name in (
        "Architecture", "Batch", "Dataset", "DataRequest", "ImageShape", "Judgement", "Latent", "Loss", "Optimizer",
        "Option", "Penalty", "Recipe", "Run", "normal_noise", "uniform_noise")},
    "pygan.step": {"StepContext": ("pygan", "StepContext")},
    "pygan.hookspecs": {"hookimpl": ("pygan", "hookimpl")},
    "pygan.errors": {name: ("pygan", name) for name in ("PyganError", "UsageError")},
    "pygan.console": {name: ("pygan", name) for name in ("notice", "notice_once")},
    "pygan.options": {"whole": ("pygan", "whole_number"), "number": ("pygan", "finite_number"),
                      "fraction": ("pygan", "fraction")},
    "pygan.files": {"write_bytes_atomically": ("pygan", "write_atomically"),
                    **{name: ("pygan", name) for name in ("atomic_writer", "reporting_write_errors", "WriteError",
                                                          "MAX_DEFLATE_RATIO")}},
    "pygan.download": {name: ("pygan", name) for name in ("download", "DownloadFailed", "cache_dir")},
    "pygan.data": {"Samples": ("pygan", "Samples")},
}


def _old_module(path: str, names: dict[str, tuple[str, str]]) -> types.ModuleType:
    module = types.ModuleType(path, f"pygan 0.2's {path}; import from pygan (or pygan.ops) instead.")

    def __getattr__(name: str):
        if name not in names:
            raise AttributeError(f"module {path!r} has no attribute {name!r} (pygan 1.0 keeps only "
                                 f"{', '.join(sorted(names))} here; see the public names in pygan)")
        public_module, public_name = names[name]
        warnings.warn(f"{path}.{name} is pygan 0.2's name; use {public_module}.{public_name}",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(public_module), public_name)

    module.__getattr__ = __getattr__
    module.__all__ = sorted(names)
    return module


def register() -> None:
    """Make every old path importable (``import pygan.layers`` and
    ``from pygan.layers import ...``)."""
    package = sys.modules["pygan"]
    for path, names in _RENAMES.items():
        module = sys.modules.setdefault(path, _old_module(path, names))
        # A public name wins: pygan.download is the function, not the old module.
        if not hasattr(package, path.rpartition(".")[2]):
            setattr(package, path.rpartition(".")[2], module)
