"""--batchnorm-statistics: the book GANs' generator BatchNorm follows the
seed's TensorFlow 2 Keras (plain moving averages, the default) or the first
edition's standalone Keras (zero-debiased); the choice reaches every builder,
is recorded in config.json, and every command that rebuilds a run's networks
honours it. The layer's own arithmetic is tested in test_dcgan.py."""

import json
import shutil

import pytest
import torch
from conftest import pygan_command, require_mnist
from pygan_plugins.book import KerasBatchNorm2d, keras_parameter_count

import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._training import checkpoint

SHAPE = (1, 28, 28)
BOOK = ["dcgan", "cgan", "wgan", "lsgan", "acgan", "infogan"]
MODES = {"plain": False, "zero-debiased": True}
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
SHADOWS = ("biased_mean", "biased_var")


def batchnorms(generator):
    return [module for module in generator.modules() if isinstance(module, KerasBatchNorm2d)]


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def test_the_default_is_the_seeds_plain_moving_averages(plugins):
    option = plugins.options["batchnorm_statistics"]
    assert option.default == "plain" and set(option.choices) == set(MODES)
    assert resolve_config(plugins, {"plugin": "dcgan"})["batchnorm_statistics"] == "plain"


def test_it_belongs_to_the_book_gans_runs_alone(plugins):
    assert "batchnorm_statistics" not in resolve_config(plugins, {"plugin": "dcgan64"})
    with pytest.raises(pygan.UsageError, match="--batchnorm-statistics is an option of plugins .* which this run "
                                               "does not use"):
        resolve_config(plugins, {"plugin": "dcgan64", "batchnorm_statistics": "zero-debiased"})


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", BOOK)
def test_every_book_generator_takes_the_chosen_statistics(plugins, name, mode):
    config = resolve_config(plugins, {"plugin": name, "batchnorm_statistics": mode})
    generator = plugins.architecture(name).build("generator", SHAPE, config)
    layers = batchnorms(generator)
    assert len(layers) == 4 and all(layer.zero_debias is MODES[mode] for layer in layers)
    # The shadow averages are buffers of the zero-debiased mode only, and not
    # among Keras' counted parameters in either.
    assert any(name.endswith(SHADOWS) for name in generator.state_dict()) is MODES[mode]
    plain = plugins.architecture(name).build("generator", SHAPE, resolve_config(plugins, {"plugin": name}))
    assert keras_parameter_count(generator) == keras_parameter_count(plain)


def test_an_unknown_mode_is_refused_naming_the_choices(tmp_path):
    result = pygan_command("train", "--plugin", "dcgan", "--batchnorm-statistics", "debiased", "--out", tmp_path / "r")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--batchnorm-statistics" in result.stderr and "zero-debiased" in result.stderr and "plain" in result.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """dcgan trained 2 steps from the command line in each mode."""
    mnist, folder = require_mnist(), tmp_path_factory.mktemp("batchnorm-runs")
    trained = {}
    for mode in MODES:
        out = folder / mode
        result = pygan_command("train", "--plugin", "dcgan", "--data-dir", mnist, "--steps", "2", "--batch-size", "8",
                               "--sample-every", "0", "--seed", "0", "--batchnorm-statistics", mode, "--out", out,
                               env=ONE_THREAD)
        assert result.returncode == 0, result.stderr
        trained[mode] = out
    return trained


def generator_weights(run):
    return checkpoint.generator_weights(checkpoint.load(run))


@pytest.mark.parametrize("mode", MODES)
def test_the_mode_is_recorded_and_the_checkpoint_holds_its_buffers(runs, mode):
    assert json.loads((runs[mode] / "config.json").read_text())["batchnorm_statistics"] == mode
    weights = generator_weights(runs[mode])
    assert any(name.endswith(SHADOWS) for name in weights) is MODES[mode]
    assert int(weights["blocks.0.num_batches_tracked"]) == 2


@pytest.mark.parametrize("mode", MODES)
def test_pygan_load_rebuilds_the_generator_in_the_recorded_mode(runs, mode):
    run = pygan.load(runs[mode])
    assert all(layer.zero_debias is MODES[mode] for layer in batchnorms(run.generator))
    assert run.sample(3, seed=1).shape == (3, *SHAPE)


@pytest.mark.parametrize("saved", MODES)
def test_weights_saved_in_either_mode_sample_the_same_images_read_in_both(runs, saved, tmp_path):
    # The other mode's run folder: the same checkpoint, its config.json and
    # checkpoint reading the other mode (the buffers differ: the plain mode
    # drops the shadow averages, the zero-debiased one rebuilds them).
    other = next(mode for mode in MODES if mode != saved)
    copy = shutil.copytree(runs[saved], tmp_path / "copy")
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "batchnorm_statistics": other}))
    newest = checkpoint.load(copy)
    state = torch.load(newest["path"], weights_only=True)
    state["config"]["batchnorm_statistics"] = other
    torch.save(state, newest["path"])
    original, reread = pygan.load(runs[saved]), pygan.load(copy)
    assert all(layer.zero_debias is MODES[other] for layer in batchnorms(reread.generator))
    assert torch.equal(original.sample(8, seed=3), reread.sample(8, seed=3))
    for folder, name in ((runs[saved], "saved.png"), (copy, "other.png")):
        result = pygan_command("sample", "--checkpoint", folder, "--n", "4", "--seed", "3", "--out", tmp_path / name,
                               env=ONE_THREAD)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "saved.png").read_bytes() == (tmp_path / "other.png").read_bytes()


def test_a_resumed_run_keeps_its_mode_and_refuses_another(runs, tmp_path):
    run = shutil.copytree(runs["zero-debiased"], tmp_path / "run")
    refused = pygan_command("train", "--resume", run, "--steps", "3", "--batchnorm-statistics", "plain")
    assert refused.returncode == 2 and "--batchnorm-statistics" in refused.stderr and "Traceback" not in refused.stderr
    resumed = pygan_command("train", "--resume", run, "--steps", "3", env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr
    weights = generator_weights(run)
    assert int(weights["blocks.0.num_batches_tracked"]) == 3
    # The shadow mean continued: debiased by 1 - 0.99^3, it is the moving mean.
    torch.testing.assert_close(weights["blocks.0.biased_mean"] / (1 - 0.99 ** 3), weights["blocks.0.running_mean"])
