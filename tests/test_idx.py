"""Reading MNIST-style IDX files: the format, every way a file can be broken,
where the files are looked for, and the real MNIST test split."""

import gzip
import hashlib
import re
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from pygan_plugins import mnist
from pygan_plugins.mnist import SOURCES, load_split, read_idx

from pygan._contracts.messages import PyganError


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """An IDX file holding ``array``, as the MNIST files are laid out."""
    header = struct.pack(">4B", 0, 0, type_code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_split(folder: Path, split: str, images: np.ndarray, labels: np.ndarray) -> None:
    images_name, labels_name = mnist.SPLITS[split]
    (folder / f"{images_name}.gz").write_bytes(gzip.compress(idx_bytes(images)))
    (folder / labels_name).write_bytes(idx_bytes(labels))


def random_split(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n, dtype=np.uint8)


@pytest.mark.parametrize(
    "name, compress",
    [("plain-idx3-ubyte", False), ("zipped-idx3-ubyte.gz", True),
     # gzip is recognised by its first bytes, not by the name
     ("zipped-idx3-ubyte", True), ("plain-idx3-ubyte.gz", False)],
)
def test_reads_raw_and_gzipped_files(tmp_path, name, compress):
    array, _ = random_split(5)
    data = idx_bytes(array)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if compress else data)
    np.testing.assert_array_equal(read_idx(path), array)


def test_reads_a_one_dimensional_file(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    path = tmp_path / "labels"
    path.write_bytes(idx_bytes(labels))
    np.testing.assert_array_equal(read_idx(path), labels)


def _gzip_with_bad_crc(data: bytes) -> bytes:
    packed = bytearray(gzip.compress(data))
    packed[-8] ^= 0xFF  # the CRC-32 of the uncompressed bytes sits in the trailer
    return bytes(packed)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\x12\x34\x56\x78" + bytes(100), "not an IDX file (magic 0x12345678)"),
        (gzip.compress(gzip.compress(idx_bytes(np.zeros(3, np.uint8)))), "not an IDX file (magic 0x1f8b08"),
        (idx_bytes(np.zeros(3, np.uint8), type_code=0x0D), "IDX element type 0x0d (float) is not supported"),
        (b"", "truncated: 0 bytes, too short for an IDX header"),
        (idx_bytes(np.zeros((2, 28, 28), np.uint8))[:10], "truncated: a 3-dimensional IDX header is 16 bytes but the file has only 10"),
        (idx_bytes(np.zeros((3, 28, 28), np.uint8))[:116],
         "truncated: header says 3 images of 28x28 (2352 bytes) but only 100 bytes follow"),
        (idx_bytes(np.zeros(4, np.uint8)) + b"\0", "too long: header says 4 labels (4 bytes) but more follow"),
        (gzip.compress(idx_bytes(np.zeros((2, 28, 28), np.uint8)))[:40], "corrupt gzip stream: "),
        (_gzip_with_bad_crc(idx_bytes(np.zeros(3, np.uint8))), "corrupt gzip stream: CRC check failed"),
    ],
    ids=["bad-magic", "gzipped-twice", "wrong-type", "empty", "truncated-header", "truncated-data",
         "too-long", "truncated-gzip", "bad-gzip-crc"],
)
def test_corrupt_files_are_named_with_the_problem(tmp_path, content, message):
    path = tmp_path / "broken-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(PyganError) as caught:
        read_idx(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def gzip_bomb(header: bytes, zeros: int) -> bytes:
    """``header`` and ``zeros`` zero bytes, gzipped (a thousandth of the size) without holding them in memory."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: the gzip container
    chunk = bytes(1 << 20)
    return (packer.compress(header) + b"".join(packer.compress(chunk) for _ in range(zeros >> 20))
            + packer.flush())


@pytest.mark.parametrize("header, zeros, message", [
    # 78 GB claimed by a 10-kilobyte file: refused unread
    (struct.pack(">4B3I", 0, 0, 8, 3, 100_000_000, 28, 28), 10 << 20, "corrupt: header says 100000000 images of 28x28"),
    # 10 labels claimed, 100 MB following: inflated no further than the claim
    (struct.pack(">4BI", 0, 0, 8, 1, 10), 100 << 20, "too long: header says 10 labels (10 bytes) but more follow"),
], ids=["claims-78-GB", "expands-to-100-MB"])
def test_a_gzip_bomb_is_refused_before_it_is_inflated(tmp_path, header, zeros, message):
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip_bomb(header, zeros))
    tracemalloc.start()
    try:
        with pytest.raises(PyganError, match=re.escape(message)):
            read_idx(path)
        assert tracemalloc.get_traced_memory()[1] < 4 * path.stat().st_size + (1 << 20)
    finally:
        tracemalloc.stop()


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(PyganError, match=f"{tmp_path / 'absent'}: does not exist"):
        read_idx(tmp_path / "absent")


def test_loads_the_training_split_scaled_to_unit_range(tmp_path):
    images, labels = random_split(6)
    write_split(tmp_path, "train", images, labels)
    write_split(tmp_path, "test", *random_split(3, seed=1))
    tensor, label_tensor = load_split(SOURCES["mnist"], tmp_path)
    assert tensor.shape == (6, 1, 28, 28) and tensor.dtype == torch.float32
    torch.testing.assert_close(tensor[:, 0] * 255, torch.from_numpy(images).float())
    assert label_tensor.dtype == torch.int64 and label_tensor.tolist() == labels.tolist()
    assert load_split(SOURCES["mnist"], tmp_path, "test")[0].shape == (3, 1, 28, 28)


def test_a_folder_with_only_the_test_split_is_used_with_a_notice(tmp_path, capsys):
    write_split(tmp_path, "test", *random_split(4))
    images, labels = load_split(SOURCES["fashion-mnist"], tmp_path)
    assert images.shape == (4, 1, 28, 28) and labels.shape == (4,)
    assert f"only the 4-image test split of fashion-mnist was found in {tmp_path}" in capsys.readouterr().err


def test_a_folder_lacking_files_says_which(tmp_path):
    write_split(tmp_path, "test", *random_split(4))
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(random_split(4)[0]))
    with pytest.raises(PyganError) as caught:
        load_split(SOURCES["mnist"], tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path}: missing train-labels-idx1-ubyte ")
    assert "train-images" not in message


def test_a_data_dir_that_does_not_exist_is_named(tmp_path):
    with pytest.raises(PyganError, match=f"{tmp_path / 'nowhere'}: no such folder"):
        load_split(SOURCES["mnist"], tmp_path / "nowhere")


def test_image_and_label_counts_must_agree(tmp_path):
    images, labels = random_split(5)
    write_split(tmp_path, "train", images, labels[:4])
    with pytest.raises(PyganError) as caught:
        load_split(SOURCES["mnist"], tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'train-images-idx3-ubyte.gz'} holds 5 images but {tmp_path / 'train-labels-idx1-ubyte'} "
        f"holds 4 labels; the two files must come from the same split"
    )


def test_labels_must_be_digits(tmp_path):
    images, labels = random_split(5)
    labels[2] = 12
    write_split(tmp_path, "train", images, labels)
    with pytest.raises(PyganError, match=f"{tmp_path / 'train-labels-idx1-ubyte'}: label 12 found where labels are 0-9"):
        load_split(SOURCES["mnist"], tmp_path)


def test_swapped_files_are_caught_by_their_dimensions(tmp_path):
    images, labels = random_split(5)
    write_split(tmp_path, "train", images, labels)
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(idx_bytes(labels))
    with pytest.raises(PyganError, match=r"train-images-idx3-ubyte.gz: expected images \(3 dimensions"):
        load_split(SOURCES["mnist"], tmp_path)


def test_both_data_sets_are_registered_and_load_images_with_their_labels(tmp_path):
    images, labels = random_split(2)
    write_split(tmp_path, "train", images, labels)
    registered = []
    mnist.register_datasets(registered.append)
    assert [d.name for d in registered] == ["mnist", "fashion-mnist"]
    for dataset in registered:
        loaded = dataset.load(tmp_path)
        assert loaded.images.shape == (2, 1, 28, 28) and loaded.labels.tolist() == list(labels)


def test_reads_the_real_mnist_test_split(mnist_dir):
    images, labels = load_split(SOURCES["mnist"], mnist_dir, "test")
    assert images.shape == (10_000, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() == 0 and images.max() == 1
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert torch.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


PACKAGED_SHA256 = {  # of the uncompressed bytes: MNIST's test split as its authors publish it
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}


def test_the_shipped_test_split_is_mnists_own():
    for name, digest in PACKAGED_SHA256.items():
        assert hashlib.sha256(gzip.decompress((mnist.PACKAGED["mnist"] / name).read_bytes())).hexdigest() == digest
    images, labels = load_split(SOURCES["mnist"], mnist.PACKAGED["mnist"], "test")
    assert images.shape == (10_000, 1, 28, 28) and labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


def test_without_a_cache_or_a_mirror_mnist_trains_on_the_shipped_test_split(tmp_path, pygan):
    """A fresh machine without internet: an empty cache, a mirror that refuses."""
    env = {"PYGAN_DATA_DIR": str(tmp_path / "cache"), "PYGAN_MNIST_MIRRORS": "http://127.0.0.1:9/"}
    result = pygan("train", "--plugin", "dcgan", "--steps", "20", "--sample-every", "0", "--out", tmp_path / "run",
                   env=env)
    assert result.returncode == 0, result.stderr
    assert "training on the 10,000-image test split shipped with pygan instead" in result.stderr
    assert "copy train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz into" in result.stderr
    assert (tmp_path / "run" / "checkpoints" / "00000020.pt").is_file()


def test_the_test_split_comes_from_the_shipped_copy_without_a_download(tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(mnist, "download", lambda *args, **kwargs: pytest.fail("nothing should be downloaded"))
    images, labels = mnist.load_labelled(SOURCES["mnist"], None)
    assert len(labels) == 10_000


def test_a_file_larger_than_any_idx_file_is_refused_unread(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte"
    with open(path, "wb") as sparse:  # 200 MiB that take no disk
        sparse.truncate(200 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(PyganError, match=re.escape(f"{path}: 200.0 MiB, more than the 64.0 MiB such a file")):
            read_idx(path)
        assert tracemalloc.get_traced_memory()[1] < 1 << 20
    finally:
        tracemalloc.stop()
