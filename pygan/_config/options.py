"""``pygan train``'s options, from their declarations (``pygan.Option``)
to command-line flags, and the checks options share.

A check takes a value (from the command line, an architecture's defaults
or a resumed run's config.json) and returns what is wrong with it, or None.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any, Callable, Iterable, Mapping, Optional

from pygan._contracts.messages import UsageError
from pygan._contracts.records import Option

Check = Callable[[Any], Optional[str]]


def whole_number(minimum: int, maximum: int | None = None) -> Check:
    """A whole number from ``minimum`` (to ``maximum``)."""
    def check(value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
                maximum is not None and value > maximum):
            if maximum is not None:
                return f"must be a whole number from {minimum} to {maximum:,}"
            return {0: "must be 0 or a positive whole number", 1: "must be a positive whole number"}.get(
                minimum, f"must be a whole number of at least {minimum}")
        return None
    return check


def finite_number(minimum: float, exclusive: bool = False) -> Check:
    """A finite number of at least (``exclusive``: above) ``minimum``."""
    def check(value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or (
                value <= minimum if exclusive else value < minimum):
            return f"must be a finite number {'above' if exclusive else 'of at least'} {minimum:g}"
        return None
    return check


def fraction(value) -> str | None:
    """Strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
        return "must lie strictly between 0 and 1 (e.g. 0.999)"
    return None


def probability(value) -> str | None:
    """From 0 to 1, both included."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        return "must lie in [0, 1]"
    return None


def name(value) -> str | None:
    if not isinstance(value, str) or not value:
        return "must be a name"
    return None


# A per-network option NAME is declared as NAME_d and NAME_g.
NETWORK_SUFFIXES = {"discriminator": "_d", "generator": "_g"}


def expand_per_network(record):
    """A per-network ``Option`` as its two options, one per network; any
    other record as itself."""
    if not (isinstance(record, Option) and record.per_network):
        return [record]
    return [dataclasses.replace(record, name=record.name + suffix, help=f"{record.help}, for the {network}")
            for network, suffix in NETWORK_SUFFIXES.items()]


# What a shared option's declarations must agree on.
SHARED_FIELDS = ("type", "default", "resumable", "per_network", "flag")


def shared_declaration(first: Option, second: Option, first_owner: str) -> Option:
    """One option declared by two plugins (see ``Option.shared``): a value
    passes both declarations' choices and checks; the help is both helps
    (once, when one says it all), the choices both have alike are kept (for
    ``--help``)."""
    if not (first.shared and second.shared):
        raise ValueError(f"option {first.name!r} is already registered by plugin {first_owner!r} (to share it, both "
                         f"declare it with shared=True)")
    differing = [name for name in SHARED_FIELDS if getattr(first, name) != getattr(second, name)]
    if differing:
        raise ValueError(f"option {first.name!r} is shared with plugin {first_owner!r}, which declares another "
                         f"{' and '.join(differing)}")
    checks = [check for check in (_full_check(first), _full_check(second)) if check is not None]

    def check(value) -> str | None:
        return next((problem for problem in (one(value) for one in checks) if problem), None)
    # Several plugins registering one declaration (as the book GANs share
    # --batchnorm-statistics) give one help and keep its choices.
    help_text = first.help if second.help in first.help else f"{first.help}; {second.help}"
    choices = first.choices if first.choices == second.choices else None
    return dataclasses.replace(first, help=help_text, check=check, choices=choices)


def _full_check(option: Option) -> Check | None:
    """An option's ``choices`` and ``check`` as one check."""
    if option.choices is None:
        return option.check

    def check(value) -> str | None:
        if value not in option.choices:
            return f"must be one of {', '.join(map(str, option.choices))}"
        return option.check(value) if option.check else None
    return check


def network_option(config: Mapping[str, Any], name: str, network: str) -> Any:
    """The value of per-network option ``name`` for ``network``
    ("discriminator" or "generator"): ``config["lr_d"]`` for ("lr",
    "discriminator")."""
    if network not in NETWORK_SUFFIXES:
        raise ValueError(f"network must be one of {', '.join(NETWORK_SUFFIXES)}, not {network!r}")
    return config[name + NETWORK_SUFFIXES[network]]


def flag(option: Option) -> str:
    return option.flag or "--" + option.name.replace("_", "-")


# What a value read from a file (config.json, an architecture's defaults)
# must be, for the plain option types.
_VALUE_TYPES = {bool: bool, int: int, float: (int, float), str: str}
_TYPE_PROBLEMS = {bool: "must be true or false", int: "must be a whole number", float: "must be a number",
                  str: "must be text"}


def check_value(option: Option, value: Any) -> None:
    """Raise a usage error naming the flag when ``value`` fails the option's
    checks; None (unset) passes only for an option whose default is None."""
    if value is None and option.default is None:
        return
    expected = _VALUE_TYPES.get(option.type)
    if value is None:
        problem = _TYPE_PROBLEMS.get(option.type, "must be given")
    elif expected is not None and (isinstance(value, bool) != (option.type is bool)
                                   or not isinstance(value, expected)):
        problem = _TYPE_PROBLEMS[option.type]
    elif option.choices is not None and value not in option.choices:
        problem = f"must be one of {', '.join(map(str, option.choices))}"
    else:
        problem = option.check(value) if option.check else None
    if problem:
        raise UsageError(f"{flag(option)} {problem}, not {value!r}")


def add_arguments(parser: argparse.ArgumentParser, options: Iterable[Option]) -> None:
    """One argument per option. Each defaults to None, meaning "not given",
    so that an architecture's defaults apply and a resumed run can tell a
    contradiction."""
    for option in options:
        default = "" if option.default is None else f" (default {option.default})"
        if option.type is bool:
            # A flag: --NAME turns the option on, or with a declared spelling
            # such as --no-cuda-graphs, off.
            action = "store_false" if option.flag and option.flag.startswith("--no-") else "store_true"
            parser.add_argument(flag(option), dest=option.name, action=action, default=None, help=option.help)
            continue
        parser.add_argument(flag(option), dest=option.name, type=_parser_type(option), default=None,
                            choices=option.choices, metavar=option.metavar, help=option.help + default)


def _parser_type(option: Option) -> Callable[[str], Any]:
    def convert(text: str):
        try:
            value = option.type(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"not a valid {getattr(option.type, '__name__', 'value')}: {text!r}")
        problem = option.check(value) if option.check else None
        if problem:
            raise argparse.ArgumentTypeError(f"{problem}, not {text}")
        return value
    convert.__name__ = getattr(option.type, "__name__", "value")
    return convert


def markdown_table(options: Iterable[Option], owners: dict[str, str]) -> str:
    """The README's option table: one row per option, its plugin, default and help."""
    rows = ["| option | plugin | default | meaning |", "| --- | --- | --- | --- |"]
    for option in options:
        value = "" if option.type is bool else f" {option.metavar or option.name.upper()}"
        default = "off" if option.type is bool and not option.default else (
            "on" if option.type is bool else "(none)" if option.default is None else f"`{option.default}`")
        if option.flag and option.flag.startswith("--no-"):
            default = "graphs on" if option.default else "off"
        help_text = option.help.replace("|", "\\|")
        rows.append(f"| `{flag(option)}{value}` | {owners[option.name]} | {default} | {help_text} |")
    return "\n".join(rows) + "\n"
