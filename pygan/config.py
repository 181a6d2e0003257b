"""A run's configuration: pygan's defaults, an architecture's and a loss's
own, and the user's options, checked; saved as the run folder's config.json
and merged with the options given to a resumed run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pygan.errors import PyganError, UsageError
from pygan.files import write_bytes_atomically
from pygan.plugins import Plugins

# What a run is configured by; architectures override these with their own
# ``defaults`` and the command line overrides both.
DEFAULTS: dict[str, Any] = {
    "loss": None,
    "penalty": None,
    "penalty_weight": 10.0,
    "d_steps": 1,
    "dataset": None,
    "data_dir": None,
    "steps": 10_000,
    "batch_size": 64,
    "lr_d": 2e-4,
    "lr_g": 2e-4,
    "decay_d": 0.0,
    "decay_g": 0.0,
    "seed": 0,
    "device": "auto",
    "sample_every": 500,
    "checkpoint_every": 1000,
    "keep_checkpoints": 3,
    "skip_nonfinite": False,
    "ema": None,
    "tensorboard": False,
    "precision": "fp32",
    "eval_every": 0,
    "eval_n": 1000,
    "cuda_graphs": True,
    "sync_every": None,  # None: the device's default (see pygan.trainer)
}
# What --precision runs the networks in, under autocast; float32 weights and
# optimizer state either way.
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# Settings that may differ when a run is resumed; any other would make the
# continuation a different experiment.
RESUMABLE_CHANGES = {"steps", "device", "data_dir", "sample_every", "checkpoint_every", "keep_checkpoints",
                     "skip_nonfinite", "tensorboard", "eval_every", "eval_n",
                     "cuda_graphs", "sync_every"}


def resolve_config(plugins: Plugins, options: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the architecture's and its loss's, then the user's (None
    = not given); every name is checked against what plugins registered."""
    architecture = plugins.architecture(options["plugin"])
    config = {**DEFAULTS, **architecture.defaults, "plugin": architecture.name}
    config.update({key: value for key, value in options.items() if value is not None})
    check_config(config)
    if options.get("penalty") is None:
        config["penalty"] = plugins.loss(config["loss"]).default_penalty
    check_names(plugins, config)
    return config


def check_names(plugins: Plugins, config: dict[str, Any]) -> None:
    plugins.loss(config["loss"])
    plugins.dataset(config["dataset"])
    if config["penalty"] not in (None, "none"):
        plugins.penalty(config["penalty"])


def check_config(config: dict[str, Any]) -> None:
    for key in ("steps", "batch_size", "d_steps"):
        if not isinstance(config[key], int) or config[key] <= 0:
            raise UsageError(f"--{key.replace('_', '-')} must be a positive whole number, not {config[key]!r}")
    if config["sync_every"] is not None and (not isinstance(config["sync_every"], int) or config["sync_every"] <= 0):
        raise UsageError(f"--sync-every must be a positive whole number, not {config['sync_every']!r}")
    for key in ("sample_every", "checkpoint_every", "keep_checkpoints", "eval_every"):
        if config[key] < 0:
            raise UsageError(f"--{key.replace('_', '-')} must be 0 (never) or positive, not {config[key]!r}")
    for key in ("lr_d", "lr_g"):
        if not config[key] > 0:
            raise UsageError(f"--{key.replace('_', '-')} must be positive, not {config[key]!r}")
    for key in ("decay_d", "decay_g", "penalty_weight"):
        if not config[key] >= 0:
            raise UsageError(f"--{key.replace('_', '-')} must be 0 or positive, not {config[key]!r}")
    if config["precision"] not in PRECISIONS:
        raise UsageError(f"--precision must be one of {', '.join(PRECISIONS)}, not {config['precision']!r}")
    if config["ema"] is not None and not 0 < config["ema"] < 1:
        raise UsageError(f"--ema must lie between 0 and 1 (e.g. 0.999), not {config['ema']!r}")
    for key in ("loss", "dataset"):
        if not config[key]:
            raise UsageError(f"architecture {config['plugin']!r} names no default {key}; choose one with --{key}")


def merge_resumed_config(saved: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The saved configuration with the allowed changes; a contradiction is refused."""
    for key, value in options.items():
        if value is not None and key not in RESUMABLE_CHANGES and value != saved.get(key):
            flag = "--plugin" if key == "plugin" else f"--{key.replace('_', '-')}"
            raise UsageError(f"{flag} {value} contradicts the resumed run's {saved.get(key)}; "
                             f"drop {flag} to continue the run as it was started")
    # Settings added since the run was saved take their defaults.
    config = {**DEFAULTS, **saved, **{key: value for key, value in options.items() if value is not None}}
    check_config(config)
    return config


def write_config(out_dir: Path, config: dict[str, Any]) -> None:
    from pygan import __version__

    record = {**config, "pygan_version": __version__, "torch_version": torch.__version__}
    write_bytes_atomically(out_dir / "config.json", (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())


def read_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--resume {run_dir}: no run there ({path} is missing)") from None
    except json.JSONDecodeError as error:
        raise PyganError(f"{path}: not valid JSON ({error})") from None
    return {key: value for key, value in config.items() if key not in ("pygan_version", "torch_version")}
