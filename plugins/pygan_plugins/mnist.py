"""The data sets ``mnist`` and ``fashion-mnist``: 28x28 grey images in IDX files.

Both come as the same four files (a training and a test split, images and
labels each), so one implementation serves both, driven by the ``SOURCES``
table. Files are found in ``--data-dir``, else in the cache folder, else
downloaded into the cache from the data set's mirrors. MNIST's test split is
shipped with pygan (``mnist_test_split/``): it serves where the test split
is asked for and not in the cache, and for training, with a notice, where no
mirror can be reached, so that a machine without internet trains anyway.
"""

from __future__ import annotations

import functools
import gzip
import io
import math
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional

import numpy as np
import torch

from pygan import (
    MAX_DEFLATE_RATIO,
    Batch,
    Dataset,
    DownloadFailed,
    PyganError,
    cache_dir,
    download,
    hookimpl,
    notice,
    read_regular,
)

# (images, labels) file names of each split, without the optional ".gz".
SPLITS = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
ALL_FILES = SPLITS["train"] + SPLITS["test"]
# The largest file, Fashion-MNIST's training images, is 26 MB gzipped and 47
# MB unpacked; a mirror sending much more, or a file holding more, is not it.
MAX_FILE_BYTES = 64 << 20
# MNIST's test split, shipped with pygan (CC BY-SA 3.0; see its README.md).
PACKAGED = {"mnist": Path(__file__).with_name("mnist_test_split")}


@dataclass(frozen=True)
class IdxSource:
    """Where one IDX data set is published.

    ``sha256`` maps each of ``ALL_FILES`` to the SHA-256 of its gzipped form
    as the mirrors serve it (``<name>.gz``). The environment variable named by
    ``mirrors_variable`` (comma-separated base URLs) replaces ``mirrors``, for
    sites that must use an internal mirror.
    """

    name: str
    mirrors: tuple[str, ...]
    sha256: Mapping[str, str]
    description: str = ""

    @property
    def mirrors_variable(self) -> str:
        return "PYGAN_" + self.name.upper().replace("-", "_") + "_MIRRORS"

    def urls(self, file_name: str) -> list[str]:
        override = os.environ.get(self.mirrors_variable)
        bases = [b.strip() for b in override.split(",") if b.strip()] if override else self.mirrors
        return [base.rstrip("/") + "/" + file_name for base in bases]


# Checksums as published by torchvision, TensorFlow Datasets and the Fashion-MNIST README.
SOURCES = {
    source.name: source
    for source in (
        IdxSource(
            name="mnist",
            mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"),
            sha256={
                "train-images-idx3-ubyte": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
                "train-labels-idx1-ubyte": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
                "t10k-images-idx3-ubyte": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
                "t10k-labels-idx1-ubyte": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            },
            description="MNIST handwritten digits, 60,000 images 1x28x28",
        ),
        IdxSource(
            name="fashion-mnist",
            mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
            sha256={
                "train-images-idx3-ubyte": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
                "train-labels-idx1-ubyte": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
                "t10k-images-idx3-ubyte": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
                "t10k-labels-idx1-ubyte": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            },
            description="Fashion-MNIST clothing pictures, 60,000 images 1x28x28",
        ),
    )
}


@hookimpl
def register_datasets(register):
    for source in SOURCES.values():
        register(Dataset(name=source.name, load=functools.partial(load_images, source), description=source.description,
                         load_labelled=functools.partial(load_labelled, source)))


def load_images(source: IdxSource, data_dir: Optional[Path]) -> Batch:
    """The training images, float32 (N, 1, 28, 28) in [0, 1], and their
    labels: a ``Dataset.load``."""
    return Batch(*load_split(source, data_dir, "train"))


def load_labelled(source: IdxSource, data_dir: Optional[Path]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels to evaluate generators with: a ``Dataset.load_labelled``.

    The test split, wherever it is at hand: its 10,000 digits are enough for
    the evaluation classifier, are usually not what the generator trained on,
    and are the same images on every machine (cache or --data-dir, all four
    files or the test split alone), so numbers stay comparable. A --data-dir
    folder with only the training split serves that instead.
    """
    has_test = data_dir is None or all(_find(Path(data_dir), stem) for stem in SPLITS["test"])
    return load_split(source, data_dir, "test" if has_test else "train")


def load_split(source: IdxSource, data_dir: Optional[Path], split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """Images (float32 (N, 1, H, W) in [0, 1]) and labels (int64 (N,)) of one split.

    ``split`` is "train" or "test". A ``data_dir`` holding only the test split
    serves for "train" too, with a notice saying so.
    """
    if data_dir is not None:
        used_split, (images_path, labels_path) = _files_in_folder(source, Path(data_dir), split)
    else:
        used_split, (images_path, labels_path) = _files_in_cache(source, split)
    images, labels = _read_pair(images_path, labels_path)
    if data_dir is not None and used_split != split:
        notice(f"only the {len(labels):,}-image test split of {source.name} was found in {data_dir}; "
               "it is used for training")
    return images, labels


def _find(folder: Path, stem: str) -> Optional[Path]:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _files_in_folder(source: IdxSource, folder: Path, split: str) -> tuple[str, tuple[Path, Path]]:
    if not folder.is_dir():
        raise PyganError(f"{folder}: no such folder; --data-dir for {source.name} must be a folder "
                         f"holding its IDX files ({', '.join(ALL_FILES)}, each may end in .gz)")
    found = {stem: _find(folder, stem) for stem in ALL_FILES}
    wanted = SPLITS[split]
    if all(found[stem] for stem in wanted):
        return split, tuple(found[stem] for stem in wanted)
    # The test split alone is a common download (and what the project keeps
    # for its tests); training on it beats refusing, as long as the user knows.
    if split == "train" and not any(found[stem] for stem in wanted) and all(found[stem] for stem in SPLITS["test"]):
        return "test", tuple(found[stem] for stem in SPLITS["test"])
    missing = [stem for stem in wanted if not found[stem]]
    raise PyganError(f"{folder}: missing {' and '.join(missing)} (gzipped or not) for the {split} split of "
                     f"{source.name}; put the IDX files there or point --data-dir at the folder that has them")


def _files_in_cache(source: IdxSource, split: str) -> tuple[str, tuple[Path, Path]]:
    """The split that serves and its (images, labels) files: from the cache,
    downloading what is missing; else the test split shipped with pygan."""
    folder = cache_dir() / source.name
    packaged = PACKAGED.get(source.name)
    if split == "test" and packaged is not None and not all(_find(folder, stem) for stem in SPLITS["test"]):
        return "test", tuple(packaged / (stem + ".gz") for stem in SPLITS["test"])
    for stem in ALL_FILES:
        if _find(folder, stem) is None:
            try:
                download(source.urls(stem + ".gz"), source.sha256[stem], folder / (stem + ".gz"),
                         max_bytes=MAX_FILE_BYTES)
            except DownloadFailed as exc:
                if packaged is None or stem not in SPLITS["train"]:
                    raise PyganError(_not_found_message(source, folder, exc)) from exc
                notice(f"{source.name}'s training split is not in {folder} and no mirror could be reached "
                       f"({str(exc).splitlines()[-1].strip()}); training on the 10,000-image test split shipped "
                       f"with pygan instead. For the 60,000 training images, copy "
                       f"{' and '.join(stem + '.gz' for stem in SPLITS['train'])} into {folder}, or set "
                       f"{source.mirrors_variable} to a mirror you can reach")
                return "test", tuple(packaged / (stem + ".gz") for stem in SPLITS["test"])
    return split, tuple(_find(folder, stem) for stem in SPLITS[split])


def _not_found_message(source: IdxSource, folder: Path, download_error: DownloadFailed) -> str:
    missing = ", ".join(stem for stem in ALL_FILES if _find(folder, stem) is None)
    return (
        f"no {source.name} data found.\n"
        f"Looked in the cache folder {folder}: missing {missing}.\n"
        f"{download_error}\n"
        f"To supply the files: pass --data-dir DIR naming a folder with the four IDX files "
        f"({', '.join(ALL_FILES)}, gzipped or not), or copy them into {folder} "
        f"(set PYGAN_DATA_DIR to keep the cache elsewhere), or set {source.mirrors_variable} "
        f"to comma-separated mirror URLs you can reach."
    )


def _read_pair(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.ndim != 3:
        raise PyganError(f"{images_path}: expected images (3 dimensions: count, rows, columns) "
                         f"but the IDX header gives {images.ndim}")
    if labels.ndim != 1:
        raise PyganError(f"{labels_path}: expected labels (1 dimension) but the IDX header gives {labels.ndim}")
    if len(images) != len(labels):
        raise PyganError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels; "
                         f"the two files must come from the same split")
    if labels.size and labels.max() > 9:
        raise PyganError(f"{labels_path}: label {labels.max()} found where labels are 0-9")
    pixels = images.astype(np.float32)[:, None]
    pixels /= 255
    return torch.from_numpy(pixels), torch.from_numpy(labels.astype(np.int64))


_GZIP_MAGIC = b"\x1f\x8b"
_UNSIGNED_BYTE = 0x08
_IDX_TYPES = {0x08: "unsigned byte", 0x09: "signed byte", 0x0B: "short", 0x0C: "int", 0x0D: "float", 0x0E: "double"}


def read_idx(path: Path) -> np.ndarray:
    """The array in an IDX file of unsigned bytes, gzipped or not.

    Raises PyganError naming the file and what is wrong with it.
    """
    data = _read_bytes(path)
    dims, header_size = _idx_header(path, data)
    expected, present = math.prod(dims), len(data) - header_size
    if present != expected:
        if present < expected:
            raise PyganError(f"{path}: truncated: header says {_describe(dims)} ({expected} bytes) "
                             f"but only {present} bytes follow")
        raise PyganError(f"{path}: too long: header says {_describe(dims)} ({expected} bytes) but more follow")
    return np.frombuffer(data, dtype=np.uint8, offset=header_size).reshape(dims)


def _idx_header(path: Path, data: bytes) -> tuple[tuple[int, ...], int]:
    """The dimensions the IDX header at the start of ``data`` gives, and the header's size."""
    if len(data) < 4:
        raise PyganError(f"{path}: truncated: {len(data)} bytes, too short for an IDX header")
    type_code, ndim = data[2], data[3]
    if data[:2] != b"\0\0" or ndim == 0:
        raise PyganError(f"{path}: not an IDX file (magic 0x{data[:4].hex()})")
    if type_code != _UNSIGNED_BYTE:
        kind = _IDX_TYPES.get(type_code, "unknown")
        raise PyganError(f"{path}: IDX element type 0x{type_code:02x} ({kind}) is not supported; "
                         f"only 0x08 (unsigned byte) is")
    header_size = 4 + 4 * ndim
    if len(data) < header_size:
        raise PyganError(f"{path}: truncated: a {ndim}-dimensional IDX header is {header_size} bytes "
                         f"but the file has only {len(data)}")
    return struct.unpack(f">{ndim}I", data[4:header_size]), header_size


def _describe(dims: tuple[int, ...]) -> str:
    if len(dims) == 3:
        return f"{dims[0]} images of {dims[1]}x{dims[2]}"
    if len(dims) == 1:
        return f"{dims[0]} labels"
    return f"an array of {'x'.join(map(str, dims))}"


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, decompressed if they start like gzip (whatever the name says)."""
    data = read_regular(path, MAX_FILE_BYTES)
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return _inflate(path, data)
    except (OSError, EOFError, zlib.error) as exc:
        raise PyganError(f"{path}: corrupt gzip stream: {exc}") from exc


def _inflate(path: Path, packed: bytes) -> bytes:
    """A gzipped IDX file's bytes, inflated no further than its header says
    they go, and one byte more to tell a file that is too long: a small file
    claiming, or expanding to, gigabytes is refused before they are allocated."""
    with gzip.GzipFile(fileobj=io.BytesIO(packed)) as stream:
        head = stream.read(4)
        head += stream.read(4 * head[3]) if len(head) == 4 else b""
        dims, header_size = _idx_header(path, head)
        claimed = header_size + math.prod(dims)
        if claimed > len(packed) * MAX_DEFLATE_RATIO:
            raise PyganError(f"{path}: corrupt: header says {_describe(dims)} ({claimed:,} bytes), more than "
                             f"{len(packed):,} gzipped bytes can hold")
        return head + stream.read(claimed + 1 - len(head))
