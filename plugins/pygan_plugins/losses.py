"""Adversarial losses beyond the seed's ``bce``, and the gradient penalties
that can be added to any of them.

Notation: ``r`` are the discriminator's logits on real images, ``f`` on
fakes, E the mean over the batch, softplus(t) = log(1 + e^t) (so
-log sigmoid(t) = softplus(-t) and -log(1 - sigmoid(t)) = softplus(t)).

Losses (the discriminator minimises L_D, the generator L_G):

=============  ==========================================  ===================  ============================
name           L_D                                         L_G                  paper
=============  ==========================================  ===================  ============================
nonsaturating  E softplus(-r) + E softplus(f)              E softplus(-f)       Goodfellow et al. 2014
hinge          E relu(1 - r) + E relu(1 + f)               -E f                 Lim & Ye 2017; Miyato 2018
wgan-gp        E f - E r   (penalty ``gp`` by default)     -E f                 Gulrajani et al. 2017
lsgan          1/2 E (r - 1)^2 + 1/2 E f^2                 1/2 E (f - 1)^2      Mao et al. 2017
=============  ==========================================  ===================  ============================

Penalties (``--penalty NAME --penalty-weight W``; the trainer adds W times
the value to L_D):

- ``r1``: 1/2 E ||grad_x D(x)||^2 on real x (Mescheder et al. 2018). The 1/2
  is inside, so W is the paper's gamma (R1 = gamma/2 E ||grad||^2).
- ``gp``: E (||grad_x D(x_hat)||_2 - 1)^2 on x_hat = eps x_real + (1 - eps) x_fake,
  eps ~ U[0, 1] per sample (Gulrajani et al. 2017). W is the paper's lambda.

Both differentiate the input gradient again with respect to the
discriminator's weights, which for pygan's layers runs through the fused
operator's double backward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import pygan
from pygan_plugins import bce

# --- losses -------------------------------------------------------------------


def nonsaturating_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Goodfellow et al., "Generative Adversarial Nets", 2014:
    L_D = -E log D(x) - E log(1 - D(G(z))) = E softplus(-r) + E softplus(f).

    This is the paper's sum of two expectations. ``bce`` (the seed's Keras
    formulation) takes one mean over the concatenated real and fake batch,
    which for equal batch sizes is exactly half of this; the factor matters
    beside a penalty, whose weight is quoted in the literature (R1's
    gamma = 10, say) against this sum.
    """
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


# The paper's non-saturating generator loss, -E log D(G(z)) = E softplus(-f),
# is the seed's bce generator loss exactly.
nonsaturating_generator_loss = bce.generator_loss


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Lim & Ye, "Geometric GAN", 2017; Miyato et al., "Spectral Normalization
    for GANs", 2018: L_D = E relu(1 - r) + E relu(1 + f). Logits already
    beyond the margin (r >= 1, f <= -1) contribute no gradient."""
    return F.relu(1 - real_logits).mean() + F.relu(1 + fake_logits).mean()


def critic_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """L_G = -E f: raise the critic's score of the fakes. The generator loss
    of both hinge (Miyato et al. 2018) and WGAN (Arjovsky et al. 2017)."""
    return -fake_logits.mean()


def wasserstein_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al., "Improved Training of Wasserstein GANs", 2017:
    L_D = E f - E r, the negated estimate of the Wasserstein-1 distance. It is
    only meaningful with the critic kept (softly) 1-Lipschitz, hence the
    ``gp`` penalty by default; the paper also trains the critic several
    times per generator update (``--d-steps 5``)."""
    return fake_logits.mean() - real_logits.mean()


def lsgan_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Mao et al., "Least Squares Generative Adversarial Networks", 2017, with
    targets a = 0 (fake), b = 1 (real), c = 1 (what G wants) on the raw
    outputs, no sigmoid: L_D = 1/2 E (r - 1)^2 + 1/2 E f^2."""
    return 0.5 * (real_logits - 1).square().mean() + 0.5 * fake_logits.square().mean()


def lsgan_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Mao et al. 2017: L_G = 1/2 E (f - 1)^2."""
    return 0.5 * (fake_logits - 1).square().mean()


# --- penalties ----------------------------------------------------------------


def input_gradient(discriminator: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """d D(x_i) / d x_i for every sample, shape (N, C*H*W), kept differentiable
    (create_graph) so that the penalty built from it trains the weights.

    Differentiating the sum of the outputs gives each sample's own gradient
    only because the discriminator treats samples independently; one with
    batch statistics (BatchNorm in training mode) would mix them, which is
    why these penalties are used without it.
    """
    images = images.detach().requires_grad_(True)
    outputs = discriminator(images)
    (gradient,) = torch.autograd.grad(outputs.sum(), images, create_graph=True)
    return gradient.flatten(1)


def r1_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Mescheder et al., "Which Training Methods for GANs do actually
    Converge?", 2018: 1/2 E ||grad_x D(x)||^2 over real images. The paper's
    gamma is the penalty weight (the 1/2 is in here). Fakes are not used."""
    return 0.5 * input_gradient(discriminator, real).square().sum(1).mean()


def gradient_penalty(discriminator: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Gulrajani et al. 2017: E (||grad D(x_hat)||_2 - 1)^2 with
    x_hat = eps x_real + (1 - eps) x_fake and eps ~ U[0, 1] drawn per sample.

    eps comes from the global torch RNG (of real's device), not the trainer's
    own generator, which a penalty is not given: runs are reproducible
    because the trainer seeds that RNG and its checkpoints save it.
    """
    eps = torch.rand(real.shape[0], *[1] * (real.dim() - 1), dtype=real.dtype, device=real.device)
    interpolates = eps * real + (1 - eps) * fake
    norms = input_gradient(discriminator, interpolates).norm(dim=1)
    return (norms - 1).square().mean()


@pygan.hookimpl
def register_losses(register):
    register(pygan.Loss(
        name="nonsaturating",
        discriminator_loss=nonsaturating_discriminator_loss,
        generator_loss=nonsaturating_generator_loss,
        description="non-saturating GAN loss, the paper's sum of expectations (Goodfellow et al. 2014)",
    ))
    register(pygan.Loss(
        name="hinge",
        discriminator_loss=hinge_discriminator_loss,
        generator_loss=critic_generator_loss,
        description="hinge loss (Lim & Ye 2017; Miyato et al. 2018)",
    ))
    register(pygan.Loss(
        name="wgan-gp",
        discriminator_loss=wasserstein_discriminator_loss,
        generator_loss=critic_generator_loss,
        description="Wasserstein critic loss, with the gp penalty by default (Gulrajani et al. 2017)",
        default_penalty="gp",
    ))
    register(pygan.Loss(
        name="lsgan",
        discriminator_loss=lsgan_discriminator_loss,
        generator_loss=lsgan_generator_loss,
        description="least squares on raw outputs, targets 0/1/1 (Mao et al. 2017)",
        decision_threshold=0.5,  # halfway between the fake (0) and real (1) targets
    ))
    register(pygan.Penalty(
        name="r1",
        compute=r1_penalty,
        description="gamma/2 * E||grad D(real)||^2; the weight is gamma (Mescheder et al. 2018)",
    ))
    register(pygan.Penalty(
        name="gp",
        compute=gradient_penalty,
        description="lambda * E(||grad D(interpolate)||-1)^2; the weight is lambda (Gulrajani et al. 2017)",
    ))
