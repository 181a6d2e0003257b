"""``--compile``: the networks of the training step run through
``torch.compile``, whatever the architecture.

A network compiles into one graph (``fullgraph=True``) where it can; pygan's
operators are custom ops with fake implementations, so they stay single
nodes inside it. A network that cannot (Python that dynamo does not trace)
falls back, with a notice naming why, to dynamo's graphs with breaks.
Nothing is compiled until the first step calls the network; a resumed run
compiles again (compiled code is not saved).

Only the step's forward and backward passes are compiled: samples,
evaluations and penalties run the networks eagerly (penalties differentiate
twice, which compiled graphs do not)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pygan._contracts.messages import notice


class CompiledNetwork:
    """``module`` called through ``torch.compile``; ``name`` says which
    network a fallback notice is about."""

    def __init__(self, module: nn.Module, name: str) -> None:
        self.module, self.name = module, name
        self.whole = True
        self._compiled = torch.compile(module, fullgraph=True)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._compiled(*args, **kwargs)
        except torch._dynamo.exc.TorchDynamoException as why:
            if not self.whole:
                raise
            # Dynamo refuses while tracing, before any of the network has
            # run: calling it again computes the same thing once.
            reason = str(why).strip().partition("\n")[0]
            notice(f"--compile: the {self.name} does not compile into one graph ({reason}); it runs as "
                   f"compiled parts with Python between them")
            self.whole = False
            self._compiled = torch.compile(self.module)
            return self._compiled(*args, **kwargs)
