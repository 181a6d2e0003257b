"""Training on your own images: the images data set (folders, zips, formats,
corrupt files, the cache), streaming data, dcgan64, the discriminator
regularisers, FID and KID, and latent interpolation. Every image is made
here; every run is a few steps."""

import copy
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FeatureNetwork
from PIL import Image
from pygan_plugins import images as images_plugin
from pygan_plugins.dcgan64 import Discriminator, Generator, initialize
from pygan_plugins.regularisers import AUGMENTATIONS, diff_augment

import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import configure, resolve_config
from pygan._contracts.messages import PyganError, UsageError
from pygan._contracts.records import DataRequest
from pygan._evaluation import classifier as classifier_module
from pygan._evaluation import distances, features
from pygan._training import checkpoint
from pygan._training.data import InMemoryData, StreamingData, TensorSamples, load_data
from pygan._training.runner import create_runner, prepare_out_dir, train
from pygan._training.sampling import interpolation_latents, slerp
from pygan._training.step import StepContext


@pytest.fixture(autouse=True)
def data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def picture(colour, size=(20, 12), mode="RGB"):
    return Image.new(mode, size, colour)


def photo_folder(root: Path, per_class=6, classes=("cats", "dogs")) -> Path:
    """Pictures of every format in class subfolders, of odd sizes."""
    formats = ["png", "jpg", "webp", "bmp", "gif"]
    rng = np.random.default_rng(0)
    for c, name in enumerate(classes):
        (root / name / "nested").mkdir(parents=True)
        for i in range(per_class):
            pixels = (rng.random((15 + i, 25, 3)) * 255).astype(np.uint8)
            where = root / name / ("nested" if i % 2 else "") / f"{i}.{formats[(i + c) % len(formats)]}"
            Image.fromarray(pixels).save(where)
    return root


def open_folder(path, shape=(3, 16, 16), labels=False, **config):
    return images_plugin.open_images(DataRequest(Path(path), shape, labels, config))


# --- the images data set ------------------------------------------------------------

def test_every_format_is_read_recursively_resized_and_labelled_by_subfolder(tmp_path):
    samples = open_folder(photo_folder(tmp_path / "photos"), labels=True)
    assert len(samples) == 12 and samples.image_shape == (3, 16, 16)
    assert samples.classes == ["cats", "dogs"] and samples.labels.tolist() == [0] * 6 + [1] * 6
    images = samples.read(np.arange(12))
    assert images.dtype == torch.uint8 and images.shape == (12, 3, 16, 16)


def test_pictures_are_center_cropped_converted_and_composited_on_white(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    wide = Image.new("RGB", (30, 10), (0, 0, 255))
    wide.paste((255, 0, 0), (10, 0, 20, 10))  # a red middle third: what the crop keeps
    wide.save(folder / "a.png")
    picture((0, 0, 0, 0), mode="RGBA").save(folder / "b.png")  # fully transparent
    picture((255, 0, 0)).save(folder / "c.gif")  # palette image
    rgb = open_folder(folder, (3, 8, 8)).read(np.arange(3))
    assert (rgb[0, 0] > 200).all() and (rgb[0, 2] < 40).all()  # red only: the blue sides were cropped off
    assert (rgb[1] == 255).all()  # transparent on white
    gray = open_folder(folder, (1, 8, 8)).read(np.arange(3))
    assert gray.shape == (3, 1, 8, 8) and int(gray[0, 0, 4, 4]) == 76  # Pillow's luminance of pure red
    rgba = open_folder(folder, (4, 8, 8)).read(np.arange(3))
    assert (rgba[1, 3] == 0).all()  # four channels keep the alpha


def test_a_zip_reads_like_the_folder(tmp_path):
    folder = photo_folder(tmp_path / "photos")
    archive = tmp_path / "photos.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                out.write(path, path.relative_to(folder).as_posix())
        out.writestr("__MACOSX/cats/._0.png", b"junk")
    from_zip, from_folder = open_folder(archive, labels=True), open_folder(folder, labels=True)
    assert torch.equal(from_zip.read(np.arange(12)), from_folder.read(np.arange(12)))
    assert torch.equal(from_zip.labels, from_folder.labels)


def test_corrupt_files_are_skipped_with_a_count_and_their_names(tmp_path, capsys):
    folder = photo_folder(tmp_path / "photos")
    (folder / "cats" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    (folder / "dogs" / "empty.jpg").write_bytes(b"")
    samples = open_folder(folder)
    assert len(samples) == 12
    err = capsys.readouterr().err
    assert "skipped 2 of 14 files" in err and "cats/broken.png" in err and "dogs/empty.jpg" in err


def test_an_empty_folder_a_missing_one_and_all_corrupt_files_are_clear_errors(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("no pictures")
    with pytest.raises(PyganError, match="empty: no images found"):
        open_folder(tmp_path / "empty")
    with pytest.raises(PyganError, match="nowhere: no such folder"):
        open_folder(tmp_path / "nowhere")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_bytes(b"nope")
    with pytest.raises(PyganError, match="none of its 1 image files can be read"):
        open_folder(tmp_path / "bad")
    with pytest.raises(UsageError, match="needs --data-dir"):
        images_plugin.open_images(DataRequest(None, (3, 8, 8)))


def test_a_wrong_channel_count_or_a_missing_class_folder_is_a_usage_error(tmp_path):
    folder = tmp_path / "flat"
    folder.mkdir()
    picture((1, 2, 3)).save(folder / "a.png")
    with pytest.raises(UsageError, match="2-channel images.*grayscale \\(1 channel\\), RGB \\(3\\) or RGBA \\(4\\)"):
        open_folder(folder, (2, 8, 8))
    with pytest.raises(UsageError, match="from first-level subfolders"):
        open_folder(folder, labels=True)


def test_the_cache_is_used_the_second_time_and_rebuilt_when_a_file_changes(tmp_path, monkeypatch, data_cache,
                                                                              capsys):
    folder = photo_folder(tmp_path / "photos")
    first = open_folder(folder).read(np.arange(12))
    open_folder(folder, shape=(1, 8, 8))  # another size: a cache of its own, never superseded by this one
    assert len(list((data_cache / "images").iterdir())) == 2
    older = {path.parent for path in (data_cache / "images").glob("*/index.json")}
    assert "older cache" not in capsys.readouterr().err
    with monkeypatch.context() as patch:
        patch.setattr(images_plugin, "decode", lambda *args: pytest.fail("decoded again"))
        assert torch.equal(open_folder(folder).read(np.arange(12)), first)
    os.utime(folder / "cats" / "0.png", ns=(0, 0))  # another modification time: another cache
    open_folder(folder)
    assert len(list((data_cache / "images").iterdir())) == 3
    stale = [path for path in older if json.loads((path / "index.json").read_text())["shape"] == [3, 16, 16]]
    assert f"1 older cache(s) of {folder} at this size" in capsys.readouterr().err
    assert stale[0].is_dir()  # named, not deleted
    # A different shape is a different cache too; an incomplete cache is rebuilt.
    for path in (data_cache / "images").rglob("pixels.u8"):
        path.write_bytes(b"short")
    assert torch.equal(open_folder(folder).read(np.arange(12))[1:], first[1:])


# --- data sources -------------------------------------------------------------------

def test_the_stream_draws_with_replacement_the_same_with_any_number_of_workers_and_resumes_exactly():
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous()
    samples = TensorSamples(images, torch.arange(50))

    def draws(stream, sizes):
        return [stream.draw(n) for n in sizes]

    sizes = [4, 4, 3, 9, 4]
    plain = draws(StreamingData(samples, torch.device("cpu"), 4, [7, 0], workers=0, labels=True), sizes)
    worker = draws(StreamingData(samples, torch.device("cpu"), 4, [7, 0], workers=1, labels=True), sizes)
    for a, b in zip(plain, worker):
        assert torch.equal(a.images, b.images) and torch.equal(a.labels, b.labels)
    first = plain[0]
    assert first.images.dtype == torch.float32 and torch.equal(first.images[:, 0, 0, 0] * 255, first.labels.float())
    # Interrupted after 11 samples (mid-batch), then resumed from its state.
    stream = StreamingData(samples, torch.device("cpu"), 4, [7, 0])
    draws(stream, sizes[:3])
    resumed = StreamingData(samples, torch.device("cpu"), 4, [0, 0])
    resumed.load_state_dict(stream.state_dict())
    for a, b in zip(draws(resumed, sizes[3:]), plain[3:]):
        assert torch.equal(a.images, b.images)
    indices = torch.cat([batch.labels for batch in plain])
    assert len(indices.unique()) < len(indices)  # with replacement


def tensor_dataset(n=40, shape=(3, 32, 32)):
    return pygan.Dataset("tensors", load=lambda data_dir: torch.rand(n, *shape))


def test_data_streams_when_it_does_not_fit_or_when_asked(monkeypatch, capsys):
    plugins = load_plugins()
    architecture = plugins.architecture("dcgan64")
    config = {"resolution": 32, "channels": 3, "batch_size": 4, "seed": 0, "workers": 0}
    data = load_data(tensor_dataset(), None, architecture, torch.device("cpu"), config)
    assert isinstance(data, InMemoryData) and "kept on cpu" in capsys.readouterr().err
    data = load_data(tensor_dataset(), None, architecture, torch.device("cpu"), {**config, "stream": True})
    assert isinstance(data, StreamingData) and "(--stream)" in capsys.readouterr().err
    monkeypatch.setattr("pygan._training.data.available_memory", lambda device: 1000)
    data = load_data(tensor_dataset(), None, architecture, torch.device("cpu"), config)
    assert isinstance(data, StreamingData) and "more than half of the" in capsys.readouterr().err
    # A resumed run keeps its checkpoint's choice.
    assert isinstance(load_data(tensor_dataset(), None, architecture, torch.device("cpu"), config, kind="memory"),
                      InMemoryData)


def test_a_data_set_of_another_shape_is_refused_naming_both():
    architecture = load_plugins().architecture("dcgan64")
    with pytest.raises(UsageError, match="'dcgan64' makes 3x64x64 images .* 'tensors' has 1x28x28 images"):
        load_data(tensor_dataset(shape=(1, 28, 28)), None, architecture, torch.device("cpu"),
                  {"resolution": 64, "channels": 3})


def dcgan64_runner(tmp_path, data, **options):
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan64", "resolution": 32, "batch_size": 4, "steps": 6,
                                      "sample_every": 0, "checkpoint_every": 0, "workers": 0, **options})
    prepare_out_dir(tmp_path, resuming=False)
    return create_runner(plugins, config, tmp_path, data), config


@pytest.mark.parametrize("options", [{"stream": True}, {"stream": True, "augment": ["translation", "cutout", "color"],
                                                        "spectral_norm": True}])
def test_a_streamed_run_resumes_bit_for_bit(tmp_path, options):
    plugins = load_plugins()
    architecture = plugins.architecture("dcgan64")

    def runner(folder):
        config = resolve_config(plugins, {"plugin": "dcgan64", "resolution": 32, "batch_size": 4, "steps": 6,
                                          "workers": 1, **options})
        data = load_data(dataset, None, architecture, torch.device("cpu"), config)
        return dcgan64_runner(folder, data, **options)[0]

    images = torch.rand(30, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    dataset = pygan.Dataset("fixed", load=lambda data_dir: images)
    straight = runner(tmp_path / "straight")
    for _ in range(4):
        straight.step()
    first = runner(tmp_path / "first")
    for _ in range(2):
        first.step()
    state = first.state_dict()
    assert state["data"] == {"kind": "stream", "drawn": 8, "batch": 4, "seed": [0, 0],
                             "fingerprint": {"count": 30, "sha256": state["data"]["fingerprint"]["sha256"]}}
    resumed = runner(tmp_path / "resumed")
    checkpoint.save(tmp_path / "state.pt", state)
    resumed.load_state_dict(checkpoint.load(tmp_path / "state.pt"))
    for _ in range(2):
        resumed.step()
    for a, b in zip(straight.run.discriminator.state_dict().values(), resumed.run.discriminator.state_dict().values()):
        assert torch.equal(a, b)


def test_older_checkpoints_without_a_data_entry_read_as_in_memory():
    assert checkpoint.data_state({"step": 3}) == {"kind": "memory"}


# --- dcgan64 ------------------------------------------------------------------------

@pytest.mark.parametrize("resolution", [32, 64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_dcgan64_makes_and_judges_images_of_its_resolution_and_channels(resolution, channels):
    shape = (channels, resolution, resolution)
    generator, discriminator = initialize(Generator(shape)), initialize(Discriminator(shape))
    images = generator(torch.randn(2, 100))
    assert images.shape == (2, *shape) and 0 <= images.min() and images.max() <= 1
    assert discriminator(images).shape == (2, 1)


def test_dcgan64_at_64_pixels_has_pytorch_examples_parameter_counts_and_initialization():
    generator, discriminator = initialize(Generator((3, 64, 64))), initialize(Discriminator((3, 64, 64)))
    assert sum(p.numel() for p in generator.parameters()) == 3_576_704  # as main.py prints them
    assert sum(p.numel() for p in discriminator.parameters()) == 2_765_568
    weight = generator.main[3].weight
    assert abs(weight.std().item() - 0.02) < 0.002 and abs(weight.mean().item()) < 0.002
    assert abs(discriminator.main[2].weight.mean().item() - 1) < 0.01  # BatchNorm scale ~ N(1, 0.02)
    assert not any(name.endswith("bias") for name, _ in discriminator.main.named_parameters()
                   if not name.startswith(("2.", "4.", "6.")))


def test_dcgan64_defaults_are_pytorch_examples():
    config = resolve_config(load_plugins(), {"plugin": "dcgan64"})
    assert (config["optimizer_d"], config["lr_d"], config["betas_d"]) == ("adam", 2e-4, [0.5, 0.999])
    assert (config["optimizer_g"], config["lr_g"], config["betas_g"]) == ("adam", 2e-4, [0.5, 0.999])
    assert (config["batch_size"], config["dataset"], config["resolution"]) == (128, "images", 64)
    assert load_plugins().architecture("dcgan64").sample_noise is pygan.normal_noise


def test_the_separate_recipe_is_one_step_of_pytorch_examples_dcgan(tmp_path, monkeypatch):
    drawn = {}
    for method in ("real", "latent"):
        original = getattr(StepContext, method)
        monkeypatch.setattr(StepContext, method,
                            lambda self, n=None, _original=original, _name=method: drawn.setdefault(
                                _name, _original(self, n)))
    images = torch.rand(30, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    data = load_data(pygan.Dataset("fixed", load=lambda data_dir: images), None,
                     load_plugins().architecture("dcgan64"), torch.device("cpu"), {"resolution": 32, "channels": 3})
    runner, _ = dcgan64_runner(tmp_path, data, batch_size=8)
    generator, discriminator = copy.deepcopy(runner.run.generator), copy.deepcopy(runner.run.discriminator)
    runner.step()
    # main.py's iteration, with its BCELoss on sigmoid outputs written on logits.
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = torch.nn.functional.binary_cross_entropy_with_logits
    discriminator.zero_grad()
    output = discriminator(drawn["real"].images).view(-1)
    criterion(output, torch.ones_like(output)).backward()
    fake = generator(drawn["latent"].z)
    output = discriminator(fake.detach()).view(-1)
    criterion(output, torch.zeros_like(output)).backward()
    optimizer_d.step()
    generator.zero_grad()
    output = discriminator(fake).view(-1)
    criterion(output, torch.ones_like(output)).backward()
    optimizer_g.step()
    for mine, example in [(runner.run.generator, generator), (runner.run.discriminator, discriminator)]:
        for (name, a), b in zip(mine.state_dict().items(), example.state_dict().values()):
            difference = (a.float() - b.float()).abs()
            if "running" in name or "tracked" in name:  # BatchNorm's statistics: moved once, by the same batch
                assert difference.max() < 1e-6, name
            else:  # Adam moves a weight by ~lr * sign(gradient): a near-zero gradient may round to either sign
                assert difference.max() <= 2 * 2e-4 + 1e-6 and (difference > 1e-6).float().mean() < 1e-3, name


def test_dcgan64_trains_on_a_folder_from_the_command_line(tmp_path, pygan):
    folder = photo_folder(tmp_path / "photos")
    result = pygan("train", "--plugin", "dcgan64", "--resolution", "32", "--data-dir", folder, "--steps", "2",
                   "--batch-size", "4", "--out", tmp_path / "run", "--augment", "translation,color",
                   env={"PYGAN_DATA_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert "decoded 12 images 3x32x32" in result.stderr and "kept on cpu" in result.stderr
    state = checkpoint.load(tmp_path / "run")
    assert state["image_shape"] == [3, 32, 32] and state["data"]["kind"] == "memory"
    walk = tmp_path / "walk.gif"
    result = pygan("sample", "--checkpoint", tmp_path / "run", "--interpolate", "--n", "2", "--out", walk,
                   "--seed", "0")
    assert result.returncode == 0, result.stderr
    with Image.open(walk) as gif:
        assert gif.n_frames == 64
    assert Image.open(walk.with_suffix(".png")).size[1] > 0
    result = pygan("train", "--plugin", "dcgan64", "--data-dir", tmp_path / "nothing", "--out", tmp_path / "r2",
                   env={"PYGAN_DATA_DIR": str(tmp_path / "cache")})
    assert result.returncode == 1 and "no such folder" in result.stderr


# --- regularisers ---------------------------------------------------------------------

@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_each_augmentation_keeps_the_shape_changes_images_and_passes_gradients(name):
    torch.manual_seed(0)
    images = torch.rand(6, 3, 16, 16, requires_grad=True)
    augmented = diff_augment(images, [name])
    assert augmented.shape == images.shape and not torch.allclose(augmented, images)
    augmented.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_spectral_norm_and_augment_change_only_the_discriminator(tmp_path):
    images = torch.rand(8, 3, 32, 32)
    runner, _ = dcgan64_runner(tmp_path, images, spectral_norm=True, augment=["translation"])
    discriminator = runner.run.discriminator
    assert any("parametrizations" in name for name, _ in discriminator.named_parameters())
    assert not any("parametrizations" in name for name, _ in runner.run.generator.named_parameters())
    torch.manual_seed(1)
    a = discriminator(images)
    torch.manual_seed(2)
    assert not torch.equal(a, discriminator(images))  # a different translation each call
    runner.step()


# --- FID and KID ------------------------------------------------------------------------

def test_kernel_distance_matches_its_definition_and_is_near_zero_for_one_distribution():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 5)), rng.normal(loc=0.5, size=(40, 5))
    kid, _ = distances.kernel_distance(a, b, subsets=1, subset_size=40)
    k = lambda x, y: (x @ y.T / 5 + 1) ** 3
    m = 40
    expected = ((k(a, a).sum() - np.trace(k(a, a))) / (m * (m - 1)) + (k(b, b).sum() - np.trace(k(b, b))) / (m * (m - 1))
                - 2 * k(a, b).mean())
    assert kid == pytest.approx(expected)
    same, _ = distances.kernel_distance(rng.normal(size=(500, 5)), rng.normal(size=(500, 5)), subsets=10,
                                         subset_size=200)
    assert abs(same) < 0.1 * kid


def test_fid_and_kid_order_real_and_noise_and_resize_what_they_measure():
    torch.manual_seed(0)
    network = FeatureNetwork()
    base = torch.rand(1, 3, 16, 16)
    real = (base + 0.1 * torch.rand(200, 3, 16, 16)).clamp(0, 1)
    close = lambda count, labels: (base + 0.1 * torch.rand(count, 3, 16, 16)).clamp(0, 1)
    noise = lambda count, labels: torch.rand(count, 1, 8, 8)  # grayscale, smaller: converted and resized
    good = features.feature_distances(close, real, network, 200)
    bad = features.feature_distances(noise, real, network, 200)
    assert good["fid"] < bad["fid"] and good["kid"] < bad["kid"]


def test_pygan_eval_measures_fid_and_kid_of_unlabelled_images_in_a_given_feature_network(tmp_path, pygan):
    folder = tmp_path / "flat"
    folder.mkdir()
    for i in range(12):
        picture((20 * i, 0, 0)).save(folder / f"{i}.png")
    env = {"PYGAN_DATA_DIR": str(tmp_path / "cache")}
    result = pygan("train", "--plugin", "dcgan64", "--resolution", "32", "--data-dir", folder, "--steps", "1",
                   "--batch-size", "4", "--out", tmp_path / "run", env=env)
    assert result.returncode == 0, result.stderr
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(FeatureNetwork()), tmp_path / "features.pt")
    result = pygan("eval", "--checkpoint", tmp_path / "run", "--n", "8", "--feature-network",
                   tmp_path / "features.pt", "--json", env=env)
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    assert results["n"] == 8 and results["fid"] > 0 and "kid" in results
    # Without a feature network, InceptionV3's weights are needed: where to put them.
    result = pygan("eval", "--checkpoint", tmp_path / "run", "--n", "8", env=env)
    assert result.returncode == 1
    assert "weights-inception-2015-12-05-6726825d.pth" in result.stderr and "--inception-weights" in result.stderr


def train_new(options, data_dir, out):
    plugins = load_plugins()
    train(plugins, configure(plugins, {**options, "data_dir": data_dir}, None), out, resuming=False)


def test_eval_every_measures_a_folder_with_class_subfolders_and_refuses_one_without(tmp_path, monkeypatch):
    # The classifier's budget made tiny: a dozen pictures stand for thousands.
    monkeypatch.setattr(classifier_module, "HELD_OUT", 4)
    monkeypatch.setattr(classifier_module, "TRAIN_STEPS", 3)
    options = {"plugin": "dcgan64", "resolution": 32, "steps": 2, "batch_size": 4, "sample_every": 0,
               "eval_every": 2, "eval_n": 8}
    train_new(options, str(photo_folder(tmp_path / "photos")), tmp_path / "run")
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert ["fcd" in row for row in rows] == [False, True]
    assert rows[-1]["fcd"] > 0 and 1 <= rows[-1]["classifier_score"] <= 2
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(12):
        picture((20 * i, 0, 0)).save(flat / f"{i}.png")
    with pytest.raises(UsageError, match="--eval-every needs a labelled data set, and 'images' has no labels"):
        train_new(options, str(flat), tmp_path / "flat-run")
    # More samples than there are real images to compare them with: refused before any step.
    with pytest.raises(UsageError, match="--eval-n 50 is more than the 12 labelled images of 'images'"):
        train_new({**options, "eval_n": 50}, str(photo_folder(tmp_path / "few")), tmp_path / "few-run")
    assert not (tmp_path / "few-run" / "config.json").exists()


def test_samples_of_another_shape_are_fitted_to_the_classifier():
    rgb = torch.zeros(2, 3, 32, 32)
    rgb[:, 0] = 1
    gray = distances.fit_images(rgb, (1, 28, 28))
    assert gray.shape == (2, 1, 28, 28) and torch.allclose(gray, torch.full_like(gray, 0.299))
    assert distances.fit_images(gray, (3, 28, 28)).shape == (2, 3, 28, 28)


# --- interpolation ---------------------------------------------------------------------

def test_slerp_keeps_the_norm_of_normal_latents_and_walks_return_to_their_start():
    a, b = torch.randn(3, 100), torch.randn(3, 100)
    assert torch.allclose(slerp(a, b, 0.0), a, atol=1e-5) and torch.allclose(slerp(a, b, 1.0), b, atol=1e-4)
    middle = slerp(a, b, 0.5)
    assert (middle.norm(dim=1) > 0.9 * torch.minimum(a.norm(dim=1), b.norm(dim=1))).all()
    assert ((a + b) / 2).norm(dim=1).mean() < middle.norm(dim=1).mean()
    architecture = load_plugins().architecture("dcgan64")
    latents = interpolation_latents(architecture, 2, 3, 4, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert len(latents) == 12 and latents[0].z.shape == (2, 100)
