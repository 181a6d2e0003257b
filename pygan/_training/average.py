"""The moving average of the generator's weights that samples are drawn
from: a fixed decay per step (``--ema``), or a half-life in images
(``--ema-kimg``, StyleGAN2's), optionally ramped up (``--ema-rampup``).

It is updated once per step, after the recipe's updates, on the device
(inside a captured CUDA graph too), as NVlabs' training loop updates
``G_ema`` once per iteration: with a half-life of H images and B images per
step (over every process), the decay is ``0.5 ** (B / H)``; with a ramp-up
R, H is at most R times the images shown before the step, so the first
step copies the generator. The images shown follow from the step count,
which checkpoints keep: a resumed run continues the same decays.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import torch
from torch import nn


class GeneratorAverage:
    """``module``: the average (a copy of ``generator``, no gradients, in
    inference mode); ``update()`` moves it towards ``generator``."""

    def __init__(self, generator: nn.Module, config: Mapping[str, Any], images_per_step: int,
                 device: torch.device) -> None:
        self.generator, self.images_per_step = generator, images_per_step
        self.module = copy.deepcopy(generator).requires_grad_(False).eval()
        self.fixed_decay: float | None = config["ema"]
        self.half_life = None if config["ema_kimg"] is None else config["ema_kimg"] * 1000
        self.rampup: float | None = config["ema_rampup"]
        # Images shown before the current step, in float64: exact for any run length.
        self.images = torch.zeros((), dtype=torch.float64, device=device)

    def start_at(self, step: int) -> None:
        """Continue after ``step`` steps (a resumed run)."""
        self.images.fill_(step * self.images_per_step)

    def decay(self) -> float | torch.Tensor:
        """This step's decay: a number, or for a half-life a 0-d tensor on the device."""
        if self.fixed_decay is not None:
            return self.fixed_decay
        half_life = torch.full_like(self.images, self.half_life)
        if self.rampup is not None:
            half_life = torch.minimum(half_life, self.images * self.rampup)
        return 0.5 ** (self.images_per_step / half_life.clamp_min(1e-8))

    @torch.no_grad()
    def update(self) -> None:
        averages, weights = list(self.module.parameters()), list(self.generator.parameters())
        decay = self.decay()
        if isinstance(decay, float):
            torch._foreach_lerp_(averages, weights, 1 - decay)
        else:
            for average, weight in zip(averages, weights):
                average.copy_(weight.lerp(average, decay.to(weight.dtype)))
        for mean, buffer in zip(self.module.buffers(), self.generator.buffers()):
            mean.copy_(buffer)  # running statistics (and StyleGAN2's w_avg) are averages already
        self.images += self.images_per_step
