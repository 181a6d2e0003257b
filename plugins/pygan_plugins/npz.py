"""The data set ``npz``: any images saved with numpy, named by ``--data-dir``.

``--data-dir`` names an .npz file (or a .npy one), or a folder holding exactly
one .npz file. The images are its array called ``images``, or else its only
array, shaped (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3 or 4:
uint8 pixels 0-255 or floats in [0, 1].
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path
from typing import BinaryIO, Optional

import numpy as np
import torch

from pygan import Dataset, PyganError, UsageError, check_member, hookimpl, open_regular

_CHANNELS = (1, 3, 4)
_FORMATS = "uint8 pixels 0-255 or floats in [0, 1], shaped (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3 or 4"


@hookimpl
def register_datasets(register):
    register(Dataset(name="npz", load=load_npz, description="images from an .npz file given by --data-dir"))


def load_npz(data_dir: Optional[Path]) -> torch.Tensor:
    """All images of the .npz file at (or in) ``data_dir`` as float32 (N, C, H, W) in [0, 1]."""
    if data_dir is None:
        raise UsageError("the npz data set needs --data-dir pointing at an .npz file of images")
    path = _npz_file(Path(data_dir))
    images = _to_nchw(path, _image_array(path))
    return torch.from_numpy(_to_unit_floats(path, images))


def _npz_file(path: Path) -> Path:
    if path.is_file():
        return path
    if not path.is_dir():
        raise PyganError(f"{path}: no such file; --data-dir for npz must name an .npz file")
    candidates = sorted(path.glob("*.npz"))
    if len(candidates) != 1:
        found = ", ".join(c.name for c in candidates) if candidates else "none"
        raise PyganError(f"{path}: a folder given as --data-dir for npz must hold exactly one .npz file "
                         f"(found {found}); name the file itself instead")
    return candidates[0]


def _image_array(path: Path) -> np.ndarray:
    # Opened once, as a regular file: a FIFO named *.npz would block every read.
    with open_regular(path) as stream:
        try:
            _check_claimed_sizes(path, stream)
            stream.seek(0)
            arrays = np.load(stream, allow_pickle=False)
            if isinstance(arrays, np.ndarray):  # a .npy file: its one array
                return arrays
            with arrays:
                names = arrays.files
                if "images" in names:
                    return arrays["images"]
                if len(names) == 1:
                    return arrays[names[0]]
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            # ValueError is also what numpy raises for pickled data and object arrays.
            raise PyganError(f"{path}: cannot read as .npz: {exc}") from exc
    if not names:
        raise PyganError(f"{path}: holds no arrays; save the images with numpy.savez(path, images=...)")
    raise PyganError(f"{path}: holds several arrays ({', '.join(names)}) and none is named 'images'; "
                     f"save the image array under the name 'images'")


def _check_claimed_sizes(path: Path, file: BinaryIO) -> None:
    """Refuse an array whose header claims more bytes than its file can
    hold, before numpy allocates what it claims."""
    if not zipfile.is_zipfile(file):  # a .npy file
        file.seek(0)
        _check_npy(path, file, os.fstat(file.fileno()).st_size)
        return
    with zipfile.ZipFile(file) as archive:
        for member in archive.infolist():
            where = f"{path}: {member.filename}"
            check_member(where, member, remedy="save the images with numpy.savez or numpy.savez_compressed")
            with archive.open(member) as stream:
                _check_npy(where, stream, member.file_size)


_NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def _check_npy(where: str | Path, stream: BinaryIO, size: int) -> None:
    """Check the .npy header at the start of ``stream`` (``size`` bytes in all) against its size."""
    version = np.lib.format.read_magic(stream)
    if version not in _NPY_HEADER_READERS:
        raise PyganError(f"{where}: .npy format version {version[0]}.{version[1]} is not supported; "
                         f"save plain image arrays with numpy.savez")
    shape, _, dtype = _NPY_HEADER_READERS[version](stream)
    if dtype.hasobject:
        return  # np.load refuses object arrays (they are pickled) without reading them
    claimed, present = math.prod(shape) * dtype.itemsize, size - stream.tell()
    if claimed > present:
        raise PyganError(f"{where}: truncated or corrupt: its header claims {dtype} data of shape {shape} "
                         f"({claimed:,} bytes) but only {present:,} bytes follow")


def _to_nchw(path: Path, images: np.ndarray) -> np.ndarray:
    # A 4-D array counts as channels first whenever its second axis could be
    # channels: images only 1, 3 or 4 pixels high are not worth guessing for.
    if images.ndim == 3:
        images = images[:, None]
    elif images.ndim == 4 and images.shape[1] not in _CHANNELS and images.shape[3] in _CHANNELS:
        images = images.transpose(0, 3, 1, 2)
    elif images.ndim != 4 or images.shape[1] not in _CHANNELS:
        raise PyganError(f"{path}: images of shape {images.shape} are not supported; expected {_FORMATS}")
    if images.shape[0] == 0:
        raise PyganError(f"{path}: the image array is empty (shape {images.shape})")
    return images


def _to_unit_floats(path: Path, images: np.ndarray) -> np.ndarray:
    if images.dtype == np.uint8:
        pixels = images.astype(np.float32)
        pixels /= 255
        return np.ascontiguousarray(pixels)
    if not np.issubdtype(images.dtype, np.floating):
        raise PyganError(f"{path}: images of dtype {images.dtype} are not supported; expected {_FORMATS}")
    pixels = np.ascontiguousarray(images, dtype=np.float32)
    low, high = float(pixels.min()), float(pixels.max())
    if not (0 <= low and high <= 1):  # written this way so NaN fails too
        raise PyganError(f"{path}: float images must lie in [0, 1] but range from {low} to {high}; "
                         f"scale them, or save uint8 pixels 0-255")
    return pixels
