"""Measuring a generator against a labelled data set in the feature space of
a classifier of the data set's own classes, as TF-GAN's
``mnist_frechet_distance`` and ``mnist_score`` do: no network trained
elsewhere is needed, and for MNIST-like data such a classifier measures what
matters better than ImageNet's Inception. pygan trains the classifier the
first time it is needed and caches it under the data's checksum, so every
later evaluation of the same data uses the very same feature space:

- the Fréchet classifier distance (FCD): FID's formula on the classifier's
  penultimate-layer features; 0 for identical distributions;
- the classifier score: the Inception score's formula on its class
  probabilities; from 1 (every sample looks alike) to the number of classes
  (confident, evenly spread predictions);
- class shares: which class each sample is taken for, to see mode collapse.

Nothing here knows a particular data set: any ``Dataset`` whose images
come with labels serves (``load_labelled``, or labels in what it loads).
Data without labels is measured by FID and KID (``features``).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from pygan._contracts.messages import PyganError, notice
from pygan._contracts.records import Architecture
from pygan._evaluation.distances import (
    EMBED_BATCH,
    check_count,
    class_shares,
    classifier_score,
    fit_images,
    frechet_distance,
    label_accuracy,
)
from pygan._files.atomic import WriteError, atomic_writer, reporting_write_errors
from pygan._files.download import cache_dir
from pygan._training.data import as_batch
from pygan._training.sampling import sampler

# Bump when the network or its training changes, so that cached classifiers
# trained the old way are retrained instead of silently mixed in.
CLASSIFIER_VERSION = 1
FEATURES = 128
HELD_OUT = 1000  # images kept from training to measure the classifier's accuracy
TRAIN_STEPS = 1500  # a fixed budget, so training time does not grow with the data set
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
SEED = 0
# One class holding more than this share of the samples flags mode collapse.
COLLAPSE_SHARE = 0.5


class ClassifierNetwork(nn.Module):
    """Two conv-pool blocks and a 128-unit layer whose activations are the
    features; small enough to train on one CPU core in about half a minute."""

    def __init__(self, image_shape: tuple[int, int, int], classes: int) -> None:
        super().__init__()
        channels, height, width = image_shape
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64 * (height // 4) * (width // 4), FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, classes)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (N, 128) and class logits (N, classes)."""
        features = self.body(images)
        return features, self.head(features)


@dataclass
class Classifier:
    """A trained classifier and what the user should know about it."""

    network: ClassifierNetwork
    accuracy: float  # on the held-out images
    path: Path  # its cache file
    trained: bool  # True when trained in this call, False when read from the cache

    def embed(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return embed(self.network, images)


def embed(network: ClassifierNetwork, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (N, 128) and class probabilities (N, classes) of images in
    [0, 1], computed in batches on the network's device, returned on the CPU."""
    device = next(network.parameters()).device
    network.eval()
    features, probabilities = [], []
    with torch.no_grad():
        for batch in images.split(EMBED_BATCH):
            batch_features, logits = network(batch.to(device, torch.float32))
            features.append(batch_features.cpu())
            probabilities.append(logits.softmax(dim=1).cpu())
    return torch.cat(features), torch.cat(probabilities)


def data_checksum(images: torch.Tensor, labels: torch.Tensor) -> str:
    digest = hashlib.sha256()
    for tensor in (images, labels):
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_path(dataset: str, images: torch.Tensor, labels: torch.Tensor) -> Path:
    return cache_dir() / "classifiers" / f"{dataset}-{data_checksum(images, labels)[:16]}.pt"


def load_classifier(dataset: str, images: torch.Tensor, labels: torch.Tensor,
                    device: torch.device | str = "cpu") -> Classifier:
    """The classifier of these labelled images (float32 (N, C, H, W) in [0, 1],
    int64 labels (N,)): read from the cache, or trained and cached."""
    check_labelled(dataset, images, labels)
    path = cache_path(dataset, images, labels)
    with torch.random.fork_rng(devices=[]):  # seeded weights, and the caller's random state left alone
        torch.manual_seed(SEED)
        network = ClassifierNetwork(tuple(images.shape[1:]), int(labels.max()) + 1)
    saved = _read_cache(path)
    if saved is not None:
        try:
            network.load_state_dict(saved["network"])
            accuracy = saved["accuracy"]
            if isinstance(accuracy, bool) or not isinstance(accuracy, float) or not 0 <= accuracy <= 1:
                raise TypeError(f"its accuracy is {accuracy!r}")
            return Classifier(network.to(device), accuracy, path, trained=False)
        except (RuntimeError, KeyError, TypeError, AttributeError) as error:  # a cache is rebuilt, never fatal
            notice(f"{path}: a cached classifier that does not fit ({type(error).__name__}: "
                   f"{str(error).partition(chr(10))[0]}); training it again")
    notice(f"training the {dataset} classifier for evaluation (once; cached in {path})")
    start = time.monotonic()
    accuracy = train_classifier(network.to(device), images, labels)
    notice(f"classifier trained in {time.monotonic() - start:.0f} s: "
           f"{accuracy:.2%} accuracy on {HELD_OUT:,} held-out images")
    _write_cache(path, network, accuracy)
    return Classifier(network, accuracy, path, trained=True)


def _write_cache(path: Path, network: ClassifierNetwork, accuracy: float) -> None:
    """Cache the classifier; one that cannot be cached is trained again next
    time, so a failure to write it is worth a notice, not a failed command."""
    try:
        with reporting_write_errors(path.parent):
            path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_writer(path) as stream:
            torch.save({"version": CLASSIFIER_VERSION, "accuracy": accuracy,
                        "network": {key: value.cpu() for key, value in network.state_dict().items()}}, stream)
    except WriteError as error:
        notice(f"{error}; the classifier is not cached and will be trained again next time")


def check_labelled(dataset: str, images: torch.Tensor, labels: torch.Tensor) -> None:
    if labels is None:
        raise PyganError(f"data set {dataset!r} gave no labels, and its classifier needs them")
    as_batch(dataset, (images, labels))  # float images (N, C, H, W), integer labels 0, 1, ... (N,)
    if len(images) < 2 * HELD_OUT:
        raise PyganError(f"data set {dataset!r} has {len(images):,} labelled images; training its classifier "
                         f"needs at least {2 * HELD_OUT:,} ({HELD_OUT:,} of them held out)")


def _read_cache(path: Path) -> dict | None:
    """The cached classifier, or None when it is missing, unreadable or from
    an older pygan: a cache can always be rebuilt, so it never fails a run."""
    if not path.is_file():
        return None
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        notice(f"{path}: unreadable cached classifier ({type(error).__name__}); training it again")
        return None
    if not isinstance(saved, dict) or saved.get("version") != CLASSIFIER_VERSION:
        return None
    return saved


def train_classifier(network: ClassifierNetwork, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Train on all but a random ``HELD_OUT`` images; return the accuracy on
    those. The same data and seed give the same weights on the CPU."""
    device = next(network.parameters()).device
    rng = torch.Generator().manual_seed(SEED)
    # Random, not the last images: a data set sorted by class would otherwise
    # hold out a single class.
    order = torch.randperm(len(images), generator=rng)
    held_out, training = order[:HELD_OUT], order[HELD_OUT:]
    optimizer = torch.optim.Adam(network.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=LEARNING_RATE, total_steps=TRAIN_STEPS)
    network.train()
    batches = torch.empty(0, dtype=torch.long)
    for _ in range(TRAIN_STEPS):
        if len(batches) < BATCH_SIZE:  # a fresh shuffle of the training images each epoch
            batches = training[torch.randperm(len(training), generator=rng)]
        batch, batches = batches[:BATCH_SIZE], batches[BATCH_SIZE:]
        _, logits = network(images[batch].to(device))
        loss = nn.functional.cross_entropy(logits, labels[batch].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    _, probabilities = embed(network, images[held_out])
    return (probabilities.argmax(dim=1) == labels[held_out]).float().mean().item()


def evaluate(generator_fn: Callable[[int, torch.Tensor | None], torch.Tensor], real_images: torch.Tensor,
             classifier: Classifier, n: int, seed: int = 0, classes: int = 0) -> dict:
    """Compare ``n`` samples of ``generator_fn(count, labels) -> images in
    [0, 1]`` with ``n`` real images drawn at random (by ``seed``) from
    ``real_images``. For a conditional generator (``classes`` > 0) the
    samples are asked for the classes 0, 1, 2, ... in turn, spread evenly,
    and ``labels`` is their int64 (count,) tensor; else it is None.

    Returns the FCD, the classifier score of the samples and of the real
    images, each class's share of the samples, ``mode_collapse`` (True when
    one class holds more than half of them) and, for conditional
    generators, ``label_accuracy``: how often the classifier recognises the
    class asked for.
    """
    check_count(n, len(real_images))
    chosen = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(seed))[:n]
    real_features, real_probabilities = classifier.embed(real_images[chosen])
    asked = torch.arange(n) % classes if classes else None
    # Samples of another shape (a 3x32x32 generator measured by a 1x28x28
    # classifier) are converted and resized to the classifier's.
    samples = [fit_images(generator_fn(min(EMBED_BATCH, n - start),
                                       None if asked is None else asked[start:start + EMBED_BATCH]).cpu(),
                          tuple(real_images.shape[1:])) for start in range(0, n, EMBED_BATCH)]
    fake_features, fake_probabilities = classifier.embed(torch.cat(samples))
    shares = class_shares(fake_probabilities)
    dominant = int(np.argmax(shares))
    results = {
        "n": n,
        "fcd": frechet_distance(real_features, fake_features),
        "classifier_score": classifier_score(fake_probabilities),
        "real_classifier_score": classifier_score(real_probabilities),
        "class_shares": shares,
        "dominant_class": dominant,
        "dominant_class_share": shares[dominant],
        "mode_collapse": shares[dominant] > COLLAPSE_SHARE,
        "classifier_accuracy": classifier.accuracy,
    }
    if asked is not None:
        results["label_accuracy"] = label_accuracy(fake_probabilities, asked)
    return results




class ClassifierMetrics:
    """The FCD, classifier score, class shares and (for conditional
    generators) label accuracy of a generator's samples against labelled real
    ``images``, in the feature space of their classifier (trained once, then
    cached): what ``pygan eval`` and ``--eval-every`` report."""

    def __init__(self, dataset: str, images: torch.Tensor, labels: torch.Tensor,
                 device: torch.device | str = "cpu") -> None:
        self.images, self.device = images, torch.device(device)
        self.classifier = load_classifier(dataset, images, labels, device)

    def measure(self, architecture: Architecture, generator: nn.Module, n: int, sample_seed: int,
                real_seed: int = 0) -> dict:
        """``evaluate`` for ``n`` samples of ``generator`` drawn from
        ``sample_seed``, against ``n`` real images drawn from ``real_seed``."""
        draw = sampler(architecture, generator, torch.Generator(self.device).manual_seed(sample_seed), self.device)
        return evaluate(draw, self.images, self.classifier, n, seed=real_seed, classes=architecture.classes)
