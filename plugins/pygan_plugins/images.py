"""The data set ``images``: a folder (or a ``.zip``) of your own pictures.

``--data-dir`` names a folder, searched recursively, or a ``.zip`` file.
PNG, JPEG, WebP, BMP and GIF files (a GIF's first frame) are read with
Pillow, resized (the shorter side to the architecture's resolution) and
center-cropped to its image shape, and converted to its channel count: 1
(grayscale), 3 (RGB) or 4 (RGBA); transparent pixels are composited on
white for 1 and 3. When every image lies in a first-level subfolder, the
subfolders' names, sorted, are the classes 0, 1, 2, ... (what conditional
architectures need). Hidden files and folders are passed over.

A picture is decoded by what it holds, whatever its name says, and only
from those five formats: anything else, a damaged file, one that is not a
regular file (a FIFO, a device), larger than 256 MiB or 64 megapixels, is
skipped, and counted in a notice naming the first few of each reason, on
every run (skipped files are tried again each time, and a file that has
become readable makes a new cache); only a folder with no readable image is
an error. 16-bit pictures are scaled to 8 bits, and a photo's EXIF
orientation is applied.

The decoded images are cached as raw pixels in ``$PYGAN_DATA_DIR/images/``
(default ``~/.cache/pygan/images``), keyed by the file list, the files'
sizes and modification times, the image shape and the cache format, so a
second run starts in seconds; a changed, added or removed file makes a new
cache. One process decodes a folder at a time (another waits, then reads
its cache); the temporary files of a decode killed midway are removed by
the next. Training reads the cache: into memory when it fits, else streamed by
index (``pygan.Samples``).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import stat
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Optional, Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from tqdm import tqdm

from pygan import (
    DataRequest,
    Dataset,
    PyganError,
    UnreadableFile,
    UsageError,
    atomic_writer,
    cache_dir,
    claimed,
    claimed_if_free,
    describe_os_error,
    hookimpl,
    notice,
    open_regular,
    open_zip,
    parallel_map,
    read_member,
    read_regular,
    remove_orphaned_temporaries,
    reporting_write_errors,
    write_atomically,
)

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")
# The formats Pillow may decode: what a file holds decides, not its name, and
# Pillow knows many more (TIFF, EPS through Ghostscript, ...) that pygan does not promise.
FORMATS = ("PNG", "JPEG", "WEBP", "BMP", "GIF")
NOT_A_PICTURE = "not a PNG, JPEG, WebP, BMP or GIF picture"
# Bump when decoding changes, so that old caches are not mixed in.
CACHE_VERSION = 2
# What an architecture that takes any shape gets.
DEFAULT_SHAPE = (3, 64, 64)
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
NAMED_SKIPPED = 5  # skipped files named in the notice, per reason
# Files decoded per task of a worker process; below PARALLEL_FROM files, the
# training process decodes them itself (starting processes costs seconds).
CHUNK = 256
PARALLEL_FROM = 2000
# A picture's bounds: its file, and its pixels once decoded (a JPEG at the
# reduced size it is decoded at). 64 megapixels of RGBA take 256 MiB.
MAX_PICTURE_BYTES = 256 << 20
MAX_PICTURE_PIXELS = 64 << 20
# Modes in which Pillow gives 16-bit grayscale (PNG); convert() would clip them to 255.
SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


@hookimpl
def register_datasets(register):
    register(Dataset(name="images", load=lambda data_dir: open_images(DataRequest(data_dir)).batch(),
                     open=open_images, description="your own pictures: a folder or .zip of PNG, JPEG, WebP, BMP "
                     "and GIF files given by --data-dir (classes from first-level subfolders)"))


# --- finding the files ---------------------------------------------------------------

@dataclass(frozen=True)
class Source:
    """The image files of a folder or a zip: names relative to it (sorted),
    what the cache key needs, and what the search had to leave out."""

    root: Path
    names: list[str]
    stamps: list[str]  # size and modification time (folder) or size and CRC (zip), per file
    members: Optional[list[int]]  # a zip's: each name's position among its members; None for a folder
    left_out: list[tuple[str, str]]  # files and folders found but not readable, with the reason

    @property
    def is_zip(self) -> bool:
        return self.members is not None

    @property
    def where(self) -> str:
        return f"{self.root}{' (zip)' if self.is_zip else ''}"

    def task(self, positions: Iterable[int]) -> tuple[str, bool, list[tuple[str, Optional[int]]]]:
        """What a worker needs to decode these files (not the whole list)."""
        return (str(self.root), self.is_zip,
                [(self.names[i], self.members[i] if self.is_zip else None) for i in positions])


def _hidden(name: str) -> bool:
    return name.startswith(".") or name == "__MACOSX"


def find_images(data_dir: Path) -> Source:
    path = Path(data_dir).expanduser()
    try:
        status = path.stat()
    except FileNotFoundError:
        raise PyganError(f"{path}: no such folder; --data-dir for images names a folder (or a .zip) of "
                         f"pictures") from None
    except OSError as error:
        raise PyganError(f"{path}: {describe_os_error(error)}; --data-dir for images names a folder (or a .zip) "
                         f"of pictures") from None
    if stat.S_ISDIR(status.st_mode):
        return _search_folder(path)
    if stat.S_ISREG(status.st_mode) and (path.suffix.lower() == ".zip" or _starts_like_a_zip(path)):
        return _search_zip(path)
    raise UsageError(f"{path}: --data-dir for images must be a folder or a .zip of images, and this "
                     f"{'file' if stat.S_ISREG(status.st_mode) else 'special file'} is neither")


def _starts_like_a_zip(path: Path) -> bool:
    with contextlib.suppress(OSError), open_regular(path) as stream:
        return stream.read(4) == b"PK\x03\x04"
    return False


def _search_zip(path: Path) -> Source:
    with open_zip(path) as archive:
        members = sorted((info.filename, position) for position, info in enumerate(archive.infolist())
                         if not info.is_dir() and info.filename.lower().endswith(SUFFIXES)
                         and not any(_hidden(part) for part in info.filename.split("/")))
        infos = archive.infolist()
        stamps = [f"{infos[position].file_size}:{infos[position].CRC}" for _, position in members]
    return Source(path, [name for name, _ in members], stamps, [position for _, position in members], [])


def _search_folder(root: Path) -> Source:
    """Every picture file below ``root``, following links to folders (each
    folder searched once, so a link loop ends); a subfolder that cannot be
    read and a picture file that cannot be looked at are left out, named."""
    names, stamps, left_out = [], [], []
    searched: set[tuple[int, int]] = set()
    pending = [""]  # folders to search, relative to root ("": root itself)
    # A counter that appears only when the search takes over a second (a large folder).
    with tqdm(desc="finding images", unit=" files", delay=1, leave=False) as found:
        while pending:
            relative = pending.pop()
            try:
                status = (root / relative).stat()
                if (status.st_dev, status.st_ino) in searched:
                    left_out.append((relative + "/", "a link to a folder searched already"))
                    continue
                searched.add((status.st_dev, status.st_ino))
                with os.scandir(root / relative) as scan:
                    entries = sorted(scan, key=lambda entry: entry.name)
            except OSError as error:
                if not relative:
                    raise PyganError(f"{root}: the folder {describe_os_error(error)}; check its permissions, or "
                                     f"point --data-dir at a folder you can read") from None
                left_out.append((relative + "/", describe_os_error(error)))
                continue
            for entry in entries:
                if _hidden(entry.name):
                    continue
                name = f"{relative}/{entry.name}" if relative else entry.name
                with contextlib.suppress(OSError):  # a dangling link or a loop: not a folder, looked at below
                    if entry.is_dir():
                        pending.append(name)
                        continue
                if not entry.name.lower().endswith(SUFFIXES):
                    continue
                try:
                    status = entry.stat()
                except OSError as error:
                    left_out.append((name, describe_os_error(error)))
                    continue
                if not stat.S_ISREG(status.st_mode):
                    left_out.append((name, "not a regular file"))
                    continue
                names.append(name)
                stamps.append(f"{status.st_size}:{status.st_mtime_ns}")
            found.update(len(entries))
    order = sorted(range(len(names)), key=names.__getitem__)
    return Source(root, [names[i] for i in order], [stamps[i] for i in order], None, left_out)


def class_names(names: list[str]) -> Optional[list[str]]:
    """The first-level subfolders, sorted, when every image lies in one (and there are two or more)."""
    if not names or any("/" not in name for name in names):
        return None
    classes = sorted({name.split("/", 1)[0] for name in names})
    return classes if len(classes) >= 2 else None


def shown(name: str) -> str:
    """A file name as it can be printed: bytes that are not UTF-8 as escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# --- decoding ----------------------------------------------------------------------

class NotDecoded(Exception):
    """A picture pygan does not decode; the message says why."""


def decode(data: bytes, shape: tuple[int, int, int]) -> np.ndarray:
    """One picture's bytes as uint8 (C, H, W): first frame, turned as its
    EXIF orientation says, resized so the shorter side fits, center-cropped,
    converted to C channels (transparent parts on white for 1 and 3
    channels). Raises NotDecoded for a picture of another format, or too large."""
    channels, height, width = shape
    # Pillow warns of pictures above 89 megapixels; pygan's own bound applies below.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            picture = Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.DecompressionBombError:
            raise NotDecoded(f"more than the {MAX_PICTURE_PIXELS / 2 ** 20:.0f} megapixels a picture may have") \
                from None
        except UnidentifiedImageError:
            raise NotDecoded(NOT_A_PICTURE) from None
        with picture:
            picture.draft("RGB", (width, height))  # JPEG: decode at a reduced size when it is much larger
            if picture.width * picture.height > MAX_PICTURE_PIXELS:
                raise NotDecoded(f"more than the {MAX_PICTURE_PIXELS / 2 ** 20:.0f} megapixels a picture may have")
            picture.seek(0)
            picture = _eight_bit(_upright(picture))
            has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
            picture = picture.convert("RGBA" if has_alpha else "RGB")
            if has_alpha and channels != 4:
                white = Image.new("RGBA", picture.size, (255, 255, 255, 255))
                picture = Image.alpha_composite(white, picture)
            picture = ImageOps.fit(picture, (width, height), Image.Resampling.BICUBIC, centering=(0.5, 0.5))
            picture = picture.convert(MODES[channels])
            pixels = np.asarray(picture, dtype=np.uint8)
    return pixels.reshape(height, width, channels).transpose(2, 0, 1)


def _upright(picture: Image.Image) -> Image.Image:
    """The picture turned as its EXIF orientation says (a phone's photos);
    as it is when its EXIF data cannot be read."""
    try:
        return ImageOps.exif_transpose(picture)
    except Exception:  # malformed EXIF, whatever Pillow raises for it: the pixels are still good
        return picture


def _eight_bit(picture: Image.Image) -> Image.Image:
    """16-bit grayscale as 8-bit, scaled (65535 -> 255), keeping a
    transparent value as alpha; other modes as they are."""
    if picture.mode not in SIXTEEN_BIT_MODES:
        return picture
    values = np.asarray(picture).astype(np.int64)
    gray = Image.fromarray(((np.clip(values, 0, 65535) + 128) // 257).astype(np.uint8), "L")
    transparent = picture.info.get("transparency")
    if isinstance(transparent, int):
        gray = Image.merge("LA", (gray, Image.fromarray(np.where(values == transparent, 0, 255).astype(np.uint8))))
    return gray


DecodedOrReason = Union[bytes, str]


def _decode_chunk(root: str, is_zip: bool, files: list[tuple[str, Optional[int]]], shape) -> list[DecodedOrReason]:
    """Raw pixels of each file, or why it cannot be decoded."""
    with contextlib.ExitStack() as stack:
        try:
            archive = stack.enter_context(open_zip(root)) if is_zip else None
        except UnreadableFile as error:  # the zip went away or changed since it was searched
            return [error.reason] * len(files)
        infos = archive.infolist() if archive is not None else None
        decoded = []
        for name, member in files:
            try:
                if archive is None:
                    data = read_regular(Path(root) / name, MAX_PICTURE_BYTES)
                elif member >= len(infos) or infos[member].filename != name:
                    raise NotDecoded("changed in the zip since it was searched")
                else:
                    data = read_member(archive, infos[member], MAX_PICTURE_BYTES, name)
                decoded.append(decode(data, shape).tobytes())
            except UnreadableFile as error:
                decoded.append(error.reason)
            except NotDecoded as error:
                decoded.append(str(error))
            except Exception as error:  # a damaged picture, whatever Pillow raises for it
                decoded.append(f"damaged ({error})" if str(error) else f"damaged ({type(error).__name__})")
        return decoded


def _decode(source: Source, positions: list[int], shape, workers: int,
            progress: Optional[tqdm] = None) -> Iterator[tuple[int, DecodedOrReason]]:
    """Each file's position and its decoded pixels (or why not), in order:
    by ``workers`` processes when there are many files, which are stopped at
    once if the caller stops reading."""
    chunks = [positions[i:i + CHUNK] for i in range(0, len(positions), CHUNK)]
    tasks = [(*source.task(chunk), shape) for chunk in chunks]
    if workers > 0 and len(positions) >= PARALLEL_FROM:
        results = parallel_map(_decode_chunk, tasks, workers, "decoding pictures")
    else:
        results = (_decode_chunk(*task) for task in tasks)
    with contextlib.closing(results):
        for chunk, decoded in zip(chunks, results):
            yield from zip(chunk, decoded)
            if progress is not None:
                progress.update(len(chunk))


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
                              "zip": source.is_zip}).encode("utf-8", "surrogateescape"))
    for name, stamp in zip(source.names, source.stamps):
        digest.update(f"{name}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:24]


def open_images(request: DataRequest) -> CachedImages:
    if request.data_dir is None:
        raise UsageError("the images data set needs --data-dir: a folder (or .zip) of your pictures")
    shape = tuple(request.image_shape or DEFAULT_SHAPE)
    if shape[0] not in MODES:
        raise UsageError(f"the architecture asks for {shape[0]}-channel images, and pictures can be made "
                         f"grayscale (1 channel), RGB (3) or RGBA (4); choose one of those (--channels)")
    source = find_images(Path(request.data_dir))
    _mention_left_out_folders(source)
    if not source.names:
        unreadable = [name for name, _ in source.left_out if not name.endswith("/")]
        raise PyganError(f"{source.root}: no images found (PNG, JPEG, WebP, BMP or GIF files, searched "
                         f"{'in the zip' if source.is_zip else 'in it and its subfolders'}"
                         + (f"; {len(unreadable)} cannot be read: {_named(unreadable)}" if unreadable else "")
                         + "); point --data-dir at the folder that holds your pictures")
    images_cache = cache_dir() / "images"
    folder = images_cache / cache_key(source, shape)
    with reporting_write_errors(folder):
        folder.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_temporaries(images_cache)
    # One process decodes these pictures at a time; another waits and reads its cache.
    with claimed(folder, wait=True, user="process decoding these pictures"):
        cached = _read_cache(folder, source, shape, request.config.get("workers", 0))
        if cached is None:
            cached = _build_cache(source, shape, folder, request.config.get("workers", 0))
    images, skipped = cached
    _mention_skipped(source, skipped)
    if request.labels and images.labels is None:
        raise UsageError(f"{source.root}: a conditional architecture needs labels, which the images data set takes "
                         f"from first-level subfolders (one per class, two or more); put every picture in its "
                         f"class's subfolder")
    return images


def _remove_abandoned_temporaries(images_cache: Path) -> None:
    """The temporary files of decodes killed midway, in any cache folder
    that no live process holds (``pygan._files.folder_lock``)."""
    with contextlib.suppress(OSError):
        for folder in images_cache.iterdir():
            if folder.is_dir() and any(folder.glob(".*.tmp")):
                with claimed_if_free(folder) as free:
                    if free:
                        remove_orphaned_temporaries(folder)


Cached = tuple[CachedImages, list[tuple[str, str]]]  # the images, and the files skipped with the reason


def _read_cache(folder: Path, source: Source, shape, workers: int) -> Optional[Cached]:
    """The cache in ``folder``, or None when there is none, it is damaged
    (said, then rebuilt) or a file it had to skip can be decoded now."""
    index_path, pixels = folder / "index.json", folder / "pixels.u8"
    try:
        index = json.loads(index_path.read_text())
        problem = _index_problem(index, shape, len(source.names), pixels.stat().st_size)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:  # ValueError: not JSON, or not UTF-8
        problem = f"{type(error).__name__}: {error}"
    if problem:
        notice(f"images: the cache {folder} is damaged ({problem}); decoding the pictures again")
        return None
    skipped = []
    if index["skipped"]:  # tried again: a file may have been fixed (made readable) since
        positions = [position for position, _ in index["skipped"]]
        skipped = list(_decode(source, positions, shape, workers))
        fixed = sum(isinstance(result, bytes) for _, result in skipped)
        if fixed:
            notice(f"images: {fixed:,} of the {len(skipped):,} files skipped before can be read now; decoding the "
                   f"pictures again")
            return None
    notice(f"images: {index['count']:,} images {'x'.join(map(str, shape))} from the cache {folder}")
    labels = None if index["labels"] is None else torch.tensor(index["labels"], dtype=torch.int64)
    return (CachedImages(pixels, index["count"], shape, labels, index["classes"]),
            [(source.names[position], reason) for position, reason in skipped])


def _index_problem(index, shape, files: int, pixel_bytes: int) -> Optional[str]:
    """What is wrong with a cache's index.json (written by _build_cache), or None."""
    if not isinstance(index, dict) or not {"count", "shape", "classes", "labels", "skipped"} <= index.keys():
        return "index.json lacks entries"
    count, classes, labels, skipped = index["count"], index["classes"], index["labels"], index["skipped"]
    if type(count) is not int or count < 1 or index["shape"] != list(shape):
        return "index.json gives another count or shape"
    if pixel_bytes != count * int(np.prod(shape)):
        return f"pixels.u8 holds {pixel_bytes:,} bytes, not {count:,} images' worth"
    if not (isinstance(skipped, list) and all(isinstance(entry, list) and len(entry) == 2 and type(entry[0]) is int
                                                and 0 <= entry[0] < files and isinstance(entry[1], str)
                                                for entry in skipped) and count + len(skipped) == files):
        return "index.json's skipped files do not match the folder"
    if classes is None:
        return None if labels is None else "index.json has labels without classes"
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(name, str) for name in classes)):
        return "index.json's classes are not names"
    if not (isinstance(labels, list) and len(labels) == count
            and all(type(label) is int and 0 <= label < len(classes) for label in labels)):
        return "index.json's labels are not one class number per image"
    return None


def _build_cache(source: Source, shape, folder: Path, workers: int) -> Cached:
    start = time.monotonic()
    classes = class_names(source.names)
    class_of = {name: number for number, name in enumerate(classes or [])}
    kept: list[int] = []
    skipped: list[tuple[int, str]] = []
    with atomic_writer(folder / "pixels.u8") as stream, tqdm(
            total=len(source.names), desc="decoding images", unit="img", leave=False, mininterval=1) as bar, \
            contextlib.closing(_decode(source, list(range(len(source.names))), shape, workers, bar)) as results:
        for position, result in results:
            if isinstance(result, bytes):
                stream.write(result)
                kept.append(position)
            else:
                skipped.append((position, result))
    if not kept:
        raise PyganError(f"{source.where}: none of its {len(source.names):,} image files can be read as "
                         f"pictures ({_by_reason([(source.names[i], reason) for i, reason in skipped])}); check "
                         f"the files, e.g. by opening one")
    labels = [class_of[source.names[position].split("/", 1)[0]] for position in kept] if classes else None
    write_atomically(folder / "index.json", json.dumps(
        {"count": len(kept), "shape": list(shape), "classes": classes, "labels": labels, "skipped": skipped,
         "source": str(source.root.resolve())}).encode())
    notice(f"images: decoded {len(kept):,} images {'x'.join(map(str, shape))} from {source.where} in "
           f"{time.monotonic() - start:.1f} s" + (f", {len(classes)} classes from its subfolders" if classes else "")
           + f"; cached in {folder}")
    _mention_superseded(folder, source, shape)
    return (CachedImages(folder / "pixels.u8", len(kept), shape,
                         None if labels is None else torch.tensor(labels, dtype=torch.int64), classes),
            [(source.names[position], reason) for position, reason in skipped])


def _named(names: list[str]) -> str:
    return ", ".join(map(shown, names[:NAMED_SKIPPED])) + (", ..." if len(names) > NAMED_SKIPPED else "")


def _by_reason(files: list[tuple[str, str]]) -> str:
    """Files grouped by why they were skipped: 'not a ... picture (2): a.png, b.png; ...'."""
    reasons: dict[str, list[str]] = {}
    for name, reason in files:
        reasons.setdefault(reason, []).append(name)
    return "; ".join(f"{reason} ({len(names):,}): {_named(names)}" for reason, names in reasons.items())


def _mention_skipped(source: Source, skipped: list[tuple[str, str]]) -> None:
    files = [(name, reason) for name, reason in source.left_out if not name.endswith("/")] + skipped
    if files:
        notice(f"images: skipped {len(files):,} of {len(source.names) + len(files) - len(skipped):,} files in "
               f"{source.where} that cannot be read as pictures: {_by_reason(files)}")


def _mention_left_out_folders(source: Source) -> None:
    folders = [(name, reason) for name, reason in source.left_out if name.endswith("/")]
    if folders:
        notice(f"images: left out {len(folders):,} subfolder(s) of {source.root} that cannot be searched: "
               f"{_by_reason(folders)}")


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
            if same and index_path.parent != folder:
                size += sum(path.stat().st_size for path in index_path.parent.iterdir())
                stale.append(index_path.parent)
        except (OSError, ValueError, KeyError, TypeError):
            continue
    if stale:
        notice(f"images: {len(stale)} older cache(s) of {source.root} at this size ({size / 2**20:,.0f} MiB) can be "
               f"deleted once no run uses them: {', '.join(map(str, sorted(stale)))}")
