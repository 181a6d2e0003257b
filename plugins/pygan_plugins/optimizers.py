"""The optimizers ``rmsprop`` (the book's, with Keras' time decay) and
``adam`` (torch's own), and the options they own.

Each network has its own optimizer and settings: ``--optimizer-d adam``,
``--lr-g 1e-4``, ``--betas-d 0.5,0.999``; an architecture's defaults choose
them for its networks.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

import pygan
from pygan import ops


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


class RMSprop(pygan.DeviceOptimizer):
    """Keras' RMSprop (rho 0.9, epsilon 1e-7 added outside the square root,
    as PyTorch does) with its time decay ``lr_t = lr / (1 + decay * t)``,
    t the number of updates made so far, counted on the device."""

    def __init__(self, parameters: Iterable[nn.Parameter], lr: float, decay: float, alpha: float = 0.9,
                 eps: float = 1e-7) -> None:
        super().__init__(parameters)
        self.lr, self.decay, self.alpha, self.eps = lr, decay, alpha, eps
        self.square_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.updates = torch.zeros((), dtype=torch.int64, device=self.params[0].device)

    def current_lr(self) -> torch.Tensor:
        """The learning rate the next update will use, as a float64 tensor."""
        return self.lr / (1 + self.decay * self.updates.double())

    @torch.no_grad()
    def step(self, skip: torch.Tensor) -> None:
        """Update every parameter from its gradient, unless the bool tensor ``skip`` is true."""
        ops.rmsprop_step_(self.params, self.gradients(), self.square_avgs, self.updates, skip, self.lr, self.decay,
                          self.alpha, self.eps)

    def state_dict(self) -> dict[str, Any]:
        return {"square_avgs": [v.clone() for v in self.square_avgs], "updates": self.updates.clone()}

    @torch.no_grad()
    def load_state_dict(self, state: dict[str, Any]) -> None:
        # Copied into the tensors there are: a captured CUDA graph keeps their addresses.
        if len(state["square_avgs"]) != len(self.square_avgs):
            raise ValueError(f"optimizer state for {len(state['square_avgs'])} parameters, "
                             f"not {len(self.square_avgs)}")
        for mine, saved in zip(self.square_avgs, state["square_avgs"]):
            mine.copy_(saved)
        self.updates.copy_(state["updates"])


class Adam(pygan.DeviceOptimizer):
    """torch's own Adam (Kingma & Ba, 2015) in its fused implementation,
    which skips an update on the device when told to (the ``found_inf``
    input torch.amp uses) and, made capturable, runs inside a CUDA graph.
    ``weight_decay`` is Adam's L2 penalty added to the gradient, as
    ``torch.optim.Adam`` has it."""

    def __init__(self, parameters: Iterable[nn.Parameter], lr: float, betas: tuple[float, float],
                 weight_decay: float = 0.0, eps: float = 1e-8) -> None:
        super().__init__(parameters)
        device = self.params[0].device
        self.optimizer = torch.optim.Adam(self.params, lr=lr, betas=tuple(betas), eps=eps,
                                          weight_decay=weight_decay, fused=True,
                                          capturable=device.type == "cuda")
        self.lr = torch.tensor(lr, dtype=torch.float64, device=device)

    def current_lr(self) -> torch.Tensor:
        return self.lr

    @torch.no_grad()
    def step(self, skip: torch.Tensor) -> None:
        self.gradients()
        self.optimizer.found_inf = skip.float()
        try:
            self.optimizer.step()
        finally:
            del self.optimizer.found_inf

    def state_dict(self) -> dict[str, Any]:
        return self.optimizer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state)


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("decay", float, 0.0, "rmsprop's Keras time decay: lr / (1 + decay * updates)",
                          check=pygan.finite_number(minimum=0), per_network=True, metavar="DECAY"))
    register(pygan.Option("betas", betas, [0.9, 0.999], "adam's coefficients of the running averages of the "
                          "gradient and its square, as B1,B2", check=check_betas, per_network=True,
                          metavar="B1,B2"))
    register(pygan.Option("weight_decay", float, 0.0, "adam's L2 penalty on the weights", check=pygan.finite_number(minimum=0),
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
