"""``dcgan64``: the DCGAN of Radford, Metz & Chintala (2015) as most PyTorch
users know it, pytorch/examples' ``dcgan/main.py``, for 32, 64 or 128 pixel
images (``--resolution``) of any channel count (``--channels``).

Generator: a 100-d standard normal latent, a 4x4 transposed convolution to
``64 * resolution / 8`` channels, then 4x4 stride-2 transposed convolutions
halving the channels and doubling the size up to the resolution, BatchNorm
and ReLU after each but the last, and tanh. Discriminator: the mirror image,
4x4 stride-2 convolutions doubling the channels from 64, BatchNorm after
each but the first, LeakyReLU 0.2 (through pygan's fused LeakyReLU+conv
operator), and a last 4x4 convolution to one logit. No biases; weights
drawn from N(0, 0.02), BatchNorm scales from N(1, 0.02). Adam, lr 2e-4,
betas (0.5, 0.999), batch 128, the non-saturating loss, as in the example.

The paper's images lie in [-1, 1] (the generator ends in tanh); pygan's in
[0, 1]. The generator returns ``(tanh(x) + 1) / 2`` and the discriminator
first maps its input back with ``2 x - 1``, so both networks compute
exactly the paper's functions in the paper's range.

The recipe ``separate`` trains it as the example does: the discriminator
judges the real batch and the fake batch in two calls (so its BatchNorm
normalises each with its own statistics), the fakes made by the generator
in training mode.
"""

from __future__ import annotations

import math

import torch
from torch import nn

import pygan
from pygan import StepContext, whole_number
from pygan.ops import LeakyReLUConv2d
from pygan_plugins.alternating import binary_accuracy

LATENT_SIZE = 100
WIDTH = 64  # the example's ngf and ndf
RESOLUTIONS = (32, 64, 128)


def stages(resolution: int) -> int:
    """Doublings from 4x4 to the resolution."""
    return int(math.log2(resolution // 4))


def _check(image_shape) -> tuple[int, int]:
    channels, height, width = image_shape
    if height != width or height not in RESOLUTIONS:
        raise pygan.UsageError(f"architecture 'dcgan64' makes square images of {', '.join(map(str, RESOLUTIONS))} "
                               f"pixels, not {height}x{width}; choose one with --resolution")
    return channels, height


class Generator(nn.Module):
    def __init__(self, image_shape, latent_size: int = LATENT_SIZE) -> None:
        super().__init__()
        channels, resolution = _check(image_shape)
        width = WIDTH * resolution // 8
        layers = [nn.ConvTranspose2d(latent_size, width, 4, 1, 0, bias=False), nn.BatchNorm2d(width), nn.ReLU(True)]
        for _ in range(stages(resolution) - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2),
                       nn.ReLU(True)]
            width //= 2
        layers.append(nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        # The paper's tanh image, moved from [-1, 1] to pygan's [0, 1].
        return (torch.tanh(self.main(z[:, :, None, None])) + 1) / 2


class Discriminator(nn.Module):
    """``forward`` returns logits (N, 1); the example's final sigmoid is in the loss."""

    def __init__(self, image_shape) -> None:
        super().__init__()
        channels, resolution = _check(image_shape)
        width = WIDTH
        layers = [nn.Conv2d(channels, width, 4, 2, 1, bias=False)]
        for _ in range(stages(resolution) - 1):
            # LeakyReLU(0.2) of the previous layer's output, then this convolution: one fused op.
            layers += [LeakyReLUConv2d(width, width * 2, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(width * 2)]
            width *= 2
        layers.append(LeakyReLUConv2d(width, 1, 4, stride=1, padding=0, bias=False))
        self.main = nn.Sequential(*layers)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.main(images * 2 - 1).flatten(1)


def initialize(module: nn.Module) -> nn.Module:
    """The example's ``weights_init``: convolutions N(0, 0.02), BatchNorm N(1, 0.02) and 0."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d, LeakyReLUConv2d)):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)
    return module


def image_shape(config) -> tuple[int, int, int]:
    # Checked here, not by the option, which other architectures share: a run asks for the shape before
    # it reads any data.
    channels, resolution = _check((config["channels"], config["resolution"], config["resolution"]))
    return (channels, resolution, resolution)


def separate_step(step: StepContext) -> dict[str, torch.Tensor]:
    """pytorch/examples' dcgan step: the generator makes one fake batch, in
    training mode (so its BatchNorm statistics move once per step, as the
    example's netG(noise)); the discriminator judges a real batch and those
    fakes, detached, each in its own call; then the generator is updated
    through the updated discriminator's judgement of the same fakes."""
    threshold = step.loss.decision_threshold
    latent = step.latent()
    with step.training("generator"), step.autocast():
        fake = step.generate(latent)
    with step.training("discriminator"):
        real = step.real()
        with step.autocast():
            real_logits = step.discriminate(real.images, real.labels).source
            step.judged_real(real_logits)
            fake_logits = step.discriminate(fake.detach(), latent.labels).source
            d_loss = step.loss.discriminator_loss(real_logits, fake_logits)
            penalty = {}
            if step.penalty is not None:
                penalty["d_penalty"] = step.penalty.compute(step.critic(real.labels), real.images, fake.detach())
                d_loss = d_loss + step.config["penalty_weight"] * penalty["d_penalty"]
        lr_d = step.current_lr()
        step.update(d_loss)
    with step.training("generator"):
        with step.autocast():
            fake_logits_g = step.discriminate(fake, latent.labels).source
            g_loss = step.loss.generator_loss(fake_logits_g)
        lr_g = step.current_lr()
        step.update(g_loss)
    with torch.no_grad():
        d_acc = (binary_accuracy(real_logits, 1.0, threshold) + binary_accuracy(fake_logits, 0.0, threshold)) / 2
        g_acc = binary_accuracy(fake_logits_g, 1.0, threshold)
    return {"d_loss": d_loss, "d_acc": d_acc, "lr_d": lr_d, "g_loss": g_loss, "g_acc": g_acc, "lr_g": lr_g,
            "d_real": torch.sigmoid(real_logits).mean(), "d_fake": torch.sigmoid(fake_logits).mean(), **penalty}


@pygan.hookimpl
def register_options(register):
    # Shared with other architectures that make square images of a chosen size.
    register(pygan.Option("resolution", int, 64, "dcgan64's image size in pixels: 32, 64 or 128",
                          check=whole_number(minimum=1), metavar="N", shared=True))
    register(pygan.Option("channels", int, 3, "dcgan64's image channels: 1 grayscale, 3 RGB, 4 RGBA, ...",
                          check=whole_number(minimum=1, maximum=64), metavar="C", shared=True))


@pygan.hookimpl
def register_recipes(register):
    register(pygan.Recipe(
        name="separate",
        step=separate_step,
        description="pytorch/examples' dcgan step: real and fake batches judged in separate calls, fakes made in "
                    "training mode",
    ))


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="dcgan64",
        build_generator=lambda shape: initialize(Generator(shape)),
        build_discriminator=lambda shape: initialize(Discriminator(shape)),
        latent_size=LATENT_SIZE,
        sample_noise=pygan.normal_noise,
        image_shape=image_shape,
        defaults={
            "dataset": "images",
            "loss": "nonsaturating",
            "recipe": "separate",
            "batch_size": 128,
            "optimizer_d": "adam",
            "optimizer_g": "adam",
            "lr_d": 2e-4,
            "lr_g": 2e-4,
            "betas_d": [0.5, 0.999],
            "betas_g": [0.5, 0.999],
        },
        description="DCGAN of Radford et al. 2015 as in pytorch/examples, 32/64/128 pixels (--resolution), "
                    "any channel count (--channels)",
    ))
