"""Adaptive discriminator augmentation, ADA (Karras et al., *Training
Generative Adversarial Networks with Limited Data*, 2020): every image the
discriminator sees, real or fake, augmented (``pygan_plugins.ada_transforms``)
with a probability p that adapts to how much the discriminator overfits.

The overfitting measure is r_t = E[sign(D(real))], the mean sign of the
discriminator's logits (about the loss's decision threshold) on the real
training images it judged: near 0 when it cannot tell its training images
from others, near 1 when it has learnt them by heart. Every ``INTERVAL``
(4) discriminator batches of real images, p moves by (the images judged in
them) / (``--ada-kimg`` x 1,000) towards more augmentation if r_t is above
``--ada-target`` (0.6), less if below; never below 0. ``--ada-p`` fixes p
instead.

``AdaptiveAugment`` is a module without parameters: it becomes a submodule
of the discriminator, so that p and the controller's running sums are
buffers that checkpoints save and that follow the discriminator's device,
and it augments through a forward pre-hook added only when training. Its
controller runs on the device (no value is read back), fed by the
``judged_real`` hook.
"""

from __future__ import annotations

import torch
import torch.distributed
from torch import nn

import pygan
from pygan_plugins import ada_transforms
from pygan_plugins.ada_transforms import GROUPS

# NVlabs' pipelines by name; any comma-separated list of groups is one too.
PIPELINES = {
    "blit": ("blit",), "geom": ("geom",), "color": ("color",), "filter": ("filter",), "noise": ("noise",),
    "cutout": ("cutout",), "bg": ("blit", "geom"), "bgc": ("blit", "geom", "color"),
    "bgcf": ("blit", "geom", "color", "filter"), "bgcfn": ("blit", "geom", "color", "filter", "noise"),
    "bgcfnc": GROUPS,
}
INTERVAL = 4  # discriminator batches of real images between adjustments of p
ATTRIBUTE = "adaptive_augment"  # the submodule's name in the discriminator


def pipeline_groups(name: str) -> tuple[str, ...]:
    """'bgc' or 'blit,geom,color' -> ('blit', 'geom', 'color'), in the paper's order."""
    if name in PIPELINES:
        return PIPELINES[name]
    parts = {part.strip() for part in name.split(",")}
    return tuple(group for group in GROUPS if group in parts)


def check_pipeline(name) -> str | None:
    if isinstance(name, str) and (name in PIPELINES or (
            name.strip() and all(part.strip() in GROUPS for part in name.split(",")))):
        return None
    return (f"must be one of {', '.join(PIPELINES)}, or groups among {', '.join(GROUPS)} separated by commas")


class AdaptiveAugment(nn.Module):
    """The augmentation pipeline of ``groups`` applied with probability p (a
    buffer), and the controller that adapts p: fixed at ``p`` when given,
    else from 0 towards ``target`` at a rate of one unit per ``kimg``
    thousand images."""

    def __init__(self, groups: tuple[str, ...], p: float | None = None, target: float = 0.6,
                 kimg: float = 500.0) -> None:
        super().__init__()
        self.groups, self.adaptive, self.target, self.kimg = tuple(groups), p is None, target, kimg
        self.register_buffer("p", torch.tensor(0.0 if p is None else float(p)))
        # The last adjustment's r_t, and the sums since: signs, logits and
        # images judged, batches of them (one element each, on the device).
        self.register_buffer("overfitting", torch.zeros(()))
        self.register_buffer("signs", torch.zeros(()))
        self.register_buffer("judged", torch.zeros(()))
        self.register_buffer("images", torch.zeros(()))
        self.register_buffer("batches", torch.zeros((), dtype=torch.int64))
        # Constants: moved with the module, not saved.
        self.register_buffer("geometry_taps", ada_transforms.geometry_filter(), persistent=False)
        self.register_buffer("band_taps", ada_transforms.band_filters(), persistent=False)
        self.observed = 0  # reports seen in this process (host-side: whether the recipe reports at all)

    def extra_repr(self) -> str:
        return f"groups={','.join(self.groups)}, " + (f"target={self.target}, kimg={self.kimg}" if self.adaptive
                                                         else "fixed p")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """pygan images (in [0, 1]) augmented in the paper's range, [-1, 1],
        in float32 whatever the autocast."""
        with torch.autocast(images.device.type, enabled=False):
            x = images.float() * 2 - 1
            transforms = ada_transforms.draw(self.groups, self.p, tuple(x.shape))
            x = ada_transforms.augment(x, transforms, self.geometry_taps, self.band_taps)
            return (x + 1) / 2

    @torch.no_grad()
    def observe(self, logits: torch.Tensor, threshold: float) -> None:
        """Count the signs of the discriminator's logits for a batch of real
        images (about ``threshold``, the loss's decision boundary) and, every
        ``INTERVAL`` batches, adjust p: all on the device. In a data-parallel
        run the counts are summed over the processes, so that each keeps the
        same p."""
        self.observed += 1
        signs = torch.sign(logits.float() - threshold)
        counts = torch.stack([signs.sum(), signs.new_full((), signs.numel()), signs.new_full((), logits.shape[0])])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(counts)
        self.signs.add_(counts[0])
        self.judged.add_(counts[1])
        self.images.add_(counts[2])
        self.batches.add_(1)
        due = self.batches % INTERVAL == 0
        overfitting = self.signs / self.judged.clamp(min=1)
        self.overfitting.copy_(torch.where(due, overfitting, self.overfitting))
        if self.adaptive:
            step = torch.sign(overfitting - self.target) * self.images / (self.kimg * 1000)
            self.p.copy_(torch.where(due, (self.p + step).clamp(min=0), self.p))
        for total in (self.signs, self.judged, self.images):
            total.copy_(torch.where(due, torch.zeros_like(total), total))

    def metrics(self) -> dict[str, torch.Tensor]:
        """p, and r_t as of p's last adjustment, as the step's metrics."""
        return {"ada_p": self.p.clone(), "ada_rt": self.overfitting.clone()}


def attach(discriminator: nn.Module, config, training: bool) -> None:
    """Make ADA part of ``discriminator``: its state a submodule (so that the
    weights of a run with ADA load), and, when ``training``, every input
    augmented before the discriminator sees it."""
    if hasattr(discriminator, ATTRIBUTE):
        raise pygan.UsageError(f"--augment ada: the discriminator already has an attribute {ATTRIBUTE!r}")
    with torch.device("cpu"):  # its constants computed for real (a --dry-run builds on the meta device)
        pipeline = AdaptiveAugment(pipeline_groups(config["ada_pipeline"]), config["ada_p"], config["ada_target"],
                                   config["ada_kimg"])
    device = next((tensor.device for tensor in (*discriminator.parameters(), *discriminator.buffers())), None)
    discriminator.add_module(ATTRIBUTE, pipeline.to(device))
    if training:
        discriminator.register_forward_pre_hook(lambda module, inputs: (pipeline(inputs[0]), *inputs[1:]))


def attached(discriminator: nn.Module) -> AdaptiveAugment | None:
    """The discriminator's ADA pipeline, if it has one."""
    pipeline = getattr(discriminator, ATTRIBUTE, None)
    return pipeline if isinstance(pipeline, AdaptiveAugment) else None
