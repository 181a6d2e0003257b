"""The optimizers ``rmsprop`` (the book's, with Keras' time decay) and
``adam`` (torch's own), and the options they own.

Each network has its own optimizer and settings: ``--optimizer-d adam``,
``--lr-g 1e-4``, ``--betas-d 0.5,0.999``; an architecture's defaults choose
them for its networks.
"""

from __future__ import annotations

import pygan
from pygan.optim import Adam, RMSprop
from pygan.options import number


def betas(text: str) -> list[float]:
    """'0.5,0.999' -> [0.5, 0.999]."""
    values = [float(part) for part in text.split(",")]
    if len(values) != 2:
        raise ValueError(text)
    return values


def check_betas(value) -> str | None:
    if not (isinstance(value, (list, tuple)) and len(value) == 2
            and all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 <= b < 1 for b in value)):
        return "must be two numbers in [0, 1), as 0.5,0.999"
    return None


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("decay", float, 0.0, "rmsprop's Keras time decay: lr / (1 + decay * updates)",
                          check=number(minimum=0), per_network=True, metavar="DECAY"))
    register(pygan.Option("betas", betas, [0.9, 0.999], "adam's coefficients of the running averages of the "
                          "gradient and its square, as B1,B2", check=check_betas, per_network=True,
                          metavar="B1,B2"))
    register(pygan.Option("weight_decay", float, 0.0, "adam's L2 penalty on the weights", check=number(minimum=0),
                          per_network=True, metavar="W"))


@pygan.hookimpl
def register_optimizers(register):
    register(pygan.Optimizer(
        name="rmsprop",
        build=lambda params, settings: RMSprop(params, settings["lr"], settings["decay"]),
        options=("decay",),
        description="RMSprop as Keras has it (rho 0.9, epsilon 1e-7) with time decay; fused, one op per network",
    ))
    register(pygan.Optimizer(
        name="adam",
        build=lambda params, settings: Adam(params, settings["lr"], settings["betas"], settings["weight_decay"]),
        options=("betas", "weight_decay"),
        description="torch's fused Adam (Kingma & Ba 2015), capturable in CUDA graphs",
    ))
