"""The update side of a training step, kept entirely on the device: what
an optimizer must offer to skip an update on the device when told to
(``DeviceOptimizer``), and float16 loss scaling.

Nothing here reads a tensor back to the host, so a whole training step can
be captured in a CUDA graph and replayed (torch.optim's plain optimizers and
torch.amp's GradScaler each synchronize once per step to make those
decisions).

The optimizers themselves are plugins (``register_optimizers``; pygan's own
``rmsprop`` and ``adam`` are in the ``optimizers`` plugin).
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn


class DeviceOptimizer:
    """What the engine needs of an optimizer (``pygan.Optimizer.build``
    returns one): ``current_lr()``, the learning rate the next update will
    use as a 0-d tensor on the device; ``zero_grad()``; ``gradients()``;
    ``step(skip)``, an update from the gradients unless the bool tensor
    ``skip`` is true, decided on the device; ``state_dict()`` and
    ``load_state_dict()``. Subclasses get the parameter handling here."""

    def __init__(self, parameters: Iterable[nn.Parameter]) -> None:
        self.params = [p for p in parameters if p.requires_grad]
        if not self.params:
            raise ValueError(f"{type(self).__name__} was given no trainable parameters")

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
