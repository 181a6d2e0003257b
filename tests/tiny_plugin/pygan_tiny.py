"""A tiny GAN for any image size: a linear generator and a one-block
discriminator that uses pygan's fused LeakyReLU+conv layer."""

import math

import torch
from torch import nn

import pygan
from pygan.layers import LeakyReLUConv2d

LATENT_SIZE = 8


class TinyGenerator(nn.Module):
    def __init__(self, image_shape):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Linear(LATENT_SIZE, math.prod(image_shape))

    def forward(self, z):
        return torch.sigmoid(self.net(z)).view(-1, *self.image_shape)


class TinyDiscriminator(nn.Module):
    def __init__(self, image_shape):
        super().__init__()
        channels, height, width = image_shape
        self.features = LeakyReLUConv2d(channels, 4, kernel_size=3, stride=2)
        self.classify = nn.Linear(4 * math.ceil(height / 2) * math.ceil(width / 2), 1)

    def forward(self, images):
        return self.classify(self.features(images).flatten(1))


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="tiny",
        build_generator=TinyGenerator,
        build_discriminator=TinyDiscriminator,
        latent_size=LATENT_SIZE,
        defaults={"loss": "bce", "dataset": "npz", "steps": 100, "batch_size": 16, "lr_d": 1e-3, "lr_g": 1e-3},
        description="a tiny GAN for any image size (the plugin-writing example)",
    ))
