"""The DCGAN for MNIST of R. Atienza, "Advanced Deep Learning with Keras",
chapter 4 (dcgan-mnist-4.2.1.py), reproduced layer for layer
(docs/book-gans.md), from the networks the book's other GANs share
(``pygan_plugins.book``).

Discriminator: 1,080,577 parameters. Generator: 1,301,505 counting the 704
BatchNorm running statistics, as Keras does.
"""

from __future__ import annotations

import pygan
from pygan_plugins import book
from pygan_plugins.book import IMAGE_SHAPE, LATENT_SIZE, SEED_DEFAULTS, Discriminator, Generator, check_shape

__all__ = ["IMAGE_SHAPE", "LATENT_SIZE", "Discriminator", "Generator", "build_discriminator", "build_generator"]


def build_generator(image_shape, config) -> Generator:
    return book.generator("dcgan", LATENT_SIZE, image_shape, config)


def build_discriminator(image_shape) -> Discriminator:
    check_shape("dcgan", image_shape)
    return Discriminator()


@pygan.hookimpl
def register_options(register):
    register(book.BATCHNORM_STATISTICS)


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="dcgan",
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        image_shape=book.image_shape,
        latent_size=LATENT_SIZE,
        defaults=dict(SEED_DEFAULTS),
        description="DCGAN for 28x28 grayscale images (Atienza, Advanced Deep Learning with Keras, ch. 4)",
    ))
