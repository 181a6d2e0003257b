"""The update side of a training step, kept entirely on the device:
optimizers that skip an update on the device when told to, and float16
loss scaling.

Nothing here reads a tensor back to the host, so a whole training step can
be captured in a CUDA graph and replayed (torch.optim's plain optimizers and
torch.amp's GradScaler each synchronize once per step to make those
decisions).

Every optimizer here has the methods the engine calls (``DeviceOptimizer``);
the ``optimizers`` plugin registers them by name.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch
from torch import nn

from pygan import ops


class DeviceOptimizer:
    """What the engine needs of an optimizer (``pygan.specs.Optimizer.build``
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


class RMSprop(DeviceOptimizer):
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


class Adam(DeviceOptimizer):
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
