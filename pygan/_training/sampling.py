"""Drawing images from a generator: the run's fixed sample grid, a trained
run's networks rebuilt and read from a checkpoint, one class, a grid of every
class, a code swept across a row, walks between latents (spherical for
normal noise), and the evenly labelled samples evaluation compares."""

from __future__ import annotations

import inspect
import math
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from pygan._config.registry import Plugins
from pygan._config.resolve import saved_config
from pygan._contracts.messages import PyganError, UsageError
from pygan._contracts.records import Architecture, Latent, normal_noise
from pygan._training import checkpoint
from pygan._training.networks import build_network, recorded_architecture

SAMPLE_GRID_SIZE = 16  # the seed's 4x4 grid
SWEEP_RANGE = (-2.0, 2.0)  # the book's InfoGAN code sweep


def fixed_latent(architecture: Architecture, seed: int, device: torch.device) -> Latent:
    """The latent of a run's sample grids, drawn once from its own seed;
    a conditional architecture's grid asks for classes 0, 1, 2, ... in turn."""
    rng = torch.Generator().manual_seed(seed + 1)
    labels = torch.arange(SAMPLE_GRID_SIZE) % architecture.classes if architecture.conditional else None
    latent = architecture.draw_latent(SAMPLE_GRID_SIZE, rng, torch.device("cpu"), labels)
    return to_device(latent, device)


def to_device(latent: Latent, device: torch.device) -> Latent:
    return Latent(*(None if part is None else part.to(device) for part in latent))


# Images a generator makes at once: many more (pygan sample --n) are made in
# parts, so that the network's activations stay small beside the images.
GENERATE_BATCH = 256


def generate(architecture: Architecture, generator: nn.Module, latent: Latent,
             truncation: float | None = None) -> torch.Tensor:
    """Images for ``latent``, the generator in inference mode (in which each
    image depends on its own latent only, so the parts do not matter),
    clamped to [0, 1]: a generator whose output is not bounded (StyleGAN2's)
    overshoots a little, which training must see but pictures cannot show.
    ``truncation``: passed as ``truncation_psi`` (see ``check_truncation``)."""
    generator.eval()
    options = {} if truncation is None else {"truncation_psi": truncation}
    with torch.no_grad():
        parts = [generator(*architecture.generator_inputs(
                    Latent(*(None if part is None else part[start:start + GENERATE_BATCH] for part in latent))),
                           **options)
                 for start in range(0, len(latent.z), GENERATE_BATCH)]
    return (parts[0] if len(parts) == 1 else torch.cat(parts)).clamp_(0, 1)


def sampler(architecture: Architecture, generator: nn.Module, rng: torch.Generator,
            device: torch.device) -> Callable[[int, torch.Tensor | None], torch.Tensor]:
    """``draw(count, labels)``: images of fresh latents from ``rng``, of the
    given classes (for a conditional architecture; random ones if None)."""
    def draw(count: int, labels: torch.Tensor | None = None) -> torch.Tensor:
        labels = None if labels is None else labels.to(device)
        return generate(architecture, generator, architecture.draw_latent(count, rng, device, labels))
    return draw


def class_grid_latent(architecture: Architecture, columns: int, rng: torch.Generator,
                      device: torch.device) -> Latent:
    """One row per class, ``columns`` samples each."""
    require_classes(architecture, "--class-grid")
    labels = torch.arange(architecture.classes, device=device).repeat_interleave(columns)
    return architecture.draw_latent(len(labels), rng, device, labels)


def sweep_latent(architecture: Architecture, code: int, columns: int, rng: torch.Generator,
                 device: torch.device) -> Latent:
    """One row per class (a single row for an unconditional architecture):
    the same noise along a row, code number ``code`` (from 0) swept from -2
    to 2 across it and the other codes held at 0."""
    if not 0 <= code < architecture.codes:
        have = f"codes code1 to code{architecture.codes}" if architecture.codes else "no codes"
        raise UsageError(f"--sweep code{code + 1}: architecture {architecture.name!r} has {have}")
    rows = max(architecture.classes, 1)
    z = architecture.sample_noise(rows, architecture.latent_size, rng, device).repeat_interleave(columns, dim=0)
    labels = torch.arange(rows, device=device).repeat_interleave(columns) if architecture.conditional else None
    codes = torch.zeros(rows * columns, architecture.codes, device=device)
    codes[:, code] = torch.linspace(*SWEEP_RANGE, columns, device=device).repeat(rows)
    return Latent(z, labels, codes)


def check_truncation(architecture: Architecture, generator: nn.Module, truncation: float | None, flag: str) -> None:
    """The truncation trick (StyleGAN's: each latent pulled towards the
    average by ``truncation``, 1 for none) is for generators whose
    ``forward`` takes a ``truncation_psi`` argument, the name NVlabs' give it."""
    if truncation is None:
        return
    if not math.isfinite(truncation):
        raise UsageError(f"{flag} {truncation}: give a finite number (1: no truncation; 0.7 is usual)")
    if "truncation_psi" not in inspect.signature(generator.forward).parameters:
        raise UsageError(f"{flag}: architecture {architecture.name!r} has no truncation (its generator takes no "
                         f"truncation_psi)")


def require_classes(architecture: Architecture, flag: str) -> None:
    if not architecture.conditional:
        raise UsageError(f"{flag} needs a conditional architecture; {architecture.name!r} generates no chosen class")


def load_networks(plugins: Plugins, path: Path, device: torch.device | str, networks: tuple[str, ...] = ("generator",)
                  ) -> tuple[dict, Architecture, dict[str, nn.Module]]:
    """A checkpoint's state (any format), its architecture (configured as the
    run was), and the ``networks`` it holds, built from the run's
    configuration and loaded, in inference mode: the generator's moving
    average where the run kept one; no discriminator from pygan 0.1's
    checkpoints, which kept none. A checkpoint whose contents do not fit is
    refused, naming it."""
    state = checkpoint.load(path, map_location=device)
    state["config"] = saved_config(plugins, state["config"], str(state["path"]))
    architecture = recorded_architecture(plugins, state["config"])
    shape = tuple(state["image_shape"])
    if architecture.image_shape is not None and tuple(architecture.image_shape(state["config"])) != shape:
        raise UsageError(f"{state['path']}: its image shape {list(shape)} is not what {architecture.name!r} makes "
                         f"with the run's options ({list(architecture.image_shape(state['config']))}): the checkpoint "
                         f"has been altered; use another checkpoint")
    weights = {"generator": checkpoint.generator_weights(state),
               "discriminator": checkpoint.discriminator_weights(state)}
    modules = {}
    for network in networks:
        if weights[network] is None:
            continue
        try:
            module = build_network(plugins, architecture, network, state["config"], shape, device, training=False)
            module.load_state_dict(weights[network])
        except (PyganError, RuntimeError, KeyError, TypeError) as error:
            raise UsageError(f"{state['path']}: its {network} weights do not fit a {architecture.name!r} {network} "
                             f"of {'x'.join(map(str, shape))} images ({str(error).partition(chr(10))[0]}): the "
                             f"checkpoint has been altered or damaged; use another checkpoint") from None
        modules[network] = module.eval()
    return state, architecture, modules


def load_generator(plugins: Plugins, path: Path, device: torch.device) -> tuple[dict, Architecture, nn.Module]:
    """A checkpoint's state, its architecture and its generator (see ``load_networks``)."""
    state, architecture, modules = load_networks(plugins, path, device)
    return state, architecture, modules["generator"]


def spherical(architecture: Architecture) -> bool:
    """Whether the architecture draws normal latents, which are walked along great circles (slerp)."""
    return architecture.sample_noise is normal_noise


def slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between rows of ``a`` and ``b`` (White 2016,
    *Sampling Generative Networks*): normal latents keep their typical norm
    along the way, where a straight line would pass through improbably short
    vectors; linear where the two are (nearly) parallel."""
    cosine = ((a * b).sum(dim=1, keepdim=True) / (a.norm(dim=1, keepdim=True) * b.norm(dim=1, keepdim=True))
              ).clamp(-1, 1)
    omega = torch.arccos(cosine)
    sine = torch.sin(omega)
    safe = sine.abs() > 1e-6
    spherical_mix = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.where(safe, sine, 1.0)
    return torch.where(safe, spherical_mix, (1 - t) * a + t * b)


def interpolation_latents(architecture: Architecture, walks: int, points: int, frames: int,
                          rng: torch.Generator, device: torch.device) -> list[Latent]:
    """``walks`` walks through ``points`` random latents and back to the
    first, ``frames`` latents from each point to the next: one ``Latent`` of
    ``walks`` rows per frame. Noise and codes are slerped for normal latents,
    else interpolated linearly; a conditional architecture keeps each walk's
    class, drawn at random."""
    keys = [architecture.draw_latent(walks, rng, device) for _ in range(points)]
    labels = keys[0].labels
    mix = slerp if spherical(architecture) else (lambda a, b, t: (1 - t) * a + t * b)
    latents = []
    for leg in range(points):
        start, end = keys[leg], keys[(leg + 1) % points]
        for frame in range(frames):
            t = frame / frames
            codes = None if start.codes is None else mix(start.codes, end.codes, t)
            latents.append(Latent(mix(start.z, end.z, t), labels, codes))
    return latents
