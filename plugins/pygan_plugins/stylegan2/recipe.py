"""StyleGAN2's training step (the recipe ``stylegan2``), as NVlabs'
stylegan2-ada-pytorch trains (its ``StyleGAN2Loss`` and training loop),
without ADA's augmentation.

One step is NVlabs' iteration, its phases in their order: the generator's
loss (non-saturating: softplus of minus the fakes' logits); every 4th step
path-length regularisation; the discriminator's loss (softplus of the fakes'
logits plus softplus of minus the reals'); every 16th step R1. Each phase is
an update of its own, of the same Adam, and the regularisation phases weigh
their penalty by the interval (lazy regularisation). Because a network is
then updated interval + 1 times per interval, its learning rate is
multiplied by c = interval / (interval + 1) and Adam's betas raised to the
power c (``optimizer_settings``), as NVlabs' training loop does for both
networks whatever the weights. Every phase draws its own latents; the
generator mixes styles (with the preset's probability, 0.9) in every
phase. The generator's moving average (``--ema-kimg``) is updated once per
step by pygan, after the phases.

Path length (Karras et al. 2020, section 3.2): for the first batch / 2
latents, the gradient with respect to w of the image (NVlabs' [-1, 1]
image) times unit noise scaled by 1 / sqrt(pixels); its length, averaged
over the layers' ws; the penalty is the squared difference from the
lengths' running mean, which moves 0.01 of the way to the batch's mean
lengths each time (``pl_mean``, kept in checkpoints). R1 is pygan's
``--penalty`` (``r1``) at ``--penalty-weight`` (the preset's gamma / 4: see
``architecture.py``).

The phases that run depend on the step's number, which a CUDA graph
replays frozen, so the recipe runs eagerly on CUDA (``cuda_graphs`` off).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch

import pygan
from pygan import StepContext
from pygan_plugins.stylegan2.architecture import preset_of

R1_INTERVAL = 16  # discriminator minibatches per R1 phase
PL_INTERVAL = 4  # generator minibatches per path-length phase
INTERVALS = {"discriminator": R1_INTERVAL, "generator": PL_INTERVAL}
PL_DECAY = 0.01  # how far the lengths' running mean moves to each batch's mean
PL_BATCH_SHRINK = 2  # the path-length phase's batch is the batch divided by this


def lazy_optimizer_settings(config: Mapping[str, Any], network: str, settings: Mapping[str, Any]) -> dict:
    """The learning rate times c and Adam's betas to the power c, c =
    interval / (interval + 1), so that interval + 1 updates per interval move
    the weights as the interval's main updates alone would."""
    c = INTERVALS[network] / (INTERVALS[network] + 1)
    adjusted = {**settings, "lr": settings["lr"] * c}
    if "betas" in settings:
        adjusted["betas"] = [beta ** c for beta in settings["betas"]]
    return adjusted


def mixing(step: StepContext, n: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Style mixing for a batch of ``n``, as NVlabs draws it: a second z, and
    with the mixing probability a cutoff from 1 to num_ws - 1 (the layers
    from it take the second z's ws), otherwise num_ws (none do); one cutoff
    per batch. All drawn from the run's generator."""
    probability = step.config["style_mixing"]
    if not probability:
        return None
    num_ws = step.run.generator.num_ws
    device = step.run.device
    cutoff = torch.randint(1, num_ws, (), generator=step.rng, device=device)
    mixed = torch.rand((), generator=step.rng, device=device) < probability
    cutoff = torch.where(mixed, cutoff, torch.full_like(cutoff, num_ws))
    return torch.randn(n, step.architecture.latent_size, generator=step.rng, device=device), cutoff


def path_lengths(images: torch.Tensor, ws: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Each sample's path length: |J_w^T y| with y unit noise over the
    pixels (scaled by 1 / sqrt(H W)), averaged over the ws, on NVlabs'
    [-1, 1] images."""
    nvlabs_images = images * 2 - 1
    noise = torch.randn(nvlabs_images.shape, generator=rng, device=images.device,
                        dtype=nvlabs_images.dtype) / math.sqrt(images.shape[2] * images.shape[3])
    (gradients,) = torch.autograd.grad((nvlabs_images * noise).sum(), ws, create_graph=True)
    return gradients.square().sum(2).mean(1).sqrt()


def path_length_penalty(lengths: torch.Tensor, mean: torch.Tensor) -> torch.Tensor:
    """(length - mean)^2 per sample, ``mean`` first moved PL_DECAY of the way
    to the batch's mean length (in place, for the next phase); the penalty
    differentiates through that move, as NVlabs' does."""
    moved = mean.lerp(lengths.mean(), PL_DECAY)
    mean.copy_(moved.detach())
    return (lengths - moved).square()


def mirrored(step: StepContext, images: torch.Tensor) -> torch.Tensor:
    """Half the pictures (at random) flipped left to right: NVlabs' --mirror,
    which adds every picture's mirror image to the data set."""
    flip = torch.rand(len(images), generator=step.rng, device=images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(3), images)


def stylegan2_step(step: StepContext) -> dict[str, torch.Tensor]:
    config, device = step.config, step.run.device
    kept = {name: step.persistent(name, lambda: torch.zeros((), device=device))
            for name in ("pl_mean", "pl_penalty", "r1_penalty")}
    real = step.real()  # one real batch per step, as NVlabs' iteration
    real_images = mirrored(step, real.images) if config["mirror"] else real.images

    with step.training("generator"):  # Gmain
        latent = step.latent()
        with step.autocast():
            fake_logits = step.discriminate(step.generate(latent, mixing=mixing(step, len(latent.z))),
                                            latent.labels).source
            g_loss = step.loss.generator_loss(fake_logits)
        lr_g = step.current_lr()
        step.update(g_loss)
    if config["pl_weight"] and step.index % PL_INTERVAL == 0:  # Greg
        with step.training("generator"):
            latent = step.latent(max(step.batch_size // PL_BATCH_SHRINK, 1))
            with step.autocast():
                images, ws = step.generate(latent, mixing=mixing(step, len(latent.z)), return_ws=True)
                penalty = path_length_penalty(path_lengths(images, ws, step.rng), kept["pl_mean"]).mean()
            step.update(penalty * config["pl_weight"] * PL_INTERVAL)
            kept["pl_penalty"].copy_(penalty.detach())

    with step.training("discriminator"):  # Dmain
        latent = step.latent()
        with step.autocast():
            with torch.no_grad():
                fake = step.generate(latent, mixing=mixing(step, len(latent.z)))
            fake_logits_d = step.discriminate(fake, latent.labels).source
            real_logits = step.discriminate(real_images, real.labels).source
            step.judged_real(real_logits)  # what --augment ada adapts to
            d_loss = step.loss.discriminator_loss(real_logits, fake_logits_d)
        lr_d = step.current_lr()
        step.update(d_loss)
    if step.penalty is not None and step.index % R1_INTERVAL == 0:  # Dreg
        with step.training("discriminator"):
            with step.autocast():
                penalty = step.penalty.compute(step.critic(real.labels), real_images, fake)
            step.update(penalty * config["penalty_weight"] * R1_INTERVAL)
            kept["r1_penalty"].copy_(penalty.detach())

    with torch.no_grad():
        return {"d_loss": d_loss, "g_loss": g_loss, "lr_d": lr_d, "lr_g": lr_g,
                "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits_d).mean(),
                # The latest regularisation phases' (every 16th and 4th step).
                "r1_penalty": kept["r1_penalty"].clone(), "pl_penalty": kept["pl_penalty"].clone(),
                "pl_mean": kept["pl_mean"].clone()}


def check(config: Mapping[str, Any], architecture: pygan.Architecture) -> str | None:
    if architecture.name != "stylegan2":
        return (f"it trains StyleGAN2's networks (style mixing and path lengths need its mapping network); "
                f"use --plugin stylegan2, or another --recipe for {architecture.name!r}")
    batch, group = config["batch_size"], preset_of(config).mbstd_group
    if batch % min(group, batch):
        return (f"--batch-size {batch}: the discriminator's minibatch standard deviation takes groups of {group} "
                f"images; choose a multiple of {group}")
    if config["pl_weight"] and batch < PL_BATCH_SHRINK:
        return f"--batch-size {batch}: path-length regularisation needs at least {PL_BATCH_SHRINK}"
    return None


RECIPE = pygan.Recipe(
    name="stylegan2",
    step=stylegan2_step,
    description="StyleGAN2's step (Karras et al. 2020): lazy R1 every 16 and path-length regularisation every 4 "
                "steps, style mixing, as NVlabs' stylegan2-ada-pytorch",
    defaults={"cuda_graphs": False},
    check=check,
    optimizer_settings=lazy_optimizer_settings,
)
