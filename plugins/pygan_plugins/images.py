"""The data set ``images``: a folder (or a ``.zip``) of your own pictures.

``--data-dir`` names a folder, searched recursively, or a ``.zip`` file.
PNG, JPEG, WebP, BMP and GIF files (a GIF's first frame) are read with
Pillow, resized (the shorter side to the architecture's resolution) and
center-cropped to its image shape, and converted to its channel count: 1
(grayscale), 3 (RGB) or 4 (RGBA); transparent pixels are composited on
white for 1 and 3. When every image lies in a first-level subfolder, the
subfolders' names, sorted, are the classes 0, 1, 2, ... (what conditional
architectures need). Hidden files and folders are passed over.

A file Pillow cannot read is skipped, and counted in a notice naming the
first few; only a folder with no readable image is an error.

The decoded images are cached as raw pixels in ``$PYGAN_DATA_DIR/images/``
(default ``~/.cache/pygan/images``), keyed by the file list, the files'
sizes and modification times, the image shape and the cache format, so a
second run starts in seconds; a changed, added or removed file makes a new
cache. Training reads the cache: into memory when it fits, else streamed by
index (``pygan.Samples``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image, ImageOps
from tqdm import tqdm

from pygan import (
    DataRequest,
    Dataset,
    PyganError,
    UsageError,
    atomic_writer,
    cache_dir,
    hookimpl,
    notice,
    reporting_write_errors,
    write_atomically,
)

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
# Bump when decoding changes, so that old caches are not mixed in.
CACHE_VERSION = 1
# What an architecture that takes any shape gets.
DEFAULT_SHAPE = (3, 64, 64)
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
NAMED_SKIPPED = 5  # skipped files named in the notice
# Files decoded per task of a worker process; below PARALLEL_FROM files, the
# training process decodes them itself (starting processes costs seconds).
CHUNK = 256
PARALLEL_FROM = 2000
# Pillow refuses pictures above about 179 megapixels as possible decompression bombs.


@hookimpl
def register_datasets(register):
    register(Dataset(name="images", load=lambda data_dir: open_images(DataRequest(data_dir)).batch(),
                     open=open_images, description="your own pictures: a folder or .zip of PNG, JPEG, WebP, BMP "
                     "and GIF files given by --data-dir (classes from first-level subfolders)"))


# --- finding the files ---------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """The image files of a folder or a zip: names relative to it, and what the cache key needs."""

    root: Path
    names: list[str]
    stamps: list[str]  # size and modification time (folder) or size and CRC (zip), per file
    is_zip: bool

    def read_bytes(self, name: str, archive: Optional[zipfile.ZipFile] = None) -> bytes:
        if self.is_zip:
            return archive.read(name)
        return (self.root / name).read_bytes()


def _hidden(parts) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in parts)


def find_images(data_dir: Path) -> Source:
    path = Path(data_dir).expanduser()
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = sorted((info for info in archive.infolist() if not info.is_dir()
                              and info.filename.lower().endswith(SUFFIXES)
                              and not _hidden(info.filename.split("/"))), key=lambda info: info.filename)
        return Source(path, [m.filename for m in members], [f"{m.file_size}:{m.CRC}" for m in members], True)
    if path.is_file():
        raise UsageError(f"{path}: --data-dir for images must be a folder or a .zip of images, and this file is "
                         f"neither")
    if not path.is_dir():
        raise PyganError(f"{path}: no such folder; --data-dir for images names a folder (or a .zip) of pictures")
    names, stamps = [], []
    # A counter that appears only when the walk takes over a second (a large folder).
    with tqdm(desc="finding images", unit=" files", delay=1, leave=False) as found:
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = sorted(sub for sub in subfolders if not _hidden([sub]))
            for name in sorted(files):
                if name.lower().endswith(SUFFIXES) and not name.startswith("."):
                    full = Path(folder) / name
                    stat = full.stat()
                    names.append(full.relative_to(path).as_posix())
                    stamps.append(f"{stat.st_size}:{stat.st_mtime_ns}")
            found.update(len(files))
    order = sorted(range(len(names)), key=names.__getitem__)
    return Source(path, [names[i] for i in order], [stamps[i] for i in order], False)


def class_names(names: list[str]) -> Optional[list[str]]:
    """The first-level subfolders, sorted, when every image lies in one (and there are two or more)."""
    if not names or any("/" not in name for name in names):
        return None
    classes = sorted({name.split("/", 1)[0] for name in names})
    return classes if len(classes) >= 2 else None


# --- decoding ----------------------------------------------------------------------

def decode(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """One picture's bytes as uint8 (C, H, W): first frame, resized so the
    shorter side fits, center-cropped, converted to C channels (transparent
    parts on white for 1 and 3 channels)."""
    channels, height, width = shape
    with Image.open(io.BytesIO(data)) as picture:
        picture.draft("RGB", (width, height))  # JPEG: decode at a reduced size when it is much larger
        picture.seek(0)
        has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
        picture = picture.convert("RGBA" if has_alpha else "RGB")
        if has_alpha and channels != 4:
            white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
            picture = Image.alpha_composite(white, picture)
        picture = ImageOps.fit(picture, (width, height), Image.Resampling.BICUBIC, centering=(0.5, 0.5))
        picture = picture.convert(MODES[channels])
        pixels = np.asarray(picture, dtype=np.uint8)
    return pixels.reshape(height, width, channels).transpose(2, 0, 1)


def _decode_chunk(source: Source, names: list[str], shape) -> list[Optional[bytes]]:
    """Raw pixels of each file, or None for one that cannot be read."""
    archive = zipfile.ZipFile(source.root) if source.is_zip else None
    try:
        decoded = []
        for name in names:
            try:
                decoded.append(decode(source.read_bytes(name, archive), shape).tobytes())
            except Exception:  # a corrupt or unreadable file, whatever Pillow raises for it
                decoded.append(None)
        return decoded
    finally:
        if archive is not None:
            archive.close()


# --- the cache ---------------------------------------------------------------------

class CachedImages:
    """A cache's images read by index: ``pygan.Samples``. Each process
    opens the pixel file itself (it is not pickled open), and reads only
    what it is asked for, so a streamed data set never sits in memory."""

    def __init__(self, pixels: Path, count: int, shape: tuple[int, int, int],
                 labels: Optional[torch.Tensor], classes: Optional[list[str]]) -> None:
        self.pixels, self.count, self.image_shape = pixels, count, tuple(shape)
        self.labels, self.classes = labels, classes
        self.image_bytes = int(np.prod(shape))
        self._descriptor: Optional[int] = None
        self._pid: Optional[int] = None

    def __len__(self) -> int:
        return self.count

    def __getstate__(self):
        return {**self.__dict__, "_descriptor": None, "_pid": None}

    def _file(self) -> int:
        if self._descriptor is None or self._pid != os.getpid():
            self._descriptor, self._pid = os.open(self.pixels, os.O_RDONLY), os.getpid()
        return self._descriptor

    def read(self, indices: np.ndarray) -> torch.Tensor:
        indices = np.asarray(indices, dtype=np.int64)
        out = np.empty((len(indices), self.image_bytes), dtype=np.uint8)
        descriptor = self._file()
        if len(indices) and np.all(np.diff(indices) == 1):  # a run of images: one read
            out[:] = np.frombuffer(os.pread(descriptor, out.nbytes, int(indices[0]) * self.image_bytes),
                                   dtype=np.uint8).reshape(out.shape)
        else:
            for row, index in enumerate(indices):
                out[row] = np.frombuffer(os.pread(descriptor, self.image_bytes, int(index) * self.image_bytes),
                                         dtype=np.uint8)
        return torch.from_numpy(out.reshape(len(indices), *self.image_shape))

    def batch(self):
        from pygan import Batch
        images = self.read(np.arange(self.count)).float().div_(255)
        return Batch(images, self.labels)

    def __del__(self):
        if self._descriptor is not None and self._pid == os.getpid():
            os.close(self._descriptor)


def cache_key(source: Source, shape) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps({"version": CACHE_VERSION, "root": str(source.root.resolve()), "shape": list(shape),
                              "zip": source.is_zip}).encode())
    for name, stamp in zip(source.names, source.stamps):
        digest.update(f"{name}\0{stamp}\n".encode())
    return digest.hexdigest()[:24]


def open_images(request: DataRequest) -> CachedImages:
    if request.data_dir is None:
        raise UsageError("the images data set needs --data-dir: a folder (or .zip) of your pictures")
    shape = tuple(request.image_shape or DEFAULT_SHAPE)
    if shape[0] not in MODES:
        raise UsageError(f"the architecture asks for {shape[0]}-channel images, and pictures can be made "
                         f"grayscale (1 channel), RGB (3) or RGBA (4); choose one of those (--channels)")
    source = find_images(Path(request.data_dir))
    if not source.names:
        raise PyganError(f"{source.root}: no images found (PNG, JPEG, WebP, BMP or GIF files, searched "
                         f"{'in the zip' if source.is_zip else 'in it and its subfolders'}); point --data-dir "
                         f"at the folder that holds your pictures")
    folder = cache_dir() / "images" / cache_key(source, shape)
    cached = _read_cache(folder, shape)
    if cached is None:
        cached = _build_cache(source, shape, folder, request.config.get("workers", 0))
    if request.labels and cached.labels is None:
        raise UsageError(f"{source.root}: a conditional architecture needs labels, which the images data set takes "
                         f"from first-level subfolders (one per class, two or more); put every picture in its "
                         f"class's subfolder")
    return cached


def _read_cache(folder: Path, shape) -> Optional[CachedImages]:
    index_path, pixels = folder / "index.json", folder / "pixels.u8"
    try:
        index = json.loads(index_path.read_text())
        if pixels.stat().st_size != index["count"] * int(np.prod(shape)) or tuple(index["shape"]) != tuple(shape):
            return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    start = time.monotonic()
    labels = None if index["labels"] is None else torch.tensor(index["labels"], dtype=torch.int64)
    notice(f"images: {index['count']:,} images {'x'.join(map(str, shape))} from the cache {folder} "
           f"({time.monotonic() - start:.1f} s)")
    return CachedImages(pixels, index["count"], shape, labels, index["classes"])


def _mention_superseded(folder: Path, source: Source, shape) -> None:
    """Name the older caches of the same pictures at the same shape (made
    before files changed), which no run reads again unless the files change
    back. They are not deleted: a run started earlier may still stream from
    one."""
    stale, size = [], 0
    for index_path in folder.parent.glob("*/index.json"):
        try:
            index = json.loads(index_path.read_text())
            same = Path(index["source"]) == source.root.resolve() and tuple(index["shape"]) == tuple(shape)
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if same and index_path.parent != folder:
            stale.append(index_path.parent)
            size += sum(path.stat().st_size for path in index_path.parent.iterdir())
    if stale:
        notice(f"images: {len(stale)} older cache(s) of {source.root} at this size ({size / 2**20:,.0f} MiB) can be "
               f"deleted once no run uses them: {', '.join(map(str, sorted(stale)))}")


def _build_cache(source: Source, shape, folder: Path, workers: int) -> CachedImages:
    start = time.monotonic()
    classes = class_names(source.names)
    class_of = {name: number for number, name in enumerate(classes or [])}
    with reporting_write_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
    chunks = [source.names[i:i + CHUNK] for i in range(0, len(source.names), CHUNK)]
    kept: list[str] = []
    skipped: list[str] = []
    parallel = workers > 0 and len(source.names) >= PARALLEL_FROM
    executor = ProcessPoolExecutor(workers, mp_context=get_context("spawn")) if parallel else None
    try:
        results = (executor.map(_decode_chunk, [source] * len(chunks), chunks, [shape] * len(chunks))
                   if executor else (_decode_chunk(source, chunk, shape) for chunk in chunks))
        with atomic_writer(folder / "pixels.u8") as stream, tqdm(
                total=len(source.names), desc="decoding images", unit="img", leave=False, mininterval=1) as bar:
            for names, decoded in zip(chunks, results):
                for name, pixels in zip(names, decoded):
                    if pixels is None:
                        skipped.append(name)
                    else:
                        stream.write(pixels)
                        kept.append(name)
                bar.update(len(names))
    finally:
        if executor:
            executor.shutdown(cancel_futures=True)
    where = f"{source.root}{' (zip)' if source.is_zip else ''}"
    if skipped:
        named = ", ".join(skipped[:NAMED_SKIPPED]) + (", ..." if len(skipped) > NAMED_SKIPPED else "")
        notice(f"images: skipped {len(skipped):,} of {len(source.names):,} files in {where} that cannot be read "
               f"as images: {named}")
    if not kept:
        raise PyganError(f"{where}: none of its {len(source.names):,} image files can be read (corrupt, or not "
                         f"images); check the files, e.g. by opening one")
    labels = [class_of[name.split("/", 1)[0]] for name in kept] if classes else None
    write_atomically(folder / "index.json", json.dumps(
        {"count": len(kept), "shape": list(shape), "classes": classes, "labels": labels, "skipped": skipped,
         "source": str(source.root.resolve())}).encode())
    notice(f"images: decoded {len(kept):,} images {'x'.join(map(str, shape))} from {where} in "
           f"{time.monotonic() - start:.1f} s" + (f", {len(classes)} classes from its subfolders" if classes else "")
           + f"; cached in {folder}")
    _mention_superseded(folder, source, shape)
    return CachedImages(folder / "pixels.u8", len(kept), shape,
                        None if labels is None else torch.tensor(labels, dtype=torch.int64), classes)
