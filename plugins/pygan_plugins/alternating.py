"""The recipe ``alternating``: the seed's training step (docs/book-gans.md), for any
architecture, conditional or not, and any loss and penalty.

Each step: ``--d-steps`` discriminator updates (1 in the seed), each on
real samples and fakes together, the fakes made by the generator in
inference mode as Keras' ``predict`` makes them; then one generator update
through the frozen discriminator, the generator's BatchNorm in training
mode. Conditional architectures get the real samples' labels for real
images and random labels for fakes; an architecture's auxiliary heads
(class and code predictions) add their terms to both networks' losses.
"""

from __future__ import annotations

import torch

import pygan
from pygan import Judgement, Latent, StepContext


def binary_accuracy(outputs: torch.Tensor, label: float, threshold: float) -> torch.Tensor:
    """Keras' binary accuracy: an output above the threshold (a logit above 0,
    sigmoid above 0.5) counts as label 1."""
    return ((outputs.flatten() > threshold).float() == label).float().mean()


def auxiliary_terms(step: StepContext, judgement: Judgement, targets: Latent) -> dict[str, torch.Tensor]:
    auxiliary_loss = step.architecture.auxiliary_loss
    return auxiliary_loss(judgement, targets) if auxiliary_loss is not None else {}


def real_targets(step: StepContext, labels: torch.Tensor | None, n: int) -> Latent:
    """What the heads should say of real images: their labels, and codes
    drawn afresh (real images have no codes of their own)."""
    codes = step.latent(n, labels).codes if step.architecture.codes else None
    return Latent(None, labels, codes)


def discriminator_update(step: StepContext) -> dict[str, torch.Tensor]:
    """The discriminator learns real (1) from fake (0)."""
    n, threshold = step.batch_size, step.loss.decision_threshold
    metrics = {}
    with step.training("discriminator"):
        real = step.real()
        latent = step.latent()
        with step.autocast():
            fake = step.generate(latent, inference=True)
            labels = None if real.labels is None else torch.cat([real.labels, latent.labels])
            judgement = step.discriminate(torch.cat([real.images, fake]), labels)
            real_logits, fake_logits = judgement.source[:n], judgement.source[n:]
            step.judged_real(real_logits)
            loss = step.loss.discriminator_loss(real_logits, fake_logits)
            targets = real_targets(step, real.labels, n)
            terms = auxiliary_terms(step, judgement, Latent(None, labels, None if latent.codes is None
                                                            else torch.cat([targets.codes, latent.codes])))
            for name, term in terms.items():
                loss = loss + term
                metrics[f"d_{name}"] = term
            if step.penalty is not None:
                penalty = step.penalty.compute(step.critic(real.labels), real.images, fake)
                loss = loss + step.config["penalty_weight"] * penalty
                metrics["d_penalty"] = penalty
        lr = step.current_lr()
        step.update(loss)
    with torch.no_grad():
        accuracy = (binary_accuracy(real_logits, 1.0, threshold) + binary_accuracy(fake_logits, 0.0, threshold)) / 2
    return {"d_loss": loss, "d_acc": accuracy, "lr_d": lr, **metrics}


def generator_update(step: StepContext) -> dict[str, torch.Tensor]:
    """The generator learns to have its fakes called real, through the
    frozen discriminator."""
    metrics = {}
    with step.training("generator"):
        with step.autocast():
            latent = step.latent()
            judgement = step.discriminate(step.generate(latent), latent.labels)
            loss = step.loss.generator_loss(judgement.source)
            for name, term in auxiliary_terms(step, judgement, latent).items():
                loss = loss + term
                metrics[f"g_{name}"] = term
        lr = step.current_lr()
        step.update(loss)
    with torch.no_grad():
        accuracy = binary_accuracy(judgement.source, 1.0, step.loss.decision_threshold)
    return {"g_loss": loss, "g_acc": accuracy, "lr_g": lr, **metrics}


def alternating_step(step: StepContext) -> dict[str, torch.Tensor]:
    metrics = {}
    for _ in range(step.config["d_steps"]):
        metrics = discriminator_update(step)  # the last update's metrics
    return {**metrics, **generator_update(step)}


@pygan.hookimpl
def register_recipes(register):
    register(pygan.Recipe(
        name="alternating",
        step=alternating_step,
        description="--d-steps discriminator updates on real and fake together, then one generator update (the seed's)",
    ))
