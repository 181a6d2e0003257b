"""Measuring a generator against a labelled data set, without downloaded weights.

The Inception network behind FID and the Inception score cannot be fetched
here, so, like TF-GAN's ``mnist_frechet_distance`` and ``mnist_score``, pygan
measures samples in the feature space of a small classifier. It trains that
classifier itself on the data set's labels the first time it is needed and
caches it under the data's checksum, so every later evaluation of the same
data uses the very same feature space:

- the Fréchet classifier distance (FCD): FID's formula on the classifier's
  penultimate-layer features; 0 for identical distributions;
- the classifier score: the Inception score's formula on its class
  probabilities; from 1 (every sample looks alike) to the number of classes
  (confident, evenly spread predictions);
- class shares: which class each sample is taken for, to see mode collapse.

Nothing here knows a particular data set: any ``Dataset`` whose images
come with labels serves (``load_labelled``, or labels in what it loads).
"""

from __future__ import annotations

import hashlib
import io
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from pygan.console import notice
from pygan.data import Samples, as_batch, to_unit_floats
from pygan.download import cache_dir
from pygan.errors import PyganError
from pygan.files import WriteError, atomic_writer, reporting_write_errors
from pygan.reading import open_regular
from pygan.specs import Dataset, DataRequest

# Bump when the network or its training changes, so that cached classifiers
# trained the old way are retrained instead of silently mixed in.
CLASSIFIER_VERSION = 1
FEATURES = 128
HELD_OUT = 1000  # images kept from training to measure the classifier's accuracy
TRAIN_STEPS = 1500  # a fixed budget, so training time does not grow with the data set
BATCH_SIZE = 64
LEARNING_RATE = 2e-3
SEED = 0
EVAL_BATCH = 500
# One class holding more than this share of the samples flags mode collapse.
COLLAPSE_SHARE = 0.5
# Real images read from a streamed data set at most; more make the statistics no better.
MAX_REAL_IMAGES = 50_000


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
        for batch in images.split(EVAL_BATCH):
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


def frechet_distance(features_a, features_b) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of feature
    vectors (N, D): |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    tr((S_a S_b)^(1/2)) equals tr((R S_b R)^(1/2)) with R = S_a^(1/2), and
    R S_b R is symmetric positive semi-definite, so two symmetric eigen-
    decompositions give it exactly, with no general matrix square root.
    """
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    covariance_a, covariance_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _psd_sqrt(covariance_a)
    # Rounding leaves tiny negative eigenvalues where the true ones are 0.
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ covariance_b @ root_a), 0, None)).sum()
    distance = ((mean_a - mean_b) ** 2).sum() + np.trace(covariance_a) + np.trace(covariance_b) - 2 * trace_root
    return max(float(distance), 0.0)


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def classifier_score(probabilities) -> float:
    """exp(E_x[KL(p(y|x) || p(y))]) over class probabilities (N, classes):
    the Inception score's formula, computed over all N at once."""
    p = torch.as_tensor(probabilities, dtype=torch.float64)
    marginal = p.mean(dim=0, keepdim=True)
    # xlogy makes 0 log 0 = 0; wherever p > 0 the marginal is > 0 too.
    kl = (torch.special.xlogy(p, p) - torch.special.xlogy(p, marginal)).sum(dim=1)
    return float(kl.mean().exp())


def class_shares(probabilities) -> list[float]:
    """The share of the samples that the classifier takes for each class."""
    p = torch.as_tensor(probabilities)
    counts = torch.bincount(p.argmax(dim=1), minlength=p.shape[1])
    return (counts.double() / len(p)).tolist()


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
    samples = [fit_images(generator_fn(min(EVAL_BATCH, n - start),
                                       None if asked is None else asked[start:start + EVAL_BATCH]).cpu(),
                          tuple(real_images.shape[1:])) for start in range(0, n, EVAL_BATCH)]
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


def check_count(n: int, real: int) -> None:
    """``n`` samples can be compared with as many of ``real`` images: from 2 to all of them."""
    if real < 2:
        raise PyganError(f"the data set has {real:,} real image(s), and a comparison of samples with real images "
                         f"needs at least 2; measure against a larger data set (--dataset, --data-dir)")
    if not 2 <= n <= real:
        raise PyganError(f"cannot compare {n:,} generated samples with as many real images: the data set has "
                         f"{real:,}; choose --n from 2 to {real:,}")


def label_accuracy(probabilities, asked: torch.Tensor) -> float:
    """The share of samples the classifier puts in the class they were asked for."""
    return float((torch.as_tensor(probabilities).argmax(dim=1) == asked).double().mean())


# --- data without labels: FID and KID in a feature network's space ------------------

# torch-fidelity's InceptionV3 weights (converted from TensorFlow's 2015-12-05
# Inception), the network behind published FID and KID numbers.
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


def fit_images(images: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Images in [0, 1] made (C, H, W) ``shape``: RGB to grayscale by luminance
    (as Pillow's "L"), grayscale to RGB by repeating it, an alpha channel
    dropped; then resized (bilinear, antialiased). So that samples can be
    measured by a classifier or feature network made for other images."""
    channels, height, width = shape
    have = images.shape[1]
    if have != channels:
        if have >= 3:
            images = images[:, :3]
        if channels == 1 and images.shape[1] == 3:
            weights = torch.tensor([0.299, 0.587, 0.114], dtype=images.dtype, device=images.device)
            images = (images * weights[:, None, None]).sum(dim=1, keepdim=True)
        elif images.shape[1] == 1:
            images = images.expand(-1, channels, -1, -1)
        if images.shape[1] != channels:
            raise PyganError(f"cannot turn {have}-channel images into {channels}-channel ones for measuring")
    if images.shape[-2:] != (height, width):
        images = nn.functional.interpolate(images.float(), size=(height, width), mode="bilinear",
                                           align_corners=False, antialias=True).clamp(0, 1)
    return images


def kernel_distance(features_a, features_b, subsets: int = KID_SUBSETS, subset_size: int = KID_SUBSET_SIZE,
                    seed: int = 0) -> tuple[float, float]:
    """The kernel inception distance (Binkowski et al. 2018): the unbiased
    MMD^2 with the kernel k(x, y) = (x.y / d + 1)^3, averaged over random
    subsets as torch-fidelity and the paper do; returns its mean and standard
    deviation. 0 in expectation for one distribution."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    size = min(subset_size, len(a), len(b))
    if size < 2:
        raise PyganError("the kernel distance needs at least 2 samples of each kind")
    rng = np.random.default_rng(seed)
    dimensions = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx = (x @ x.T / dimensions + 1) ** 3
        kyy = (y @ y.T / dimensions + 1) ** 3
        kxy = (x @ y.T / dimensions + 1) ** 3
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        values.append(within - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def feature_distances(generator_fn: Callable[[int, torch.Tensor | None], torch.Tensor], real_images: torch.Tensor,
                      features: Callable[[torch.Tensor], torch.Tensor], n: int, seed: int = 0) -> dict:
    """FID and KID between ``n`` samples of ``generator_fn(count, None)`` and
    ``n`` real images drawn at random (by ``seed``), in the space of
    ``features``: a function of uint8 RGB images (N, 3, H, W) returning
    features (N, D), as torch-fidelity's InceptionV3 takes them."""
    check_count(n, len(real_images))
    chosen = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(seed))[:n]

    def embed_all(images: torch.Tensor) -> torch.Tensor:
        out = []
        with torch.no_grad():
            for batch in images.split(EVAL_BATCH):
                batch = fit_images(batch.float(), (3, *batch.shape[-2:]))
                out.append(checked_features(features, (batch * 255).round().to(torch.uint8)))
        return torch.cat(out)

    real = embed_all(real_images[chosen])
    fake = embed_all(torch.cat([generator_fn(min(EVAL_BATCH, n - start), None).cpu()
                                for start in range(0, n, EVAL_BATCH)]))
    if bool((real.std(dim=0) == 0).all()):
        raise PyganError(f"the feature network gives every real image the same features: it cannot tell images "
                         f"apart, and FID would say nothing; measure in another network's features")
    kid, kid_std = kernel_distance(real, fake, seed=seed)
    return {"n": n, "fid": frechet_distance(real, fake), "kid": kid, "kid_std": kid_std}


def checked_features(features: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """``features(images)`` as float64 (N, D) on the CPU, or a PyganError
    saying how the feature network failed or what it returned instead."""
    try:
        out = features(images)
    except PyganError:
        raise
    except Exception as error:
        raise PyganError(f"the feature network failed on {len(images)} images ({type(error).__name__}: "
                         f"{str(error).partition(chr(10))[0]})") from None
    if not (isinstance(out, torch.Tensor) and out.dim() == 2 and len(out) == len(images) and out.shape[1] > 0
            and out.is_floating_point()):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise PyganError(f"the feature network returned {shape} for {len(images)} images, where features are "
                         f"floats (N, D) (N = {len(images)}); check the network")
    out = out.detach().double().cpu()
    if not bool(torch.isfinite(out).all()):
        raise PyganError("the feature network returned NaN or infinite features; check the network")
    return out


def inception_weights_path(given: Path | None = None) -> Path:
    """Where the InceptionV3 weights are: ``given``, else pygan's cache, else
    torch hub's; an error saying where to put them when they are nowhere."""
    candidates = [Path(given)] if given else [cache_dir() / "inception" / INCEPTION_WEIGHTS,
                                              Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS]
    for path in candidates:
        if path.is_file():
            return path
    raise PyganError(f"the InceptionV3 weights for FID and KID are not at {' or '.join(map(str, candidates))}, and "
                     f"pygan does not download them. Copy {INCEPTION_WEIGHTS} (torch-fidelity's release "
                     f"v0.2.0 on GitHub) to {candidates[0]}, or give its path with --inception-weights; or measure "
                     f"in another network's features with --feature-network")


def inception_network(weights: Path | None, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """torch-fidelity's InceptionV3 (its 2048 pool features) from local
    weights, which pygan reads itself, as tensors only: torch-fidelity would
    unpickle the file with torch.load(weights_only=False), which runs any
    code a planted file holds."""
    path = inception_weights_path(weights)
    state = inception_state(path)
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except Exception as error:  # not installed, or a torchvision that does not fit this torch
        raise PyganError(f"FID and KID with InceptionV3 need torch-fidelity, and it cannot be imported "
                         f"({type(error).__name__}: {str(error).partition(chr(10))[0]}); install it with pip "
                         f"install \"pygan[metrics]\" torchvision==VERSION, naming the torchvision that matches your "
                         f"torch {torch.__version__}") from None
    # torch-fidelity loads what it is given: a copy of the checked tensors, in memory.
    tensors_only = io.BytesIO()
    torch.save(state, tensors_only)
    tensors_only.seek(0)
    try:
        network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"],
                                              feature_extractor_weights_path=tensors_only)
    except Exception as error:  # the tensors do not fit the network
        raise PyganError(f"{path}: not torch-fidelity's InceptionV3 weights ({type(error).__name__}: "
                         f"{str(error).partition(chr(10))[0]}); use {INCEPTION_WEIGHTS}") from None
    network = network.to(device).eval()
    return lambda images: network(images.to(device))[0]


def inception_state(path: Path) -> dict[str, torch.Tensor]:
    """The weights file's tensors, read with weights_only (no code of the
    file's runs), or a PyganError when it holds anything else."""
    try:
        with open_regular(path) as stream:
            state = torch.load(stream, map_location="cpu", weights_only=True)
    except PyganError:
        raise
    except Exception as error:  # a pickle calling code, truncated, not a torch file: whatever torch raises
        raise PyganError(f"{path}: not InceptionV3 weights pygan can read safely, as tensors only "
                         f"({type(error).__name__}: {str(error).partition(chr(10))[0]}); use "
                         f"{INCEPTION_WEIGHTS} from torch-fidelity's release v0.2.0") from None
    if not (isinstance(state, dict) and state
            and all(isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items())):
        raise PyganError(f"{path}: holds {type(state).__name__}, not a state dict of tensors; use "
                         f"{INCEPTION_WEIGHTS} from torch-fidelity's release v0.2.0")
    return state


def feature_network(path: Path, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A TorchScript module (``torch.jit.save``) mapping uint8 RGB images
    (N, 3, H, W) to features (N, D): any feature space for FID and KID."""
    try:
        with open_regular(path) as stream:
            network = torch.jit.load(stream, map_location=device).eval()
    except PyganError:
        raise
    except Exception as error:
        raise PyganError(f"{path}: cannot be read as a TorchScript feature network ({type(error).__name__}: "
                         f"{str(error).partition(chr(10))[0]}); save one with torch.jit.save") from None

    def run(images: torch.Tensor) -> torch.Tensor:
        out = network(images.to(device))
        if isinstance(out, (tuple, list)) and out:  # features first, as torch-fidelity's networks return them
            out = out[0]
        return out.flatten(1) if isinstance(out, torch.Tensor) and out.dim() > 2 else out
    return run
