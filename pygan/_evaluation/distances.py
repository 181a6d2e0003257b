"""The distances and scores that compare generated with real images, computed
from features or class probabilities, whatever network gave them; and what
both kinds of measurement share before a network sees the images (how many
may be compared, images fitted to the network's shape)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from pygan._contracts.messages import PyganError

# Images put through a feature network at once.
EMBED_BATCH = 500
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000


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
