"""wgan: the Wasserstein GAN with weight clipping of R. Atienza, "Advanced
Deep Learning with Keras", chapter 5.1 (wgan-mnist-5.1.2.py), layer for
layer (docs/book-gans.md; Arjovsky et al. 2017).

- Networks: the seed's; the critic's Dense(1) output is linear.
- Loss for both networks: -mean(y * D(x)), y = +1 for real, -1 for fake
  (registered as ``wasserstein``: D minimises E D(fake) - E D(real), G
  minimises -E D(G(z))).
- Step, the recipe ``wgan``: ``--d-steps`` (5) critic iterations, each
  drawing 64 real images and making 64 fakes (generator in inference mode),
  then updating the critic on the real batch alone (y = +1) and then,
  separately, on the fake batch alone (y = -1); after both, every critic
  weight and bias is clipped to [-C, C] (``--clip-weights``, 0.01). Then one
  generator update with y = +1. ``d_loss`` is the mean of the real and fake
  losses over the iterations, ``d_acc`` how often the critic's sign is right.
- Optimizer: RMSprop 5e-5, no decay. The book shares one optimizer object
  between the critic and the adversarial model; without decay its shared
  update counter changes nothing, so each network keeps its own.
"""

from __future__ import annotations

import torch

import pygan
from pygan import StepContext
from pygan_plugins import book
from pygan_plugins.alternating import binary_accuracy
from pygan_plugins.book import LATENT_SIZE, SEED_DEFAULTS, check_shape
from pygan_plugins.constraints import clipping_deferred
from pygan_plugins.dcgan import Discriminator, Generator

LOSS = "wasserstein"


def critic_loss(outputs: torch.Tensor, y: float) -> torch.Tensor:
    """The book's wasserstein_loss(y_label, y_pred) = -mean(y_label * y_pred)."""
    return -(y * outputs).mean()


def discriminator_loss(real_outputs: torch.Tensor, fake_outputs: torch.Tensor) -> torch.Tensor:
    return critic_loss(real_outputs, 1.0) + critic_loss(fake_outputs, -1.0)


def generator_loss(fake_outputs: torch.Tensor) -> torch.Tensor:
    return critic_loss(fake_outputs, 1.0)


def check_setting(step: StepContext) -> None:
    """What the recipe cannot honour is refused, not ignored (host-side,
    before the first update)."""
    if step.loss.name != LOSS:
        raise pygan.UsageError(f"recipe 'wgan' updates the critic on real and fake images separately with the "
                               f"loss {LOSS!r}; --loss {step.loss.name} needs another recipe (--recipe alternating)")
    if step.penalty is not None or step.architecture.auxiliary_loss is not None:
        raise pygan.UsageError("recipe 'wgan' adds no penalty and no auxiliary heads' losses; "
                               "use --recipe alternating for those")


def critic_iteration(step: StepContext) -> dict[str, torch.Tensor]:
    """One real-only and one fake-only critic update, clipped after both."""
    with step.training("discriminator"):
        real = step.real()
        latent = step.latent()
        with step.autocast():
            fake = step.generate(latent, inference=True)
        lr = step.current_lr()
        with clipping_deferred(step.run):
            with step.autocast():
                real_outputs = step.discriminate(real.images, real.labels).source
                step.judged_real(real_outputs)
                real_loss = critic_loss(real_outputs, 1.0)
            step.update(real_loss)
            with step.autocast():
                fake_outputs = step.discriminate(fake, latent.labels).source
                fake_loss = critic_loss(fake_outputs, -1.0)
            step.update(fake_loss)
    with torch.no_grad():
        accuracy = (binary_accuracy(real_outputs, 1.0, 0.0) + binary_accuracy(fake_outputs, 0.0, 0.0)) / 2
        return {"d_loss": 0.5 * (real_loss.detach() + fake_loss.detach()), "d_acc": accuracy, "lr_d": lr}


def wgan_step(step: StepContext) -> dict[str, torch.Tensor]:
    check_setting(step)
    iterations = [critic_iteration(step) for _ in range(step.config["d_steps"])]
    metrics = {name: torch.stack([row[name] for row in iterations]).mean()
               for name in ("d_loss", "d_acc")}
    metrics["lr_d"] = iterations[-1]["lr_d"]
    with step.training("generator"):
        with step.autocast():
            latent = step.latent()
            outputs = step.discriminate(step.generate(latent), latent.labels).source
            loss = step.loss.generator_loss(outputs)
        lr = step.current_lr()
        step.update(loss)
    with torch.no_grad():
        accuracy = binary_accuracy(outputs, 1.0, 0.0)
    return {**metrics, "g_loss": loss, "g_acc": accuracy, "lr_g": lr}


def build_generator(image_shape, config) -> Generator:
    return book.generator("wgan", LATENT_SIZE, image_shape, config)


def build_discriminator(image_shape) -> Discriminator:
    check_shape("wgan", image_shape)
    return Discriminator()


@pygan.hookimpl
def register_losses(register):
    register(pygan.Loss(
        name=LOSS,
        discriminator_loss=discriminator_loss,
        generator_loss=generator_loss,
        description="-mean(y * D(x)), y = +1 real / -1 fake, on a linear critic (Arjovsky et al. 2017; the book's)",
    ))


@pygan.hookimpl
def register_recipes(register):
    register(pygan.Recipe(
        name="wgan",
        step=wgan_step,
        description="--d-steps critic iterations of a real-only then a fake-only update, weights clipped after "
                    "both; then one generator update (the book's WGAN)",
    ))


@pygan.hookimpl
def register_options(register):
    register(book.BATCHNORM_STATISTICS)


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="wgan",
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        image_shape=book.image_shape,
        latent_size=LATENT_SIZE,
        defaults={**SEED_DEFAULTS, "loss": LOSS, "recipe": "wgan", "d_steps": 5, "clip_weights": 0.01,
                  "optimizer_d": "rmsprop", "optimizer_g": "rmsprop",
                  "lr_d": 5e-5, "decay_d": 0.0, "lr_g": 5e-5, "decay_g": 0.0},
        description="Wasserstein GAN with weight clipping, linear critic (Atienza, ch. 5.1)",
    ))
