"""lsgan: the least-squares GAN of R. Atienza, "Advanced Deep Learning with
Keras", chapter 5.2 (lsgan-mnist-5.2.1.py), layer for layer (docs/book-gans.md).

The seed's networks, the discriminator's Dense(1) with no activation, and
Keras' mean squared error against targets 1 (real) and 0 (fake), registered
here as the loss ``mse``:

- discriminator: one mean over the 128 real and fake outputs together,
  1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2;
- generator: E (D(G(z)) - 1)^2.

The generic ``lsgan`` loss (Mao et al. 2017) has the same discriminator loss
but halves the generator's, 1/2 E (D(G(z)) - 1)^2; RMSprop's updates hardly
depend on a constant factor (only through its epsilon), but the logged loss
would be half the book's, so the book's own loss is reproduced here.

Loop and optimizers exactly as the seed (``alternating``; RMSprop
2e-4 / 6e-8 and 1e-4 / 3e-8).
"""

from __future__ import annotations

import torch

import pygan
from pygan_plugins import book
from pygan_plugins.book import LATENT_SIZE, SEED_DEFAULTS, check_shape
from pygan_plugins.dcgan import Discriminator, Generator


def discriminator_loss(real_outputs: torch.Tensor, fake_outputs: torch.Tensor) -> torch.Tensor:
    """Keras' mse on the concatenated batch, targets 1 then 0."""
    outputs = torch.cat([real_outputs, fake_outputs]).flatten()
    targets = torch.cat([torch.ones_like(real_outputs), torch.zeros_like(fake_outputs)]).flatten()
    return (outputs - targets).square().mean()


def generator_loss(fake_outputs: torch.Tensor) -> torch.Tensor:
    """Keras' mse of the fakes against target 1: E (D(G(z)) - 1)^2."""
    return (fake_outputs - 1).square().mean()


def build_generator(image_shape, config) -> Generator:
    return book.generator("lsgan", LATENT_SIZE, image_shape, config)


def build_discriminator(image_shape) -> Discriminator:
    check_shape("lsgan", image_shape)
    return Discriminator()


@pygan.hookimpl
def register_losses(register):
    register(pygan.Loss(
        name="mse",
        discriminator_loss=discriminator_loss,
        generator_loss=generator_loss,
        description="mean squared error on raw outputs, targets 1 real / 0 fake, as Keras' mse (the book's LSGAN)",
        decision_threshold=0.5,  # halfway between the fake (0) and real (1) targets
    ))


@pygan.hookimpl
def register_options(register):
    register(book.BATCHNORM_STATISTICS)


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="lsgan",
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        image_shape=book.image_shape,
        latent_size=LATENT_SIZE,
        defaults={**SEED_DEFAULTS, "loss": "mse"},
        description="least-squares GAN: the seed's networks, squared error on D's raw output (Atienza, ch. 5.2)",
    ))
