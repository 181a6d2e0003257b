"""The augmentations of ADA (Karras et al., *Training Generative Adversarial
Networks with Limited Data*, 2020), as functions of explicit per-image
parameters: ``draw`` picks the parameters of a batch at random, each
transform applied with probability p, with the paper's strengths;
``augment`` applies them. The module ``pygan_plugins.ada`` makes them a
pipeline whose p adapts.

Images are in the paper's range here, [-1, 1] (0 is mid grey); the
transforms, in the paper's order:

- pixel blitting (``blit``): an x-flip, 0 to 3 quarter turns and an integer
  translation of up to 1/8 of the size, the image reflected at its borders.
  They only move pixels, and are made exactly so, as one gather.
- general geometric transforms (``geom``): isotropic scaling (log2-normal,
  sigma 0.2), a rotation (uniform angle) before and one after an anisotropic
  scaling (log2-normal, sigma 0.2), the two rotations each with probability
  1 - sqrt(1 - p) so that one or the other happens with probability p, and a
  fractional translation (normal, sigma 1/8 of the size). They make one
  inverse matrix per image and one resampling: the image is reflected at its
  borders, upsampled 2x through the orthogonal wavelet filter sym6, sampled
  bilinearly where the transform sends each point of a 2x canvas, and
  downsampled through the same filter, flipped (the same as an identity
  transform gives back the image exactly, up to rounding).
- colour transforms (``color``): brightness (an offset, normal sigma 0.2),
  contrast (a log2-normal gain, sigma 0.5, about mid grey), luma flip (the
  luma axis negated), hue rotation (about the luma axis, uniform angle) and
  saturation (a log2-normal gain, sigma 1, away from the luma axis), as
  one 4x4 colour matrix per image; a grey image takes the mean of its rows.
- image-space filtering (``filter``): four frequency bands (built from the
  wavelet sym2), each amplified by a log2-normal gain (sigma 1) and the
  result renormalised to the expected power of a 1/f spectrum.
- additive noise (``noise``): Gaussian noise of a standard deviation drawn
  as |N(0, 0.1)|.
- ``cutout``: a square half the image's size, at a random centre, set to
  mid grey.

Everything has a fixed shape and draws the same random numbers whatever p
is, so a step runs inside a CUDA graph and a resumed run draws what an
uninterrupted one would; the images' gradients (and their gradients' own,
for R1) flow through every transform. Facts (strengths, filters, the order)
are from the paper and NVlabs' stylegan2-ada-pytorch (``training/augment.py``);
the code is pygan's.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import numpy as np
import torch
import torch.nn.functional as F

import pygan
from pygan.ops import downsample2d, setup_filter, upsample2d

GROUPS = ("blit", "geom", "color", "filter", "noise", "cutout")

# Low-pass filters of Daubechies' least-asymmetric wavelets (symlets).
SYM2 = [-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025]
SYM6 = [0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633,
        0.4910559419267466, 0.787641141030194, 0.3379294217276218, -0.07263752278646252,
        -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148]

# The paper's strengths.
SHIFT_MAX = 0.125          # integer translation, of the size
SCALE_STD = 0.2            # log2 of the isotropic scaling
ROTATION_MAX = 1.0         # of a half turn either way
ANISO_STD = 0.2            # log2 of the anisotropic scaling
FRACTION_STD = 0.125       # fractional translation, of the size
BRIGHTNESS_STD = 0.2
CONTRAST_STD = 0.5         # log2
HUE_MAX = 1.0              # of a half turn either way
SATURATION_STD = 1.0       # log2
BAND_STD = 1.0             # log2 of each band's gain
BAND_POWER = (10 / 13, 1 / 13, 1 / 13, 1 / 13)  # the expected power of each band: a 1/f spectrum
NOISE_STD = 0.1
CUTOUT_SIZE = 0.5          # of the size

LUMA = (1 / math.sqrt(3), 1 / math.sqrt(3), 1 / math.sqrt(3))  # the grey axis of RGB


class Transforms(NamedTuple):
    """The parameters of one batch's augmentations, per image (None for a
    group the pipeline leaves out).

    ``flips`` (N,) 0 or 1; ``quarter_turns`` (N,) 0 to 3; ``shifts`` (N, 2)
    whole pixels (x, y); ``geometry`` (N, 3, 3) the inverse transform, from
    an output pixel to the input point it shows, in pixels from the image's
    centre (x right, y down); ``colour`` (N, 4, 4) acting on (r, g, b, 1);
    ``band_gains`` (N, 4); ``noise`` (N, C, H, W) the noise added;
    ``cutout_size`` (N,) and ``cutout_centre`` (N, 2) as fractions of the size.
    """

    flips: Optional[torch.Tensor] = None
    quarter_turns: Optional[torch.Tensor] = None
    shifts: Optional[torch.Tensor] = None
    geometry: Optional[torch.Tensor] = None
    colour: Optional[torch.Tensor] = None
    band_gains: Optional[torch.Tensor] = None
    noise: Optional[torch.Tensor] = None
    cutout_size: Optional[torch.Tensor] = None
    cutout_centre: Optional[torch.Tensor] = None


# --- matrices, one per image --------------------------------------------------------
# Constants are made on the device by fill kernels, never copied from the
# host: a copy would stall the step, and fail its CUDA graph capture.

def constant(values, device) -> torch.Tensor:
    """A float32 vector of ``values`` made on ``device``."""
    return torch.stack([torch.full((), float(value), device=device) for value in values])


def per_image(value, n: int, device) -> torch.Tensor:
    """A per-image (N,) float32 tensor from one (or a number, for every image)."""
    if isinstance(value, torch.Tensor):
        return value.float().expand(n)
    return torch.full((n,), float(value), device=device)


def matrices(rows: list[list], n: int, device) -> torch.Tensor:
    """(N, R, C) from rows of per-image (N,) tensors and numbers."""
    return torch.stack([torch.stack([per_image(value, n, device) for value in row], dim=-1) for row in rows], dim=-2)


def translate2d(tx, ty, n, device):
    return matrices([[1, 0, tx], [0, 1, ty], [0, 0, 1]], n, device)


def scale2d(sx, sy, n, device):
    return matrices([[sx, 0, 0], [0, sy, 0], [0, 0, 1]], n, device)


def rotate2d(angle, n, device):
    angle = per_image(angle, n, device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    return matrices([[cos, -sin, 0], [sin, cos, 0], [0, 0, 1]], n, device)


def colour_offset(b, n, device):
    return matrices([[1, 0, 0, b], [0, 1, 0, b], [0, 0, 1, b], [0, 0, 0, 1]], n, device)


def colour_gain(c, n, device):
    return matrices([[c, 0, 0, 0], [0, c, 0, 0], [0, 0, c, 0], [0, 0, 0, 1]], n, device)


def luma_projection(device) -> torch.Tensor:
    """v v^T of the luma axis v, as a 4x4 colour matrix acting on colours only."""
    v = constant([*LUMA, 0.0], device)
    return torch.outer(v, v)


def luma_flip(flip, n, device):
    """The luma axis negated (a Householder reflection) where ``flip`` is 1."""
    return torch.eye(4, device=device) - 2 * luma_projection(device) * per_image(flip, n, device)[:, None, None]


def saturate(gain, n, device):
    """Colours moved away from the grey axis by ``gain``, their luma kept."""
    chroma = torch.diag(constant([1, 1, 1, 0], device)) - luma_projection(device)
    return torch.eye(4, device=device) + (per_image(gain, n, device)[:, None, None] - 1) * chroma


def rotate_about_luma(angle, n, device):
    """Rotation of the colour cube by ``angle`` about the grey axis (Rodrigues' formula)."""
    x, y, z = LUMA
    angle = per_image(angle, n, device)
    cos, sin = torch.cos(angle), torch.sin(angle)
    rest = 1 - cos
    return matrices([[x * x * rest + cos, x * y * rest - z * sin, x * z * rest + y * sin, 0],
                     [y * x * rest + z * sin, y * y * rest + cos, y * z * rest - x * sin, 0],
                     [z * x * rest - y * sin, z * y * rest + x * sin, z * z * rest + cos, 0],
                     [0, 0, 0, 1]], n, device)


# --- drawing the parameters -----------------------------------------------------------

def gated(value: torch.Tensor, identity: float, probability: torch.Tensor) -> torch.Tensor:
    """``value`` where a uniform draw falls below ``probability`` (per image,
    the first dimension), else the identity's value."""
    chosen = torch.rand(value.shape[0], *([1] * (value.dim() - 1)), device=value.device) < probability
    return torch.where(chosen, value, torch.full_like(value, identity))


def log_normal(n: int, std: float, device) -> torch.Tensor:
    return torch.exp2(torch.randn(n, device=device) * std)


def draw(groups: tuple[str, ...], p: torch.Tensor, shape: tuple[int, int, int, int]) -> Transforms:
    """Random parameters for a batch of ``shape`` (N, C, H, W): each
    transform of the ``groups`` applied to an image with probability ``p``
    (a 0-d tensor on the images' device)."""
    n, channels, height, width = shape
    device = p.device
    found = {}
    if "blit" in groups:
        found["flips"] = gated(torch.floor(torch.rand(n, device=device) * 2), 0, p)
        found["quarter_turns"] = gated(torch.floor(torch.rand(n, device=device) * 4), 0, p).long()
        shift = gated((torch.rand(n, 2, device=device) * 2 - 1) * SHIFT_MAX, 0, p)
        found["shifts"] = torch.round(shift * constant([width, height], device)).long()
    if "geom" in groups:
        found["geometry"] = draw_geometry(n, p, height, width)
    if "color" in groups:
        found["colour"] = draw_colour(n, p, channels)
    if "filter" in groups:
        found["band_gains"] = draw_band_gains(n, p)
    if "noise" in groups:
        sigma = gated(torch.randn(n, device=device).abs() * NOISE_STD, 0, p)
        found["noise"] = torch.randn(shape, device=device) * sigma[:, None, None, None]
    if "cutout" in groups:
        found["cutout_size"] = gated(torch.full((n,), CUTOUT_SIZE, device=device), 0, p)
        found["cutout_centre"] = torch.rand(n, 2, device=device)
    return Transforms(**found)


def draw_geometry(n: int, p: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The inverse of scale, rotate, scale anisotropically, rotate, translate
    (applied to the image in that order): each inverse multiplied on the right."""
    device = p.device
    scale = gated(log_normal(n, SCALE_STD, device), 1, p)
    inverse = scale2d(1 / scale, 1 / scale, n, device)
    rotation_chance = 1 - torch.sqrt((1 - p).clamp(0, 1))  # P(either rotation) = p
    before = gated((torch.rand(n, device=device) * 2 - 1) * math.pi * ROTATION_MAX, 0, rotation_chance)
    inverse = inverse @ rotate2d(-before, n, device)
    aniso = gated(log_normal(n, ANISO_STD, device), 1, p)
    inverse = inverse @ scale2d(1 / aniso, aniso, n, device)
    after = gated((torch.rand(n, device=device) * 2 - 1) * math.pi * ROTATION_MAX, 0, rotation_chance)
    inverse = inverse @ rotate2d(-after, n, device)
    shift = gated(torch.randn(n, 2, device=device) * FRACTION_STD, 0, p)
    return inverse @ translate2d(-shift[:, 0] * width, -shift[:, 1] * height, n, device)


def draw_colour(n: int, p: torch.Tensor, channels: int) -> torch.Tensor:
    """Brightness, contrast, luma flip, then (for colour images) hue and
    saturation: each matrix multiplied on the left."""
    device = p.device
    colour = colour_offset(gated(torch.randn(n, device=device) * BRIGHTNESS_STD, 0, p), n, device)
    colour = colour_gain(gated(log_normal(n, CONTRAST_STD, device), 1, p), n, device) @ colour
    colour = luma_flip(gated(torch.floor(torch.rand(n, device=device) * 2), 0, p), n, device) @ colour
    if channels > 1:
        hue = gated((torch.rand(n, device=device) * 2 - 1) * math.pi * HUE_MAX, 0, p)
        colour = rotate_about_luma(hue, n, device) @ colour
        colour = saturate(gated(log_normal(n, SATURATION_STD, device), 1, p), n, device) @ colour
    return colour


def draw_band_gains(n: int, p: torch.Tensor) -> torch.Tensor:
    """Each band amplified with probability p, each time renormalised so that
    an image of the expected spectrum keeps its power."""
    device = p.device
    power = constant(BAND_POWER, device)
    gains = torch.ones(n, len(BAND_POWER), device=device)
    for band in range(len(BAND_POWER)):
        one = gated(log_normal(n, BAND_STD, device), 1, p)
        step = torch.ones_like(gains)
        step[:, band] = one
        gains = gains * step / (power * step.square()).sum(dim=1, keepdim=True).sqrt()
    return gains


# --- the filters --------------------------------------------------------------------

def geometry_filter() -> torch.Tensor:
    """sym6, separable, for the 2x resampling (its up- and downsampling
    compose to the identity: the filter is orthogonal)."""
    return setup_filter(SYM6)


def band_filters() -> torch.Tensor:
    """(4, 43) symmetric filters splitting a signal into four octave bands
    (they sum to the identity): from sym2's low-pass H(z) and high-pass
    H(-z), each band's filter is the previous bands' dilated 2x and smoothed
    by H(z)H(1/z)/2, the new band taking H(-z)H(-1/z)/2 at its centre."""
    low = np.asarray(SYM2)
    high = low * (-1.0) ** np.arange(low.size)
    low2, high2 = np.convolve(low, low[::-1]) / 2, np.convolve(high, high[::-1]) / 2
    bank = np.zeros((len(BAND_POWER), 1))
    bank[0, 0] = 1
    for band in range(1, len(BAND_POWER)):
        dilated = np.zeros((bank.shape[0], 2 * bank.shape[1] - 1))
        dilated[:, ::2] = bank
        bank = np.stack([np.convolve(row, low2) for row in dilated])
        start = (bank.shape[1] - high2.size) // 2
        bank[band, start:start + high2.size] += high2
    return torch.as_tensor(bank, dtype=torch.float32)


# --- applying them -----------------------------------------------------------------------

def augment(images: torch.Tensor, transforms: Transforms, geometry_taps: torch.Tensor,
            band_taps: torch.Tensor) -> torch.Tensor:
    """``images`` (N, C, H, W) in [-1, 1] with ``transforms`` applied, in the paper's order."""
    if transforms.flips is not None:
        images = blit(images, transforms.flips, transforms.quarter_turns, transforms.shifts)
    if transforms.geometry is not None:
        images = resample(images, transforms.geometry, geometry_taps)
    if transforms.colour is not None:
        images = recolour(images, transforms.colour)
    if transforms.band_gains is not None:
        images = filter_bands(images, transforms.band_gains, band_taps)
    if transforms.noise is not None:
        images = images + transforms.noise.to(images.dtype)
    if transforms.cutout_size is not None:
        images = cut_out(images, transforms.cutout_size, transforms.cutout_centre)
    return images


def reflect_into(position: torch.Tensor, size: int) -> torch.Tensor:
    """Pixel positions (whole or not) reflected into [0, size - 1] about the
    edge pixels' centres, as often as needed: what reflection padding shows there."""
    period = 2 * (size - 1)
    folded = torch.remainder(position, period)
    return torch.where(folded > size - 1, period - folded, folded)


def blit(images: torch.Tensor, flips: torch.Tensor, quarter_turns: torch.Tensor,
         shifts: torch.Tensor) -> torch.Tensor:
    """Each image flipped (left-right), turned ``quarter_turns`` times (as
    ``torch.rot90(image, k, (2, 3))``) and shifted by ``shifts`` pixels (x
    right, y down), in that order, its reflection filling in: one gather of
    whole pixels, so nothing is resampled."""
    n, channels, height, width = images.shape
    if height != width:
        raise pygan.UsageError(f"ADA's quarter turns need square images, not {height}x{width}; "
                               f"choose an --ada-pipeline without blit")
    device = images.device
    y, x = torch.meshgrid(torch.arange(height, device=device), torch.arange(width, device=device), indexing="ij")
    # Each output pixel's source, working back through the steps: in
    # doubled coordinates from the centre, whole numbers either way.
    u = 2 * (x - shifts[:, 0, None, None]) - (width - 1)
    v = 2 * (y - shifts[:, 1, None, None]) - (height - 1)
    turns = quarter_turns[:, None, None]
    # torch.rot90 by k: the output at (u, v) shows the input at (-v, u), k times over.
    u, v = (torch.where(turns == 0, u, torch.where(turns == 1, -v, torch.where(turns == 2, -u, v))),
            torch.where(turns == 0, v, torch.where(turns == 1, u, torch.where(turns == 2, -v, -u))))
    u = torch.where(flips[:, None, None] > 0, -u, u)
    source_x = reflect_into((u + width - 1) // 2, width)
    source_y = reflect_into((v + height - 1) // 2, height)
    index = (source_y * width + source_x).reshape(n, 1, height * width).expand(n, channels, height * width)
    return images.reshape(n, channels, height * width).gather(2, index).reshape(n, channels, height, width)


def resample(images: torch.Tensor, inverse: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Each image under the geometric transform whose inverse (from output
    to input pixels, centred) is ``inverse``, resampled through the filter
    ``taps``: reflected at its borders, upsampled 2x, sampled bilinearly
    where the transform sends each point of a 2x canvas (the image and a
    margin of a quarter of the filter's length), downsampled 2x through the
    flipped filter and cropped to the image.

    The image is padded by reflection only as far as the canvas of an
    identity transform reaches (and the filter beyond it); a point sent
    further out is reflected into the image about its edge pixels instead,
    which is what a larger padding would show, up to the filter's small
    asymmetry. The shape is fixed, whatever the transform."""
    n, channels, height, width = images.shape
    taps = taps.to(images.dtype)
    margin = taps.shape[0] // 4
    pad = 2 * margin + 1  # the canvas margin, the filter's reach beyond it, one for bilinear neighbours
    if min(height, width) <= pad:
        raise pygan.UsageError(f"ADA's geometric transforms need images larger than {pad}x{pad}, "
                               f"not {height}x{width}; choose an --ada-pipeline without geom")
    upsampled = upsample2d(F.pad(images, [pad] * 4, mode="reflect"), taps)  # padded pixel i at index 2i
    # The canvas: points half a pixel apart, from `margin` pixels before the first to after the last.
    device, dtype = images.device, images.dtype
    canvas_y = torch.arange(2 * (height + 2 * margin), device=device, dtype=dtype) / 2 - margin - (height - 1) / 2
    canvas_x = torch.arange(2 * (width + 2 * margin), device=device, dtype=dtype) / 2 - margin - (width - 1) / 2
    y, x = torch.meshgrid(canvas_y, canvas_x, indexing="ij")
    points = torch.stack([x, y, torch.ones_like(x)], dim=-1)
    source = torch.einsum("nij,hwj->nhwi", inverse[:, :2, :].to(dtype), points)
    source_x = reflect_beyond(source[..., 0] + (width - 1) / 2, width, margin + 0.5)
    source_y = reflect_beyond(source[..., 1] + (height - 1) / 2, height, margin + 0.5)
    # Padded pixel i sits at index 2i of the upsampled image.
    sampled = sample_bilinear(upsampled, 2 * (source_x + pad), 2 * (source_y + pad))
    return downsample2d(sampled, taps, padding=-2 * margin, flip_filter=True)


def sample_bilinear(images: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``images`` (n, c, h, w) sampled bilinearly at pixel positions ``x``,
    ``y`` (n, ...), pixel centres at integers, zero outside: what
    ``F.grid_sample`` computes, made of gathers so that it has derivatives
    of every order on every device (grid_sample's backward has none on CUDA,
    and R1 differentiates through it twice)."""
    n, channels, height, width = images.shape
    left, top = x.floor(), y.floor()
    across, down = x - left, y - top
    left, top = left.long(), top.long()
    flat = images.reshape(n, channels, height * width)
    sampled = None
    for row, row_weight in ((top, 1 - down), (top + 1, down)):
        for column, column_weight in ((left, 1 - across), (left + 1, across)):
            inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
            index = (row.clamp(0, height - 1) * width + column.clamp(0, width - 1)).reshape(n, 1, -1)
            weight = (row_weight * column_weight * inside).reshape(n, 1, -1)
            term = flat.gather(2, index.expand(n, channels, index.shape[2])) * weight
            sampled = term if sampled is None else sampled + term
    return sampled.reshape(n, channels, *x.shape[1:])


def reflect_beyond(position: torch.Tensor, size: int, reach: float) -> torch.Tensor:
    """Pixel positions more than ``reach`` pixels outside [0, size - 1]
    reflected into it; nearer ones kept."""
    near = (position >= -reach) & (position <= size - 1 + reach)
    return torch.where(near, position, reflect_into(position, size))


def recolour(images: torch.Tensor, colour: torch.Tensor) -> torch.Tensor:
    """RGB images times their 4x4 colour matrix; a grey image (one channel)
    as the grey that its colour, so transformed, averages to."""
    n, channels, height, width = images.shape
    colour = colour.to(images.dtype)
    flat = images.reshape(n, channels, height * width)
    if channels == 3:
        flat = colour[:, :3, :3] @ flat + colour[:, :3, 3:]
    elif channels == 1:
        grey = colour[:, :3, :].mean(dim=1)
        flat = flat * grey[:, :3].sum(dim=1)[:, None, None] + grey[:, 3, None, None]
    else:
        raise pygan.UsageError(f"ADA's colour transforms take grey (1 channel) or RGB (3 channels) images, not "
                               f"{channels} channels; choose an --ada-pipeline without color")
    return flat.reshape(n, channels, height, width)


def filter_bands(images: torch.Tensor, gains: torch.Tensor, bank: torch.Tensor) -> torch.Tensor:
    """Each image filtered (along x, then y, reflected at its borders) by its
    bands' filters weighted by its gains."""
    n, channels, height, width = images.shape
    taps = (gains.to(images.dtype) @ bank.to(images.dtype)).repeat_interleave(channels, dim=0)  # (N*C, T)
    half = taps.shape[1] // 2
    if min(height, width) <= half:
        raise pygan.UsageError(f"ADA's image-space filtering needs images larger than {half}x{half}, not "
                               f"{height}x{width}; choose an --ada-pipeline without filter")
    planes = F.pad(images.reshape(1, n * channels, height, width), [half] * 4, mode="reflect")
    planes = F.conv2d(planes, taps[:, None, None, :], groups=n * channels)
    planes = F.conv2d(planes, taps[:, None, :, None], groups=n * channels)
    return planes.reshape(n, channels, height, width)


def cut_out(images: torch.Tensor, size: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Each image with a square of ``size`` (a fraction of its sides) around
    ``centre`` set to 0, mid grey."""
    n, channels, height, width = images.shape
    device, dtype = images.device, images.dtype
    x = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
    y = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
    outside_x = (x[None, :] - centre[:, 0, None]).abs() >= size[:, None] / 2
    outside_y = (y[None, :] - centre[:, 1, None]).abs() >= size[:, None] / 2
    keep = outside_x[:, None, :] | outside_y[:, :, None]
    return images * keep[:, None].to(dtype)
