"""FID and KID: measuring a generator against images without labels (photos)
in the features of a network trained elsewhere: torch-fidelity's InceptionV3,
the network behind published FID and KID numbers, or any TorchScript module.
pygan never downloads such a network's weights."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from pygan._contracts.messages import PyganError
from pygan._evaluation.distances import EMBED_BATCH, fit_images, frechet_distance, kernel_distance
from pygan._files.download import cache_dir

# torch-fidelity's InceptionV3 weights (converted from TensorFlow's 2015-12-05
# Inception), the network behind published FID and KID numbers.
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


def feature_distances(generator_fn: Callable[[int, torch.Tensor | None], torch.Tensor], real_images: torch.Tensor,
                      features: Callable[[torch.Tensor], torch.Tensor], n: int, seed: int = 0) -> dict:
    """FID and KID between ``n`` samples of ``generator_fn(count, None)`` and
    ``n`` real images drawn at random (by ``seed``), in the space of
    ``features``: a function of uint8 RGB images (N, 3, H, W) returning
    features (N, D), as torch-fidelity's InceptionV3 takes them."""
    if not 2 <= n <= len(real_images):
        raise PyganError(f"cannot compare {n:,} generated samples with as many real images: the data set has "
                         f"{len(real_images):,}; choose --n from 2 to {len(real_images):,}")
    chosen = torch.randperm(len(real_images), generator=torch.Generator().manual_seed(seed))[:n]

    def embed_all(images: torch.Tensor) -> torch.Tensor:
        out = []
        with torch.no_grad():
            for batch in images.split(EMBED_BATCH):
                batch = fit_images(batch.float(), (3, *batch.shape[-2:]))
                out.append(features((batch * 255).round().to(torch.uint8)).double().cpu())
        return torch.cat(out)

    real = embed_all(real_images[chosen])
    fake = embed_all(torch.cat([generator_fn(min(EMBED_BATCH, n - start), None).cpu()
                                for start in range(0, n, EMBED_BATCH)]))
    kid, kid_std = kernel_distance(real, fake, seed=seed)
    return {"n": n, "fid": frechet_distance(real, fake), "kid": kid, "kid_std": kid_std}


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
    """torch-fidelity's InceptionV3 (its 2048 pool features) from local weights."""
    path = inception_weights_path(weights)
    try:
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    except ImportError as error:
        raise PyganError(f"FID and KID with InceptionV3 need torch-fidelity: pip install \"pygan[metrics]\" "
                         f"({error})") from None
    network = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
    network = network.to(device).eval()
    return lambda images: network(images.to(device))[0]


def feature_network(path: Path, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A TorchScript module (``torch.jit.save``) mapping uint8 RGB images
    (N, 3, H, W) to features (N, D): any feature space for FID and KID."""
    try:
        network = torch.jit.load(str(path), map_location=device).eval()
    except Exception as error:
        raise PyganError(f"{path}: cannot be read as a TorchScript feature network ({type(error).__name__}: "
                         f"{str(error).partition(chr(10))[0]}); save one with torch.jit.save") from None

    def run(images: torch.Tensor) -> torch.Tensor:
        out = network(images.to(device))
        return out.flatten(1) if isinstance(out, torch.Tensor) else out[0].flatten(1)
    return run
