"""The update side of a training step, kept entirely on the device: RMSprop
with Keras' time decay as one fused op per network, float16 loss scaling,
and the decision to skip an update whose loss or gradients are not finite.

Nothing here reads a tensor back to the host, so a whole training step can
be captured in a CUDA graph and replayed (torch.optim and torch.amp's
GradScaler each synchronize once per step to make those decisions).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from pygan import ops


class RMSprop:
    """Keras' RMSprop (rho 0.9, epsilon 1e-7 added outside the square root,
    as PyTorch does) with its time decay ``lr_t = lr / (1 + decay * t)``,
    t the number of updates made so far, counted on the device."""

    def __init__(self, parameters: Iterable[nn.Parameter], lr: float, decay: float, alpha: float = 0.9,
                 eps: float = 1e-7) -> None:
        self.params = [p for p in parameters if p.requires_grad]
        if not self.params:
            raise ValueError("RMSprop was given no trainable parameters")
        self.lr, self.decay, self.alpha, self.eps = lr, decay, alpha, eps
        self.square_avgs = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.updates = torch.zeros((), dtype=torch.int64, device=self.params[0].device)

    def current_lr(self) -> torch.Tensor:
        """The learning rate the next update will use, as a float64 tensor."""
        return self.lr / (1 + self.decay * self.updates.double())

    def zero_grad(self) -> None:
        for param in self.params:
            param.grad = None

    def gradients(self) -> list[torch.Tensor]:
        """Every parameter's gradient; one that got none (unused in the
        loss) is a zero gradient."""
        for param in self.params:
            if param.grad is None:
                param.grad = torch.zeros_like(param)
        return [param.grad for param in self.params]

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


class LossScaler:
    """Loss scaling for float16 (a no-op when disabled): the loss is
    multiplied by a scale before backward so that small gradients survive in
    float16, the gradients divided by it after. A step whose gradients
    overflowed is skipped and the scale halved; 2000 good steps in a row
    double it (torch.amp.GradScaler's defaults)."""

    def __init__(self, device: torch.device, enabled: bool) -> None:
        self.enabled = enabled
        self.scale = torch.full((), 2.0 ** 16 if enabled else 1.0, device=device)
        self.growth_tracker = torch.zeros((), dtype=torch.int32, device=device)

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        return loss * self.scale if self.enabled else loss

    def unscale_(self, grads: list[torch.Tensor]) -> torch.Tensor:
        """Divide the gradients by the scale, in place; returns a bool tensor,
        true if any of them is not finite (checked whether scaling or not)."""
        found_inf = torch.zeros((), device=self.scale.device)
        torch._amp_foreach_non_finite_check_and_unscale_(grads, found_inf, self.scale.reciprocal())
        return found_inf > 0

    def update(self, overflowed: torch.Tensor) -> None:
        if self.enabled:
            torch._amp_update_scale_(self.scale, self.growth_tracker, overflowed.float(), 2.0, 0.5, 2000)

    def state_dict(self) -> dict[str, Any]:
        return {"scale": self.scale.clone(), "growth_tracker": self.growth_tracker.clone()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scale.copy_(state["scale"])
        self.growth_tracker.copy_(state["growth_tracker"])
