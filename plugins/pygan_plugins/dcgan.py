"""The DCGAN for MNIST of R. Atienza, "Advanced Deep Learning with Keras",
chapter 4 (dcgan-mnist-4.2.1.py), reproduced layer for layer (SEED.md).

Discriminator: 1,080,577 parameters. Generator: 1,301,505 counting the 704
BatchNorm running statistics, as Keras does.
"""

from __future__ import annotations

import torch
from torch import nn

import pygan
from pygan.layers import LeakyReLUConv2d, SameConvTranspose2d

IMAGE_SHAPE = (1, 28, 28)
LATENT_SIZE = 100


def _check_shape(image_shape) -> None:
    if tuple(image_shape) != IMAGE_SHAPE:
        raise pygan.UsageError(
            f"architecture 'dcgan' makes 1x28x28 images but the data set has "
            f"{'x'.join(map(str, image_shape))} images; use a 28x28 grayscale data set such as mnist"
        )


class Discriminator(nn.Module):
    """Four LeakyReLU(0.2) -> Conv2D(5, 'same') blocks, then Dense(1).

    ``forward`` returns logits: the seed's final sigmoid is folded into the
    loss, which is computed from logits for numerical stability.
    ``probability`` applies it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            LeakyReLUConv2d(1, 32, 5, stride=2),
            LeakyReLUConv2d(32, 64, 5, stride=2),
            LeakyReLUConv2d(64, 128, 5, stride=2),
            LeakyReLUConv2d(128, 256, 5, stride=1),
        )
        self.classify = nn.Linear(4 * 4 * 256, 1)
        nn.init.xavier_uniform_(self.classify.weight)
        nn.init.zeros_(self.classify.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # Keras' Flatten of its channels-last tensor: (height, width, channel)
        # order. The fused op's output is channels-last in memory, so this
        # is a view; flattening (channel, height, width) would copy it.
        return self.classify(self.blocks(images).permute(0, 2, 3, 1).flatten(1))

    def probability(self, images: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self(images))


class Generator(nn.Module):
    """Dense(7*7*128), then four BatchNorm -> ReLU -> Conv2DTranspose(5, 'same')
    blocks (128, 64, 32, 1 filters; strides 2, 2, 1, 1), then sigmoid."""

    def __init__(self, latent_size: int = LATENT_SIZE) -> None:
        super().__init__()
        self.project = nn.Linear(latent_size, 7 * 7 * 128)
        nn.init.xavier_uniform_(self.project.weight)
        nn.init.zeros_(self.project.bias)
        layers = []
        for in_channels, out_channels, stride in [(128, 128, 2), (128, 64, 2), (64, 32, 1), (32, 1, 1)]:
            layers += [
                # Keras defaults: momentum 0.99 (PyTorch counts the other way), epsilon 1e-3.
                nn.BatchNorm2d(in_channels, eps=1e-3, momentum=0.01),
                nn.ReLU(),
                SameConvTranspose2d(in_channels, out_channels, 5, stride),
            ]
        self.blocks = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # The blocks work on mirrored images (see SameConvTranspose2d):
        # BatchNorm and ReLU do not mind, and mirroring the 7x7 input and
        # the 28x28 output is cheaper than cropping every block's output.
        mirrored = self.project(z).view(-1, 128, 7, 7).flip(-2, -1)
        return torch.sigmoid(self.blocks(mirrored)).flip(-2, -1)


def build_generator(image_shape) -> Generator:
    _check_shape(image_shape)
    return Generator()


def build_discriminator(image_shape) -> Discriminator:
    _check_shape(image_shape)
    return Discriminator()


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="dcgan",
        build_generator=build_generator,
        build_discriminator=build_discriminator,
        latent_size=LATENT_SIZE,
        defaults={
            "dataset": "mnist",
            "loss": "bce",
            "steps": 40_000,
            "batch_size": 64,
            "lr_d": 2e-4,
            "decay_d": 6e-8,
            "lr_g": 1e-4,
            "decay_g": 3e-8,
        },
        description="DCGAN for 28x28 grayscale images (Atienza, Advanced Deep Learning with Keras, ch. 4)",
    ))
