"""pygan: a pluggable GAN training library for PyTorch.

Plugins implement the hooks in ``pygan.hookspecs`` with the ``hookimpl``
marker and register the records below (``pygan.specs``).
"""

from pygan.errors import PyganError, UsageError
from pygan.hookspecs import hookimpl
from pygan.specs import (Architecture, Batch, Dataset, Judgement, Latent, Loss, Optimizer, Option, Penalty, Recipe,
                         Run, normal_noise, uniform_noise)

__version__ = "0.2.0"

__all__ = [
    "Architecture",
    "Batch",
    "Dataset",
    "Judgement",
    "Latent",
    "Loss",
    "Optimizer",
    "Option",
    "Penalty",
    "PyganError",
    "Recipe",
    "Run",
    "UsageError",
    "__version__",
    "hookimpl",
    "normal_noise",
    "uniform_noise",
]
