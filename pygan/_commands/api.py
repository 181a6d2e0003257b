"""pygan from Python: ``pygan.train`` and ``pygan.load``, for notebooks and
scripts. They take the same options, with the same declarations, checks and
messages, as ``pygan train``; a mistake is raised as ``pygan.UsageError`` (or
``pygan.PyganError``) instead of ending the process.

Example::

    import pygan

    run = pygan.train(plugin="dcgan", steps=200, out="runs/notebook", lr_d=2e-4)
    images = run.sample(16, seed=0)          # (16, 1, 28, 28) in [0, 1]
    again = pygan.load("runs/notebook")      # the same run, from its newest checkpoint
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import torch
from torch import nn

from pygan._commands.train import run_folder
from pygan._config.registry import Plugins, get_plugins
from pygan._config.resolve import configure, resolve_classes, write_config
from pygan._contracts.messages import UsageError
from pygan._contracts.records import Architecture, ImageShape
from pygan._training import checkpoint, runner, sampling
from pygan._training.networks import NETWORKS, build_network


def train(plugin: Optional[str] = None, *, out: str | Path | None = None, resume: str | Path | None = None,
          **options: Any) -> "LoadedRun":
    """Train ``plugin`` (an architecture) with ``options`` named as in
    config.json (``lr_d=1e-4``, ``batch_size=32``; ``pygan train --help``
    lists them), into ``out`` (default ``runs/PLUGIN-TIMESTAMP``), or
    continue the run in ``resume``; returns the finished run, loaded."""
    plugins = get_plugins()
    resume = None if resume is None else Path(resume)
    config = configure(plugins, _given_options(plugins, "pygan.train", plugin, options), resume)
    folder = run_folder(plugins, config, None if out is None else Path(out), resume)
    run = runner.train(plugins, config, folder, resuming=resume is not None)
    return load(run.out_dir)


def _given_options(plugins: Plugins, caller: str, plugin: Optional[str], options: dict[str, Any]) -> dict[str, Any]:
    """Every declared option: those given, as config.json holds them, the rest None."""
    declared = plugins.options
    for name in options:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; pygan train --help lists the options"
            raise UsageError(f"{caller} got an unknown option {name!r}{hint}")
    given = {name: _as_json(name, value) for name, value in {**options, "plugin": plugin}.items()}
    return {name: given.get(name) for name in declared}


def write_run(out: str | Path, weights: Mapping[str, Mapping[str, torch.Tensor]], origin: str,
              plugin: str, **options: Any) -> Path:
    """A run folder made from weights trained elsewhere, for a plugin that
    imports another program's networks: ``weights`` holds the state dicts
    (pygan's keys) of the ``generator``, the ``discriminator`` and,
    optionally, the generator's moving average (``generator_ema``), for the
    networks ``plugin`` (an architecture) builds with ``options`` (named as
    in config.json). They are checked to fit; then config.json and a
    checkpoint of step 0 are written into ``out``, which must not hold a run,
    for ``pygan sample``, ``pygan eval`` and ``pygan.load``. The checkpoint
    has no optimizer state and names ``origin``: it cannot be resumed."""
    plugins = get_plugins()
    config = configure(plugins, _given_options(plugins, "pygan.write_run", plugin, options), None)
    architecture = plugins.architecture(config["plugin"])
    if architecture.image_shape is None:
        raise UsageError(f"architecture {architecture.name!r} takes its image shape from the data set; "
                         f"pygan.write_run needs one that declares image_shape")
    config["classes"] = resolve_classes(architecture, config, None)
    architecture = architecture.configured(config["classes"])
    image_shape = tuple(architecture.image_shape(config))
    unknown = sorted(set(weights) - {*NETWORKS, "generator_ema"})
    missing = sorted(set(NETWORKS) - set(weights))
    if unknown or missing:
        raise UsageError(f"pygan.write_run takes the weights of {', '.join(NETWORKS)} and optionally "
                         f"generator_ema; got {', '.join(sorted(weights))}")
    for name, state in weights.items():
        network = "generator" if name == "generator_ema" else name
        module = build_network(plugins, architecture, network, config, image_shape, "cpu", training=False)
        try:
            module.load_state_dict(state)
        except (RuntimeError, KeyError, TypeError) as error:
            raise UsageError(f"{origin}: its {name} weights do not fit a {architecture.name!r} {network} with "
                             f"these options ({str(error).partition(chr(10))[0]})") from None
    out = Path(out)
    runner.prepare_out_dir(out, resuming=False)
    write_config(out, config)
    checkpoint.save(checkpoint.path_for(out, 0), checkpoint.imported_state(
        architecture, image_shape, config, {name: dict(state) for name, state in weights.items()}, origin,
        sampling.fixed_latent(architecture, config["seed"], torch.device("cpu"))))
    return out


def _as_json(name: str, value: Any) -> Any:
    """An option's value as config.json will hold it (a tuple as a list), so
    that a resumed run compares like with like."""
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise UsageError(f"option {name}={value!r}: not a value config.json can hold (a number, text, "
                         f"true/false, or a list of those)") from None


def load(path: str | Path, device: str | torch.device = "cpu") -> "LoadedRun":
    """A trained run from its folder (its newest checkpoint) or a checkpoint
    file: its networks, rebuilt from the run's configuration, in eval mode."""
    state, architecture, networks = sampling.load_networks(get_plugins(), Path(path), device,
                                                          ("generator", "discriminator"))
    for module in networks.values():
        module.requires_grad_(False)
    return LoadedRun(Path(state["path"]), state["config"], architecture, tuple(state["image_shape"]), state["step"],
                     networks["generator"], networks.get("discriminator"), torch.device(device))


class LoadedRun:
    """A trained run: ``generator`` (the moving average of its weights when
    the run kept one) and ``discriminator`` (None for checkpoints of pygan
    0.1, which kept none), both in eval mode; ``config``, ``architecture``,
    ``image_shape``, ``step`` and ``path`` (the checkpoint read)."""

    def __init__(self, path: Path, config: dict[str, Any], architecture: Architecture, image_shape: ImageShape,
                 step: int, generator: nn.Module, discriminator: Optional[nn.Module], device: torch.device) -> None:
        self.path, self.config, self.architecture, self.image_shape = path, config, architecture, image_shape
        self.step, self.generator, self.discriminator, self.device = step, generator, discriminator, device

    def __repr__(self) -> str:
        return f"<pygan run {self.architecture.name} at step {self.step}: {self.path}>"

    def sample(self, n: int, seed: Optional[int] = None, classes: int | Iterable[int] | None = None,
               truncation: Optional[float] = None) -> torch.Tensor:
        """``n`` images (n, C, H, W) with values in [0, 1], on the CPU, from
        fresh latents (drawn from ``seed`` when given). For a conditional
        architecture ``classes`` is one class for all, or one per image;
        random classes when None. ``truncation``: the truncation trick's psi,
        for generators that take ``truncation_psi`` (StyleGAN2's)."""
        sampling.check_truncation(self.architecture, self.generator, truncation, "sample(truncation=...)")
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise UsageError(f"sample(n): n must be a positive whole number, not {n!r}")
        rng = torch.Generator(self.device)
        rng.manual_seed(seed) if seed is not None else rng.seed()
        labels = None
        if classes is not None:
            sampling.require_classes(self.architecture, "sample(classes=...)")
            labels = torch.as_tensor([classes] * n if isinstance(classes, int) else list(classes), dtype=torch.int64)
            if labels.shape != (n,) or not bool(((labels >= 0) & (labels < self.architecture.classes)).all()):
                raise UsageError(f"sample(classes=...): give one class, or {n} classes, from 0 to "
                                 f"{self.architecture.classes - 1}")
            labels = labels.to(self.device)
        latent = self.architecture.draw_latent(n, rng, self.device, labels)
        return sampling.generate(self.architecture, self.generator, latent, truncation).cpu()
