"""The seed DCGAN step (docs/book-gans.md) in plain PyTorch, as a user would write it
from the Keras program with PyTorch's own layers, in its fastest honest form:
the baseline pygan's step is timed against (benchmarks/compare_plain.py,
benchmarks/test_training.py).

- PyTorch's ``Conv2d(padding=2)``, ``ConvTranspose2d(padding=2,
  output_padding=stride - 1)`` and ``BatchNorm2d(eps=1e-3, momentum=0.01)``
  (TensorFlow 2 Keras' BatchNormalization), Keras' initial values;
- both networks and the data in channels-last memory, PyTorch's advice for
  convolutions on the CPU (the fastest of the forms tried: in-place
  activations and ``foreach`` RMSprop changed nothing measurable);
- ``torch.optim.RMSprop`` (rho 0.9, epsilon 1e-7) with Keras' time decay
  through ``LambdaLR``; the discriminator frozen for the generator's update
  the PyTorch way, ``requires_grad_(False)``;
- ``compile=True`` wraps both networks in ``torch.compile`` (default mode),
  as a user reaching for speed would.

It is not numerically pygan's step: PyTorch's symmetric padding places the
odd row of padding at the top and left where TensorFlow's 'same' puts it at
the bottom and right. The arithmetic (layer sizes, FLOPs, optimizer work) is
the same, which is what a timing needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LATENT_SIZE = 100
BATCH_SIZE = 64


def keras_init(module: nn.Module) -> None:
    # Keras' defaults: Glorot-uniform kernels, zero biases.
    if isinstance(module, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(module.weight)
        nn.init.zeros_(module.bias)


def discriminator() -> nn.Sequential:
    layers = []
    for in_channels, out_channels, stride in [(1, 32, 2), (32, 64, 2), (64, 128, 2), (128, 256, 1)]:
        layers += [nn.LeakyReLU(0.2), nn.Conv2d(in_channels, out_channels, 5, stride, padding=2)]
    network = nn.Sequential(*layers, nn.Flatten(), nn.Linear(4 * 4 * 256, 1))
    network.apply(keras_init)
    return network


def generator() -> nn.Sequential:
    layers = [nn.Linear(LATENT_SIZE, 7 * 7 * 128), nn.Unflatten(1, (128, 7, 7))]
    for in_channels, out_channels, stride in [(128, 128, 2), (128, 64, 2), (64, 32, 1), (32, 1, 1)]:
        layers += [
            nn.BatchNorm2d(in_channels, eps=1e-3, momentum=0.01),  # Keras' epsilon and momentum 0.99
            nn.ReLU(),
            nn.ConvTranspose2d(in_channels, out_channels, 5, stride, padding=2, output_padding=stride - 1),
        ]
    network = nn.Sequential(*layers, nn.Sigmoid())
    network.apply(keras_init)
    return network


def keras_decay(decay: float):
    """LambdaLR factor of Keras' time decay, lr / (1 + decay * t)."""
    return lambda updates: 1 / (1 + decay * updates)


class PlainDCGAN:
    """Both networks, their optimizers, and the seed's training step."""

    def __init__(self, data: torch.Tensor, seed: int = 0, compile: bool = False) -> None:
        torch.manual_seed(seed)
        self.data = data.contiguous(memory_format=torch.channels_last)
        self.generator = generator().to(memory_format=torch.channels_last)
        self.discriminator = discriminator().to(memory_format=torch.channels_last)
        self.optimizer_d = torch.optim.RMSprop(self.discriminator.parameters(), lr=2e-4, alpha=0.9, eps=1e-7)
        self.optimizer_g = torch.optim.RMSprop(self.generator.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
        self.schedules = [torch.optim.lr_scheduler.LambdaLR(self.optimizer_d, keras_decay(6e-8)),
                          torch.optim.lr_scheduler.LambdaLR(self.optimizer_g, keras_decay(3e-8))]
        # Modes and requires_grad are set on the modules themselves; the
        # compiled wrappers only run them.
        self.generate, self.discriminate = ((torch.compile(self.generator), torch.compile(self.discriminator))
                                            if compile else (self.generator, self.discriminator))
        self.labels = torch.cat([torch.ones(BATCH_SIZE), torch.zeros(BATCH_SIZE)])

    def noise(self) -> torch.Tensor:
        return torch.rand(BATCH_SIZE, LATENT_SIZE) * 2 - 1

    def step(self) -> dict[str, float]:
        real = self.data[torch.randint(0, len(self.data), (BATCH_SIZE,))]
        # Fakes as Keras' predict() makes them: BatchNorm on its running statistics.
        self.generator.eval()
        with torch.no_grad():
            fake = self.generate(self.noise())
        logits = self.discriminate(torch.cat([real, fake])).flatten()
        d_loss = F.binary_cross_entropy_with_logits(logits, self.labels)
        self.optimizer_d.zero_grad()
        d_loss.backward()
        self.optimizer_d.step()

        # The adversarial model: the discriminator frozen, so backward
        # computes no weight gradients for it.
        self.generator.train()
        self.discriminator.requires_grad_(False)
        fake_logits = self.discriminate(self.generate(self.noise())).flatten()
        g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones(BATCH_SIZE))
        self.optimizer_g.zero_grad()
        g_loss.backward()
        self.optimizer_g.step()
        self.discriminator.requires_grad_(True)
        for schedule in self.schedules:
            schedule.step()

        # What Keras' train_on_batch reports each step: loss and binary accuracy.
        with torch.no_grad():
            d_acc = ((logits > 0).float() == self.labels).float().mean()
            g_acc = (fake_logits > 0).float().mean()
        return {"d_loss": d_loss.item(), "d_acc": d_acc.item(), "g_loss": g_loss.item(), "g_acc": g_acc.item()}
