"""Discriminator regularisers any architecture can take, as options:

- ``--spectral-norm``: spectral normalization of every weight of the
  discriminator (Miyato et al., *Spectral Normalization for Generative
  Adversarial Networks*, 2018), one power iteration per forward pass;
- ``--augment translation,cutout,color``: DiffAugment (Zhao et al.,
  *Differentiable Augmentation for Data-Efficient GAN Training*, 2020),
  the same random, differentiable transformations applied to every image
  the discriminator sees, real and fake alike, so that the generator is
  trained through them. The cheap fix for small data sets: a discriminator
  that cannot memorise a few hundred images keeps giving useful gradients.

Both change the discriminator as it is built (the ``prepare_network`` hook),
before its optimizer sees its parameters. The augmentations are tensor code
drawing from torch's global generator (which checkpoints save), so they run
inside CUDA graphs and resume exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import pygan


def policy(text: str) -> list[str]:
    """'translation,cutout,color' -> ['translation', 'cutout', 'color']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def check_policy(value) -> str | None:
    if not isinstance(value, list) or not value or any(part not in AUGMENTATIONS for part in value):
        return f"must name augmentations among {', '.join(AUGMENTATIONS)}, separated by commas"
    return None


# Zhao et al.'s official DiffAugment_pytorch.py, for images in [-1, 1].

def brightness(x: torch.Tensor) -> torch.Tensor:
    return x + (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) - 0.5)


def saturation(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) * 2) + mean


def contrast(x: torch.Tensor) -> torch.Tensor:
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (torch.rand(x.size(0), 1, 1, 1, dtype=x.dtype, device=x.device) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to 1/8 of its size, filling with zeros (grey in [-1, 1])."""
    shift_x, shift_y = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], device=x.device)
    translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(x.size(2), dtype=torch.long, device=x.device),
        torch.arange(x.size(3), dtype=torch.long, device=x.device),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
    grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
    x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
    return x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Blank a square of half the image's size at a random place in each image."""
    cutout_size = int(x.size(2) * ratio + 0.5), int(x.size(3) * ratio + 0.5)
    offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1], device=x.device)
    offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1], device=x.device)
    grid_batch, grid_x, grid_y = torch.meshgrid(
        torch.arange(x.size(0), dtype=torch.long, device=x.device),
        torch.arange(cutout_size[0], dtype=torch.long, device=x.device),
        torch.arange(cutout_size[1], dtype=torch.long, device=x.device),
        indexing="ij",
    )
    grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
    grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
    mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype, device=x.device)
    mask[grid_batch, grid_x, grid_y] = 0
    return x * mask.unsqueeze(1)


AUGMENTATIONS = {
    "color": (brightness, saturation, contrast),
    "translation": (translation,),
    "cutout": (cutout,),
}


def diff_augment(images: torch.Tensor, policies: list[str]) -> torch.Tensor:
    """DiffAugment of pygan images (in [0, 1]): the official transformations
    applied in the paper's [-1, 1] range, in the policy's order."""
    x = images * 2 - 1
    for name in policies:
        for transform in AUGMENTATIONS[name]:
            x = transform(x)
    return (x + 1) / 2


def spectral_normalize(module: nn.Module) -> None:
    """Spectral normalization of every weight of ``module`` (matrices and convolution kernels)."""
    for layer in list(module.modules()):
        weight = getattr(layer, "weight", None)
        if isinstance(weight, nn.Parameter) and weight.dim() >= 2:
            dim = 1 if isinstance(layer, nn.ConvTranspose2d) else 0
            nn.utils.parametrizations.spectral_norm(layer, dim=dim)


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("spectral_norm", bool, False, "spectral normalization of every discriminator weight "
                          "(Miyato et al. 2018)"))
    register(pygan.Option("augment", policy, None, "DiffAugment (Zhao et al. 2020) of every image the "
                          "discriminator sees, real and fake: any of translation,cutout,color",
                          check=check_policy, metavar="POLICY"))


@pygan.hookimpl
def prepare_network(config, network, module, training):
    if network != "discriminator":
        return
    if config.get("spectral_norm"):
        spectral_normalize(module)
    if config.get("augment") and training:
        policies = list(config["augment"])
        module.register_forward_pre_hook(lambda layer, inputs: (diff_augment(inputs[0], policies), *inputs[1:]))
