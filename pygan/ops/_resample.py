"""StyleGAN2's resampling helpers: a filter set up once, and upfirdn2d with
the padding that keeps an image's size (``filter2d``), doubles it
(``upsample2d``) or halves it (``downsample2d``). Each is one upfirdn2d call;
the padding arithmetic is NVlabs' (stylegan2-ada-pytorch), so that pictures
line up with theirs pixel for pixel."""

from __future__ import annotations

import torch

from pygan.ops import _parameters, upfirdn2d


def setup_filter(f, device: torch.device | str = "cpu", normalize: bool = True, flip_filter: bool = False,
                 gain: float = 1, separable: bool | None = None) -> torch.Tensor:
    """A float32 FIR filter for upfirdn2d from a list, array or tensor of
    taps: [1, 3, 3, 1] becomes their 4x4 outer product divided by its sum
    (64), so that a constant image keeps its value. 1-d taps stay 1-d
    (separable) when ``separable`` is true, or by default when there are 8
    or more; ``normalize`` divides by the sum, ``flip_filter`` flips, and
    ``gain`` scales the filter's overall effect. None is the identity."""
    f = torch.as_tensor(1.0 if f is None else f, dtype=torch.float32)
    if f.dim() > 2 or f.numel() == 0:
        raise ValueError(f"setup_filter: expected a non-empty scalar, 1-d or 2-d filter, got shape {list(f.shape)}")
    f = f.reshape(1) if f.dim() == 0 else f
    if separable is None:
        separable = f.dim() == 1 and f.numel() >= 8
    if separable and f.dim() != 1:
        raise ValueError(f"setup_filter: a separable filter is 1-d taps, got shape {list(f.shape)}")
    if f.dim() == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.dim())))
    # A separable filter is applied once per axis: each carries half the gain's exponent.
    return (f * gain ** (f.dim() / 2)).to(device)


def _filter_size(f: torch.Tensor | None) -> tuple[int, int]:
    """(width, height) of the filter, 1-d taps being both."""
    return (1, 1) if f is None else (f.shape[-1], f.shape[0])


def filter2d(x: torch.Tensor, f: torch.Tensor | None, padding=0, flip_filter: bool = False,
             gain: float = 1) -> torch.Tensor:
    """x filtered with f, padded so that the output has x's size; ``padding``
    (with respect to the output) adds to that, negative values crop."""
    pad_x0, pad_x1, pad_y0, pad_y1 = _parameters.padding(padding)
    width, height = _filter_size(f)
    padding = (pad_x0 + width // 2, pad_x1 + (width - 1) // 2, pad_y0 + height // 2, pad_y1 + (height - 1) // 2)
    return upfirdn2d(x, f, padding=padding, flip_filter=flip_filter, gain=gain)


def upsample2d(x: torch.Tensor, f: torch.Tensor | None, up=2, padding=0, flip_filter: bool = False,
               gain: float = 1) -> torch.Tensor:
    """x upsampled ``up`` times (an int or (x, y)) through f, padded so that
    the output is ``up`` times x's size, the gain making up for the inserted
    zeros; ``padding`` (with respect to the output) adds to that."""
    up_x, up_y = _parameters.scaling(up, "up")
    pad_x0, pad_x1, pad_y0, pad_y1 = _parameters.padding(padding)
    width, height = _filter_size(f)
    padding = (pad_x0 + (width + up_x - 1) // 2, pad_x1 + (width - up_x) // 2,
               pad_y0 + (height + up_y - 1) // 2, pad_y1 + (height - up_y) // 2)
    return upfirdn2d(x, f, up=(up_x, up_y), padding=padding, flip_filter=flip_filter, gain=gain * up_x * up_y)


def downsample2d(x: torch.Tensor, f: torch.Tensor | None, down=2, padding=0, flip_filter: bool = False,
                 gain: float = 1) -> torch.Tensor:
    """x filtered with f and downsampled ``down`` times (an int or (x, y)),
    padded so that the output is x's size divided by ``down``; ``padding``
    (with respect to the input) adds to that."""
    down_x, down_y = _parameters.scaling(down, "down")
    pad_x0, pad_x1, pad_y0, pad_y1 = _parameters.padding(padding)
    width, height = _filter_size(f)
    padding = (pad_x0 + (width - down_x + 1) // 2, pad_x1 + (width - down_x) // 2,
               pad_y0 + (height - down_y + 1) // 2, pad_y1 + (height - down_y) // 2)
    return upfirdn2d(x, f, down=(down_x, down_y), padding=padding, flip_filter=flip_filter, gain=gain)
