"""Finding, loading and checking plugins.

Every plugin, pygan's own included, is a module named in the ``pygan``
entry-point group. A plugin that fails to import, has a malformed hook or
registers a name another plugin already took is reported once, by its
entry-point name, and skipped: the rest of pygan keeps working.
"""

from __future__ import annotations

import argparse
import difflib
import functools
import importlib.metadata
import os
from dataclasses import dataclass, field
from typing import Any, Callable

import pluggy

from pygan._config.options import expand_per_network, shared_declaration
from pygan._contracts import hooks as hookspecs
from pygan._contracts.messages import PyganError, UsageError, notice
from pygan._contracts.records import (
    Architecture,
    Command,
    Dataset,
    Loss,
    Optimizer,
    Option,
    Penalty,
    Recipe,
    builder_takes_config,
)

ENTRY_POINT_GROUP = "pygan"
BUILTIN_DISTRIBUTION = "pygan"
DISABLE_ENV = "PYGAN_DISABLE_PLUGINS"

# What each registration hook may register: record type -> the kind it is listed as.
REGISTRATION_HOOKS = {
    "register_architectures": {Architecture: "architecture"},
    "register_losses": {Loss: "loss", Penalty: "penalty"},
    "register_datasets": {Dataset: "dataset"},
    "register_recipes": {Recipe: "recipe"},
    "register_optimizers": {Optimizer: "optimizer"},
    "register_options": {Option: "option"},
    "register_commands": {Command: "command"},
}
# pygan's own commands (pygan/_commands/cli.py), whose names no plugin may register.
BUILTIN_COMMANDS = frozenset({"train", "sample", "eval", "report", "info", "plugins"})
HOOKS = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), "pygan_spec"))
# The hooks called while a run trains (every hook but the registration ones).
RUN_HOOKS = frozenset(HOOKS) - REGISTRATION_HOOKS.keys()
# The hooks called inside a training step: a failure there leaves the step's updates half made.
STEP_HOOKS = frozenset({"after_update", "judged_real", "step_metrics"})
# pygan's own options, registered before any plugin, plugins disabled or not.
CORE_PLUGIN = "core"
KINDS = [kind for records in REGISTRATION_HOOKS.values() for kind in records.values()]


@dataclass
class PluginInfo:
    """A loaded plugin: what ``pygan plugins`` lists."""

    name: str
    distribution: str
    version: str
    registers: dict[str, list[str]] = field(default_factory=dict)  # kind -> names
    hooks: list[str] = field(default_factory=list)


@dataclass
class PluginFailure:
    name: str
    distribution: str
    error: str


class Plugins:
    """The loaded plugins and everything they registered."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager("pygan")
        self.manager.add_hookspecs(hookspecs)
        self.loaded: list[PluginInfo] = []
        self.failures: list[PluginFailure] = []
        self.registered: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
        self._owner: dict[tuple[str, str], str] = {}  # (kind, name) -> plugin name
        self._sharers: dict[str, list[str]] = {}  # a shared option's name -> every plugin declaring it

    @property
    def hook(self):
        return self.manager.hook

    @property
    def callbacks(self) -> "Callbacks":
        """The hooks, called so that a plugin's failure names the plugin."""
        return Callbacks(self.manager)

    def add(self, name: str, plugin: object, distribution: str = "", version: str = "") -> bool:
        """Register one plugin object; on any problem record a failure and skip it."""
        try:
            self.manager.register(plugin, name=name)
        except Exception as error:  # a malformed hook or a name registered twice
            self._fail(name, distribution, error)
            return False
        try:
            check_hook_names(self.manager, plugin)
            registrations = self._collect(name)
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # sys.exit() in a hook too: it must not end pygan
            self.manager.unregister(name=name)
            self._fail(name, distribution, error)
            return False
        info = PluginInfo(name, distribution, version)
        for kind, record in registrations:
            if kind == "option" and (kind, record.name) in self._owner:  # shared, checked by _collect
                record = shared_declaration(self.registered[kind][record.name], record, self.owner(kind, record.name))
                self._sharers.setdefault(record.name, [self.owner(kind, record.name)]).append(name)
            else:
                self._owner[kind, record.name] = name
            self.registered[kind][record.name] = record
            info.registers.setdefault(kind, []).append(record.name)
        info.hooks = sorted(
            impl.name for impl in self.manager.get_hookcallers(plugin) or () if impl.name not in REGISTRATION_HOOKS
        )
        self.loaded.append(info)
        return True

    def _collect(self, plugin_name: str) -> list[tuple[str, Any]]:
        """Call the plugin's registration hooks and check what they register."""
        collected: list[tuple[str, Any]] = []
        for hook_name, kinds in REGISTRATION_HOOKS.items():
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                if impl.plugin_name != plugin_name:
                    continue

                def register(record, hook_name=hook_name, kinds=kinds):
                    kind = kinds.get(type(record))
                    if kind is None:
                        expected = " or ".join(f"pygan.{record_type.__name__}" for record_type in kinds)
                        raise TypeError(f"{hook_name} registered {record!r}, expected a {expected}")
                    taken = self._owner.get((kind, record.name)) or next(
                        (plugin_name for k, r in collected if k == kind and r.name == record.name), None
                    )
                    if taken and kind == "option" and (kind, record.name) in self._owner:
                        shared_declaration(self.registered[kind][record.name], record, taken)  # or raises
                    elif taken:
                        raise ValueError(f"{kind} {record.name!r} is already registered by plugin {taken!r}")
                    if isinstance(record, Command):  # arguments pygan cannot declare fail the plugin now
                        if record.name in BUILTIN_COMMANDS:
                            raise ValueError(f"command {record.name!r} is one of pygan's own")
                        add_command_arguments(record, argparse.ArgumentParser(prog=f"pygan {record.name}"))
                    if isinstance(record, Architecture):  # a builder pygan cannot call fails the plugin now
                        builder_takes_config(record.build_generator)
                        builder_takes_config(record.build_discriminator)
                    collected.append((kind, record))

                def register_each(record, register=register):
                    for one in expand_per_network(record):
                        register(one)

                impl.function(register_each)
        return collected

    def _fail(self, name: str, distribution: str, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        self.failures.append(PluginFailure(name, distribution, message))
        notice(f"plugin {name!r} ({distribution or 'no distribution'}) was skipped: {message}")

    def get(self, kind: str, name: str) -> Any:
        """The registered record, or a usage error listing the ones available."""
        records = self.registered[kind]
        if name not in records:
            available = ", ".join(sorted(records)) or "none"
            raise UsageError(f"unknown {kind} {name!r}; available: {available} (a {kind} of a plugin that is not "
                             f"installed, or failed to load, is unknown: see 'pygan plugins')")
        return records[name]

    def architecture(self, name: str) -> Architecture:
        return self.get("architecture", name)

    def loss(self, name: str) -> Loss:
        return self.get("loss", name)

    def dataset(self, name: str) -> Dataset:
        return self.get("dataset", name)

    def penalty(self, name: str) -> Penalty:
        return self.get("penalty", name)

    def recipe(self, name: str) -> Recipe:
        return self.get("recipe", name)

    def optimizer(self, name: str) -> Optimizer:
        return self.get("optimizer", name)

    @property
    def options(self) -> dict[str, Option]:
        """Every declared option by config key, in declaration order (pygan's own first)."""
        return self.registered["option"]

    def owner(self, kind: str, name: str) -> str:
        """The plugin that registered a record (of a shared option, the first)."""
        return self._owner[kind, name]

    def owners(self, kind: str, name: str) -> tuple[str, ...]:
        """The plugins that registered a record: one, or for a shared option each that declares it."""
        return tuple(self._sharers.get(name, [self.owner(kind, name)])) if kind == "option" else (
            self.owner(kind, name),)


def add_command_arguments(command: Command, parser: argparse.ArgumentParser) -> None:
    """Declare a plugin command's arguments on ``parser``."""
    if command.add_arguments is not None:
        command.add_arguments(parser)


def check_hook_names(manager: pluggy.PluginManager, plugin: object) -> None:
    """A hook implementation whose name is no hook would never be called: a
    misspelling (``register_architecture``) is an error, not a silent no-op."""
    for caller in manager.get_hookcallers(plugin) or ():
        if not caller.has_spec():
            close = difflib.get_close_matches(caller.name, HOOKS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; pygan's hooks are {', '.join(HOOKS)}"
            raise TypeError(f"@pygan.hookimpl {caller.name!r} is not a pygan hook{hint}")


class PluginFailed(PyganError):
    """A plugin's hook (or recipe) raised an exception that is not one of
    pygan's own, or broke the hook's contract. ``inside_step``: it happened
    inside a training step, whose updates may be half made."""

    def __init__(self, plugin: str, hook_name: str, error: BaseException, where: str = "",
                 inside_step: bool = False) -> None:
        first_line = str(error).partition("\n")[0]
        where = where or f"its {hook_name} hook"
        super().__init__(f"plugin {plugin!r} failed in {where} ({type(error).__name__}: {first_line})")
        self.plugin, self.hook_name, self.inside_step = plugin, hook_name, inside_step


def calling_plugin(plugin: str, hook_name: str, function: Callable, *args, where: str = "",
                   inside_step: bool = False) -> Any:
    """``function(*args)``, with an exception from the plugin, other than
    pygan's own errors (which say what to do already) and KeyboardInterrupt,
    turned into a ``PluginFailed`` naming the plugin."""
    try:
        return function(*args)
    except (PyganError, KeyboardInterrupt):
        raise
    except (Exception, SystemExit) as error:
        raise PluginFailed(plugin, hook_name, error, where, inside_step) from error


class Callbacks:
    """Calls each hook's implementations one by one, in pluggy's order
    (``tryfirst``/``trylast`` first and last, otherwise the last registered
    first), collecting the results that are not None, as pluggy does; a
    plugin's exception becomes a ``PluginFailed`` naming the plugin and the
    hook (see ``calling_plugin``). ``named(hook, ...)`` gives each result
    with the plugin that returned it."""

    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager

    def named(self, hook_name: str, **kwargs) -> list[tuple[str, Any]]:
        results = []
        for implementation in reversed(getattr(self.manager.hook, hook_name).get_hookimpls()):
            result = calling_plugin(implementation.plugin_name, hook_name, implementation.function,
                                    *(kwargs[name] for name in implementation.argnames),
                                    inside_step=hook_name in STEP_HOOKS)
            if result is not None:
                results.append((implementation.plugin_name, result))
        return results

    def __getattr__(self, hook_name: str):
        return lambda **kwargs: [result for _, result in self.named(hook_name, **kwargs)]


def external_plugins_disabled() -> bool:
    return os.environ.get(DISABLE_ENV, "").strip().lower() not in ("", "0", "false", "no")


def load_plugins() -> Plugins:
    """Load every plugin in the entry-point group, built-ins first."""
    from pygan._config import core_options

    plugins = Plugins()
    from pygan import __version__

    plugins.add(CORE_PLUGIN, core_options, BUILTIN_DISTRIBUTION, __version__)
    skip_external = external_plugins_disabled()
    entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)

    def distribution_of(ep) -> tuple[str, str]:
        return (ep.dist.name, ep.dist.version) if ep.dist else ("", "")

    def builtin_first(ep) -> tuple[bool, str]:
        return distribution_of(ep)[0] != BUILTIN_DISTRIBUTION, ep.name

    for ep in sorted(entry_points, key=builtin_first):
        distribution, version = distribution_of(ep)
        if skip_external and distribution != BUILTIN_DISTRIBUTION:
            continue
        try:
            module = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # whatever a broken plugin raises, sys.exit() too, must not stop pygan
            plugins._fail(ep.name, distribution, error)
            continue
        plugins.add(ep.name, module, distribution, version)
    return plugins


@functools.cache
def get_plugins() -> Plugins:
    """The process-wide plugins, loaded on first use."""
    return load_plugins()

