"""acgan: the auxiliary-classifier GAN of R. Atienza, "Advanced Deep
Learning with Keras", chapter 5.3 (acgan-mnist-5.3.1.py), layer for layer
(docs/book-gans.md).

- Generator: the seed's, given concat(z (100), one-hot label (10)):
  1,364,225 parameters (Keras counting).
- Discriminator: the seed's trunk on images only, the source head
  Dense(1) -> sigmoid, and the label head Dense(128) -> Dense(10) ->
  softmax: 1,606,283 parameters.
- Loss: binary cross-entropy on the source plus categorical cross-entropy on
  the label, weights 1 and 1 (the label term is the architecture's
  ``auxiliary_loss``; the ``alternating`` recipe adds it to both networks'
  losses). D learns real images' labels and the labels fakes were made from;
  G learns to have its fakes classified as the labels it was given.
- Optimizers as the seed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import pygan
from pygan import Judgement, Latent
from pygan_plugins import book
from pygan_plugins.book import LATENT_SIZE, SEED_DEFAULTS, Discriminator, Generator, check_shape

CLASSES = 10


def label_loss(judgement: Judgement, targets: Latent) -> torch.Tensor:
    """Categorical cross-entropy of the softmax label head: cross-entropy of its logits."""
    return F.cross_entropy(judgement.heads["classes"], targets.labels)


def auxiliary_loss(judgement: Judgement, targets: Latent) -> dict[str, torch.Tensor]:
    return {"class_loss": label_loss(judgement, targets)}


def build_generator(image_shape, config) -> Generator:
    return book.generator("acgan", LATENT_SIZE + CLASSES, image_shape, config)


def build_discriminator(image_shape) -> Discriminator:
    check_shape("acgan", image_shape)
    return Discriminator(classes=CLASSES)


@pygan.hookimpl
def register_options(register):
    register(book.BATCHNORM_STATISTICS)


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="acgan",
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        image_shape=book.image_shape,
        latent_size=LATENT_SIZE,
        classes=CLASSES,
        auxiliary_loss=auxiliary_loss,
        defaults=dict(SEED_DEFAULTS),
        description="auxiliary-classifier GAN: D also classifies the digit (Atienza, ch. 5.3)",
    ))
