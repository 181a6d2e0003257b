"""A run's configuration, resolved in this one module: every option's
declared default, then the recipe's defaults, then the architecture's, then
the user's options, each checked by its declaration; the recipe's own check;
the run's class count; which plugins' options a run records; saved as the
run folder's config.json and merged with the options given to a resumed run.

An option's value is read where it is used, as ``config["name"]`` (or
``pygan.network_option(config, "lr", network)`` for a per-network one).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch

from pygan._config.options import check_value, flag
from pygan._config.registry import CORE_PLUGIN, DISABLE_ENV, RUN_HOOKS, Plugins, external_plugins_disabled
from pygan._contracts.messages import PyganError, UsageError, notice
from pygan._contracts.records import Architecture
from pygan._files.atomic import write_atomically

CONFIG_FILE = "config.json"
# Written beside the settings, for the record; not settings themselves.
PROVENANCE = ("pygan_version", "torch_version")
# The options naming the records a run uses, and the kind of record each names.
CHOSEN = {"plugin": "architecture", "recipe": "recipe", "loss": "loss", "penalty": "penalty", "dataset": "dataset",
          "optimizer_d": "optimizer", "optimizer_g": "optimizer"}
# The configuration's record of the plugins taking part in the run: each
# one's distribution, version and the records of the run it provides, so
# that a run read where one is missing can say what to install.
SOURCES = "plugins"


def defaults(plugins: Plugins) -> dict[str, Any]:
    return {name: option.default for name, option in plugins.options.items()}


def check_defaults(plugins: Plugins, kind: str, name: str, settings: Mapping[str, Any]) -> None:
    """An architecture's or recipe's defaults may only name declared options."""
    unknown = sorted(set(settings) - set(plugins.options))
    if unknown:
        raise PyganError(f"{kind} {name!r} (plugin {plugins.owner(kind, name)!r}) sets defaults for "
                         f"{', '.join(map(repr, unknown))}, which no installed plugin declares as an option; "
                         f"fix the plugin, or install the plugin that declares them")


def resolve_config(plugins: Plugins, options: Mapping[str, Any]) -> dict[str, Any]:
    """A new run's configuration: declared defaults, then the recipe's, then
    the architecture's, then the user's (None = not given); checked, and cut
    to the options of the plugins that take part in the run."""
    if not options.get("plugin"):
        raise UsageError("choose an architecture with --plugin (see 'pygan plugins'), or --resume a run")
    architecture = plugins.architecture(options["plugin"])
    given = {key: value for key, value in options.items() if value is not None}
    for key, value in given.items():  # before an architecture's defaults are computed from them
        if key in plugins.options:
            check_value(plugins.options[key], value)
    settings = architecture.settings({**defaults(plugins), **given})
    check_defaults(plugins, "architecture", architecture.name, settings)
    recipe_name = given.get("recipe", settings.get("recipe", plugins.options["recipe"].default))
    recipe = plugins.recipe(recipe_name)
    check_defaults(plugins, "recipe", recipe.name, recipe.defaults)
    config = {**defaults(plugins), **recipe.defaults, **settings, **given, "plugin": architecture.name}
    config["data_dir"] = absolute(config["data_dir"])
    if "penalty" not in given and "penalty" not in settings and config["loss"]:
        config["penalty"] = plugins.loss(config["loss"]).default_penalty
    check_config(plugins, config)
    return recorded(plugins, config, given)


def absolute(data_dir: str | None) -> str | None:
    """--data-dir as config.json records it: absolute, so that a resume or an
    eval started in another folder reads the same data."""
    return None if data_dir is None else str(Path(data_dir).expanduser().absolute())


def participants(plugins: Plugins, config: Mapping[str, Any]) -> set[str]:
    """The plugins that take part in a run: pygan's own options, those that
    registered its architecture, recipe, loss, penalty, data set and
    optimizers, and those whose hooks run during training (regularisers,
    callbacks, measurements)."""
    taking_part = {CORE_PLUGIN}
    for key, kind in CHOSEN.items():
        if config.get(key) not in (None, "none"):
            taking_part.add(plugins.owner(kind, config[key]))
    taking_part.update(info.name for info in plugins.loaded if set(info.hooks) & RUN_HOOKS)
    return taking_part


def recorded(plugins: Plugins, config: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """The configuration as a run keeps it (config.json, checkpoints, what
    plugins read): the options of the plugins that take part in it. An
    option the user ``given`` that no such plugin owns is refused."""
    taking_part = participants(plugins, config)
    kept = {key: value for key, value in config.items()
            if key not in plugins.options or taking_part & set(plugins.owners("option", key))}
    unused = sorted(key for key, value in given.items() if value is not None and key not in kept)
    if unused:
        owners = plugins.owners("option", unused[0])
        raise UsageError(f"{flag(plugins.options[unused[0]])} is an option of plugin{'s' * (len(owners) > 1)} "
                         f"{' and '.join(map(repr, owners))}, which this run does not use; drop it "
                         f"(see 'pygan plugins' for what each plugin adds)")
    kept[SOURCES] = sources(plugins, config, taking_part)
    return kept


def sources(plugins: Plugins, config: Mapping[str, Any], taking_part: set[str]) -> dict[str, Any]:
    """What config.json records of the plugins ``taking_part`` in a run (see SOURCES)."""
    provides: dict[str, dict[str, set[str]]] = {}
    for key, kind in CHOSEN.items():
        if config.get(key) not in (None, "none"):
            provides.setdefault(plugins.owner(kind, config[key]), {}).setdefault(kind, set()).add(config[key])
    loaded = {info.name: info for info in plugins.loaded}
    return {name: {"distribution": loaded[name].distribution, "version": loaded[name].version,
                   "provides": {kind: sorted(names) for kind, names in provides.get(name, {}).items()}}
            for name in sorted(taking_part)}


def check_sources(plugins: Plugins, config: Mapping[str, Any], where: str) -> None:
    """A saved run whose plugins are not all here: one that provided a
    record the run names (its architecture, data set, ...) is an error
    naming it and its distribution, one that only ran hooks a notice. Runs
    saved before pygan 1.0 recorded none (unknown names are refused later,
    by check_config)."""
    recorded = config.get(SOURCES)
    if not isinstance(recorded, dict):
        return
    loaded = {info.name for info in plugins.loaded}
    failed = {failure.name: failure.error for failure in plugins.failures}
    for name, source in recorded.items():
        if name in loaded or not isinstance(source, dict):
            continue
        distribution, version = str(source.get("distribution") or name), str(source.get("version") or "")
        install = f"pip install '{distribution}=={version}'" if version else f"pip install '{distribution}'"
        if name in failed:
            state, remedy = f"which failed to load ({failed[name]})", "see 'pygan plugins', fix it"
        elif external_plugins_disabled():
            state, remedy = f"which {DISABLE_ENV}=1 leaves out", f"unset {DISABLE_ENV}"
        else:
            state, remedy = "which is not installed", f"install it with {install}"
        provides = source.get("provides") if isinstance(source.get("provides"), dict) else {}
        missing = [(kind, record) for kind, records in provides.items()
                   if kind in plugins.registered and isinstance(records, list)
                   for record in records if isinstance(record, str) and record not in plugins.registered[kind]]
        if missing:
            kind, record = missing[0]
            raise UsageError(f"{where}: the run used {kind} {record!r} from plugin {name!r} ({distribution} "
                             f"{version}), {state}; {remedy}, then try again")
        notice(f"{where}: the run used plugin {name!r} ({distribution} {version}), {state}: its hooks do not run "
               f"now ({remedy} to have them)")


def check_config(plugins: Plugins, config: Mapping[str, Any]) -> None:
    """Every value against its option's declaration, every name against the
    registered records, and the configuration against the recipe's check."""
    for key, option in plugins.options.items():
        check_value(option, config.get(key))
    for key in ("loss", "dataset"):
        if not config[key]:
            raise UsageError(f"architecture {config['plugin']!r} names no default {key}; choose one with --{key}")
    for key, kind in CHOSEN.items():
        if config[key] not in (None, "none"):
            plugins.get(kind, config[key])
    if config["ema"] is not None and config["ema_kimg"] is not None:
        raise UsageError(f"--ema {config['ema']} and --ema-kimg {config['ema_kimg']} both set the generator's moving "
                         f"average; give one")
    if config["ema_rampup"] is not None and config["ema_kimg"] is None:
        raise UsageError("--ema-rampup ramps up --ema-kimg's half-life; give --ema-kimg too")
    recipe, architecture = plugins.recipe(config["recipe"]), plugins.architecture(config["plugin"])
    problem = recipe.check(config, architecture) if recipe.check is not None else None
    if problem:
        raise UsageError(f"recipe {recipe.name!r} (plugin {plugins.owner('recipe', recipe.name)!r}): {problem}")


def resolve_classes(architecture: Architecture, config: Mapping[str, Any], data_classes: int | None) -> int:
    """A run's class count: the architecture's own, or for one that takes it
    from the run (``classes=None``), ``--classes``, else the number of classes
    in the training data's labels (0 without labels)."""
    given = config.get("classes")
    if architecture.classes is not None:
        if given is not None and given != architecture.classes:
            raise UsageError(f"--classes {given}: architecture {architecture.name!r} generates "
                             f"{architecture.classes} classes; drop --classes")
        return architecture.classes
    return given if given is not None else (data_classes or 0)


def saved_config(plugins: Plugins, config: Any, where: str) -> dict[str, Any]:
    """A configuration read from a file (a run's config.json, a checkpoint's,
    named by ``where``), each declared option's value checked by its
    declaration, and those it lacks (declared since) at their defaults."""
    if not isinstance(config, dict):
        raise UsageError(f"{where}: the run's configuration is {type(config).__name__}, not a JSON object; it was "
                         f"altered")
    check_sources(plugins, config, where)
    for key, option in plugins.options.items():
        if key in config:
            try:
                check_value(option, config[key])
            except UsageError as error:
                raise UsageError(f"{where}: the run's configuration was altered: {error}") from None
    return {**defaults(plugins), **config}


def merge_resumed_config(plugins: Plugins, saved: Mapping[str, Any], options: Mapping[str, Any],
                         where: str = CONFIG_FILE) -> dict[str, Any]:
    """The saved configuration (read from ``where``) with the allowed
    changes; a contradiction is refused."""
    saved = saved_config(plugins, saved, where)
    declared = plugins.options
    for key, value in options.items():
        if value is None or value == saved.get(key):
            continue
        if key in declared and not declared[key].resumable:
            raise UsageError(f"{flag(declared[key])} {value} contradicts the resumed run's {saved.get(key)}; "
                             f"drop {flag(declared[key])} to continue the run as it was started")
    config = {**saved, **{key: value for key, value in options.items() if value is not None}}
    if options.get("data_dir") is not None:
        config["data_dir"] = absolute(options["data_dir"])
    check_config(plugins, config)
    return recorded(plugins, config, options)


def configure(plugins: Plugins, options: Mapping[str, Any], resume: Path | None) -> dict[str, Any]:
    """A new run's configuration from the options, or a resumed run's from
    its config.json and the options; checked, so that a mistake is one
    message before anything starts."""
    if resume is None:
        return resolve_config(plugins, options)
    if not Path(resume).is_dir():
        raise UsageError(f"--resume {resume}: not a run folder; give the folder a run was trained into "
                         f"(the one holding config.json)")
    return merge_resumed_config(plugins, read_config(Path(resume)), options, str(Path(resume) / CONFIG_FILE))


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
