"""What plugins register: architectures, losses and data sets.

These are plain records. Plugins create them in their ``register_*`` hooks
(see ``pygan/hookspecs.py``); the trainer only ever talks to them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import torch
from torch import nn

ImageShape = tuple[int, int, int]  # (channels, height, width)


def uniform_noise(n: int, latent_size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Latent vectors drawn uniformly from [-1, 1], as in the seed DCGAN."""
    return torch.rand(n, latent_size, generator=generator, device=device) * 2 - 1


@dataclass(frozen=True)
class Architecture:
    """A named generator and discriminator pair.

    ``build_generator(image_shape)`` returns a module mapping latent vectors of
    shape (N, latent_size) to images (N, C, H, W) with values in [0, 1].
    ``build_discriminator(image_shape)`` returns a module mapping such images to
    logits of shape (N, 1) or (N,): the probability "real" is their sigmoid.
    ``defaults`` holds the architecture's own hyperparameters (any of the
    ``pygan train`` options: ``lr_d``, ``lr_g``, ``decay_d``, ``decay_g``,
    ``batch_size``, ``steps``, ``loss``, ``dataset``); the command line
    overrides them.
    """

    name: str
    build_generator: Callable[[ImageShape], nn.Module]
    build_discriminator: Callable[[ImageShape], nn.Module]
    latent_size: int
    defaults: Mapping[str, Any] = field(default_factory=dict)
    sample_noise: Callable[[int, int, torch.Generator, torch.device], torch.Tensor] = uniform_noise
    description: str = ""


@dataclass(frozen=True)
class Loss:
    """A named pair of objectives, both computed from discriminator logits.

    ``discriminator_loss(real_logits, fake_logits)`` is minimised by the
    discriminator; ``generator_loss(fake_logits)`` by the generator. The
    trainer reports as accuracy how often an output above
    ``decision_threshold`` (0 for logits) rightly says "real". Both are
    tensor code only: on CUDA the training step is captured in a graph (see
    the README, "Training on a GPU").
    """

    name: str
    discriminator_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator_loss: Callable[[torch.Tensor], torch.Tensor]
    description: str = ""
    decision_threshold: float = 0.0
    # A penalty (by registered name) this loss is meant to be used with, as
    # WGAN-GP is with "gp"; ``--penalty`` overrides it.
    default_penalty: Optional[str] = None


@dataclass(frozen=True)
class Dataset:
    """A named source of real samples.

    ``load(data_dir)`` returns every sample as one float32 tensor of shape
    (N, C, H, W) with values in [0, 1]. ``data_dir`` is the ``--data-dir`` the
    user gave, or None. Problems are raised as ``pygan.errors.PyganError`` with
    a message that names the file and what to do.

    ``load_labelled(data_dir)``, for data sets with class labels, returns
    images as ``load`` does and their labels, int64 (N,) numbered from 0.
    ``pygan eval`` trains its feature classifier on them and compares
    samples with these images; data sets without it cannot be evaluated.
    """

    name: str
    load: Callable[[Optional[Path]], torch.Tensor]
    description: str = ""
    load_labelled: Optional[Callable[[Optional[Path]], tuple[torch.Tensor, torch.Tensor]]] = None


@dataclass(frozen=True)
class Penalty:
    """A named regulariser of the discriminator, added to any loss.

    ``compute(discriminator, real, fake)`` returns a scalar; the trainer adds
    it to the discriminator's loss times ``--penalty-weight``. Gradient
    penalties differentiate the discriminator's input gradient again, which
    pygan's fused operator supports (double backward).
    """

    name: str
    compute: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]
    description: str = ""
