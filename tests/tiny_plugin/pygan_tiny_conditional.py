"""A conditional GAN with a training step and an option of its own: what a
third-party plugin can add beyond an architecture.

- ``bars``: a labelled data set made on the fly, 12x12 images of a bar in
  one of three orientations (class 0 horizontal, 1 vertical, 2 diagonal).
- ``tiny-cgan``: a generator given the class one-hot after the noise, and a
  discriminator that sees the class too (as a projection: the logit gains
  the dot product of its features with a learnt class embedding).
- the recipe ``smoothed``: the seed's alternating step with one-sided label
  smoothing (Salimans et al. 2016), the real target being ``--real-target``.
- ``--hidden``: the width of the generator's hidden layer, an option that
  changes a network's shape, read by the builder from the run's configuration.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

import pygan
from pygan.layers import LeakyReLUConv2d

SIZE, CLASSES, LATENT_SIZE = 12, 3, 8


def bars(count: int, seed: int = 0) -> pygan.Batch:
    rng = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, CLASSES, (count,), generator=rng)
    images = torch.zeros(count, 1, SIZE, SIZE)
    offsets = torch.randint(2, SIZE - 2, (count,), generator=rng)
    for image, label, offset in zip(images, labels.tolist(), offsets.tolist()):
        if label == 0:
            image[0, offset] = 1
        elif label == 1:
            image[0, :, offset] = 1
        else:
            image[0] = torch.eye(SIZE).roll(offset - SIZE // 2, dims=1)
    return pygan.Batch(images, labels)


class Generator(nn.Module):
    def __init__(self, image_shape, hidden=64):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(nn.Linear(LATENT_SIZE + CLASSES, hidden), nn.ReLU(),
                                 nn.Linear(hidden, math.prod(image_shape)))

    def forward(self, z, one_hot):
        return torch.sigmoid(self.net(torch.cat([z, one_hot], dim=1))).view(-1, *self.image_shape)


class Discriminator(nn.Module):
    def __init__(self, image_shape):
        super().__init__()
        channels, height, width = image_shape
        features = 8 * math.ceil(height / 2) * math.ceil(width / 2)
        self.features = LeakyReLUConv2d(channels, 8, kernel_size=3, stride=2)
        self.source = nn.Linear(features, 1)
        self.embed = nn.Linear(CLASSES, features, bias=False)

    def forward(self, images, one_hot):
        features = self.features(images).flatten(1)
        return self.source(features) + (features * self.embed(one_hot)).sum(1, keepdim=True)


def smoothed_step(step):
    """One discriminator update with the real target below 1, then one
    generator update; tensor code only, as every recipe."""
    target = step.config["real_target"]
    with step.training("discriminator"):
        real = step.real()
        latent = step.latent()
        with step.autocast():
            fake = step.generate(latent, inference=True)
            real_logits = step.discriminate(real.images, real.labels).source
            step.judged_real(real_logits)  # for plugins that watch them (--augment ada)
            fake_logits = step.discriminate(fake, latent.labels).source
            d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, target))
                      + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        step.update(d_loss)
    with step.training("generator"):
        latent = step.latent()
        with step.autocast():
            g_loss = step.loss.generator_loss(step.discriminate(step.generate(latent), latent.labels).source)
        step.update(g_loss)
    return {"d_loss": d_loss, "g_loss": g_loss, "real_score": torch.sigmoid(real_logits).mean()}


def check_target(value):
    return None if isinstance(value, float) and 0.5 < value <= 1 else "must lie in (0.5, 1]"


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("real_target", float, 0.9, "the discriminator's target for real images (one-sided "
                          "label smoothing; 1 turns it off)", check=check_target))
    register(pygan.Option("hidden", int, 64, "tiny-cgan's generator: units in its hidden layer",
                          check=pygan.whole_number(minimum=1), metavar="N"))


def build_generator(image_shape, config):
    return Generator(image_shape, config["hidden"])


@pygan.hookimpl
def register_recipes(register):
    register(pygan.Recipe("smoothed", smoothed_step, description="alternating updates, one-sided label smoothing"))


@pygan.hookimpl
def register_datasets(register):
    register(pygan.Dataset("bars", load=lambda data_dir: bars(256), load_labelled=lambda data_dir: bars(2400, seed=1),
                           description="12x12 bars in three orientations, labelled"))


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="tiny-cgan",
        build_generator=build_generator,
        build_discriminator=Discriminator,
        latent_size=LATENT_SIZE,
        classes=CLASSES,
        discriminator_takes_labels=True,
        defaults={"loss": "bce", "dataset": "bars", "recipe": "smoothed", "steps": 100, "batch_size": 16,
                  "optimizer_d": "adam", "optimizer_g": "adam", "lr_d": 2e-3, "lr_g": 2e-3,
                  "betas_d": [0.5, 0.999], "betas_g": [0.5, 0.999]},
        description="a tiny conditional GAN with a recipe and an option of its own",
    ))
