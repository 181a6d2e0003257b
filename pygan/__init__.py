"""pygan: a pluggable GAN training library for PyTorch.

Plugins implement the hooks in ``pygan.hookspecs`` with the ``hookimpl``
marker and register the records below.
"""

from pygan.errors import PyganError, UsageError
from pygan.hookspecs import hookimpl
from pygan.specs import Architecture, Dataset, Loss, Penalty, uniform_noise

__version__ = "0.1.0"

__all__ = [
    "Architecture",
    "Dataset",
    "Loss",
    "Penalty",
    "PyganError",
    "UsageError",
    "__version__",
    "hookimpl",
    "uniform_noise",
]
