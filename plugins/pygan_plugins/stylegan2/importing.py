"""``pygan import-nvlabs SNAPSHOT --out RUN``: a pygan run folder of the
StyleGAN2 networks in an NVlabs pickle (stylegan2-ada-pytorch's or
stylegan3's ``network-snapshot-*.pkl``), read without running anything in
it (``pickles``) and rebuilt as pygan's (``snapshot``).

``G_ema`` becomes the generator's moving average (what ``pygan sample``,
``pygan eval`` and ``pygan.load`` draw with), ``G`` the generator (``G_ema``
where a snapshot has no ``G``) and ``D`` the discriminator. The run is an
architecture ``stylegan2`` run whose options (``--preset``,
``--resolution``, ``--channels``, ``--classes``, ``--mapping-layers``,
``--channel-base``, ``--channel-max``) build exactly these networks: every
module's settings (channel counts, clamps, activations, minibatch groups, the
discriminator's architecture, ...) are compared with the imported ones, and
a snapshot those options cannot describe (another z or w size, other
clamps) is refused, naming what differs. Only the tracked average of w's
decay (``w_avg_beta``), which changes nothing but training, may differ.
"""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

import pygan
from pygan_plugins.stylegan2 import architecture, presets
from pygan_plugins.stylegan2.pickles import read_snapshot
from pygan_plugins.stylegan2.generator import SynthesisNetwork
from pygan_plugins.stylegan2.snapshot import build_network, constructor_kwargs

# Module attributes that change nothing but training (the imported run is never trained further).
TRAINING_ONLY = {"w_avg_beta"}
ARCHITECTURE = "stylegan2"
ABSENT = object()


def settings(network: nn.Module) -> dict[str, Any]:
    """Every module's plain settings, by module and attribute name: what its
    constructor arguments made of it, beside its weights."""
    return {f"{name}.{attribute}" if name else attribute: value
            for name, module in network.named_modules() for attribute, value in vars(module).items()
            if not attribute.startswith("_") and attribute != "training" and attribute not in TRAINING_ONLY
            and isinstance(value, (bool, int, float, str, tuple, type(None)))}


def differences(snapshot: dict[str, Any], pygan_own: dict[str, Any]) -> list[str]:
    """How two networks' settings differ, one line each, the outermost
    modules' first (their differences explain the inner ones')."""
    return [f"{key}: {snapshot.get(key, '(none)')!r} in the snapshot, {pygan_own.get(key, '(none)')!r} in pygan's"
            for key in sorted(snapshot.keys() | pygan_own.keys(), key=lambda key: (key.count("."), key))
            if snapshot.get(key, ABSENT) != pygan_own.get(key, ABSENT)]


def run_options(networks: dict[str, nn.Module], channels: dict[str, int], where: str) -> dict[str, Any]:
    """The options of a ``stylegan2`` run whose ``generator`` and
    ``discriminator`` have the settings of these: the first preset (auto
    first) that gives them, with the mapping depth and ``channels`` (the
    channel base and maximum) given where the preset's differ."""
    generator = networks["generator"]
    shape = (generator.img_channels, generator.img_resolution, generator.img_resolution)
    wanted = {network: settings(module) for network, module in networks.items()}
    closest = None
    for name in presets.NAMES:
        preset = presets.preset(name, shape[1])
        options = {"preset": name, "resolution": shape[1], "channels": shape[0], "classes": generator.c_dim,
                   "mapping_layers": len(generator.mapping.layers), "channel_base": channels["channel_base"],
                   "channel_max": channels["channel_max"]}
        for key, default in (("mapping_layers", preset.mapping_layers),
                             ("channel_base", int(preset.fmaps * 32768)), ("channel_max", presets.CHANNEL_MAX)):
            if options[key] == default:
                options[key] = None
        with torch.device("meta"):  # settings only
            built = {"generator": architecture.build_generator(shape, options),
                     "discriminator": architecture.build_discriminator(shape, options)}
        found = [f"{network} {line}" for network, module in built.items()
                 for line in differences(wanted[network], settings(module))]
        if not found:
            return {key: value for key, value in options.items() if value is not None}
        if closest is None or len(found) < len(closest[1]):
            closest = (name, found)
    name, found = closest
    shown = "; ".join(found[:4]) + (f"; and {len(found) - 4} more" if len(found) > 4 else "")
    raise pygan.UsageError(f"{where}: its networks are StyleGAN2, but no stylegan2 run of pygan has them (the "
                           f"closest, preset {name}, differs: {shown}); pygan's stylegan2 options cannot describe "
                           f"this configuration")


def channel_settings(kwargs: dict[str, Any]) -> dict[str, int]:
    """The synthesis network's channel base and maximum, from a generator's
    constructor arguments (nested, or flat as stylegan3 passes them)."""
    synthesis = kwargs.get("synthesis_kwargs", kwargs)
    defaults = inspect.signature(SynthesisNetwork).parameters
    return {key: synthesis.get(key, defaults[key].default) for key in ("channel_base", "channel_max")}


def import_snapshot(path: Path, out: Path) -> tuple[Path, dict[str, Any], list[str]]:
    """Write ``out`` from the NVlabs snapshot at ``path``; returns the run
    folder, its options and the snapshot's networks imported."""
    records = read_snapshot(path)
    networks = {name: build_network(name, record, str(path)) for name, record in records.items()}
    if "D" not in networks:
        raise pygan.UsageError(f"{path}: holds no D (discriminator); pygan's runs keep both networks")
    if "G" not in networks and "G_ema" not in networks:
        raise pygan.UsageError(f"{path}: holds neither G nor G_ema: no generator to import")
    drawn = "G_ema" if "G_ema" in networks else "G"  # the one pygan samples with
    generator = networks.get("G", networks[drawn])
    options = run_options({"generator": networks[drawn], "discriminator": networks["D"]},
                          channel_settings(constructor_kwargs(records[drawn], str(path))), str(path))
    weights = {"generator": generator.state_dict(), "discriminator": networks["D"].state_dict()}
    if "G_ema" in networks:
        weights["generator_ema"] = networks["G_ema"].state_dict()
    folder = pygan.write_run(out, weights, str(path), plugin=ARCHITECTURE, **options)
    return folder, options, sorted(networks)


def command(args: argparse.Namespace) -> None:
    folder, options, imported = import_snapshot(args.snapshot, args.out)
    described = " ".join(f"--{key.replace('_', '-')} {value}" for key, value in options.items())
    print(f"imported {', '.join(imported)} of {args.snapshot} into {folder}: a stylegan2 run with {described}")
    print(f"draw from it with: pygan sample --checkpoint {folder}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("snapshot", type=Path, metavar="SNAPSHOT",
                        help="an NVlabs network-snapshot-*.pkl (stylegan2-ada-pytorch, or stylegan3 --cfg=stylegan2)")
    parser.add_argument("--out", type=Path, required=True, help="the run folder to write (must not hold a run)")


@pygan.hookimpl
def register_commands(register):
    register(pygan.Command(
        name="import-nvlabs", run=command, add_arguments=add_arguments,
        description="make a stylegan2 run folder from an NVlabs StyleGAN2 network pickle, running nothing in it",
        details="Read the StyleGAN2 networks of an NVlabs network-snapshot-*.pkl (stylegan2-ada-pytorch's or "
                    "stylegan3's) without running any of the code it carries, and write a pygan run folder: G_ema "
                    "as the generator's moving average, G the generator, D the discriminator. pygan sample, eval "
                    "and pygan.load read it; it cannot be resumed."))
