"""Image grids, and pictures written atomically in the format their file
name's suffix names."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pygan._contracts.messages import UsageError
from pygan._files.atomic import atomic_writer


def image_grid(images: torch.Tensor, columns: int | None = None, gap: int = 2) -> np.ndarray:
    """Tile (N, C, H, W) images with values in [0, 1] into one uint8 array
    (rows, columns, C), ``columns`` per row (default: a square), separated by
    ``gap`` white pixels."""
    images = images.detach().float().clamp(0, 1).cpu()
    count, channels, height, width = images.shape
    columns = columns or math.ceil(math.sqrt(count))
    rows = math.ceil(count / columns)
    canvas = torch.ones(channels, rows * (height + gap) - gap, columns * (width + gap) - gap)
    for index, image in enumerate(images):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        canvas[:, top:top + height, left:left + width] = image
    return (canvas * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


# The formats a grid can be written in, by the file name's suffix.
FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".gif": "GIF", ".bmp": "BMP", ".tif": "TIFF",
           ".tiff": "TIFF"}


def image_format(path: Path) -> str:
    """The image format ``path``'s suffix names, or a usage error listing those known."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        what = f"the suffix {suffix!r}" if suffix else "a name without a suffix"
        raise UsageError(f"{path}: cannot tell the image format from {what}; end the name with one of "
                         f"{', '.join(FORMATS)}")
    return FORMATS[suffix]


def save_grid(images: torch.Tensor, path: Path, columns: int | None = None, scale: int = 2) -> None:
    """Write ``images`` as one grid, each pixel ``scale`` x ``scale``, in the
    format the name's suffix says (``image_format``)."""
    pixels = image_grid(images, columns)
    if pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    picture = Image.fromarray(pixels)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    picture_format = image_format(path)
    if picture_format == "JPEG" and picture.mode == "RGBA":
        picture = picture.convert("RGB")  # JPEG has no alpha channel
    save_image(picture, path, format=picture_format)


def save_image(picture: Image.Image, path: Path, **options) -> None:
    """Write a Pillow image atomically; ``options`` go to ``Image.save``."""
    with atomic_writer(Path(path)) as stream:
        picture.save(stream, **options)
