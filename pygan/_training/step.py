"""What a recipe's step is given: ``StepContext``.

A recipe (``pygan.Recipe``) says what one training step computes;
the context gives it the means, and keeps the engine's rules: real batches
and latents drawn from the run's random generator, the networks called in
the right wrapper and mode, and updates made through the engine (loss
scaling, non-finite handling, weight constraints). A recipe written with
these methods runs unchanged on the CPU, on CUDA inside a CUDA graph, and
data-parallel.

A recipe's outline::

    def step(context):
        with context.training("discriminator"):
            real = context.real()
            with context.autocast():
                fake = context.generate(context.latent(), inference=True)
                ...
                loss = ...
            context.update(loss)
        with context.training("generator"):
            ...
        return {"d_loss": ..., "g_loss": ...}
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Optional

import torch
from torch import nn

from pygan._contracts.records import Batch, Judgement, Latent, Penalty
from pygan._contracts.run import Run
from pygan._training.data import InMemoryData
from pygan._training.engine import Engine, frozen

NETWORKS = ("discriminator", "generator")


class StepContext:
    """The means of one training step (see the module docstring).

    Attributes: ``run`` (the ``pygan.Run``), ``architecture``,
    ``loss`` (the ``--loss``), ``penalty`` (the ``--penalty``, or None),
    ``config`` and ``batch_size``.
    """

    def __init__(self, run: Run, engine: Engine, data: InMemoryData, rng: torch.Generator,
                 penalty: Optional[Penalty], wrapped: dict[str, nn.Module], callbacks: Any) -> None:
        self.run, self.engine, self.data, self.rng = run, engine, data, rng
        self.callbacks = callbacks  # the plugins' hooks called inside the step, on every rank
        self.architecture, self.loss, self.penalty = run.architecture, run.loss, penalty
        self.config = run.config
        self.batch_size: int = run.config["batch_size"]
        self.modules = {"discriminator": run.discriminator, "generator": run.generator}
        self.wrapped = wrapped  # what computes a network's own loss: data-parallel wrappers
        # What runs a frozen network: itself, or compiled with --compile.
        self.runnable = {network: engine.runnable(module, network) for network, module in self.modules.items()}
        self.trained: str | None = None
        # Whether the trained network's wrapper computed part of the loss
        # since the last update: a loss made without it (a penalty on its
        # own, through ``critic``) has its gradients averaged by hand.
        self.through_wrapper = False

    # --- data -------------------------------------------------------------------

    def real(self, n: int | None = None) -> Batch:
        """``n`` (default: the batch size) real samples, drawn at random with replacement."""
        return self.data.draw(n or self.batch_size, self.rng)

    def latent(self, n: int | None = None, labels: torch.Tensor | None = None) -> Latent:
        """A latent for ``n`` (default: the batch size) samples: fresh noise,
        the given ``labels`` or random ones (conditional architectures), and
        fresh codes (architectures with codes)."""
        return self.architecture.draw_latent(n or self.batch_size, self.rng, self.run.device, labels)

    # --- networks ---------------------------------------------------------------

    @contextlib.contextmanager
    def training(self, network: str) -> Iterator[None]:
        """A block computing the loss of ``network`` ("discriminator" or
        "generator"): the other network is frozen (its parameters get no
        gradient), and ``update`` updates this one."""
        if network not in NETWORKS:
            raise ValueError(f"training() takes one of {NETWORKS}, not {network!r}")
        other = self.modules[NETWORKS[1 - NETWORKS.index(network)]]
        self.trained = network
        try:
            with frozen(other):
                yield
        finally:
            self.trained = None

    def _module(self, network: str) -> nn.Module:
        # The network being trained runs in its data-parallel wrapper, so
        # that its gradients are averaged over ranks; the other one, frozen,
        # runs as it is (both compiled with --compile).
        if network != self.trained:
            return self.runnable[network]
        self.through_wrapper = True
        return self.wrapped[network]

    def generate(self, latent: Latent, inference: bool = False, **options):
        """The generator's images for ``latent``. ``inference=True`` runs it
        in inference mode (BatchNorm with its moving statistics) without
        gradients, as Keras' ``predict`` makes the seed's fakes for the
        discriminator; otherwise in training mode. ``options`` are passed to
        the generator as keyword arguments (what the architecture's
        generator takes: StyleGAN2's style mixing)."""
        generator = self._module("generator")
        inputs = self.architecture.generator_inputs(latent)
        if inference:
            self.run.generator.eval()
            with torch.no_grad():
                return generator(*inputs, **options)
        self.run.generator.train()
        return generator(*inputs, **options)

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> Judgement:
        """The discriminator's judgement of ``images`` (of class ``labels``,
        for a discriminator that takes labels)."""
        return Judgement.of(self._module("discriminator")(*self.architecture.discriminator_inputs(images, labels)))

    def judged_real(self, logits: torch.Tensor) -> None:
        """Report the discriminator's source logits for a batch of real
        training images (a slice of a batch judged with fakes, say) to the
        plugins that watch them (the ``judged_real`` hook: ``--augment ada``
        adapts its strength to them). Call it once for each discriminator
        batch of real images, before that batch's update; it reads nothing
        back."""
        self.callbacks.judged_real(run=self.run, logits=logits.detach())

    def critic(self, labels: torch.Tensor | None = None) -> Callable[[torch.Tensor], torch.Tensor]:
        """images -> source logits, with ``labels`` bound: what penalties
        differentiate. The module itself, not its data-parallel wrapper, which
        cannot differentiate twice; a loss made by it alone (StyleGAN2's lazy
        R1) has its gradients averaged over the ranks by ``update``."""
        discriminator, architecture = self.run.discriminator, self.architecture
        return lambda images: Judgement.of(discriminator(*architecture.discriminator_inputs(images, labels))).source

    # --- across steps -----------------------------------------------------------

    @property
    def index(self) -> int:
        """The steps trained before this one (0 for a run's first), as a
        number on the host. On CUDA a step captured in a graph is replayed
        with the value it had at capture: a recipe that computes different
        things on different steps (StyleGAN2's lazy regularisation) runs
        eagerly (``Recipe(defaults={"cuda_graphs": False})``)."""
        return self.engine.step_count

    def persistent(self, name: str, initial: Callable[[], torch.Tensor]) -> torch.Tensor:
        """A tensor the recipe keeps from step to step (a running mean),
        made by ``initial()`` on the run's first step, saved in checkpoints
        and restored on resume; change it in place."""
        return self.engine.persistent(name, initial)

    # --- updates ----------------------------------------------------------------

    def autocast(self):
        """Mixed precision (``--precision``) for the networks' forward passes and losses."""
        return self.engine.autocast()

    def current_lr(self) -> torch.Tensor:
        """The learning rate the next update of the trained network will use."""
        return self.engine.current_lr(self._trained())

    def update(self, loss: torch.Tensor) -> torch.Tensor:
        """Update the network being trained from ``loss`` (skipped on the
        device if it is not finite); returns that bool tensor."""
        trained, through_wrapper, self.through_wrapper = self._trained(), self.through_wrapper, False
        return self.engine.update(trained, loss, average_gradients=not through_wrapper)

    def _trained(self) -> str:
        if self.trained is None:
            raise RuntimeError("update() and current_lr() belong inside a 'with context.training(network):' block")
        return self.trained
