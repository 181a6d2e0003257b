"""The ``npz`` data set: accepted layouts and a clear error for each bad file."""

import io
import os
import re
import signal
import tracemalloc
import zipfile

import numpy as np
import pytest
import torch
from pygan_plugins.npz import load_npz, register_datasets

from pygan._contracts.messages import PyganError, UsageError

RNG = np.random.default_rng(0)
PIXELS = RNG.integers(0, 256, (5, 3, 8, 6), dtype=np.uint8)  # N, C, H, W
EXPECTED = torch.from_numpy(PIXELS.astype(np.float32) / 255)


@pytest.mark.parametrize(
    "array, expected",
    [
        (PIXELS, EXPECTED),
        (PIXELS.transpose(0, 2, 3, 1), EXPECTED),  # channels last
        (PIXELS[:, 0], EXPECTED[:, :1]),  # no channel axis
        (PIXELS[:, :1].transpose(0, 2, 3, 1), EXPECTED[:, :1]),
        (PIXELS.astype(np.float64) / 255, EXPECTED),
    ],
    ids=["nchw-uint8", "nhwc-uint8", "nhw-uint8", "nhw1-uint8", "nchw-float64"],
)
def test_accepted_layouts(tmp_path, array, expected):
    path = tmp_path / "images.npz"
    np.savez(path, array)
    images = load_npz(path)
    assert images.dtype == torch.float32 and images.is_contiguous()
    torch.testing.assert_close(images, expected)


def test_the_array_named_images_is_chosen_among_others(tmp_path):
    np.savez(tmp_path / "data.npz", labels=np.zeros(5), images=PIXELS)
    torch.testing.assert_close(load_npz(tmp_path / "data.npz"), EXPECTED)


def test_a_folder_with_one_npz_file_and_a_npy_file_are_accepted(tmp_path):
    np.savez(tmp_path / "data.npz", images=PIXELS)
    np.save(tmp_path / "data.npy", PIXELS)
    torch.testing.assert_close(load_npz(tmp_path), EXPECTED)
    torch.testing.assert_close(load_npz(tmp_path / "data.npy"), EXPECTED)


def test_registered_as_npz(tmp_path):
    registered = []
    register_datasets(registered.append)
    assert [d.name for d in registered] == ["npz"]
    np.savez(tmp_path / "data.npz", images=PIXELS)
    assert registered[0].load(tmp_path / "data.npz").shape == (5, 3, 8, 6)


def test_without_data_dir_it_is_a_usage_error():
    with pytest.raises(UsageError, match="--data-dir pointing at an .npz file"):
        load_npz(None)


def _saved(tmp_path, **arrays):
    path = tmp_path / "data.npz"
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({}, "holds no arrays"),
        ({"a": PIXELS, "b": PIXELS}, "holds several arrays (a, b) and none is named 'images'"),
        ({"images": PIXELS[0, 0]}, "images of shape (8, 6) are not supported; expected uint8 pixels"),
        ({"images": np.zeros((2, 5, 7, 9), np.uint8)}, "images of shape (2, 5, 7, 9) are not supported"),
        ({"images": PIXELS[:0]}, "the image array is empty (shape (0, 3, 8, 6))"),
        ({"images": PIXELS.astype(np.int64)}, "images of dtype int64 are not supported"),
        ({"images": PIXELS.astype(np.float32)}, "float images must lie in [0, 1] but range from 0.0 to 255.0"),
        ({"images": np.full((2, 1, 4, 4), np.nan, np.float32)}, "float images must lie in [0, 1] but range from nan"),
        ({"images": np.array([None] * 4, dtype=object)}, "cannot read as .npz: "),
    ],
    ids=["no-arrays", "ambiguous", "2d", "bad-channels", "empty", "int64", "out-of-range", "nan", "objects"],
)
def test_bad_files_are_named_with_the_problem(tmp_path, arrays, message):
    path = _saved(tmp_path, **arrays)
    with pytest.raises(PyganError) as caught:
        load_npz(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_a_file_that_is_not_npz_is_named(tmp_path):
    path = tmp_path / "data.npz"
    path.write_bytes(b"PK\x03\x04 this is no zip archive")
    with pytest.raises(PyganError, match=f"{path}: cannot read as .npz: "):
        load_npz(path)


@pytest.mark.parametrize("count", [0, 2])
def test_a_folder_must_hold_exactly_one_npz_file(tmp_path, count):
    for i in range(count):
        np.savez(tmp_path / f"data{i}.npz", images=PIXELS)
    expected = "data0.npz, data1.npz" if count else "none"
    with pytest.raises(PyganError, match=f"{tmp_path}: a folder given as --data-dir for npz must hold "
                                         f"exactly one .npz file \\(found {expected}\\)"):
        load_npz(tmp_path)


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(PyganError, match=f"{tmp_path / 'absent.npz'}: no such file"):
        load_npz(tmp_path / "absent.npz")


def npy_claiming(shape: tuple[int, ...], data: bytes = bytes(16)) -> bytes:
    """A .npy file whose header claims float32 data of ``shape`` but which holds only ``data``."""
    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return stream.getvalue() + data


HUGE = (25_000_000, 28, 28)  # 73 GiB of float32


@pytest.mark.parametrize("name", ["data.npy", "data.npz"])
def test_a_header_claiming_more_than_the_file_holds_is_refused_unallocated(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".npy"):
        path.write_bytes(npy_claiming(HUGE))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("images.npy", npy_claiming(HUGE))
    tracemalloc.start()
    try:
        with pytest.raises(PyganError, match=re.escape(
                "truncated or corrupt: its header claims float32 data of shape (25000000, 28, 28) "
                "(78,400,000,000 bytes) but only 16 bytes follow")):
            load_npz(path)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()


def test_a_member_compressed_as_numpy_never_does_is_refused(tmp_path):
    path = tmp_path / "data.npz"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_BZIP2) as archive:
        archive.writestr("images.npy", npy_claiming((1, 4, 4), data=bytes(64)))
    with pytest.raises(PyganError, match=f"{path}: images.npy: compressed with method 12, which pygan does not "
                                         f"read; save the images with numpy.savez"):
        load_npz(path)


def test_a_fifo_named_like_an_npz_file_is_refused_without_waiting_for_a_writer(tmp_path):
    os.mkfifo(tmp_path / "images.npz")

    def blocked(signal_number, frame):  # pytest's failure: no OSError, which zipfile would swallow
        pytest.fail("load_npz waited for a writer")

    previous = signal.signal(signal.SIGALRM, blocked)
    signal.alarm(20)
    try:
        with pytest.raises(PyganError, match=f"{tmp_path / 'images.npz'}: not a regular file \\(a named pipe\\)"):
            load_npz(tmp_path)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
