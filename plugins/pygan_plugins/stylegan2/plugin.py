"""The plugin ``stylegan2``: its options, the architecture ``stylegan2``
(``architecture.py``) and the recipe ``stylegan2`` (``recipe.py``)."""

from __future__ import annotations

import pygan
from pygan import finite_number, probability, whole_number
from pygan_plugins.stylegan2 import architecture, presets, recipe


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("preset", str, "auto", "stylegan2's configuration, as NVlabs' train.py --cfg: auto (from "
                          "the resolution), cifar, paper256, paper512, paper1024 or stylegan2",
                          choices=presets.NAMES, metavar="NAME"))
    # Shared with dcgan64, which makes images of a chosen size too.
    register(pygan.Option("resolution", int, 64, "stylegan2's image size in pixels: a power of two from 4 to 1024",
                          check=whole_number(minimum=1), metavar="N", shared=True))
    register(pygan.Option("channels", int, 3, "stylegan2's image channels, likewise",
                          check=whole_number(minimum=1, maximum=64), metavar="C", shared=True))
    register(pygan.Option("mapping_layers", int, None, "stylegan2's mapping network depth (default: the preset's)",
                          check=whole_number(minimum=1), metavar="N"))
    register(pygan.Option("channel_base", int, None, "stylegan2's channel base: a layer at resolution r has "
                          "min(base / r, --channel-max) channels (default: the preset's)",
                          check=whole_number(minimum=1), metavar="N"))
    register(pygan.Option("channel_max", int, None, "stylegan2's most channels in a layer (default 512)",
                          check=whole_number(minimum=1), metavar="N"))
    register(pygan.Option("pl_weight", float, None, "stylegan2's path-length regularisation weight (0: none; "
                          "default: the preset's, 2 or cifar's 0)", check=finite_number(minimum=0), metavar="W"))
    register(pygan.Option("style_mixing", float, None, "stylegan2's style-mixing probability (default: the "
                          "preset's, 0.9 or cifar's 0)", check=probability, metavar="P"))
    register(pygan.Option("mirror", bool, False, "stylegan2: flip half the real pictures left to right at random "
                          "(NVlabs' --mirror)"))


@pygan.hookimpl
def register_architectures(register):
    register(pygan.Architecture(
        name="stylegan2",
        build_generator=architecture.build_generator,
        build_discriminator=architecture.build_discriminator,
        latent_size=presets.Z_DIM,
        sample_noise=pygan.normal_noise,
        classes=None,
        discriminator_takes_labels=True,
        image_shape=architecture.image_shape,
        defaults=architecture.settings,
        description="StyleGAN2 of Karras et al. 2020 as NVlabs' stylegan2-ada-pytorch has it (--preset, "
                    "--resolution, --channels; conditional with --classes or labelled data)",
    ))


@pygan.hookimpl
def register_recipes(register):
    register(recipe.RECIPE)
