"""Weight clipping (``--clip-weights C``): every weight of the discriminator
clipped to [-C, C] after each of its updates, as the original WGAN
(Arjovsky et al. 2017) keeps its critic Lipschitz. Any architecture can use
it; the book's ``wgan`` sets it by default.

A recipe that makes several updates before the weights should be clipped
(the book's WGAN clips once after a real-only and a fake-only update) runs
them inside ``clipping_deferred(run)``: the clip then happens once, at the
end of the block.
"""

import contextlib

import torch

import pygan
from pygan import finite_number

_DEFERRED = "constraints.clipping_deferred"  # in run.state while updates are not clipped one by one


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("clip_weights", float, 0.0, "clip every discriminator weight and bias to [-C, C] after "
                          "each update (0: off)", check=finite_number(minimum=0), metavar="C"))


def clip(run, module) -> None:
    """Clip every parameter of ``module`` to [-C, C] (C = ``--clip-weights``; 0: nothing)."""
    limit = run.config["clip_weights"]
    if limit > 0:
        parameters = list(module.parameters())
        with torch.no_grad():
            torch._foreach_clamp_min_(parameters, -limit)
            torch._foreach_clamp_max_(parameters, limit)


@contextlib.contextmanager
def clipping_deferred(run):
    """The discriminator's updates inside the block are not clipped one by
    one; its weights are clipped once when the block ends. Python state read
    while the step runs (or is captured in a CUDA graph), so the same
    updates are deferred at every replay."""
    run.state[_DEFERRED] = True
    try:
        yield
    finally:
        del run.state[_DEFERRED]
    clip(run, run.discriminator)


@pygan.hookimpl
def after_update(run, network, module):
    if network == "discriminator" and not run.state.get(_DEFERRED):
        clip(run, module)
