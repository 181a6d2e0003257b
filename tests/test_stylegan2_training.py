"""StyleGAN2 as a pygan architecture: its options and preset settings, the
networks built from a run's configuration everywhere (training, resume,
sample, eval, pygan.load), and its training recipe.

Everything trains tiny networks (a channel base of 64 to 128, at most 16
channels, 8x8 or 16x16 pictures) for a few steps, so each test takes
seconds."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FeatureNetwork, pygan_command
from PIL import Image
from pygan_plugins.stylegan2 import architecture, presets

import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config

# A StyleGAN2 small enough to train on two shared cores in seconds.
TINY = {"channel_base": 64, "channel_max": 16, "mapping_layers": 2}


@pytest.fixture(autouse=True)
def data_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path / "cache"))


def picture_folder(root: Path, count=16, classes=None, size=12) -> Path:
    """Random RGB pictures (in class subfolders when ``classes``)."""
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / (f"class{i % classes}" if classes else "")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((rng.random((size, size, 3)) * 255).astype(np.uint8)).save(folder / f"{i}.png")
    return root


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- the architecture and its options ------------------------------------------------------


def test_the_preset_sets_the_training_as_nvlabs_train_py_does():
    plugins = load_plugins()
    auto = resolve_config(plugins, {"plugin": "stylegan2"})  # 64x64: batch 32, gamma 0.0002 * 64^2 / 32
    assert (auto["resolution"], auto["batch_size"], auto["lr_d"], auto["lr_g"]) == (64, 32, 0.0025, 0.0025)
    assert auto["optimizer_d"] == auto["optimizer_g"] == "adam" and auto["betas_d"] == auto["betas_g"] == [0, 0.99]
    assert (auto["loss"], auto["penalty"], auto["dataset"]) == ("nonsaturating", "r1", "images")
    # pygan's images are NVlabs' halved: gamma / 4 is the same regularisation.
    assert auto["penalty_weight"] == pytest.approx(0.0002 * 64 ** 2 / 32 / 4)
    assert auto["steps"] == 25_000_000 // 32
    cifar = resolve_config(plugins, {"plugin": "stylegan2", "preset": "cifar", "resolution": 32})
    assert (cifar["batch_size"], cifar["lr_d"], cifar["penalty_weight"]) == (64, 0.0025, pytest.approx(0.01 / 4))
    given = resolve_config(plugins, {"plugin": "stylegan2", "preset": "cifar", "lr_g": 0.001, "batch_size": 8})
    assert (given["lr_g"], given["lr_d"], given["batch_size"]) == (0.001, 0.0025, 8)  # the command line wins


def test_the_networks_follow_the_configuration():
    plugins = load_plugins()
    config = {**resolve_config(plugins, {"plugin": "stylegan2", "preset": "cifar", "resolution": 32}), "classes": 10}
    shape = architecture.image_shape(config)
    with torch.device("meta"):
        assert count(architecture.build_generator(shape, config)) == 20_215_315  # NVlabs', measured
        assert count(architecture.build_discriminator(shape, config)) == 23_089_664
        tiny = {**config, **TINY, "mapping_layers": 3, "classes": 0, "channels": 1, "resolution": 8}
        generator = architecture.build_generator(architecture.image_shape(tiny), tiny)
        discriminator = architecture.build_discriminator(architecture.image_shape(tiny), tiny)
    assert (generator.img_channels, generator.img_resolution, generator.c_dim) == (1, 8, 0)
    assert (discriminator.img_channels, discriminator.img_resolution, discriminator.c_dim) == (1, 8, 0)
    assert len(generator.mapping.layers) == 3
    # min(64 / r, 16) channels: 16 at 4x4, 8 at 8x8.
    assert [block.conv.weight.shape[0] for block in generator.synthesis.blocks.values()] == [16, 8]
    assert [block.conv_down.weight.shape[0] for block in discriminator.blocks.values()] == [16]


@pytest.mark.parametrize("resolution", [48, 2048, 2])
def test_a_resolution_stylegan2_cannot_make_is_refused_before_any_data_is_read(pygan_cli, resolution, tmp_path):
    result = pygan_cli("train", "--plugin", "stylegan2", "--resolution", resolution, "--data-dir", tmp_path / "none",
                       "--out", tmp_path / "run")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"--resolution {resolution}: stylegan2 makes square images whose size is a power of two from 4 to 1024"
            in result.stderr)


def test_dry_run_prints_the_configuration_and_nvlabs_parameter_counts(pygan_cli):
    result = pygan_cli("train", "--plugin", "stylegan2", "--preset", "cifar", "--resolution", "32", "--classes", "10",
                       "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "generator: 20,215,315 parameters" in result.stdout
    assert "discriminator: 23,089,664 parameters" in result.stdout
    config = json.loads(result.stdout[:result.stdout.index("\n}\n") + 2])
    assert (config["preset"], config["classes"], config["lr_d"], config["batch_size"]) == ("cifar", 10, 0.0025, 64)


@pytest.fixture
def pygan_cli():
    return pygan_command


# --- training, and the commands that rebuild the networks from the run ------------------------------


def tiny_options(data_dir: Path, out: Path, *extra) -> list:
    return ["train", "--plugin", "stylegan2", "--resolution", "8", "--channel-base", "64", "--channel-max", "16",
            "--mapping-layers", "2", "--batch-size", "4", "--data-dir", data_dir, "--out", out, *extra]


def test_a_short_cli_training_then_sample_eval_and_load_rebuild_its_networks(tmp_path):
    folder = picture_folder(tmp_path / "pictures", classes=2)
    env = {"PYGAN_DATA_DIR": str(tmp_path / "cache")}
    result = pygan_command(*tiny_options(folder, tmp_path / "run", "--steps", "3", "--sample-every", "3"), env=env)
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["plugin"], config["classes"], config["resolution"], config["channel_max"]) == ("stylegan2", 2, 8, 16)
    assert (tmp_path / "run" / "samples" / "00003.png").is_file()
    result = pygan_command("sample", "--checkpoint", tmp_path / "run", "--n", "4", "--class", "1", "--out",
                           tmp_path / "grid.png", env=env)
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "grid.png").size[0] >= 16
    torch.manual_seed(0)
    torch.jit.save(torch.jit.script(FeatureNetwork()), tmp_path / "features.pt")
    result = pygan_command("eval", "--checkpoint", tmp_path / "run", "--n", "8", "--fid", "--feature-network",
                           tmp_path / "features.pt", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["fid"] > 0
    run = pygan.load(tmp_path / "run")
    assert (run.generator.c_dim, run.generator.img_resolution, len(run.generator.mapping.layers)) == (2, 8, 2)
    images = run.sample(4, seed=0, classes=[0, 1, 0, 1])
    assert images.shape == (4, 3, 8, 8) and 0 <= float(images.min()) and float(images.max()) <= 1
    assert torch.equal(images, run.sample(4, seed=0, classes=[0, 1, 0, 1]))
