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
from typing import Any, Iterable, Optional

import torch
from torch import nn

from pygan._commands.train import run_folder
from pygan._config.registry import get_plugins
from pygan._config.resolve import configure
from pygan._contracts.messages import UsageError
from pygan._contracts.records import Architecture, ImageShape
from pygan._training import runner, sampling


def train(plugin: Optional[str] = None, *, out: str | Path | None = None, resume: str | Path | None = None,
          **options: Any) -> "LoadedRun":
    """Train ``plugin`` (an architecture) with ``options`` named as in
    config.json (``lr_d=1e-4``, ``batch_size=32``; ``pygan train --help``
    lists them), into ``out`` (default ``runs/PLUGIN-TIMESTAMP``), or
    continue the run in ``resume``; returns the finished run, loaded."""
    plugins = get_plugins()
    declared = plugins.options
    for name in options:
        if name not in declared:
            close = difflib.get_close_matches(name, declared, n=1)
            hint = f"; did you mean {close[0]}?" if close else "; pygan train --help lists the options"
            raise UsageError(f"pygan.train got an unknown option {name!r}{hint}")
    given = {name: _as_json(name, value) for name, value in {**options, "plugin": plugin}.items()}
    resume = None if resume is None else Path(resume)
    config = configure(plugins, {name: given.get(name) for name in declared}, resume)
    folder = run_folder(plugins, config, None if out is None else Path(out), resume)
    run = runner.train(plugins, config, folder, resuming=resume is not None)
    return load(run.out_dir)


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

    def sample(self, n: int, seed: Optional[int] = None, classes: int | Iterable[int] | None = None) -> torch.Tensor:
        """``n`` images (n, C, H, W) with values in [0, 1], on the CPU, from
        fresh latents (drawn from ``seed`` when given). For a conditional
        architecture ``classes`` is one class for all, or one per image;
        random classes when None."""
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
        return sampling.generate(self.architecture, self.generator, latent).cpu()
