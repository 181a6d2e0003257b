"""Folders and zips of pictures as an attacker or a careless user leaves
them: nothing in them runs, hangs the search or exhausts memory, every mode
of every listed format is read right, and what cannot be read is skipped,
named, and tried again. Every file is made here."""

import io
import json
import os
import resource
import struct
import subprocess
import sys
import tracemalloc
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pygan_plugins import images as images_plugin

import pygan
from pygan._contracts.messages import PyganError
from pygan._contracts.records import DataRequest
from pygan._files.folder_lock import claimed


@pytest.fixture(autouse=True)
def data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def open_folder(path, shape=(3, 8, 8), **config):
    return images_plugin.open_images(DataRequest(Path(path), shape, False, {"workers": 0, **config}))


def png_bytes(colour=(200, 30, 30), size=(12, 10), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, colour).save(out, format="PNG")
    return out.getvalue()


def folder_of(root: Path, files: dict) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


# --- what a file holds decides, and only the listed formats ---------------------------

OTHER_FORMATS = ["TIFF", "PCX", "ICO", "TGA", "SGI", "PPM", "IM", "DDS", "QOI", "JPEG2000", "ICNS", "EPS"]


def test_only_the_listed_formats_are_decoded_whatever_the_name_says(tmp_path, monkeypatch, capsys):
    from PIL import EpsImagePlugin

    # Ghostscript runs EPS files; whether it is installed or not, pygan must never reach it.
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *args, **kwargs: pytest.fail("Ghostscript ran"))
    files = {"real.png": png_bytes()}
    for picture_format in OTHER_FORMATS:
        if picture_format in Image.SAVE:
            out = io.BytesIO()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # IM's writer, to go in Pillow 15
                Image.new("RGB", (16, 16), (200, 30, 30)).save(out, format=picture_format)
            files[f"{picture_format.lower()}.png"] = out.getvalue()
    jpeg = io.BytesIO()
    Image.new("RGB", (12, 10), (30, 200, 30)).save(jpeg, format="JPEG")
    files["jpeg-named.png"] = jpeg.getvalue()  # a listed format under another listed name: decoded
    folder = folder_of(tmp_path / "p", files)
    assert len(files) >= 9  # most of the formats above could be written here
    samples = open_folder(folder)
    assert len(samples) == 2
    assert samples.read(np.arange(2))[0, 1].float().mean() > 150  # the JPEG's green
    err = capsys.readouterr().err
    assert f"not a PNG, JPEG, WebP, BMP or GIF picture ({len(files) - 2})" in err


# --- every mode scaled to 8 bits ---------------------------------------------------------

def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_by_hand(depth: int, colour_type: int, samples: list[int], extra: bytes = b"", size: int = 4) -> bytes:
    """A size x size PNG of one pixel value repeated (``samples``: its
    channel values), in any bit depth and colour type the format has."""
    if depth >= 8:
        row = b"".join(value.to_bytes(depth // 8, "big") for value in samples) * size
    else:
        bits = "".join(format(value, f"0{depth}b") for value in samples) * size
        bits += "0" * (-len(bits) % 8)
        row = bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    header = struct.pack(">IIBBBBB", size, size, depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + extra
            + _chunk(b"IDAT", zlib.compress(b"".join(b"\0" + row for _ in range(size)))) + _chunk(b"IEND", b""))


def saved(mode: str, picture_format: str, colour) -> bytes:
    out = io.BytesIO()
    Image.new(mode, (4, 4), colour).save(out, format=picture_format)
    return out.getvalue()


# Each: the file, and the gray level (0-255) it must decode to on white.
MODES = {
    **{f"png-gray-{depth}bit": (png_by_hand(depth, 0, [(1 << depth) - 1 if depth == 1 else 1 << (depth - 1)]),
                                255 if depth == 1 else 255 * (1 << (depth - 1)) / ((1 << depth) - 1))
       for depth in (1, 2, 4, 8, 16)},
    "png-gray-16bit-transparent": (png_by_hand(16, 0, [1000], _chunk(b"tRNS", (1000).to_bytes(2, "big"))), 255),
    "png-gray-16bit-other-transparent": (png_by_hand(16, 0, [32768], _chunk(b"tRNS", (7).to_bytes(2, "big"))),
                                         127.5),
    **{f"png-rgb-{depth}bit": (png_by_hand(depth, 2, [1 << (depth - 1)] * 3), 127.5) for depth in (8, 16)},
    **{f"png-gray-alpha-{depth}bit": (png_by_hand(depth, 4, [1 << (depth - 1), (1 << depth) - 1]), 127.5)
       for depth in (8, 16)},
    **{f"png-rgba-{depth}bit": (png_by_hand(depth, 6, [1 << (depth - 1)] * 3 + [(1 << depth) - 1]), 127.5)
       for depth in (8, 16)},
    "png-rgba-transparent": (png_by_hand(8, 6, [0, 0, 0, 0]), 255),
    **{f"png-palette-{depth}bit": (png_by_hand(depth, 3, [1], _chunk(b"PLTE", bytes([0, 0, 0, 128, 128, 128]))), 128)
       for depth in (1, 2, 4, 8)},
    "png-palette-transparent": (png_by_hand(8, 3, [1], _chunk(b"PLTE", bytes([0, 0, 0, 0, 0, 0]))
                                            + _chunk(b"tRNS", bytes([255, 0]))), 255),
    "jpeg-gray": (saved("L", "JPEG", 128), 128),
    "jpeg-rgb": (saved("RGB", "JPEG", (128, 128, 128)), 128),
    "jpeg-cmyk": (saved("CMYK", "JPEG", (0, 0, 0, 127)), 128),
    "webp-rgb": (saved("RGB", "WEBP", (128, 128, 128)), 128),
    "webp-rgba-transparent": (saved("RGBA", "WEBP", (0, 0, 0, 0)), 255),
    "bmp-1bit": (saved("1", "BMP", 1), 255),
    "bmp-gray": (saved("L", "BMP", 128), 128),
    "bmp-palette": (saved("P", "BMP", 3), None),
    "bmp-rgb": (saved("RGB", "BMP", (128, 128, 128)), 128),
    "gif-gray": (saved("L", "GIF", 128), 128),
    "gif-palette": (saved("RGB", "GIF", (128, 128, 128)), 128),
}


@pytest.mark.parametrize("name", list(MODES))
def test_every_mode_of_the_listed_formats_decodes_to_its_gray_level(name):
    data, level = MODES[name]
    with Image.open(io.BytesIO(data)) as picture:
        mode = picture.mode
        expected = np.asarray(picture.convert("L")).mean() if level is None else level
    gray = images_plugin.decode(data, (1, 4, 4))
    assert abs(gray.astype(float).mean() - expected) <= 2, (mode, gray.mean(), expected)
    assert gray.std() == 0  # one value everywhere, as drawn


def test_a_photo_is_turned_as_its_exif_orientation_says():
    picture = Image.new("RGB", (40, 20), (0, 0, 0))
    picture.paste((255, 255, 255), (0, 0, 20, 20))  # white left half
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned 90 degrees counter-clockwise: shown turned clockwise
    out = io.BytesIO()
    picture.save(out, format="JPEG", exif=exif)
    upright = images_plugin.decode(out.getvalue(), (1, 20, 20))[0]  # 20 wide, 40 high: the middle 20 rows
    assert upright[:2].mean() > 200 and upright[-2:].mean() < 50  # the white half on top


def test_a_picture_over_the_pixel_bound_is_skipped_without_pillows_warning(tmp_path, capsys):
    out = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(out, format="PNG")  # 144 megapixels in a few kilobytes
    folder = folder_of(tmp_path / "p", {"huge.png": out.getvalue(), "small.png": png_bytes()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Pillow's DecompressionBombWarning would fail the test
        assert len(open_folder(folder)) == 1
    assert "more than the 64 megapixels a picture may have (1): huge.png" in capsys.readouterr().err


# --- zips ------------------------------------------------------------------------------

def test_a_zip_member_larger_than_the_bound_is_skipped_unread(tmp_path, monkeypatch, capsys):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("a.png", png_bytes())
        out.writestr("bomb.png", bytes(20 << 20))  # 20 MiB of zeros in 20 KiB
    monkeypatch.setattr(images_plugin, "MAX_PICTURE_BYTES", 1 << 20, raising=False)
    tracemalloc.start()
    try:
        assert len(open_folder(archive)) == 1
        assert tracemalloc.get_traced_memory()[1] < 8 << 20
    finally:
        tracemalloc.stop()
    assert "more than the 1.0 MiB such a file may have (1): bomb.png" in capsys.readouterr().err


def test_a_zip_member_claiming_more_than_deflate_can_hold_is_refused_unread(tmp_path, capsys):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as out:
        out.writestr("a.png", png_bytes())
        out.writestr("liar.png", png_bytes((1, 2, 3)))
    data = bytearray(archive.read_bytes())
    central = data.rfind(b"PK\x01\x02")  # liar.png's central directory entry: claim 3 GiB unpacked
    data[central + 24:central + 28] = struct.pack("<I", 3 << 30)
    archive.write_bytes(bytes(data))
    assert len(open_folder(archive)) == 1
    assert "corrupt or a zip bomb: claims 3,221,225,472 bytes unpacked" in capsys.readouterr().err


def test_a_damaged_zip_is_named_as_one(tmp_path):
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("a.png", png_bytes())
    whole = archive.read_bytes()
    archive.write_bytes(whole[:-10])  # truncated: the end of the central directory is gone
    with pytest.raises(PyganError, match="photos.zip: a damaged zip archive"):
        open_folder(archive)
    broken = bytearray(whole)
    broken[broken.rfind(b"PK\x01\x02") + 1] = 0  # the central directory's first signature spoiled
    archive.write_bytes(bytes(broken))
    with pytest.raises(PyganError, match="photos.zip: a damaged zip archive"):
        open_folder(archive)


def test_members_of_the_same_name_are_each_read(tmp_path):
    archive = tmp_path / "photos.zip"
    with warnings.catch_warnings(), zipfile.ZipFile(archive, "w") as out:
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        out.writestr("a.png", png_bytes((255, 0, 0)))
        out.writestr("a.png", png_bytes((0, 0, 255)))
    images = open_folder(archive).read(np.arange(2)).float()
    assert sorted([images[0, 0].mean().item(), images[1, 0].mean().item()]) == [0, 255]


# --- what a folder holds besides pictures ---------------------------------------------------

def test_special_files_are_skipped_without_reading_them(tmp_path):
    """A FIFO would block the reader forever and /dev/zero never end: in a
    process with bounded memory and time, both are skipped, named."""
    folder = folder_of(tmp_path / "p", {"good.png": png_bytes()})
    os.mkfifo(folder / "pipe.png")
    os.symlink("/dev/zero", folder / "zero.png")
    script = ("import sys; from pathlib import Path; from pygan._contracts.records import DataRequest; "
              "from pygan_plugins.images import open_images; "
              "print(len(open_images(DataRequest(Path(sys.argv[1]), (3, 8, 8), False, {'workers': 0}))))")
    limit = 3 << 30

    def bounded():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    result = subprocess.run([sys.executable, "-c", script, str(folder)], capture_output=True, text=True, timeout=120,
                            preexec_fn=bounded, env={**os.environ, "PYGAN_DATA_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0 and result.stdout.strip() == "1", result.stderr
    assert "not a regular file (2): pipe.png, zero.png" in result.stderr


def test_a_file_over_the_size_bound_is_skipped_unread_and_one_growing_past_it_is_cut_off(tmp_path, monkeypatch,
                                                                                         capsys):
    folder = folder_of(tmp_path / "p", {"good.png": png_bytes(), "big.png": png_bytes() + bytes(2 << 20)})
    monkeypatch.setattr(images_plugin, "MAX_PICTURE_BYTES", 1 << 20)
    assert len(open_folder(folder)) == 1
    assert "2.0 MiB, more than the 1.0 MiB such a file may have (1): big.png" in capsys.readouterr().err
    # A /proc file says it has 0 bytes, then gives more: past the bound it is refused.
    with pytest.raises(pygan.UnreadableFile, match="grew past the 16 bytes such a file may have while read"):
        pygan.read_regular("/proc/self/status", 16)


def test_names_links_and_files_that_cannot_be_read_are_skipped_named(tmp_path, monkeypatch, capsys):
    folder = folder_of(tmp_path / "p", {"good.png": png_bytes(), "gone.png": png_bytes()})
    Image.open(io.BytesIO(png_bytes())).save(os.path.join(os.fsencode(folder), b"caf\xe9.png"), format="PNG")
    os.symlink(folder / "nowhere.png", folder / "dangling.png")
    os.symlink(folder / "loop-b.png", folder / "loop-a.png")
    os.symlink(folder / "loop-a.png", folder / "loop-b.png")
    listing = os.scandir

    def scandir_then_delete(path):  # a file removed between the listing and the look at it
        entries = list(listing(path))
        (folder / "gone.png").unlink(missing_ok=True)
        return _Listing(entries)

    monkeypatch.setattr(images_plugin.os, "scandir", scandir_then_delete)
    assert len(open_folder(folder)) == 2  # good.png and the one whose name is not UTF-8
    err = capsys.readouterr().err
    assert "skipped 4 of 6 files" in err
    assert "does not exist (a dangling link, or removed meanwhile) (2): dangling.png, gone.png" in err
    assert "a loop of symbolic links (2): loop-a.png, loop-b.png" in err


class _Listing(list):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_linked_subfolder_is_searched_and_one_that_cannot_be_read_is_named(tmp_path, monkeypatch, capsys):
    pictures = folder_of(tmp_path / "elsewhere", {"c.png": png_bytes()})
    folder = folder_of(tmp_path / "p", {"cats/a.png": png_bytes(), "locked/b.png": png_bytes()})
    os.symlink(pictures, folder / "dogs")
    os.symlink(folder, folder / "cats" / "again")  # a loop through a link: searched once
    listing = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return listing(path)

    monkeypatch.setattr(images_plugin.os, "scandir", scandir)
    samples = open_folder(folder)
    assert len(samples) == 2 and samples.classes == ["cats", "dogs"]
    err = capsys.readouterr().err
    assert "left out 2 subfolder(s)" in err and "cannot be read: Permission denied (1): locked/" in err
    assert "a link to a folder searched already (1): cats/again/" in err

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(images_plugin.os, "scandir", unreadable)
    with pytest.raises(PyganError, match="p: the folder cannot be read: Permission denied; check its permissions"):
        open_folder(folder)


# --- the cache ---------------------------------------------------------------------------

def test_a_skipped_file_is_tried_again_on_every_run_and_named_each_time(tmp_path, capsys):
    good = png_bytes((10, 200, 10))
    folder = folder_of(tmp_path / "p", {"a.png": png_bytes(), "b.png": b"\x89PNG" + bytes(len(good) - 4)})
    stamp = (folder / "b.png").stat().st_mtime_ns
    assert len(open_folder(folder)) == 1
    assert "b.png" in capsys.readouterr().err
    assert len(open_folder(folder)) == 1  # from the cache: still skipped, and still said
    assert "skipped 1 of 2 files" in capsys.readouterr().err
    # Mended with the same size and time, so the cache key cannot tell: tried again, it is read.
    (folder / "b.png").write_bytes(good)
    os.utime(folder / "b.png", ns=(stamp, stamp))
    samples = open_folder(folder)
    assert len(samples) == 2 and samples.read(np.arange(2))[1, 1].float().mean() > 150
    err = capsys.readouterr().err
    assert "1 of the 1 files skipped before can be read now" in err and "skipped 1 of" not in err


@pytest.mark.parametrize("damage", [
    lambda index: {**index, "labels": index["labels"][:-1]},
    lambda index: {**index, "labels": [-1] * len(index["labels"])},
    lambda index: {**index, "labels": ["cats"] * len(index["labels"])},
    lambda index: {**index, "classes": "cats"},
    lambda index: {**index, "skipped": [["x", 1]]},
    lambda index: {key: value for key, value in index.items() if key != "count"},
    lambda index: [index],
], ids=["labels-short", "labels-negative", "labels-strings", "classes-string", "skipped-garbled", "no-count",
        "not-a-dict"])
def test_a_damaged_cache_index_is_rebuilt_with_a_notice(tmp_path, data_cache, damage, capsys):
    folder = folder_of(tmp_path / "p", {"cats/a.png": png_bytes(), "dogs/b.png": png_bytes((0, 0, 200))})
    first = open_folder(folder)
    index_path = next((data_cache / "images").glob("*/index.json"))
    index_path.write_text(json.dumps(damage(json.loads(index_path.read_text()))))
    capsys.readouterr()
    again = open_folder(folder)
    assert "is damaged" in capsys.readouterr().err
    assert torch.equal(again.read(np.arange(2)), first.read(np.arange(2))) and again.labels.tolist() == [0, 1]


def test_temporaries_of_a_killed_decode_are_removed_unless_a_live_one_owns_them(tmp_path, data_cache, capsys):
    folder = folder_of(tmp_path / "p", {"a.png": png_bytes()})
    open_folder(folder)
    (ours,) = (data_cache / "images").iterdir()
    others = [data_cache / "images" / name for name in ("0" * 24, "1" * 24)]
    for cache in [ours, *others]:
        cache.mkdir(exist_ok=True)
        (cache / ".pixels.u8.0123abcd.tmp").write_bytes(b"half a decode")
    with claimed(others[1]):  # a decode still running in that one
        open_folder(folder)
    assert not (ours / ".pixels.u8.0123abcd.tmp").exists() and not (others[0] / ".pixels.u8.0123abcd.tmp").exists()
    assert (others[1] / ".pixels.u8.0123abcd.tmp").exists()
    assert "removed 1 temporary file(s)" in capsys.readouterr().err
