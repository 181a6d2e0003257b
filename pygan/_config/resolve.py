"""A run's configuration: every declared option's default, then the
architecture's own defaults, then the user's options, each checked by its
declaration; saved as the run folder's config.json and merged with the
options given to a resumed run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pygan._config.options import check_value, flag
from pygan._config.registry import Plugins
from pygan._contracts.messages import PyganError, UsageError
from pygan._files.atomic import write_atomically

CONFIG_FILE = "config.json"
# Written beside the settings, for the record; not settings themselves.
PROVENANCE = ("pygan_version", "torch_version")


def defaults(plugins: Plugins) -> dict[str, Any]:
    return {name: option.default for name, option in plugins.options.items()}


def check_architecture_defaults(plugins: Plugins, architecture_name: str) -> None:
    """An architecture's defaults may only name declared options."""
    architecture = plugins.architecture(architecture_name)
    unknown = sorted(set(architecture.defaults) - set(plugins.options))
    if unknown:
        raise PyganError(f"architecture {architecture.name!r} (plugin "
                         f"{plugins.owner('architecture', architecture.name)!r}) sets defaults for "
                         f"{', '.join(map(repr, unknown))}, which no installed plugin declares as an option; "
                         f"fix the plugin, or install the plugin that declares them")


def resolve_config(plugins: Plugins, options: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the architecture's, then the user's (None = not given);
    every value is checked, and every name against what plugins registered."""
    if not options.get("plugin"):
        raise UsageError("choose an architecture with --plugin (see 'pygan plugins'), or --resume a run")
    architecture = plugins.architecture(options["plugin"])
    check_architecture_defaults(plugins, architecture.name)
    given = {key: value for key, value in options.items() if value is not None}
    config = {**defaults(plugins), **architecture.defaults, **given, "plugin": architecture.name}
    if "penalty" not in given and "penalty" not in architecture.defaults and config["loss"]:
        config["penalty"] = plugins.loss(config["loss"]).default_penalty
    check_config(plugins, config)
    return config


def check_config(plugins: Plugins, config: dict[str, Any]) -> None:
    """Every value against its option's declaration, and every name against
    the registered records."""
    for key, option in plugins.options.items():
        check_value(option, config.get(key))
    for key in ("loss", "dataset"):
        if not config[key]:
            raise UsageError(f"architecture {config['plugin']!r} names no default {key}; choose one with --{key}")
    plugins.loss(config["loss"])
    plugins.dataset(config["dataset"])
    plugins.recipe(config["recipe"])
    for key in ("optimizer_d", "optimizer_g"):
        plugins.optimizer(config[key])
    if config["penalty"] not in (None, "none"):
        plugins.penalty(config["penalty"])


def merge_resumed_config(plugins: Plugins, saved: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """The saved configuration with the allowed changes; a contradiction is refused."""
    declared = plugins.options
    for key, value in options.items():
        if value is None or value == saved.get(key):
            continue
        if key in declared and not declared[key].resumable:
            raise UsageError(f"{flag(declared[key])} {value} contradicts the resumed run's {saved.get(key)}; "
                             f"drop {flag(declared[key])} to continue the run as it was started")
    # Settings added since the run was saved take their defaults.
    config = {**defaults(plugins), **saved, **{key: value for key, value in options.items() if value is not None}}
    check_config(plugins, config)
    return config


def write_config(out_dir: Path, config: dict[str, Any]) -> None:
    from pygan import __version__

    record = {**config, "pygan_version": __version__, "torch_version": torch.__version__}
    write_atomically(out_dir / CONFIG_FILE, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())


def read_config(run_dir: Path) -> dict[str, Any]:
    path = Path(run_dir) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"--resume {run_dir}: no run there ({path} is missing)") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path}: not a readable run configuration ({error}); "
                         f"start a new run with --out elsewhere") from None
    if not isinstance(config, dict) or not isinstance(config.get("plugin"), str):
        raise UsageError(f"{path}: not a pygan run configuration (a JSON object naming its 'plugin'); "
                         f"start a new run with --out elsewhere")
    return {key: value for key, value in config.items() if key not in PROVENANCE}
