"""The architecture ``stylegan2`` and its options: the networks built from a
run's configuration (``--preset``, ``--resolution``, ``--channels``, the
class count, and the overrides ``--mapping-layers``, ``--channel-base``,
``--channel-max``), and the preset's training settings as the
architecture's defaults, which the command line overrides.

A preset is NVlabs' train.py ``--cfg`` (see ``presets``); ``auto`` follows
the resolution as train.py's does, for one process (with ``--nproc N`` each
process trains on the preset's batch: pygan's batch size is per process).

Units: pygan's images lie in [0, 1], NVlabs' in [-1, 1], so a gradient with
respect to pygan's images is twice NVlabs'. R1's ``--penalty-weight`` is
therefore the preset's gamma / 4 (the same regularisation as NVlabs'
gamma); the path-length regulariser is computed on NVlabs' images (see
``recipe.py``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping

import pygan
from pygan_plugins.stylegan2 import presets
from pygan_plugins.stylegan2.discriminator import Discriminator
from pygan_plugins.stylegan2.generator import Generator

# NVlabs' networks start at 4x4; their train.py takes data sets up to 1024.
MIN_RESOLUTION, MAX_RESOLUTION = 4, 1024
# pygan's gradients are with respect to [0, 1] images: twice NVlabs', four times in a squared norm.
R1_WEIGHT_PER_GAMMA = 1 / 4


def image_shape(config: Mapping[str, Any]) -> tuple[int, int, int]:
    """(channels, resolution, resolution); a resolution NVlabs' networks
    cannot have is refused here, before any data is read (``--resolution``
    is shared with other architectures, so its declaration cannot)."""
    resolution = config["resolution"]
    if not (MIN_RESOLUTION <= resolution <= MAX_RESOLUTION and resolution & (resolution - 1) == 0):
        raise pygan.UsageError(f"--resolution {resolution}: stylegan2 makes square images whose size is a power "
                               f"of two from {MIN_RESOLUTION} to {MAX_RESOLUTION}; choose one (pictures are "
                               f"resized to it)")
    return (config["channels"], resolution, resolution)


def preset_of(config: Mapping[str, Any]) -> presets.Preset:
    """The run's preset at its resolution, with ``--mapping-layers`` applied."""
    preset = presets.preset(config["preset"], config["resolution"])
    if config["mapping_layers"] is not None:
        preset = dataclasses.replace(preset, mapping_layers=config["mapping_layers"])
    return preset


def network_kwargs(image_shape: tuple[int, int, int], config: Mapping[str, Any]) -> tuple[dict, dict]:
    """Both networks' constructor arguments (NVlabs' ``init_kwargs``)."""
    channels, resolution, _ = image_shape
    generator, discriminator = presets.network_kwargs(preset_of(config), resolution, channels, config["classes"])
    for kwargs in (generator["synthesis_kwargs"], discriminator):
        for name in ("channel_base", "channel_max"):
            if config[name] is not None:
                kwargs[name] = config[name]
    return generator, discriminator


def build_generator(image_shape, config) -> Generator:
    return Generator(**network_kwargs(image_shape, config)[0])


def build_discriminator(image_shape, config) -> Discriminator:
    return Discriminator(**network_kwargs(image_shape, config)[1])


def settings(options: Mapping[str, Any]) -> dict[str, Any]:
    """The preset's training settings, as the architecture's defaults: the
    recipe ``stylegan2``, Adam with betas (0, 0.99) at the preset's learning
    rate for both networks, its batch, its length in steps of that batch,
    the non-saturating loss, R1 at the preset's gamma, its path-length
    weight and style-mixing probability, and the generator's moving average
    with its half-life and ramp-up."""
    preset = presets.preset(options["preset"], options["resolution"])
    return {
        "recipe": "stylegan2",
        "dataset": "images",
        "loss": "nonsaturating",
        "penalty": "r1",
        "penalty_weight": preset.gamma * R1_WEIGHT_PER_GAMMA,
        "batch_size": preset.batch,
        "steps": math.ceil(preset.kimg * 1000 / preset.batch),
        "optimizer_d": "adam",
        "optimizer_g": "adam",
        "lr_d": preset.lr,
        "lr_g": preset.lr,
        "betas_d": [0.0, 0.99],
        "betas_g": [0.0, 0.99],
        "pl_weight": preset.pl_weight,
        "style_mixing": preset.style_mixing,
        # A fixed --ema replaces the preset's half-life.
        **({"ema_kimg": preset.ema_kimg, "ema_rampup": preset.ema_rampup} if options["ema"] is None else {}),
    }
