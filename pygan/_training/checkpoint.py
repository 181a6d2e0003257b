"""Checkpoint files: everything needed to continue a run exactly, and the
one place their layout is written and read.

A checkpoint is a ``torch.save`` dict marked with a format name and version
(``format``, ``format_version``, and the ``pygan_version`` that wrote it),
written atomically, and read with ``weights_only=True`` so that opening a
checkpoint someone sent you runs no code of theirs. Format 3 holds:

======================  ======================================================
``architecture``        the architecture's registered name
``image_shape``         [channels, height, width]
``config``              the run's configuration (as config.json)
``step``                the steps trained
``networks``            state dicts: ``generator``, ``discriminator`` and, with
                        ``--ema``, ``generator_ema``
``engine``              per network: ``optimizers`` and loss ``scalers``;
                        ``skipped_updates``; ``recipe_state``, the tensors
                        the recipe keeps (``StepContext.persistent``;
                        absent before pygan 1.0)
``rng``                 the run's random generator state, one per process
``global_rng``          torch's, numpy's and Python's global random states
                        (and CUDA's, where there is CUDA)
``fixed_latent``        the sample grids' latent: ``z`` and, when used,
                        ``labels`` and ``codes``
``data``                where the real samples come from: ``kind``
                        ("memory" or "stream") and, for a stream, how many
                        samples were ``drawn``, its ``batch`` and ``seed``
                        (absent in checkpoints older than streaming:
                        "memory")
``imported_from``       only in a checkpoint of weights trained elsewhere
                        (``pygan.write_run``): where they came from; its
                        ``engine`` is None and ``rng`` empty, so it cannot be
                        resumed
======================  ======================================================

Formats 1 and 2 kept the networks at the top level (``generator``,
``generator_ema``); ``pygan sample`` and ``pygan eval`` still read them.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pygan._contracts.messages import PyganError, UsageError, notice
from pygan._contracts.records import Architecture, ImageShape, Latent
from pygan._contracts.run import Run
from pygan._files.atomic import atomic_writer

FORMAT = "pygan-checkpoint"
FORMAT_VERSION = 3
# The oldest format a run can be resumed from: format 1 kept torch.optim's
# optimizer and schedule state, format 2 one RMSprop per network outside any
# engine state. Older checkpoints still give their weights to `pygan sample`
# and `pygan eval`.
RESUMABLE_FORMAT_VERSION = 3
DIRECTORY = "checkpoints"
# What every checkpoint of a format holds; `load` refuses one without them.
REQUIRED_KEYS = {"architecture", "image_shape", "config", "step", "networks", "engine", "rng", "global_rng",
                 "fixed_latent"}
OLD_REQUIRED_KEYS = {"architecture", "image_shape", "config", "step", "generator"}


def path_for(run_dir: Path, step: int) -> Path:
    return Path(run_dir) / DIRECTORY / f"{step:08d}.pt"


def saved_in(run_dir: Path) -> list[Path]:
    """The run's checkpoints, oldest first (names sort by step)."""
    return sorted((Path(run_dir) / DIRECTORY).glob("[0-9]" * 8 + ".pt"))


def save(path: Path, state: dict[str, Any]) -> None:
    from pygan import __version__

    with atomic_writer(path) as stream:
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "pygan_version": __version__, **state},
                   stream)


def load(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and check a checkpoint; a run folder means its newest checkpoint."""
    path = Path(path)
    if path.is_dir():
        found = saved_in(path)
        if not found:
            raise PyganError(f"{path}: no checkpoints in {path / DIRECTORY}")
        path = found[-1]
    if not path.is_file():
        raise PyganError(f"{path}: no such checkpoint file")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:
        first_line = str(error).partition("\n")[0]
        raise PyganError(f"{path}: cannot be read as a pygan checkpoint, it is truncated, corrupt or "
                         f"not a checkpoint ({type(error).__name__}: {first_line})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise PyganError(f"{path}: not a pygan checkpoint (no '{FORMAT}' marker)")
    version = state.get("format_version", 0)
    if type(version) is not int:
        raise UsageError(f"{path}: a pygan checkpoint whose format_version is {version!r}, not a format number: "
                         f"it has been altered; use another checkpoint")
    if version > FORMAT_VERSION:
        raise PyganError(f"{path}: written by pygan {state.get('pygan_version', '?')} in checkpoint format "
                         f"{version}; this pygan reads format {FORMAT_VERSION} and older: upgrade pygan")
    missing = sorted((REQUIRED_KEYS if version >= 3 else OLD_REQUIRED_KEYS) - set(state))
    if missing:
        raise UsageError(f"{path}: a pygan checkpoint without {', '.join(missing)}: it was not written by pygan "
                         f"or has been altered; use another checkpoint")
    for key, problem in _field_problems(state).items():
        raise UsageError(f"{path}: a pygan checkpoint whose {key} is {state[key]!r}, {problem}: it has been "
                         f"altered; use another checkpoint")
    state["path"] = path
    return state


# The largest image side and pixel count a checkpoint may claim: beyond them
# building its generator would take whatever memory the claim asks for.
MAX_IMAGE_SIDE = 1 << 14
MAX_IMAGE_VALUES = 1 << 26


def _field_problems(state: dict[str, Any]) -> dict[str, str]:
    """What is wrong with the fields every format has, by field."""
    problems = {}
    shape = state["image_shape"]
    if not (isinstance(shape, (list, tuple)) and len(shape) == 3
            and all(type(side) is int and 1 <= side <= MAX_IMAGE_SIDE for side in shape)
            and shape[0] * shape[1] * shape[2] <= MAX_IMAGE_VALUES):
        problems["image_shape"] = (f"not [channels, height, width] of at most {MAX_IMAGE_VALUES:,} values in "
                                   f"all")
    if type(state["step"]) is not int or state["step"] < 0:
        problems["step"] = "not a step count"
    if not isinstance(state["architecture"], str):
        problems["architecture"] = "not an architecture's name"
    if not isinstance(state["config"], dict):
        problems["config"] = "not a configuration"
    return problems


def load_newest_good(run_dir: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The newest checkpoint of a run that can be read; a damaged one is
    named and passed over for the one before it."""
    damaged = []
    for path in reversed(saved_in(run_dir)):
        try:
            state = load(path, map_location)
        except PyganError as error:
            damaged.append(str(error))
            continue
        for problem in damaged:
            notice(f"{problem}; resuming from the previous checkpoint, {path.name}, instead")
        return state
    raise PyganError(f"{run_dir}: no readable checkpoint: " + "; ".join(damaged))


def training_state(run: Run, engine_state: dict[str, Any], rng_states: list[torch.Tensor],
                   data_state: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's checkpoint contents (see the module docstring)."""
    networks = {"generator": run.generator.state_dict(), "discriminator": run.discriminator.state_dict()}
    if run.ema_generator is not None:
        networks["generator_ema"] = run.ema_generator.state_dict()
    return {
        "architecture": run.architecture.name,
        "image_shape": list(run.image_shape),
        "config": run.config,
        "step": engine_state["step"],
        "networks": networks,
        "engine": {key: value for key, value in engine_state.items() if key != "step"},
        "rng": rng_states,
        "global_rng": capture_rng_states(),
        "fixed_latent": {key: value.cpu() for key, value in run.fixed_latent._asdict().items() if value is not None},
        "data": data_state or {"kind": "memory"},
    }


def imported_state(architecture: Architecture, image_shape: ImageShape, config: dict[str, Any],
                   networks: dict[str, dict[str, torch.Tensor]], origin: str, latent: Latent) -> dict[str, Any]:
    """The contents of a checkpoint of weights trained elsewhere: the
    networks, no training state (see the module docstring)."""
    return {
        "architecture": architecture.name,
        "image_shape": list(image_shape),
        "config": config,
        "step": 0,
        "networks": networks,
        "engine": None,
        "rng": [],
        "global_rng": capture_rng_states(),
        "fixed_latent": {key: value.cpu() for key, value in latent._asdict().items() if value is not None},
        "imported_from": origin,
    }


def data_state(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's data source state (older checkpoints: in memory)."""
    return state.get("data") or {"kind": "memory"}


def check_resumable(state: dict[str, Any], architecture: str) -> None:
    if state["architecture"] != architecture:
        raise UsageError(f"{state['path']}: checkpoint of architecture {state['architecture']!r}, "
                         f"not {architecture!r}")
    if "imported_from" in state:
        raise UsageError(f"{state['path']} holds weights imported from {state['imported_from']}, without the "
                         f"optimizers' state a run needs to continue: it cannot be resumed; start a new run")
    if state["format_version"] < RESUMABLE_FORMAT_VERSION:
        raise UsageError(f"{state['path']} was written by pygan {state.get('pygan_version', '?')} in checkpoint "
                         f"format {state['format_version']}, which this pygan cannot resume training from "
                         f"(`pygan sample` and `pygan eval` still read it); start a new run")


def restore_run(state: dict[str, Any], run: Run) -> dict[str, Any]:
    """Load a checkpoint's networks and global random states into ``run``;
    returns the engine's state and the per-process random states for the
    caller to load."""
    run.generator.load_state_dict(state["networks"]["generator"])
    run.discriminator.load_state_dict(state["networks"]["discriminator"])
    if run.ema_generator is not None:
        run.ema_generator.load_state_dict(state["networks"]["generator_ema"])
    restore_rng_states(state["global_rng"])
    run.fixed_latent = Latent(**{key: value.to(run.device) for key, value in state["fixed_latent"].items()})
    return {**state["engine"], "step": state["step"]}


def generator_weights(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The weights to draw samples with, from a checkpoint of any format: the
    moving average where the run kept one, the better generator."""
    networks = state["networks"] if state["format_version"] >= 3 else state
    return networks.get("generator_ema", networks["generator"])


def discriminator_weights(state: dict[str, Any]) -> dict[str, torch.Tensor] | None:
    """The discriminator's weights, from a checkpoint of any format (None in
    formats 1 and 2 where they were kept at the top level, else)."""
    networks = state["networks"] if state["format_version"] >= 3 else state
    return networks.get("discriminator")


def prune(run_dir: Path, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints (keep 0 keeps all)."""
    if keep > 0:
        for old in saved_in(run_dir)[:-keep]:
            old.unlink()


def capture_rng_states() -> dict[str, Any]:
    """The global random states a plugin might draw from, in weights-only form."""
    kind, keys, position, has_gauss, cached_gauss = np.random.get_state()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, cached_gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    # .cpu(): a checkpoint loaded onto a GPU (map_location) brings these
    # states there too, and torch takes generator states as CPU byte tensors.
    torch.set_rng_state(states["torch"].cpu())
    kind, keys, position, has_gauss, cached_gauss = states["numpy"]
    np.random.set_state((kind, keys.cpu().numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([state.cpu() for state in states["cuda"]])
