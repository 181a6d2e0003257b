"""The fake (meta) implementation of the fused ``pygan::rmsprop_step_`` op,
shared by every device's kernels, so that opcheck and torch.compile can
trace it. It mutates its arguments in place and returns nothing; it has no
autograd formula, as optimizers run outside autograd."""

from __future__ import annotations

import torch


@torch.library.register_fake("pygan::rmsprop_step_")
def _(params, grads, square_avgs, updates, skip, lr, decay, alpha, eps):
    return None
