"""NVlabs' state-dict keys for pygan's StyleGAN2 networks.

pygan's modules mirror NVlabs' one for one (the same nesting, parameters and
buffers, named alike), with readable names of their own: ``blocks.64``
for ``b64``, ``conv_up``/``conv`` for a synthesis block's ``conv0``/``conv1``,
``style`` for ``affine``, ``layers.0`` for ``fc0``. Each module class says
how its children are named at NVlabs in ``nvlabs_names``: a string renames
a child; a list or dict names the children of a ModuleList or ModuleDict,
which NVlabs holds directly (``mapping.layers.0`` is ``mapping.fc0``).

NVlabs also saves each resampling layer's prepared FIR filter as a buffer,
``resample_filter``, which pygan keeps unsaved (non-persistent) and rebuilds
from the constructor's taps (the module says so with ``nvlabs_filter``);
loading checks that the saved one equals it, so weights trained with
another filter are refused.

Constructor arguments: pygan's constructors take NVlabs' ``init_kwargs`` with
stylegan2-ada-pytorch's defaults. stylegan3's copy of these networks
(``training/networks_stylegan2.py``) differs in defaults only where an
argument is left out: the mapping network's ``w_avg_beta`` is 0.998, and
the synthesis blocks' and the discriminator's ``conv_clamp`` 256 (their
``num_fp16_res`` 4 changes nothing here); it also passes the generator's
synthesis arguments flat, which ``Generator`` accepts. Its pickles are
therefore built with those defaults filled in explicitly.
"""

from __future__ import annotations

import torch
from torch import nn

FILTER_BUFFER = "resample_filter"


def _nvlabs_child_names(module: nn.Module) -> dict[str, tuple[nn.Module, str]]:
    """Each child module of ``module`` at NVlabs: its name there (relative
    to ``module``) -> the pygan module."""
    renames = getattr(module, "nvlabs_names", {})
    children = {}
    for name, child in module.named_children():
        rename = renames.get(name, name)
        if isinstance(rename, str):
            children[rename] = child
        else:  # a container NVlabs does not have: its children sit in module itself
            items = enumerate(rename) if isinstance(rename, list) else rename.items()
            for key, nv_name in items:
                children[nv_name] = child[key]
    return children


def _walk(module: nn.Module, nv_prefix: str = ""):
    """(NVlabs' prefix, module) for ``module`` and every module under it."""
    yield nv_prefix, module
    for nv_name, child in _nvlabs_child_names(module).items():
        yield from _walk(child, f"{nv_prefix}{nv_name}.")


def nvlabs_key_map(network: nn.Module) -> dict[str, str]:
    """pygan's state-dict key -> NVlabs' key, for every entry of
    ``network.state_dict()``."""
    ids = {id(module): nv_prefix for nv_prefix, module in _walk(network)}
    keys = {}
    for prefix, module in network.named_modules():
        if id(module) not in ids:
            continue  # a container NVlabs does not have: its entries are mapped through its children
        state = dict(module.named_parameters(recurse=False))
        state.update((name, buffer) for name, buffer in module.named_buffers(recurse=False)
                     if name not in module._non_persistent_buffers_set)
        for name in state:
            keys[f"{prefix}.{name}" if prefix else name] = ids[id(module)] + name
    return keys


def nvlabs_filters(network: nn.Module) -> dict[str, torch.Tensor]:
    """The ``resample_filter`` buffers NVlabs' version of ``network`` saves:
    key -> value."""
    return {f"{nv_prefix}{FILTER_BUFFER}": getattr(module, FILTER_BUFFER)
            for nv_prefix, module in _walk(network) if getattr(module, "nvlabs_filter", False)}


def load_nvlabs_state_dict(network: nn.Module, state_dict: dict[str, torch.Tensor]) -> None:
    """Load NVlabs' state dict of the same network (built from the same
    constructor arguments) into ``network``. Every key must be there, no
    other, each tensor of the shape pygan's has, and every saved filter
    equal to the one pygan's layer uses; otherwise ValueError, naming them."""
    keys = nvlabs_key_map(network)
    filters = nvlabs_filters(network)
    expected = set(keys.values()) | set(filters)
    missing = sorted(expected - set(state_dict))
    unexpected = sorted(set(state_dict) - expected)
    if missing or unexpected:
        raise ValueError("the weights do not fit this network: " + "; ".join(
            f"{what} {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
            for what, names in (("missing", missing), ("unexpected", unexpected)) if names))
    for key, value in filters.items():
        saved = state_dict[key]
        if saved.shape != value.shape or not torch.equal(saved.to(value.device, value.dtype), value):
            raise ValueError(f"{key} is not the filter the network's constructor arguments name "
                             f"({value.tolist()})")
    own = network.state_dict()
    for ours, theirs in keys.items():
        if state_dict[theirs].shape != own[ours].shape:
            raise ValueError(f"{theirs} has shape {tuple(state_dict[theirs].shape)}, this network's "
                             f"{tuple(own[ours].shape)}")
    network.load_state_dict({ours: state_dict[theirs] for ours, theirs in keys.items()})
