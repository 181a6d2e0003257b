"""pygan's StyleGAN2 networks from an NVlabs snapshot's networks, as
``pickles.read_snapshot`` gives them: each built from its recorded
constructor arguments, its weights loaded through NVlabs' state-dict keys
(``nvlabs.py``).

Only StyleGAN2's classes are accepted, as stylegan2-ada-pytorch's
``training/networks.py`` and stylegan3's ``training/networks_stylegan2.py``
name them; stylegan3's own generators (StyleGAN3-T and -R, with their
``SynthesisInput``) are refused, as are constructor arguments pygan's
networks do not take. The two repositories' defaults differ for three
arguments (see ``nvlabs.py``); where a snapshot leaves one out, its value is
the default in the snapshot's own source text, which is parsed, never run.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import torch
from torch import nn

import pygan
from pygan_plugins.stylegan2.discriminator import Discriminator
from pygan_plugins.stylegan2.generator import Generator
from pygan_plugins.stylegan2.nvlabs import load_nvlabs_state_dict
from pygan_plugins.stylegan2.pickles import Persisted

GENERATOR_CLASSES = {"Generator", "MappingNetwork", "SynthesisNetwork", "SynthesisBlock", "SynthesisLayer",
                     "ToRGBLayer", "FullyConnectedLayer"}
DISCRIMINATOR_CLASSES = {"Discriminator", "DiscriminatorBlock", "DiscriminatorEpilogue", "MinibatchStdLayer",
                         "Conv2dLayer", "FullyConnectedLayer", "MappingNetwork"}
STYLEGAN3_CLASSES = {"SynthesisInput"}  # only stylegan3's alias-free generators have it
# Larger than any StyleGAN2 argument (channel base 65536, 1024 pixels, 8 mapping layers).
LARGEST_ARGUMENT = 1 << 17
# Deeper than StyleGAN2's modules nest (G.synthesis.b4.conv1.affine is 4 deep).
MAX_DEPTH = 16
# (snapshot entry, pygan's class, the classes its modules may be)
NETWORKS = {"G": (Generator, GENERATOR_CLASSES), "G_ema": (Generator, GENERATOR_CLASSES),
            "D": (Discriminator, DISCRIMINATOR_CLASSES)}
# Arguments whose defaults differ between the repositories: (the class whose
# default it is, the argument, where in the top-level arguments it goes).
SOURCE_DEFAULTS = {
    "Generator": [("MappingNetwork", "w_avg_beta", "mapping_kwargs"), ("SynthesisBlock", "conv_clamp", "synthesis")],
    "Discriminator": [("Discriminator", "conv_clamp", None)],
}


def network_state(network: Persisted, allowed: set[str], where: str) -> dict[str, torch.Tensor]:
    """The state dict, under NVlabs' keys, of ``network`` and its modules,
    each of which must be one of the ``allowed`` classes."""
    state: dict[str, torch.Tensor] = {}

    def collect(module: Persisted, prefix: str) -> None:
        if prefix.count(".") > MAX_DEPTH:
            raise pygan.UsageError(f"{where}: its modules nest deeper than StyleGAN2's ({prefix[:80]}...)")
        if module.class_name in STYLEGAN3_CLASSES:
            raise pygan.UsageError(f"{where} is a StyleGAN3 generator (stylegan3's alias-free networks, with "
                                   f"{module.class_name}), which pygan does not implement: it imports StyleGAN2's "
                                   f"networks (stylegan2-ada-pytorch's, or stylegan3's --cfg=stylegan2)")
        if module.class_name not in allowed:
            raise pygan.UsageError(f"{where}: {prefix or 'the network'} is a {module.class_name!r}, which is not one "
                                   f"of StyleGAN2's modules ({', '.join(sorted(allowed))}); pygan imports nothing "
                                   f"else")
        fields = module.state
        skipped = fields.get("_non_persistent_buffers_set") or set()
        tensors = {**(fields.get("_parameters") or {}),
                   **{k: v for k, v in (fields.get("_buffers") or {}).items() if k not in skipped}}
        for name, value in tensors.items():
            if value is None:
                continue
            if not isinstance(value, torch.Tensor) or not value.is_floating_point():
                raise pygan.UsageError(f"{where}: {prefix}{name} is not a floating-point tensor")
            state[prefix + name] = value
        for name, child in (fields.get("_modules") or {}).items():
            if child is None:
                continue
            if not isinstance(child, Persisted):
                raise pygan.UsageError(f"{where}: {prefix}{name} is a {type(child).__name__}, not a module "
                                       f"NVlabs' persistence wrote")
            collect(child, f"{prefix}{name}.")

    collect(network, "")
    return state


def source_default(module_src: str, class_name: str, argument: str) -> tuple[bool, Any]:
    """(found, value): the default of ``argument`` of ``class_name.__init__``
    in the source text, read as a literal from its parse tree (nothing of it
    runs)."""
    try:
        tree = ast.parse(module_src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False, None
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            for method in node.body:
                if isinstance(method, ast.FunctionDef) and method.name == "__init__":
                    arguments = method.args.args[len(method.args.args) - len(method.args.defaults):]
                    for arg, default in zip(arguments, method.args.defaults):
                        if arg.arg == argument:
                            try:
                                return True, ast.literal_eval(default)
                            except (ValueError, TypeError, SyntaxError, RecursionError):
                                return False, None
    return False, None


def check_values(kwargs: Any, where: str, key: str = "") -> None:
    """Constructor arguments are numbers, text, None and lists or dicts of
    them; a number beyond ``LARGEST_ARGUMENT`` (millions of layers, say)
    would make building the network take whatever time and memory it names."""
    if isinstance(kwargs, dict):
        for name, value in kwargs.items():
            check_values(value, where, f"{key}.{name}" if key else str(name))
    elif isinstance(kwargs, (list, tuple)):
        for index, value in enumerate(kwargs):
            check_values(value, where, f"{key}[{index}]")
    elif isinstance(kwargs, (int, float)) and not isinstance(kwargs, bool):
        if not (math.isfinite(kwargs) and abs(kwargs) <= LARGEST_ARGUMENT):
            raise pygan.UsageError(f"{where}: its constructor argument {key} is {kwargs!r}, beyond what any "
                                   f"StyleGAN2 network takes (at most {LARGEST_ARGUMENT:,})")
    elif not isinstance(kwargs, (str, bool, type(None))):
        raise pygan.UsageError(f"{where}: its constructor argument {key} is a {type(kwargs).__name__}, not a number, "
                               f"text or a list or dict of those")


def constructor_kwargs(network: Persisted, where: str) -> dict[str, Any]:
    """The arguments to build ``network`` with: its recorded ones, and the
    defaults its own source gives to those whose defaults differ between
    NVlabs' repositories."""
    args, kwargs = network.state.get("_init_args"), network.state.get("_init_kwargs")
    if args or not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise pygan.UsageError(f"{where}: its constructor arguments are not recorded by name, as NVlabs' training "
                               f"records them")
    kwargs = {key: dict(value) if isinstance(value, dict) else value for key, value in kwargs.items()}
    check_values(kwargs, where)
    for owner, argument, place in SOURCE_DEFAULTS.get(network.class_name, []):
        if place == "synthesis":  # stylegan2-ada-pytorch nests them, stylegan3 passes them flat
            place = "synthesis_kwargs" if "synthesis_kwargs" in kwargs else None
        target = kwargs if place is None else kwargs.setdefault(place, {})
        if not isinstance(target, dict):
            raise pygan.UsageError(f"{where}: its constructor argument {place} is not a dict")
        if argument not in target:
            found, value = source_default(network.module_src, owner, argument)
            if not found:
                raise pygan.UsageError(f"{where}: its source text gives no literal default of {owner}'s "
                                       f"{argument}, which it leaves out: not StyleGAN2 as NVlabs wrote it")
            target[argument] = value
    return kwargs


def build_network(name: str, network: Persisted, where: str) -> nn.Module:
    """pygan's network for the snapshot's entry ``name`` (G, G_ema or D),
    with its weights."""
    cls, allowed = NETWORKS[name]
    where = f"{where}: {name}"
    state = network_state(network, allowed, where)
    if network.class_name != cls.__name__:
        raise pygan.UsageError(f"{where} is a {network.class_name!r}, not StyleGAN2's {cls.__name__}")
    kwargs = constructor_kwargs(network, where)
    try:
        with torch.device("meta"):  # its size, checked before any memory is taken
            size = sum(tensor.numel() for tensor in cls(**kwargs).state_dict().values())
    except Exception as error:  # whatever arguments from elsewhere make the constructor raise: they are not its
        raise pygan.UsageError(f"{where}: pygan's StyleGAN2 {cls.__name__} does not take its constructor "
                               f"arguments ({error}); pygan implements StyleGAN2 as NVlabs' defines it") from None
    if size > sum(tensor.numel() for tensor in state.values()):
        raise pygan.UsageError(f"{where}: its constructor arguments describe a network of {size:,} weights, more "
                               f"than the snapshot holds: the weights do not fit it")
    try:
        module = cls(**kwargs)
        load_nvlabs_state_dict(module, state)
    except (ValueError, RuntimeError) as error:
        raise pygan.UsageError(f"{where}: its weights do not fit the network its constructor arguments describe "
                               f"({str(error).partition(chr(10))[0]})") from None
    return module.eval()
