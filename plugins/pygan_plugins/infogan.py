"""infogan: the InfoGAN of R. Atienza, "Advanced Deep Learning with Keras",
chapter 6.1 (infogan-mnist-6.1.1.py), layer for layer (docs/book-gans.md).

- Latent: z of size 62 (uniform in [-1, 1]), a one-hot label, and two
  continuous codes drawn from a normal with std 0.5.
- Generator: the seed's, given concat(z, one-hot label, code1, code2) = 74:
  1,138,433 parameters (Keras counting).
- Discriminator: the seed's trunk with four heads: source Dense(1) ->
  sigmoid; from a shared Dense(128), label Dense(10) -> softmax and
  code1, code2 Dense(1) -> sigmoid: 1,606,541 parameters.
- Losses: source binary cross-entropy, label categorical cross-entropy, and
  for each code the book's mutual-information loss
  mi(c, q) = -mean(sum(c * log(q + 1e-7))) on the code head's sigmoid
  output q, weights 1, 1, 0.5, 0.5. The book's formula, kept as it is: it
  treats the code as if it were a probability, although it is a normal
  draw that can be negative.
- Step: the ``alternating`` recipe: real images get their labels and freshly
  drawn codes as targets (as the book gives them random codes), fakes the
  labels and codes they were made from; the adversarial update has fresh
  noise, labels and codes.
- Optimizers as the seed. ``pygan sample --sweep code1`` (or code2) varies
  one code from -2 to 2 along each row, one row per digit.
"""

from __future__ import annotations

import torch

import pygan
from pygan import Judgement, Latent
from pygan_plugins import book
from pygan_plugins.acgan import label_loss
from pygan_plugins.book import SEED_DEFAULTS, Discriminator, Generator, check_shape

LATENT_SIZE = 62
CLASSES = 10
CODES = 2
CODE_STD = 0.5
CODE_WEIGHT = 0.5  # each code's mutual-information loss weight
EPSILON = 1e-7  # Keras' K.epsilon()


def sample_codes(n: int, codes: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return CODE_STD * torch.randn(n, codes, generator=generator, device=device)


def mutual_information_loss(code: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """The book's mi_loss(c, q_of_c_given_x) = -mean(sum(c * log(q + eps))),
    the sum over the code's dimensions (one), the mean over the batch."""
    return -(code * torch.log(q + EPSILON)).sum(dim=1).mean()


def auxiliary_loss(judgement: Judgement, targets: Latent) -> dict[str, torch.Tensor]:
    """The label and code terms as they enter the loss (weights applied)."""
    q = torch.sigmoid(judgement.heads["codes"])
    terms = {"class_loss": label_loss(judgement, targets)}
    for index in range(CODES):
        terms[f"code{index + 1}_loss"] = CODE_WEIGHT * mutual_information_loss(
            targets.codes[:, index:index + 1], q[:, index:index + 1])
    return terms


def build_generator(image_shape, config) -> Generator:
    return book.generator("infogan", LATENT_SIZE + CLASSES + CODES, image_shape, config)


def build_discriminator(image_shape) -> Discriminator:
    check_shape("infogan", image_shape)
    return Discriminator(classes=CLASSES, codes=CODES)


@pygan.hookimpl
def register_options(register):
    register(book.BATCHNORM_STATISTICS)


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="infogan",
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        image_shape=book.image_shape,
        latent_size=LATENT_SIZE,
        classes=CLASSES,
        codes=CODES,
        sample_codes=sample_codes,
        auxiliary_loss=auxiliary_loss,
        defaults=dict(SEED_DEFAULTS),
        description="InfoGAN: a label and two continuous codes, recovered by D's heads (Atienza, ch. 6.1)",
    ))
