"""Checkpoint files: everything needed to continue a run exactly.

A checkpoint is a ``torch.save`` dict marked with a format name and version,
written atomically, and read with ``weights_only=True`` so that opening a
checkpoint someone sent you runs no code of theirs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pygan.errors import PyganError
from pygan.files import atomic_writer

FORMAT = "pygan-checkpoint"
FORMAT_VERSION = 2
# The oldest format a run can be resumed from: format 1 kept torch.optim's
# optimizer and schedule state. Older checkpoints still give their weights to
# `pygan sample` and `pygan eval`.
RESUMABLE_FORMAT_VERSION = 2
DIRECTORY = "checkpoints"


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
    if state.get("format_version", 0) > FORMAT_VERSION:
        raise PyganError(f"{path}: written by pygan {state.get('pygan_version', '?')} in checkpoint format "
                         f"{state['format_version']}; this pygan reads format {FORMAT_VERSION} and older: upgrade pygan")
    state["path"] = path
    return state


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
    torch.set_rng_state(states["torch"])
    kind, keys, position, has_gauss, cached_gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, cached_gauss))
    version, internal, gauss_next = states["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
