"""A conditional architecture with a generator given noise, labels and
codes and a discriminator with InfoGAN's heads, registered as a plugin
together with a labelled data set: what the core's conditioning and
auxiliary-head paths are tested with."""

import math

import torch
import torch.nn.functional as F
from torch import nn

import pygan
from pygan._config.registry import load_plugins

CLASSES, CODES, LATENT = 4, 2, 6
SHAPE = (1, 8, 8)


class Generator(nn.Module):
    """Remembers what it was called with, to check what the core passes."""

    def __init__(self, image_shape):
        super().__init__()
        self.net = nn.Linear(LATENT + CLASSES + CODES, math.prod(image_shape))
        self.calls = []

    def forward(self, z, one_hot, codes):
        self.calls.append((z, one_hot, codes))
        return torch.sigmoid(self.net(torch.cat([z, one_hot, codes], dim=1))).view(-1, *SHAPE)


class Discriminator(nn.Module):
    """A source logit, class logits and code predictions (an InfoGAN's heads)."""

    def __init__(self, image_shape):
        super().__init__()
        self.trunk = nn.Linear(math.prod(image_shape), 16)
        self.source, self.classes, self.codes = nn.Linear(16, 1), nn.Linear(16, CLASSES), nn.Linear(16, CODES)

    def forward(self, images):
        features = F.leaky_relu(self.trunk(images.flatten(1)), 0.2)
        return {"source": self.source(features), "classes": self.classes(features), "codes": self.codes(features)}


def auxiliary_loss(judgement, targets):
    return {"class_loss": F.cross_entropy(judgement.heads["classes"], targets.labels),
            "code_loss": 0.5 * (judgement.heads["codes"] - targets.codes).square().mean()}


class Headed:
    """A conditional architecture with auxiliary heads, as a plugin."""

    @pygan.hookimpl
    def register_architectures(self, register):
        register(pygan.Architecture("headed", Generator, Discriminator, latent_size=LATENT, classes=CLASSES,
                                    codes=CODES, auxiliary_loss=auxiliary_loss,
                                    defaults={"loss": "bce", "dataset": "labelled", "batch_size": 4}))

    @pygan.hookimpl
    def register_datasets(self, register):
        register(pygan.Dataset("labelled", load=lambda data_dir: pygan.Batch(torch.rand(32, *SHAPE),
                                                                             torch.arange(32) % CLASSES)))


def headed_plugins():
    plugins = load_plugins()
    assert plugins.add("headed", Headed())
    return plugins


