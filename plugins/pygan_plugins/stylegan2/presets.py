"""The configurations of NVlabs' stylegan2-ada-pytorch ``train.py --cfg``, as
one table, and the networks' constructor arguments each implies.

Every preset sets the networks' width (``fmaps``: channel base
``fmaps * 32768``, at most 512 channels), the mapping network's depth, the
minibatch standard deviation's group size, and the training: Adam's
learning rate, R1's gamma, the generator EMA's half-life (kimg) and ramp-up,
the batch, the length (kimg), path-length regularisation's weight and the
style-mixing probability. ``cifar`` also gives the discriminator the 'orig'
architecture instead of 'resnet'.

``auto`` is computed from the resolution and the number of GPUs (processes)
by train.py's formula (``auto_preset``); ``ref_gpus`` is the GPU count a
preset's batch was meant for (its batch per GPU is batch / ref_gpus).
Every network has 512-d z and w, clamps convolution outputs to +-256 and
names 4 float16 resolutions (which pygan records and ignores, see
``generator.py``), as train.py sets them.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Preset:
    name: str
    ref_gpus: int
    kimg: int               # training length, thousands of real images shown
    batch: int              # total over the ref_gpus GPUs
    mbstd_group: int        # minibatch standard deviation group size
    fmaps: float            # channel base = fmaps * 32768
    lr: float               # Adam's learning rate, both networks
    gamma: float            # R1 weight
    ema_kimg: float         # generator EMA half-life, thousands of images
    ema_rampup: float | None  # EMA half-life at most this fraction of the images shown so far
    mapping_layers: int
    d_architecture: str = "resnet"
    pl_weight: float = 2.0  # path-length regularisation (NVlabs' StyleGAN2Loss default)
    style_mixing: float = 0.9  # style-mixing probability (likewise)


PRESETS = {p.name: p for p in (
    # name          gpus  kimg     batch mbstd fmaps lr      gamma  ema  ramp   map
    Preset("stylegan2", 8, 25000, 32, 4, 1, 0.002, 10, 10, None, 8),
    Preset("paper256", 8, 25000, 64, 8, 0.5, 0.0025, 1, 20, None, 8),
    Preset("paper512", 8, 25000, 64, 8, 1, 0.0025, 0.5, 20, None, 8),
    Preset("paper1024", 8, 25000, 32, 4, 1, 0.002, 2, 10, None, 8),
    Preset("cifar", 2, 100000, 64, 32, 1, 0.0025, 0.01, 500, 0.05, 2,
           d_architecture="orig", pl_weight=0, style_mixing=0),
)}
# auto's row: what does not depend on the resolution; auto_preset fills in the rest.
AUTO = dict(name="auto", kimg=25000, ema_rampup=0.05, mapping_layers=2)
NAMES = ("auto", *PRESETS)

Z_DIM = W_DIM = 512
CHANNEL_MAX = 512
CONV_CLAMP = 256
NUM_FP16_RES = 4


def auto_preset(resolution: int, gpus: int = 1) -> Preset:
    """train.py's ``auto``: a batch that keeps memory in check, 4 per
    minibatch-std group, half the width below 512 pixels, and gamma from
    the heuristic 0.0002 * resolution^2 / batch."""
    batch = max(min(gpus * min(4096 // resolution, 32), 64), gpus)
    return Preset(ref_gpus=gpus, batch=batch, mbstd_group=min(batch // gpus, 4),
                  fmaps=1 if resolution >= 512 else 0.5, lr=0.002 if resolution >= 1024 else 0.0025,
                  gamma=0.0002 * resolution ** 2 / batch, ema_kimg=batch * 10 / 32, **AUTO)


def preset(name: str, resolution: int, gpus: int = 1) -> Preset:
    if name == "auto":
        return auto_preset(resolution, gpus)
    if name not in PRESETS:
        raise ValueError(f"unknown StyleGAN2 preset {name!r}; choose one of {', '.join(NAMES)}")
    return PRESETS[name]


def network_kwargs(p: Preset, resolution: int, channels: int, classes: int) -> tuple[dict, dict]:
    """The generator's and the discriminator's constructor arguments, in
    NVlabs' form (their ``init_kwargs``), as train.py builds them."""
    width = dict(channel_base=int(p.fmaps * 32768), channel_max=CHANNEL_MAX, num_fp16_res=NUM_FP16_RES,
                 conv_clamp=CONV_CLAMP)
    generator = dict(z_dim=Z_DIM, c_dim=classes, w_dim=W_DIM, img_resolution=resolution, img_channels=channels,
                     mapping_kwargs=dict(num_layers=p.mapping_layers), synthesis_kwargs=width)
    discriminator = dict(c_dim=classes, img_resolution=resolution, img_channels=channels,
                         architecture=p.d_architecture, **width, block_kwargs={}, mapping_kwargs={},
                         epilogue_kwargs=dict(mbstd_group_size=p.mbstd_group))
    return generator, discriminator
