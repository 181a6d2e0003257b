"""The real images generated ones are measured against."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pygan._contracts.records import DataRequest, Dataset, Samples
from pygan._training.data import as_batch, to_unit_floats

# Real images read from a streamed data set at most; more make the statistics no better.
MAX_REAL_IMAGES = 50_000


def reference_images(dataset: Dataset, data_dir, image_shape, config) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The real images (float32 in [0, 1]) and their labels, or None, to
    measure samples against: the data set's ``load_labelled`` when it has
    one, else what it loads (a data set that opens at a shape is asked for
    the samples' shape; a streamed one gives a random MAX_REAL_IMAGES)."""
    path = Path(data_dir) if data_dir else None
    if dataset.load_labelled is not None:
        return as_batch(dataset.name, dataset.load_labelled(path))
    loaded = (dataset.open(DataRequest(path, image_shape, False, config)) if dataset.open is not None
              else dataset.load(path))
    if isinstance(loaded, Samples):
        count = min(len(loaded), MAX_REAL_IMAGES)
        chosen = np.sort(np.random.default_rng(0).choice(len(loaded), count, replace=False))
        images = to_unit_floats(loaded.read(chosen))
        return images, None if loaded.labels is None else loaded.labels[torch.from_numpy(chosen)]
    return as_batch(dataset.name, loaded)
