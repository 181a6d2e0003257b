"""pygan from Python: ``pygan.train`` with the command line's declarations,
checks and messages, raised instead of ending the process; ``pygan.load``
and its ``sample``. The README's example, which trains the dcgan, is run by
tests/test_readme.py; here a tiny conditional architecture keeps each
training to a fraction of a second."""

import json

import pytest
import torch
from conftest import pygan_command as pygan_cli
from headed_plugin import CLASSES, SHAPE, headed_plugins

import pygan


@pytest.fixture
def plugins(monkeypatch):
    plugins = headed_plugins()
    monkeypatch.setattr("pygan._commands.api.get_plugins", lambda: plugins)
    return plugins


def train(tmp_path, **options):
    return pygan.train("headed", out=tmp_path / "run", **{"steps": 2, "sample_every": 0, **options})


def test_train_records_the_options_and_returns_the_run_loaded(plugins, tmp_path):
    run = train(tmp_path, optimizer_d="adam", lr_d=1e-3, betas_d=(0.5, 0.9))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["optimizer_d"], config["lr_d"], config["betas_d"]) == ("adam", 1e-3, [0.5, 0.9])
    assert (run.config["optimizer_d"], run.config["lr_d"], run.config["betas_d"]) == ("adam", 1e-3, [0.5, 0.9])
    assert run.step == 2 and run.architecture.name == "headed" and run.image_shape == SHAPE
    for network in (run.generator, run.discriminator):
        assert not network.training and not any(parameter.requires_grad for parameter in network.parameters())


@pytest.mark.parametrize("options, message", [
    ({"lr_dd": 1e-3}, "pygan.train got an unknown option 'lr_dd'; did you mean lr_d?"),
    ({"lr_d": -1.0}, "--lr-d must be a finite number above 0, not -1.0"),
    ({"steps": 2.5}, "--steps must be a whole number, not 2.5"),
    ({"lr_d": object()}, "option lr_d=<object object at"),
    ({"plugin": None}, "choose an architecture with --plugin"),
])
def test_a_mistake_is_raised_as_the_command_line_words_it(plugins, tmp_path, options, message):
    arguments = {"plugin": "headed", "out": tmp_path / "run", "steps": 2, **options}
    with pytest.raises(pygan.UsageError) as mistake:
        pygan.train(**arguments)
    assert message in str(mistake.value)
    assert not (tmp_path / "run").exists()


def test_a_mistake_reads_as_the_command_line_says_it(tmp_path):
    """pygan.train and pygan train share the declarations and their checks:
    the flag and what is wrong with its value, in the same words."""
    cli = pygan_cli("train", "--plugin", "dcgan", "--lr-d", "-1", "--dry-run")
    with pytest.raises(pygan.UsageError) as mistake:
        pygan.train("dcgan", out=tmp_path / "run", lr_d=-1)
    said = "--lr-d: must be a finite number above 0, not -1"
    assert cli.returncode == 2 and said in cli.stderr
    assert said.replace(":", "") in str(mistake.value)


def test_resume_continues_a_run_and_refuses_a_contradiction(plugins, tmp_path):
    train(tmp_path)
    again = pygan.train(resume=tmp_path / "run", steps=4)
    assert again.step == 4 and (tmp_path / "run" / "checkpoints" / "00000004.pt").is_file()
    with pytest.raises(pygan.UsageError, match="--batch-size 8 contradicts the resumed run's 4"):
        pygan.train(resume=tmp_path / "run", steps=6, batch_size=8)


def test_load_gives_the_moving_average_generator_when_the_run_kept_one(plugins, tmp_path):
    train(tmp_path, ema=0.5)
    saved = torch.load(tmp_path / "run" / "checkpoints" / "00000002.pt", weights_only=True)["networks"]
    assert not all(torch.equal(saved["generator"][key], saved["generator_ema"][key]) for key in saved["generator"])
    loaded = pygan.load(tmp_path / "run")
    for network, state in (("generator", saved["generator_ema"]), ("discriminator", saved["discriminator"])):
        assert all(torch.equal(value, state[key]) for key, value in getattr(loaded, network).state_dict().items())


def test_sample_draws_images_in_the_unit_range_for_the_classes_asked(plugins, tmp_path):
    run = train(tmp_path)
    images = run.sample(5, seed=3)
    assert images.shape == (5, *SHAPE) and images.device.type == "cpu"
    assert 0 <= float(images.min()) and float(images.max()) <= 1
    assert torch.equal(images, run.sample(5, seed=3)) and not torch.equal(images, run.sample(5, seed=4))
    run.sample(3, seed=0, classes=2)
    assert run.generator.calls[-1][1].argmax(dim=1).tolist() == [2, 2, 2]
    run.sample(4, seed=0, classes=[3, 0, 1, 2])
    assert run.generator.calls[-1][1].argmax(dim=1).tolist() == [3, 0, 1, 2]
    for n, classes in ((2, [1]), (2, CLASSES), (1, -1)):
        with pytest.raises(pygan.UsageError, match=f"give one class, or {n} classes, from 0 to {CLASSES - 1}"):
            run.sample(n, classes=classes)
    for n in (0, 1.5, True):
        with pytest.raises(pygan.UsageError, match="n must be a positive whole number"):
            run.sample(n)
