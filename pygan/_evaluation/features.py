"""FID and KID: measuring a generator against images without labels (photos)
in the features of a network trained elsewhere: torch-fidelity's InceptionV3,
the network behind published FID and KID numbers, or any TorchScript module.
pygan never downloads such a network's weights."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import torch

from pygan._contracts.messages import PyganError
from pygan._evaluation.distances import EMBED_BATCH, check_count, fit_images, frechet_distance, kernel_distance
from pygan._files.download import cache_dir
from pygan._files.reading import open_regular

# torch-fidelity's InceptionV3 weights (converted from TensorFlow's 2015-12-05
# Inception), the network behind published FID and KID numbers.
INCEPTION_WEIGHTS = "weights-inception-2015-12-05-6726825d.pth"


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
            for batch in images.split(EMBED_BATCH):
                batch = fit_images(batch.float(), (3, *batch.shape[-2:]))
                out.append(checked_features(features, (batch * 255).round().to(torch.uint8)))
        return torch.cat(out)

    real = embed_all(real_images[chosen])
    fake = embed_all(torch.cat([generator_fn(min(EMBED_BATCH, n - start), None).cpu()
                                for start in range(0, n, EMBED_BATCH)]))
    if bool((real.std(dim=0) == 0).all()):
        raise PyganError("the feature network gives every real image the same features: it cannot tell images "
                         "apart, and FID would say nothing; measure in another network's features")
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
