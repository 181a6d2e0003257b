"""What pygan 1.0 promises plugins beyond the records: builders given the
run's configuration (and every command rebuilding networks from it), class
counts from an option or the data, recipes with defaults and a check of
their own, a configuration that records only the plugins taking part, and
hooks whose misuse is named: a misspelled hook, a bad ``measure`` return, a
recipe returning something else than tensors or misusing its context."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from headed_plugin import LATENT, SHAPE, Discriminator
from torch import nn

import pygan
from pygan._config.options import check_value
from pygan._config.registry import load_plugins
from pygan._config.resolve import configure, resolve_config
from pygan._training import runner as runner_module
from pygan._training.data import InMemoryData
from pygan._training.runner import create_runner, prepare_out_dir


class WideGenerator(nn.Module):
    def __init__(self, image_shape, width):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Sequential(nn.Linear(LATENT, width), nn.ReLU(), nn.Linear(width, math.prod(image_shape)))

    def forward(self, z, *conditioning):
        return torch.sigmoid(self.net(z)).view(-1, *self.image_shape)


class Flexible:
    """An architecture whose generator's width is an option and whose class
    count comes from --classes or the data, a data set of labelled squares,
    and a recipe with its own defaults and check."""

    @pygan.hookimpl
    def register_options(self, register):
        register(pygan.Option("width", int, 8, "the generator's hidden units", check=pygan.whole_number(1)))

    @pygan.hookimpl
    def register_architectures(self, register):
        register(pygan.Architecture(
            "flexible", build_generator=lambda shape, config: WideGenerator(shape, config["width"]),
            build_discriminator=Discriminator, latent_size=LATENT, classes=None, image_shape=lambda config: SHAPE,
            defaults={"loss": "bce", "dataset": "squares", "batch_size": 4, "steps": 4, "sample_every": 0}))

    @pygan.hookimpl
    def register_datasets(self, register):
        register(pygan.Dataset("squares", load=lambda data_dir: pygan.Batch(
            torch.rand(24, *SHAPE, generator=torch.Generator().manual_seed(0)), torch.arange(24) % 3)))

    @pygan.hookimpl
    def register_recipes(self, register):
        register(pygan.Recipe("picky", step=lambda step: {}, defaults={"d_steps": 3},
                              check=lambda config, architecture: None if config["loss"] == "bce"
                              else f"--loss {config['loss']}: picky only knows bce"))


@pytest.fixture
def plugins():
    plugins = load_plugins()
    assert plugins.add("flexible", Flexible())
    return plugins


def flexible_runner(plugins, tmp_path, **options):
    config = resolve_config(plugins, {"plugin": "flexible", **options})
    prepare_out_dir(tmp_path, resuming=False)
    images, labels = plugins.dataset("squares").load(None)
    return create_runner(plugins, config, tmp_path, InMemoryData(images, labels))


def test_a_builder_gets_the_resolved_configuration_read_only(plugins, tmp_path):
    runner = flexible_runner(plugins, tmp_path, width=5)
    assert runner.run.generator.net[0].out_features == 5
    seen = []
    builder = pygan.Architecture("spy", lambda shape, config: seen.append(config) or WideGenerator(shape, 2),
                                 Discriminator, LATENT)
    builder.build("generator", SHAPE, {"width": 7})
    assert seen[0]["width"] == 7
    with pytest.raises(TypeError):
        seen[0]["width"] = 8


def test_a_builder_of_pygan_0_2_gets_the_image_shape_alone():
    shapes = []
    old = pygan.Architecture("old", lambda shape: shapes.append(shape) or WideGenerator(shape, 2), Discriminator,
                             LATENT)
    old.build("generator", SHAPE, {"width": 7})
    assert shapes == [SHAPE]


def test_the_class_count_comes_from_the_data_or_the_classes_option(plugins, tmp_path):
    runner = flexible_runner(plugins, tmp_path / "data")
    assert runner.run.architecture.classes == 3 and runner.run.config["classes"] == 3
    runner = flexible_runner(plugins, tmp_path / "option", classes=5)
    assert runner.run.architecture.classes == 5
    with pytest.raises(pygan.UsageError, match="--classes 5: architecture 'dcgan' generates 0 classes"):
        resolve_classes_of(plugins, "dcgan", classes=5)


def resolve_classes_of(plugins, name, **options):
    from pygan._config.resolve import resolve_classes
    config = resolve_config(plugins, {"plugin": name, **options})
    return resolve_classes(plugins.architecture(name), config, None)


def test_a_recipes_defaults_apply_and_its_check_runs_before_anything_starts(plugins):
    config = resolve_config(plugins, {"plugin": "flexible", "recipe": "picky"})
    assert config["d_steps"] == 3
    assert resolve_config(plugins, {"plugin": "flexible", "recipe": "picky", "d_steps": 2})["d_steps"] == 2
    with pytest.raises(pygan.UsageError, match="recipe 'picky' \\(plugin 'flexible'\\): --loss hinge: picky only"):
        resolve_config(plugins, {"plugin": "flexible", "recipe": "picky", "loss": "hinge"})


def test_the_configuration_records_only_the_plugins_taking_part(plugins):
    config = resolve_config(plugins, {"plugin": "dcgan"})
    assert "width" not in config and "resolution" not in config  # flexible's and dcgan64's options
    assert {"lr_d", "decay_d", "clip_weights", "eval_every", "spectral_norm", "tensorboard"} <= set(config)
    assert resolve_config(plugins, {"plugin": "dcgan64"})["resolution"] == 64
    with pytest.raises(pygan.UsageError, match="--resolution is an option of plugins 'dcgan64' and 'stylegan2', "
                                               "which this run does not use"):
        resolve_config(plugins, {"plugin": "dcgan", "resolution": 32})


def sizes_plugin(check=None, default=8, shared=True):
    class Sizes:
        @pygan.hookimpl
        def register_options(self, register):
            register(pygan.Option("size", int, default, "sizes' size", check=check, shared=shared))
    return Sizes()


def test_a_shared_option_is_recorded_when_any_declarer_takes_part_and_passes_every_check():
    flexible_sizes = type("FlexibleSizes", (Flexible,), {"register_options": pygan.hookimpl(
        lambda self, register: register(pygan.Option("size", int, 8, "flexible's size", shared=True,
                                                     check=lambda v: None if v % 2 == 0 else "must be even")))})
    plugins = load_plugins()
    assert plugins.add("small", sizes_plugin(check=lambda v: None if v < 100 else "must be below 100"))
    assert plugins.add("flexible", flexible_sizes())
    assert plugins.owners("option", "size") == ("small", "flexible")
    assert plugins.options["size"].help == "sizes' size; flexible's size"
    assert resolve_config(plugins, {"plugin": "flexible", "size": 6})["size"] == 6
    assert "size" not in resolve_config(plugins, {"plugin": "dcgan"})
    for value, problem in ((7, "must be even"), (102, "must be below 100")):
        with pytest.raises(pygan.UsageError, match=f"--size {problem}, not {value}"):
            resolve_config(plugins, {"plugin": "flexible", "size": value})


def test_one_declaration_shared_by_several_plugins_keeps_its_help_and_choices():
    declaration = pygan.Option("mode", str, "a", "the mode; a or b", choices=("a", "b"), shared=True)
    plugins = load_plugins()
    for name in ("one", "two", "three"):
        assert plugins.add(name, type(name, (), {"register_options": pygan.hookimpl(
            lambda self, register: register(declaration))})())
    assert plugins.owners("option", "mode") == ("one", "two", "three")
    assert plugins.options["mode"].help == "the mode; a or b" and plugins.options["mode"].choices == ("a", "b")
    with pytest.raises(pygan.UsageError, match="--mode must be one of a, b, not 'c'"):
        check_value(plugins.options["mode"], "c")


@pytest.mark.parametrize("second, problem", [
    (sizes_plugin(shared=False), "option 'size' is already registered by plugin 'first' \\(to share it, both"),
    (sizes_plugin(default=9), "option 'size' is shared with plugin 'first', which declares another default"),
])
def test_an_option_is_shared_only_when_both_declare_it_so_alike(second, problem):
    plugins = load_plugins()
    assert plugins.add("first", sizes_plugin())
    assert not plugins.add("second", second)
    assert re.search(problem, plugins.failures[-1].error)


def test_an_architecture_s_defaults_may_follow_its_options():
    seen = []
    following = type("Following", (Flexible,), {"register_architectures": pygan.hookimpl(
        lambda self, register: register(pygan.Architecture(
            "following", build_generator=lambda shape, config: WideGenerator(shape, config["width"]),
            build_discriminator=Discriminator, latent_size=LATENT, image_shape=lambda config: SHAPE,
            defaults=lambda options: seen.append(dict(options)) or {
                "loss": "bce", "dataset": "squares", "lr_d": options["width"] * 1e-4})))})
    plugins = load_plugins()
    assert plugins.add("following", following())
    assert resolve_config(plugins, {"plugin": "following"})["lr_d"] == pytest.approx(8e-4)
    config = resolve_config(plugins, {"plugin": "following", "width": 3})
    assert config["lr_d"] == pytest.approx(3e-4) and seen[-1]["width"] == 3 and seen[-1]["steps"] == 10_000
    assert resolve_config(plugins, {"plugin": "following", "width": 3, "lr_d": 0.5})["lr_d"] == 0.5
    with pytest.raises(pygan.UsageError, match="--width must be a positive whole number, not 0"):
        resolve_config(plugins, {"plugin": "following", "width": 0})  # checked before the defaults see it


def test_a_misspelled_hook_fails_the_plugin_naming_it():
    class Misspelled:
        @pygan.hookimpl
        def register_architecture(self, register):
            pass

    plugins = load_plugins()
    assert not plugins.add("misspelled", Misspelled())
    assert plugins.failures[-1].name == "misspelled"
    assert ("'register_architecture' is not a pygan hook; did you mean 'register_architectures'?"
            in plugins.failures[-1].error)
    assert "misspelled" not in [info.name for info in plugins.loaded]


def test_a_builder_pygan_cannot_call_fails_the_plugin():
    class ThreeArguments:
        @pygan.hookimpl
        def register_architectures(self, register):
            register(pygan.Architecture("three", lambda shape, config, more: None, Discriminator, LATENT))

    plugins = load_plugins()
    assert not plugins.add("three-arguments", ThreeArguments())
    assert "needs 3 arguments; pygan gives it (image_shape, config)" in plugins.failures[-1].error


class Measures:
    def __init__(self, returned):
        self.returned = returned

    @pygan.hookimpl
    def measure(self, run, step):
        return self.returned


@pytest.mark.parametrize("returned, problem", [
    ({"score": 1.0}, "it returned a dict; measure returns a function that measures the step"),
    (lambda: 3.0, "its measurement returned a float, not a dict of metric names to numbers"),
    (lambda: 1 / 0, "ZeroDivisionError: division by zero"),
])
def test_a_bad_measure_ends_the_run_failed_naming_the_plugin_with_a_checkpoint(plugins, tmp_path, returned,
                                                                               problem):
    plugins.add("measures", Measures(returned))
    runner = flexible_runner(plugins, tmp_path)
    ended = []
    plugins.add("ends", type("Ends", (), {"on_run_end": pygan.hookimpl(
        lambda self, run, step, status: ended.append(status))})())
    runner.hook = plugins.callbacks
    with pytest.raises(pygan.PyganError) as failure:
        runner.train()
    assert "plugin 'measures' failed in its measure hook" in str(failure.value) and problem in str(failure.value)
    assert "training stopped at step 1, checkpoint" in str(failure.value)
    assert (tmp_path / "checkpoints" / "00000001.pt").is_file() and ended == ["failed"]


def recipe_plugin(step):
    class OwnRecipe:
        @pygan.hookimpl
        def register_recipes(self, register):
            register(pygan.Recipe("own", step))
    return OwnRecipe()


def returns_a_float(step):
    with step.training("discriminator"):
        loss = step.discriminate(step.real().images).source.mean()
        step.update(loss)
    return float(loss.detach())


def updates_outside_training(step):
    step.update(step.discriminate(step.real().images).source.mean())
    return {}


@pytest.mark.parametrize("step, problem", [
    (returns_a_float, "it returned float, where a recipe returns its metrics as a dict of names to 0-d tensors"),
    (lambda step: {"d_loss": 0.5}, "it returned 'd_loss': float, where a recipe returns"),
    (updates_outside_training, "update() and current_lr() belong inside a 'with context.training(network):' block"),
])
def test_a_recipe_that_breaks_its_contract_is_named(plugins, tmp_path, step, problem):
    plugins.add("own-recipe", recipe_plugin(step))
    runner = flexible_runner(plugins, tmp_path, recipe="own")
    with pytest.raises(pygan.PyganError) as failure:
        runner.train()
    assert "plugin 'own-recipe' failed in its recipe 'own'" in str(failure.value)
    assert problem in str(failure.value)
    # Inside a step its updates may be half made: no checkpoint.
    assert not list((tmp_path / "checkpoints").iterdir())


def test_sample_eval_resume_and_load_rebuild_networks_from_the_recorded_configuration(plugins, tmp_path,
                                                                                       monkeypatch):
    config = configure(plugins, {"plugin": "flexible", "width": 6, "checkpoint_every": 2}, None)
    run = runner_module.train(plugins, config, tmp_path / "run", resuming=False)
    assert run.generator.net[0].out_features == 6
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["width"], saved["classes"]) == (6, 3)
    monkeypatch.setattr("pygan._commands.api.get_plugins", lambda: plugins)
    loaded = pygan.load(tmp_path / "run")
    assert loaded.generator.net[0].out_features == 6 and loaded.architecture.classes == 3
    assert loaded.sample(5, seed=1).shape == (5, *SHAPE)
    assert torch.equal(loaded.sample(5, seed=1), loaded.sample(5, seed=1))
    resumed = configure(plugins, {"steps": 6}, tmp_path / "run")
    again = runner_module.train(plugins, resumed, tmp_path / "run", resuming=True)
    assert again.generator.net[0].out_features == 6 and again.start_step == 4


class Watcher:
    """Sees the discriminator's logits for real images inside the step, and
    adds the share it calls real to the step's metrics."""

    def __init__(self, returned=None):
        self.seen, self.returned = [], returned

    @pygan.hookimpl
    def judged_real(self, run, logits):
        self.seen.append(logits)
        run.state["called_real"] = (logits > run.loss.decision_threshold).float().mean()

    @pygan.hookimpl
    def step_metrics(self, run):
        return self.returned(run) if self.returned else {"d_called_real": run.state["called_real"]}


def test_a_plugin_sees_the_judgements_of_real_images_and_adds_step_metrics(plugins, tmp_path):
    watcher = Watcher()
    plugins.add("watcher", watcher)
    runner = flexible_runner(plugins, tmp_path, d_steps=2)
    metrics = runner.step()
    assert len(watcher.seen) == 2  # one batch of real images per discriminator update
    assert all(logits.shape == (4, 1) and not logits.requires_grad for logits in watcher.seen)
    share = (watcher.seen[-1] > 0).float().mean().item()
    assert metrics["d_called_real"] == share and {"d_loss", "g_loss"} <= set(metrics)


@pytest.mark.parametrize("returned, problem", [
    (lambda run: 0.5, "it returned float, where step_metrics returns a dict of names to 0-d tensors"),
    (lambda run: {"d_loss": torch.zeros(())}, "it returned 'd_loss', which the step has already"),
])
def test_step_metrics_that_break_the_contract_are_named(plugins, tmp_path, returned, problem):
    plugins.add("watcher", Watcher(returned))
    runner = flexible_runner(plugins, tmp_path)
    with pytest.raises(pygan.PyganError) as failure:
        runner.train()
    assert f"plugin 'watcher' failed in its step_metrics hook (TypeError: {problem}" in str(failure.value)
    assert not list((tmp_path / "checkpoints").iterdir())  # inside a step: no checkpoint
