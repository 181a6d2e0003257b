"""Weight clipping (``--clip-weights C``): every weight of the discriminator
clipped to [-C, C] after each of its updates, as the original WGAN
(Arjovsky et al. 2017) keeps its critic Lipschitz. Any architecture can use
it; the book's ``wgan`` sets it by default."""

import torch

import pygan
from pygan.options import number


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("clip_weights", float, 0.0, "clip every discriminator weight and bias to [-C, C] after "
                          "each update (0: off)", check=number(minimum=0), metavar="C"))


@pygan.hookimpl
def after_update(run, network, module):
    clip = run.config["clip_weights"]
    if network == "discriminator" and clip > 0:
        parameters = list(module.parameters())
        with torch.no_grad():
            torch._foreach_clamp_min_(parameters, -clip)
            torch._foreach_clamp_max_(parameters, clip)
