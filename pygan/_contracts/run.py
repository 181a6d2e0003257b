"""The training run as plugins' callbacks, measurements and recipes see it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch
from torch import nn

from pygan._contracts.records import Architecture, Dataset, ImageShape, Latent, Loss


@dataclass
class Run:
    """A training run, as the training callbacks and measurements see it.

    ``sample(latent)`` draws images with the generator's moving average when
    the run keeps one (``--ema``), in inference mode; ``fixed_latent`` is the
    latent of the run's sample grids, drawn once.
    """

    config: dict[str, Any]
    out_dir: Path
    architecture: Architecture
    loss: Loss
    generator: nn.Module
    discriminator: nn.Module
    device: torch.device
    image_shape: ImageShape
    fixed_latent: Latent
    start_step: int = 0
    total_steps: int = 0
    # Data-parallel runs (--nproc) train in world_size processes; callbacks
    # run in the process of rank 0 only.
    rank: int = 0
    world_size: int = 1
    ema_generator: Optional[nn.Module] = None
    dataset: Optional[Dataset] = None
    state: dict[str, Any] = field(default_factory=dict)  # for plugins' own per-run state

    @property
    def sampling_generator(self) -> nn.Module:
        return self.generator if self.ema_generator is None else self.ema_generator

    def sample(self, latent: Optional[Latent] = None) -> torch.Tensor:
        """Images (on the CPU) for ``latent`` (default: the run's fixed one)."""
        generator = self.sampling_generator
        generator.eval()
        with torch.no_grad():
            return generator(*self.architecture.generator_inputs(latent or self.fixed_latent)).cpu()
