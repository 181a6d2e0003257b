"""The 0.2 core's contracts: conditional architectures and auxiliary heads
in the built-in recipe, optimizers as plugins, weight constraints as a hook,
options declared once, and measurements joining a step's metrics."""


import pytest
import torch
import torch.nn.functional as F
from headed_plugin import CLASSES, CODES, LATENT, SHAPE, Discriminator, Generator, headed_plugins
from pygan_plugins.alternating import discriminator_update, generator_update
from torch import nn

import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._contracts.messages import PyganError, UsageError
from pygan._training import checkpoint
from pygan._training.data import load_data
from pygan._training.runner import create_runner, prepare_out_dir
from pygan._training.sampling import SAMPLE_GRID_SIZE, class_grid_latent, sweep_latent


def headed_runner(tmp_path, **options):
    plugins = headed_plugins()
    config = resolve_config(plugins, {"plugin": "headed", "sync_every": 8, **options})
    prepare_out_dir(tmp_path, resuming=False)
    architecture = plugins.architecture("headed")
    data = load_data(plugins.dataset("labelled"), None, architecture, torch.device("cpu"))
    return create_runner(plugins, config, tmp_path, data)


def test_a_conditional_generator_gets_z_then_the_one_hot_labels_then_the_codes(tmp_path):
    runner = headed_runner(tmp_path)
    generator = runner.run.generator
    generator.calls.clear()
    latent = runner.context.latent(5, labels=torch.tensor([0, 1, 2, 3, 1]))
    runner.context.generate(latent)
    z, one_hot, codes = generator.calls[-1]
    assert torch.equal(z, latent.z) and torch.equal(codes, latent.codes) and codes.shape == (5, CODES)
    assert torch.equal(one_hot, F.one_hot(torch.tensor([0, 1, 2, 3, 1]), CLASSES).float())


def test_the_fixed_sample_latent_asks_for_every_class_in_turn(tmp_path):
    runner = headed_runner(tmp_path)
    assert runner.run.fixed_latent.labels.tolist() == [i % CLASSES for i in range(SAMPLE_GRID_SIZE)]
    state = checkpoint.training_state(runner.run, runner.engine.state_dict(), [runner.rng.get_state()])
    assert torch.equal(state["fixed_latent"]["labels"], runner.run.fixed_latent.labels)


def test_the_discriminator_learns_real_labels_and_the_labels_fakes_were_made_from(tmp_path):
    runner = headed_runner(tmp_path)
    seen = []
    runner.run.discriminator.register_forward_hook(lambda module, args, output: seen.append(output))
    metrics = discriminator_update(runner.context)
    judged = seen[-1]
    real = runner.context.data
    assert judged["classes"].shape == (8, CLASSES)  # 4 real and 4 fake images
    assert {"d_class_loss", "d_code_loss"} <= set(metrics)
    # The auxiliary terms are part of the loss that was minimised.
    adversarial = F.binary_cross_entropy_with_logits(judged["source"].flatten(),
                                                     torch.tensor([1.0] * 4 + [0.0] * 4))
    torch.testing.assert_close(metrics["d_loss"], adversarial + metrics["d_class_loss"] + metrics["d_code_loss"])
    assert len(real) == 32
    g_metrics = generator_update(runner.context)
    assert {"g_class_loss", "g_code_loss", "g_loss"} <= set(g_metrics)


def test_a_conditional_architecture_refuses_a_data_set_without_labels():
    plugins = headed_plugins()
    unlabelled = pygan.Dataset("plain", load=lambda data_dir: torch.rand(8, *SHAPE))
    architecture = plugins.architecture("headed")
    # The runner checks labels once the class count is resolved (--classes or the data's own).
    loaded = load_data(unlabelled, None, architecture, torch.device("cpu"))
    with pytest.raises(UsageError, match="'headed' is conditional .* 'plain' has none"):
        loaded.check_labels("plain", architecture)
    too_many = pygan.Dataset("many", load=lambda data_dir: (torch.rand(8, *SHAPE), torch.arange(8)))
    loaded = load_data(too_many, None, architecture, torch.device("cpu"))
    with pytest.raises(UsageError, match="labels up to 7, but architecture 'headed' generates 4 classes"):
        loaded.check_labels("many", architecture)


def test_class_grids_and_code_sweeps():
    architecture = headed_plugins().architecture("headed")
    rng = torch.Generator().manual_seed(0)
    grid = class_grid_latent(architecture, 3, rng, torch.device("cpu"))
    assert grid.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    sweep = sweep_latent(architecture, 1, 5, rng, torch.device("cpu"))
    assert sweep.codes[:5, 1].tolist() == [-2.0, -1.0, 0.0, 1.0, 2.0] and not sweep.codes[:, 0].any()
    assert torch.equal(sweep.z[0], sweep.z[4]) and not torch.equal(sweep.z[0], sweep.z[5])  # one noise per row
    with pytest.raises(UsageError, match="--sweep code3: architecture 'headed' has codes code1 to code2"):
        sweep_latent(architecture, 2, 5, rng, torch.device("cpu"))


def test_penalties_see_the_discriminator_with_the_real_labels_bound(tmp_path):
    runner = headed_runner(tmp_path)
    critic = runner.context.critic(torch.tensor([1, 2]))
    images = torch.rand(2, *SHAPE)
    assert torch.equal(critic(images), runner.run.discriminator(images)["source"])


def test_adam_is_torchs_adam_and_skips_on_the_device():
    from pygan_plugins.optimizers import Adam

    torch.manual_seed(0)
    ours, theirs = nn.Linear(5, 3), nn.Linear(5, 3)
    theirs.load_state_dict(ours.state_dict())
    adam = Adam(ours.parameters(), 1e-2, (0.5, 0.999), weight_decay=0.1)
    reference = torch.optim.Adam(theirs.parameters(), lr=1e-2, betas=(0.5, 0.999), weight_decay=0.1)
    for step in range(4):
        x = torch.randn(7, 5)
        for module in (ours, theirs):
            module.zero_grad()
            module(x).square().mean().backward()
        skip = step == 2
        adam.step(torch.tensor(skip))
        if not skip:
            reference.step()
    for mine, expected in zip(ours.parameters(), theirs.parameters()):
        torch.testing.assert_close(mine, expected, rtol=1e-6, atol=1e-7)
    assert adam.optimizer.state[next(ours.parameters())]["step"].item() == 3


def test_an_architectures_defaults_choose_each_networks_optimizer(tmp_path):
    runner = headed_runner(tmp_path, optimizer_d="adam", betas_d=[0.5, 0.9], lr_d=1e-3)
    from pygan_plugins.optimizers import Adam, RMSprop

    discriminator, generator = runner.engine.optimizers["discriminator"], runner.engine.optimizers["generator"]
    assert isinstance(discriminator, Adam) and isinstance(generator, RMSprop)
    assert discriminator.optimizer.param_groups[0]["betas"] == (0.5, 0.9)
    assert discriminator.current_lr().item() == 1e-3
    runner.step()
    state = checkpoint.training_state(runner.run, runner.engine.state_dict(), [runner.rng.get_state()])
    assert state["engine"]["optimizers"]["discriminator"]["state"][0]["step"].item() == 1


def test_weight_clipping_is_a_hook_applied_after_each_discriminator_update(tmp_path):
    runner = headed_runner(tmp_path, clip_weights=0.01, lr_d=1.0)
    runner.step()
    assert all(p.abs().max() <= 0.01 for p in runner.run.discriminator.parameters())
    assert any(p.abs().max() > 0.01 for p in runner.run.generator.parameters())


def test_a_measurement_joins_the_metrics_of_its_step(tmp_path):
    class Measures:
        @pygan.hookimpl
        def measure(self, run, step):
            if step % 2 == 0:
                return lambda: {"mean_pixel": float(run.sample().mean()), "at": step}

    logged = []

    class Logs:
        @pygan.hookimpl
        def on_step_end(self, run, step, metrics):
            logged.append((step, metrics))

    plugins = headed_plugins()
    plugins.add("measures", Measures())
    plugins.add("logs", Logs())
    config = resolve_config(plugins, {"plugin": "headed", "steps": 5, "sync_every": 8, "sample_every": 0})
    prepare_out_dir(tmp_path, resuming=False)
    data = load_data(plugins.dataset("labelled"), None, plugins.architecture("headed"), torch.device("cpu"))
    create_runner(plugins, config, tmp_path, data).train()
    assert [step for step, _ in logged] == [1, 2, 3, 4, 5]
    assert [metrics.get("at") for _, metrics in logged] == [None, 2, None, 4, None]


class DeclaresOption:
    def __init__(self, name, **defaults):
        self.name, self.defaults = name, defaults

    @pygan.hookimpl
    def register_options(self, register):
        register(pygan.Option(self.name, int, 3, "an option"))


def test_two_plugins_declaring_one_option_fail_the_second_by_name():
    plugins = load_plugins()
    assert plugins.add("first", DeclaresOption("widgets"))
    assert not plugins.add("second", DeclaresOption("widgets"))
    assert "option 'widgets' is already registered by plugin 'first'" in plugins.failures[-1].error
    assert not plugins.add("third", DeclaresOption("lr_d"))  # pygan's own options are taken too
    assert "by plugin 'core'" in plugins.failures[-1].error


def test_an_unknown_key_in_an_architectures_defaults_names_the_plugin():
    class Typo:
        @pygan.hookimpl
        def register_architectures(self, register):
            register(pygan.Architecture("typo", Generator, Discriminator, LATENT,
                                        defaults={"loss": "bce", "dataset": "npz", "lr_dd": 1e-3}))

    plugins = load_plugins()
    plugins.add("typo-plugin", Typo())
    with pytest.raises(PyganError, match="architecture 'typo' \\(plugin 'typo-plugin'\\) sets defaults for 'lr_dd'"):
        resolve_config(plugins, {"plugin": "typo"})


class UsesOption(DeclaresOption):
    """Declares an option and takes part in every run (a callback reads it)."""

    @pygan.hookimpl
    def on_train_start(self, run):
        run.state["widgets"] = run.config[self.name]


def test_a_plugins_option_is_checked_from_its_declaration():
    plugins = load_plugins()
    plugins.add("declares", UsesOption("widgets"))
    assert resolve_config(plugins, {"plugin": "dcgan"})["widgets"] == 3
    assert resolve_config(plugins, {"plugin": "dcgan", "widgets": 5})["widgets"] == 5
    # As an architecture's defaults or a config.json could give it:
    with pytest.raises(UsageError, match="--widgets must be a whole number, not 2.5"):
        resolve_config(plugins, {"plugin": "dcgan", "widgets": 2.5})


def test_every_builtin_option_is_declared_once_with_help():
    plugins = load_plugins()
    for name, option in plugins.options.items():
        assert option.name == name and option.help, name
    assert {"lr_d", "lr_g", "decay_d", "decay_g", "betas_d", "optimizer_g", "eval_every", "tensorboard",
            "clip_weights"} <= set(plugins.options)
    assert plugins.owner("option", "tensorboard") == "tensorboard"
    assert plugins.owner("option", "eval_every") == "evaluation"
    assert plugins.owner("option", "decay_d") == "optimizers"
