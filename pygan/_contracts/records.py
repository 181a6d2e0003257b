"""pygan's public records: what plugins register (architectures, losses,
penalties, recipes, optimizers, options, data sets) and what passes through
a training step (``Latent``, ``Batch``, ``Judgement``). The run that
callbacks receive is in ``run.py``; what a recipe's step is given, in
``pygan/_training/step.py``.

Plugins create the records in their ``register_*`` hooks (see
``pygan/_contracts/hooks.py``); the core only ever talks to them through these
definitions.

Conventions every record shares:

- images are float tensors (N, C, H, W) with values in [0, 1];
- class labels are int64 tensors (N,) numbered from 0; a generator or
  discriminator that takes labels gets them one-hot, float (N, classes);
- everything that runs inside a training step is tensor code only: on CUDA
  the step is captured once in a CUDA graph and replayed, so a value read
  back to the host (``.item()``, ``if t > 0:``) stalls the GPU or fails the
  capture, and Python-side state advances once, at capture.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple, Optional, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

ImageShape = tuple[int, int, int]  # (channels, height, width)


def uniform_noise(n: int, latent_size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Latent vectors drawn uniformly from [-1, 1], as in the seed DCGAN."""
    return torch.rand(n, latent_size, generator=generator, device=device) * 2 - 1


def normal_noise(n: int, size: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """Standard normal vectors, as most GANs after DCGAN draw their latents."""
    return torch.randn(n, size, generator=generator, device=device)


class Latent(NamedTuple):
    """What a generator is given for N samples.

    ``z`` is the noise (N, latent_size). ``labels`` (int64 (N,)) are the
    classes asked for, for architectures with ``classes``; ``codes`` (float
    (N, codes)) the continuous codes, for architectures with ``codes``.
    """

    z: torch.Tensor
    labels: Optional[torch.Tensor] = None
    codes: Optional[torch.Tensor] = None


class Batch(NamedTuple):
    """Real samples: images, and their labels when the data set has them."""

    images: torch.Tensor
    labels: Optional[torch.Tensor] = None


@dataclass
class Judgement:
    """What a discriminator said about a batch of images.

    ``source``: the real-or-fake logits (N, 1) or (N,) (their sigmoid is the
    probability "real"). ``heads``: any further outputs by name, such as
    ``"classes"`` (class logits, N x classes) or code predictions; a
    discriminator returns either the source tensor alone or a dict holding
    ``"source"`` and its other heads.
    """

    source: torch.Tensor
    heads: dict[str, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def of(cls, output) -> "Judgement":
        if isinstance(output, torch.Tensor):
            return cls(output)
        if isinstance(output, Mapping) and "source" in output:
            return cls(output["source"], {name: value for name, value in output.items() if name != "source"})
        raise TypeError(f"a discriminator returns a tensor of logits or a dict with 'source'; "
                        f"got {type(output).__name__}")


@dataclass(frozen=True)
class Architecture:
    """A named generator and discriminator pair.

    ``build_generator(image_shape, config)`` returns a module called as
    ``generator(z)``, ``generator(z, one_hot_labels)`` when ``classes`` is
    set, and ``generator(z, one_hot_labels, codes)`` (or ``generator(z,
    codes)``) when ``codes`` is set, returning images.
    ``build_discriminator(image_shape, config)`` returns a module called as
    ``discriminator(images)``, or ``discriminator(images, one_hot_labels)``
    with ``discriminator_takes_labels``, returning source logits or a dict of
    heads (see ``Judgement``). ``config`` is the run's resolved configuration
    (read-only; the architecture's own options among it, and ``classes``,
    the class count of the run), so an option may change a
    network's shape: every command that rebuilds the networks (training,
    resuming, ``pygan sample``, ``pygan eval``, ``pygan.load``) passes the
    run's recorded configuration. A builder that takes only ``image_shape``
    (as in pygan 0.2) is called with that alone.

    ``defaults`` holds the architecture's own settings: any option that
    pygan or a plugin declares (``pygan train --help`` lists them), such as
    ``lr_d``, ``optimizer_g``, ``recipe`` or ``loss``; the command line
    overrides them, and a name no plugin declares is an error. Settings that
    follow the architecture's own options (a preset that sets the learning
    rate) come from a function instead: ``defaults(options)`` is given the
    user's options over the declared defaults, each checked, and returns the
    settings (``settings(options)`` gives them either way).

    ``auxiliary_loss(judgement, latent_or_batch)``, when set, returns named
    loss terms (0-d tensors) for the non-adversarial heads of a judged batch
    (class and code predictions); the built-in recipe adds them to both
    networks' losses and logs each. It is given the discriminator's
    ``Judgement`` and the ``Latent`` (for fakes) or ``Latent`` of the real
    batch's labels and drawn codes (for real images).
    """

    name: str
    build_generator: Callable[[ImageShape, Mapping[str, Any]], nn.Module]
    build_discriminator: Callable[[ImageShape, Mapping[str, Any]], nn.Module]
    latent_size: int
    defaults: Mapping[str, Any] | Callable[[Mapping[str, Any]], Mapping[str, Any]] = field(default_factory=dict)
    sample_noise: Callable[[int, int, torch.Generator, torch.device], torch.Tensor] = uniform_noise
    description: str = ""
    # Conditioning: the number of classes the generator is asked for (0: none;
    # otherwise training needs a data set with labels), the number of
    # continuous codes and how they are drawn, and whether the discriminator
    # sees labels. ``classes=None``: the count is the run's --classes, else
    # the number of classes in the training data's labels (0 when it has
    # none). A run resolves it once, records it in its configuration
    # (``config["classes"]``, which builders read) and uses the architecture
    # ``configured`` with it.
    classes: Optional[int] = 0
    codes: int = 0
    sample_codes: Callable[[int, int, torch.Generator, torch.device], torch.Tensor] = normal_noise
    discriminator_takes_labels: bool = False
    auxiliary_loss: Optional[Callable[[Judgement, Latent], dict[str, torch.Tensor]]] = None
    # The image shape the architecture makes under a configuration (from its
    # own options, such as a resolution), or None: then it takes the data
    # set's shape as it is. Data sets that can resize (``Dataset.open``) are
    # asked for this shape; any other must already have it.
    image_shape: Optional[Callable[[Mapping[str, Any]], ImageShape]] = None

    def build(self, network: str, image_shape: ImageShape, config: Mapping[str, Any]) -> nn.Module:
        """A freshly built ``network`` ("generator" or "discriminator") for
        images of ``image_shape`` under the run's ``config``."""
        builder = {"generator": self.build_generator, "discriminator": self.build_discriminator}[network]
        if builder_takes_config(builder):
            return builder(tuple(image_shape), MappingProxyType(dict(config)))
        return builder(tuple(image_shape))

    def settings(self, options: Mapping[str, Any]) -> Mapping[str, Any]:
        """The architecture's defaults under ``options`` (see ``defaults``)."""
        return self.defaults(MappingProxyType(dict(options))) if callable(self.defaults) else self.defaults

    def configured(self, classes: int) -> "Architecture":
        """This architecture with a run's class count (``config["classes"]``)."""
        return dataclasses.replace(self, classes=classes)

    @property
    def conditional(self) -> bool:
        if self.classes is None:
            raise TypeError(f"architecture {self.name!r} takes its class count from a run: use "
                            f"architecture.configured(config['classes']) first")
        return self.classes > 0

    def draw_latent(self, n: int, rng: torch.Generator, device: torch.device,
                    labels: Optional[torch.Tensor] = None) -> Latent:
        """Noise, then (if conditional) labels, uniformly random unless given,
        then codes, all from ``rng`` in that order."""
        z = self.sample_noise(n, self.latent_size, rng, device)
        if self.classes and labels is None:
            labels = torch.randint(0, self.classes, (n,), generator=rng, device=device)
        codes = self.sample_codes(n, self.codes, rng, device) if self.codes else None
        return Latent(z, labels if self.classes else None, codes)

    def one_hot(self, labels: torch.Tensor) -> torch.Tensor:
        return nn.functional.one_hot(labels, self.classes).float()

    def generator_inputs(self, latent: Latent) -> tuple[torch.Tensor, ...]:
        """The positional arguments of ``generator(...)`` for a latent."""
        inputs = [latent.z]
        if self.classes:
            inputs.append(self.one_hot(latent.labels))
        if self.codes:
            inputs.append(latent.codes)
        return tuple(inputs)

    def discriminator_inputs(self, images: torch.Tensor, labels: Optional[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """The positional arguments of ``discriminator(...)`` for images of these labels."""
        return (images, self.one_hot(labels)) if self.discriminator_takes_labels and self.classes else (images,)


def builder_takes_config(builder: Callable) -> bool:
    """Whether a network builder takes ``(image_shape, config)``, or only
    ``(image_shape)`` as pygan 0.2's did; anything else is refused."""
    try:
        parameters = list(inspect.signature(builder).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): assume pygan 1.0's
        return True
    positional = [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p for p in positional if p.default is p.empty]
    if any(p.kind is p.VAR_POSITIONAL for p in parameters) or len(positional) >= 2:
        if len(required) > 2:
            raise TypeError(f"network builder {builder!r} needs {len(required)} arguments; pygan gives it "
                            f"(image_shape, config)")
        return True
    if len(positional) == 1:
        return False
    raise TypeError(f"network builder {builder!r} takes no positional argument; pygan gives it (image_shape, config)")


@dataclass(frozen=True)
class Loss:
    """A named adversarial objective, computed from the discriminator's
    source logits.

    ``discriminator_loss(real_logits, fake_logits)`` is minimised by the
    discriminator; ``generator_loss(fake_logits)`` by the generator. Recipes
    report as accuracy how often an output above ``decision_threshold`` (0
    for logits) rightly says "real". An architecture's other heads add their
    own terms (``Architecture.auxiliary_loss``); a recipe sees it all.
    """

    name: str
    discriminator_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    generator_loss: Callable[[torch.Tensor], torch.Tensor]
    description: str = ""
    decision_threshold: float = 0.0
    # A penalty (by registered name) this loss is meant to be used with, as
    # WGAN-GP is with "gp"; ``--penalty`` overrides it.
    default_penalty: Optional[str] = None


@dataclass(frozen=True)
class Dataset:
    """A named source of real samples.

    ``load(data_dir)`` returns every sample as one float32 tensor (N, C, H, W)
    with values in [0, 1], or a ``Batch`` of those images and their labels
    (int64 (N,) from 0), which conditional architectures need. ``data_dir``
    is the ``--data-dir`` the user gave, or None. Problems are raised as
    ``pygan.PyganError`` with a message that names the file and what
    to do.

    ``load_labelled(data_dir)``, for data sets with class labels, returns a
    ``Batch`` (or an (images, labels) pair) to evaluate generators against:
    ``pygan eval`` trains its feature classifier on them and compares samples
    with these images; data sets without it cannot be evaluated.

    ``open(request)``, when set, is called instead of ``load`` with a
    ``DataRequest``: the image shape the architecture makes (to resize to)
    and the run's configuration. It returns what ``load`` does, or a
    ``pygan.Samples`` (images read by index), which pygan keeps on the
    device when it fits and otherwise streams (``--stream``).
    """

    name: str
    load: Callable[[Optional[Path]], Any]
    description: str = ""
    load_labelled: Optional[Callable[[Optional[Path]], tuple[torch.Tensor, torch.Tensor]]] = None
    open: Optional[Callable[["DataRequest"], Any]] = None


@dataclass(frozen=True)
class DataRequest:
    """What a run asks of a data set's ``open``: ``data_dir`` (``--data-dir``
    or None); ``image_shape``, the (channels, height, width) the
    architecture makes, or None when it takes the data's own; ``labels``,
    whether the run needs class labels (a conditional architecture);
    ``config``, the run's configuration (the data set plugin's own options)."""

    data_dir: Optional[Path]
    image_shape: Optional[ImageShape] = None
    labels: bool = False
    config: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Samples(Protocol):
    """Images a data set's ``open`` can return instead of a tensor: read by
    index, so that they need not all be in memory at once.

    ``read(indices)`` (an int64 numpy array) returns those images as a
    tensor (k, C, H, W): uint8 pixels 0-255 or floats in [0, 1]. ``labels``
    is an int64 tensor (N,) or None. It is pickled into the streaming
    worker processes, so it should hold paths, not open files.
    """

    image_shape: ImageShape
    labels: Optional[torch.Tensor]

    def __len__(self) -> int: ...

    def read(self, indices: np.ndarray) -> torch.Tensor: ...


@dataclass(frozen=True)
class Penalty:
    """A named regulariser of the discriminator, added to any loss.

    ``compute(critic, real, fake)`` returns a scalar; the built-in recipe adds
    it to the discriminator's loss times ``--penalty-weight``. ``critic`` maps
    images to source logits (the discriminator with the batch's labels bound,
    for architectures whose discriminator takes labels). Gradient penalties
    differentiate the critic's input gradient again, which pygan's fused
    operator supports (double backward).
    """

    name: str
    compute: Callable[[Callable[[torch.Tensor], torch.Tensor], torch.Tensor, torch.Tensor], torch.Tensor]
    description: str = ""


@dataclass(frozen=True)
class Recipe:
    """A named training step: what one step computes from the data.

    ``step(context)`` is given a ``pygan.StepContext`` (real batches,
    latents, the networks, ``update(loss)``) and returns the step's metrics
    as a dict of 0-d tensors, the same names every step. It must not read a
    value back to the host (see the module docstring).

    ``defaults`` are the recipe's own settings of declared options (an
    architecture's defaults and the command line override them).
    ``optimizer_settings(config, network, settings)``, when set, returns the
    settings a network's optimizer is built with (``lr`` and the
    optimizer's own options, as ``pygan.Optimizer`` gets them) from those
    the configuration gives: StyleGAN2's lazy regularisation scales them.
    ``check(config, architecture)``, run when a run is configured (before any
    data is read or step taken, and again on resume), returns what the recipe
    cannot honour in that configuration, or None.
    """

    name: str
    step: Callable[[Any], dict[str, torch.Tensor]]
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    check: Optional[Callable[[Mapping[str, Any], "Architecture"], Optional[str]]] = None
    optimizer_settings: Optional[Callable[[Mapping[str, Any], str, Mapping[str, Any]], Mapping[str, Any]]] = None


@dataclass(frozen=True)
class Optimizer:
    """A named optimizer, built for one network.

    ``build(parameters, settings)`` returns an object with the methods of
    ``pygan.DeviceOptimizer``: ``current_lr()``, ``zero_grad()``,
    ``gradients()``, ``step(skip)`` (skip is a bool tensor: the update is
    skipped on the device when true), ``state_dict()`` and
    ``load_state_dict()``. ``settings`` maps the option names of
    ``options`` (declared per network, without the ``_d``/``_g`` suffix) and
    ``lr`` to that network's values.
    """

    name: str
    build: Callable[[list[nn.Parameter], Mapping[str, Any]], Any]
    options: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Option:
    """A setting of ``pygan train``, declared once: its command-line flag,
    config.json key, default, check and resume rule all come from here.

    ``name`` is the config key (``lr_d``; the flag is ``--lr-d``). ``type``
    converts the command-line text (``bool`` makes a flag that takes no
    value; ``flag`` overrides the flag's spelling, as ``--no-cuda-graphs``
    for ``cuda_graphs``). ``check(value)`` returns an error message for a bad
    value, or None. ``resumable`` options may differ when a run is resumed;
    any other change would make the continuation a different experiment.
    ``per_network`` declares two options, ``NAME_d`` and ``NAME_g``, one for
    each network.

    ``shared=True``: other plugins may declare the same option (each with
    ``shared=True``, the same type, default, resume rule and flag), as two
    architectures share ``--resolution``. A run records it when any of its
    declarers takes part; a value must pass every declaration's check and
    ``choices``, so keep those to what the value can be for anyone, and
    refuse what your plugin cannot do where it uses the value.
    """

    name: str
    type: Callable[[str], Any]
    default: Any
    help: str
    check: Optional[Callable[[Any], Optional[str]]] = None
    resumable: bool = False
    per_network: bool = False
    choices: Optional[tuple[Any, ...]] = None
    metavar: Optional[str] = None
    flag: Optional[str] = None
    shared: bool = False


@dataclass(frozen=True)
class Command:
    """A subcommand of ``pygan`` a plugin adds: ``pygan NAME ...``.

    ``add_arguments(parser)`` declares its arguments on the
    ``argparse.ArgumentParser`` pygan makes for it (a mistake in them exits
    with status 2 and argparse's message); ``run(args)`` does the work with
    the parsed ``argparse.Namespace`` and returns an exit status or None
    (0). A ``pygan.UsageError`` it raises is printed without a traceback and
    exits with status 2, a ``pygan.PyganError`` with 1; any other exception
    is reported naming the plugin. ``description`` is its line in ``pygan
    --help`` and ``pygan plugins``, ``details`` what ``pygan NAME --help``
    says of it.
    """

    name: str
    run: Callable[[Any], Optional[int]]
    description: str
    add_arguments: Optional[Callable[[Any], None]] = None
    details: str = ""
