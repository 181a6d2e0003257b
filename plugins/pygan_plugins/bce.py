"""The seed's binary cross-entropy objectives (Goodfellow et al., 2014, with the
generator trained to have its fakes labelled 1)."""

import torch
import torch.nn.functional as F

import pygan


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Mean BCE over real (label 1) and fake (label 0) together, as Keras
    computes it on the concatenated batch."""
    logits = torch.cat([real_logits, fake_logits]).flatten()
    labels = torch.cat([torch.ones_like(real_logits), torch.zeros_like(fake_logits)]).flatten()
    return F.binary_cross_entropy_with_logits(logits, labels)


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """BCE of the fakes against label 1: -mean(log D(G(z)))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


@pygan.hookimpl
def register_losses(register):
    register(pygan.Loss(
        name="bce",
        discriminator_loss=discriminator_loss,
        generator_loss=generator_loss,
        description="binary cross-entropy (the seed DCGAN's loss)",
    ))
