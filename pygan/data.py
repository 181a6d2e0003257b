"""Real samples for training: a data set plugin's images (and labels), kept
on the training device and drawn from at random with replacement, as the
seed does (no epochs)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import torch

from pygan.errors import PyganError, UsageError
from pygan.specs import Architecture, Batch, Dataset


class InMemoryData:
    """Images (N, C, H, W) and their labels (N,) or None, on one device."""

    def __init__(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def draw(self, n: int, rng: torch.Generator) -> Batch:
        """``n`` samples at random with replacement; indexed on the device,
        so nothing waits for the host (and a CUDA graph can replay it)."""
        indices = torch.randint(0, len(self.images), (n,), generator=rng, device=self.images.device)
        return Batch(self.images[indices], None if self.labels is None else self.labels[indices])


def as_batch(name: str, loaded: Any) -> Batch:
    """What a data set's ``load`` returned, checked: images, or a ``Batch``
    (or pair) of images and labels."""
    images, labels = (loaded if isinstance(loaded, tuple) and len(loaded) == 2 else (loaded, None))
    if not (isinstance(images, torch.Tensor) and images.dim() == 4 and images.is_floating_point() and len(images)):
        raise PyganError(f"data set {name!r} returned {type(images).__name__} "
                         f"{tuple(getattr(images, 'shape', ()))}; expected a non-empty float tensor (N, C, H, W)")
    if labels is not None and not (isinstance(labels, torch.Tensor) and labels.shape == (len(images),)
                                   and not labels.is_floating_point() and labels.min() >= 0):
        raise PyganError(f"data set {name!r} returned labels {tuple(getattr(labels, 'shape', ()))} for "
                         f"{len(images)} images; expected integer labels 0, 1, ... of shape ({len(images)},)")
    return Batch(images, labels)


def load_data(dataset: Dataset, data_dir: Optional[str], architecture: Architecture,
              device: torch.device) -> InMemoryData:
    """The data set's samples on ``device``, checked against what the
    architecture needs (labels for a conditional one)."""
    images, labels = as_batch(dataset.name, dataset.load(Path(data_dir) if data_dir else None))
    if architecture.conditional:
        if labels is None:
            raise UsageError(f"architecture {architecture.name!r} is conditional (it generates a chosen class) and "
                             f"needs a data set with labels, but {dataset.name!r} has none; choose one with "
                             f"--dataset (mnist and fashion-mnist have labels)")
        if int(labels.max()) >= architecture.classes:
            raise UsageError(f"data set {dataset.name!r} has labels up to {int(labels.max())}, but architecture "
                             f"{architecture.name!r} generates {architecture.classes} classes (0 to "
                             f"{architecture.classes - 1})")
    else:
        labels = None  # an unconditional run has no use for them
    return InMemoryData(images.to(device=device, dtype=torch.float32),
                        None if labels is None else labels.to(device=device, dtype=torch.int64))
