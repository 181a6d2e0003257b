"""Building a run's networks, in the one way every command does: training,
resuming, ``pygan sample``, ``pygan eval`` and ``pygan.load`` all build them
from the run's configuration, so an option that changes a network's shape
changes it everywhere."""

from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from pygan._config.registry import Plugins
from pygan._config.resolve import resolve_classes
from pygan._contracts.records import Architecture, ImageShape

NETWORKS = ("generator", "discriminator")


def build_network(plugins: Plugins, architecture: Architecture, network: str, config: Mapping[str, Any],
                  image_shape: ImageShape, device: torch.device | str, training: bool) -> nn.Module:
    """``network`` ("generator" or "discriminator") built by the architecture
    for ``config`` and prepared by the plugins (``prepare_network``): for
    training, before its optimizer sees its parameters; otherwise to load
    trained weights into, with the same layout."""
    module = architecture.build(network, image_shape, config).to(device)
    plugins.callbacks.prepare_network(config=config, network=network, module=module, training=training)
    return module


def build_networks(plugins: Plugins, architecture: Architecture, config: Mapping[str, Any], image_shape: ImageShape,
                   device: torch.device | str, training: bool) -> dict[str, nn.Module]:
    """Both networks, the generator first (the order a seeded run's initial
    weights depend on)."""
    return {network: build_network(plugins, architecture, network, config, image_shape, device, training)
            for network in NETWORKS}


def recorded_architecture(plugins: Plugins, config: Mapping[str, Any]) -> Architecture:
    """A trained run's architecture, configured with the class count its
    configuration recorded (runs of pygan 0.2 recorded none: the
    architecture's own)."""
    architecture = plugins.architecture(config["plugin"])
    return architecture.configured(resolve_classes(architecture, config, None))
