"""cgan: the conditional GAN of R. Atienza, "Advanced Deep Learning with
Keras", chapter 4.3 (cgan-mnist-4.3.1.py), layer for layer (docs/book-gans.md).

- Generator: the seed's, given concat(z (100), one-hot label (10)) = 110:
  1,364,225 parameters (Keras counting, 704 BatchNorm statistics).
- Discriminator: the one-hot label through a linear Dense(28*28), reshaped
  to 28x28 and put beside the image as a second channel; the seed's trunk
  (its first fused LeakyReLU+conv sees two channels) and Dense(1) -> sigmoid:
  1,090,001 parameters.
- Step: the built-in ``alternating`` recipe: the discriminator on 64 real
  images with their labels and 64 fakes made from random labels, one update
  on the 128 (binary cross-entropy); then the adversarial update with fresh
  noise and random labels, the same labels given to G and to D.
- Optimizers as the seed: RMSprop 2e-4 / decay 6e-8 (D), 1e-4 / 3e-8 (G).
"""

from __future__ import annotations

import pygan
from pygan_plugins import book
from pygan_plugins.book import LATENT_SIZE, SEED_DEFAULTS, Generator, LabelChannelDiscriminator, check_shape

CLASSES = 10


def build_generator(image_shape, config) -> Generator:
    return book.generator("cgan", LATENT_SIZE + CLASSES, image_shape, config)


def build_discriminator(image_shape) -> LabelChannelDiscriminator:
    check_shape("cgan", image_shape)
    return LabelChannelDiscriminator(CLASSES, tuple(image_shape))


@pygan.hookimpl
def register_options(register):
    register(book.BATCHNORM_STATISTICS)


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="cgan",
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        image_shape=book.image_shape,
        latent_size=LATENT_SIZE,
        classes=CLASSES,
        discriminator_takes_labels=True,
        defaults=dict(SEED_DEFAULTS),
        description="conditional GAN, the label as G's input and D's second channel (Atienza, ch. 4.3)",
    ))
