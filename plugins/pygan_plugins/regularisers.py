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
- ``--augment ada``: adaptive discriminator augmentation (Karras et al.,
  *Training Generative Adversarial Networks with Limited Data*, 2020;
  ``pygan_plugins.ada``), the same idea with the paper's transforms
  (``--ada-pipeline``), each applied with a probability p that rises while
  the discriminator overfits its training images (``--ada-target``,
  ``--ada-kimg``) or stays fixed (``--ada-p``). p and the overfitting
  measure are the step's metrics ``ada_p`` and ``ada_rt``, plotted at the
  end of the run in ``augment.png``.

They change the discriminator as it is built (the ``prepare_network`` hook),
before its optimizer sees its parameters. The augmentations are tensor code
drawing from torch's global generator (which checkpoints save), so they run
inside CUDA graphs and resume exactly; ADA's p is a buffer of the
discriminator, which checkpoints save too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import pygan
from pygan_plugins import ada


ADA = "ada"  # --augment's value for adaptive discriminator augmentation
AUGMENT_PLOT_FILE = "augment.png"  # ADA's p and overfitting measure over the run
ADA_PANELS = [("augmentation probability", "ada_p"), ("overfitting measure E[sign(D(real))]", "ada_rt")]


def policy(text: str) -> list[str]:
    """'translation,cutout,color' -> ['translation', 'cutout', 'color']."""
    return [part.strip() for part in text.split(",") if part.strip()]


def check_policy(value) -> str | None:
    if value == [ADA]:
        return None
    if not isinstance(value, list) or not value or any(part not in AUGMENTATIONS for part in value):
        return (f"must name augmentations among {', '.join(AUGMENTATIONS)}, separated by commas (DiffAugment), "
                f"or be {ADA}")
    return None


def check_ada_target(value) -> str | None:
    return None if 0 <= value < 1 else "must lie in [0, 1)"


ADA_OPTIONS = [
    pygan.Option("ada_pipeline", str, "bgc", "--augment ada's transforms: blit, geom, color, filter, noise, "
                 "cutout, bg, bgc, bgcf, bgcfn, bgcfnc (NVlabs' names), or groups separated by commas",
                 check=ada.check_pipeline, metavar="NAME"),
    pygan.Option("ada_target", float, 0.6, "--augment ada raises p while E[sign(D(real))] is above this, lowers "
                 "it below", check=check_ada_target, resumable=True, metavar="T"),
    pygan.Option("ada_kimg", float, 500.0, "--augment ada's speed: thousands of real images judged for p to move "
                 "by 1", check=pygan.finite_number(0, exclusive=True), resumable=True, metavar="K"),
    pygan.Option("ada_p", float, None, "--augment ada with this fixed probability instead of an adaptive one",
                 check=pygan.probability, metavar="P"),
]


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
    # The square's rows and columns, cut to the image (the square always
    # overlaps it), compared rather than indexed: a mask written through an
    # index with a Python 0 copies that 0 from the host, which a CUDA graph
    # cannot capture.
    top, left = offset_x - cutout_size[0] // 2, offset_y - cutout_size[1] // 2
    rows = torch.arange(x.size(2), device=x.device)[None, :, None]
    columns = torch.arange(x.size(3), device=x.device)[None, None, :]
    inside = ((rows >= top) & (rows < top + cutout_size[0]) & (columns >= left) & (columns < left + cutout_size[1]))
    mask = (~inside).to(x.dtype)
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
    register(pygan.Option("augment", policy, None, "augment every image the discriminator sees, real and fake: "
                          "DiffAugment (Zhao et al. 2020), any of translation,cutout,color; or ada, adaptive "
                          "discriminator augmentation (Karras et al. 2020)",
                          check=check_policy, metavar="POLICY"))
    for option in ADA_OPTIONS:
        register(option)


def check_ada_options(config) -> None:
    """ADA's options change nothing without --augment ada: refuse them."""
    if config.get("augment") != [ADA]:
        for option in ADA_OPTIONS:
            if config.get(option.name, option.default) != option.default:
                raise pygan.UsageError(f"--{option.name.replace('_', '-')} is an option of --augment {ADA}; add "
                                       f"--augment {ADA}, or drop it")


@pygan.hookimpl
def prepare_network(config, network, module, training):
    if network != "discriminator":
        return
    check_ada_options(config)
    if config.get("spectral_norm"):
        spectral_normalize(module)
    if config.get("augment") == [ADA]:
        ada.attach(module, config, training)
    elif config.get("augment") and training:
        policies = list(config["augment"])
        module.register_forward_pre_hook(lambda layer, inputs: (diff_augment(inputs[0], policies), *inputs[1:]))


@pygan.hookimpl
def judged_real(run, logits):
    pipeline = ada.attached(run.discriminator)
    if pipeline is not None:
        pipeline.observe(logits, run.loss.decision_threshold)


@pygan.hookimpl
def step_metrics(run):
    pipeline = ada.attached(run.discriminator)
    if pipeline is None:
        return None
    if pipeline.adaptive and not pipeline.observed:
        raise pygan.UsageError(
            f"--augment {ADA} adapts p to the discriminator's judgements of real images, which recipe "
            f"{run.config['recipe']!r} does not report (its step calls no step.judged_real(real_logits)); "
            f"fix p with --ada-p P, or use a recipe that reports them")
    return pipeline.metrics()


@pygan.hookimpl
def on_run_end(run, step, status):
    """ADA's p and overfitting measure over the run, beside losses.png."""
    if run.config.get("augment") != [ADA]:
        return
    log = run.out_dir / pygan.METRICS_FILE
    rows = [row for row in pygan.read_step_log(log) if "ada_p" in row] if log.exists() else []
    if rows:
        pygan.plot_metrics(rows, run.out_dir / AUGMENT_PLOT_FILE, title=f"{run.config['plugin']} ADA",
                           panels=ADA_PANELS)
