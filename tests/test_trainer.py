"""The training step follows the seed recipe."""

import pytest
import torch
from pygan_plugins.alternating import discriminator_update, generator_update

import pygan
from pygan._config.registry import get_plugins
from pygan._config.resolve import resolve_config
from pygan._training.runner import create_runner


def make_trainer(tmp_path, **options):
    plugins = get_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "batch_size": 8, **options})
    torch.manual_seed(1)
    data = torch.rand(32, 1, 28, 28)
    return create_runner(plugins, config, tmp_path, data)


def snapshot(module):
    return {name: t.detach().clone() for name, t in {**dict(module.named_parameters()),
                                                     **dict(module.named_buffers())}.items()}


def changed(before, module):
    after = snapshot(module)
    return {name for name in before if not torch.equal(before[name], after[name])}


def test_a_discriminator_update_leaves_the_generator_unchanged(tmp_path):
    trainer = make_trainer(tmp_path)
    generator, discriminator = snapshot(trainer.run.generator), snapshot(trainer.run.discriminator)
    discriminator_update(trainer.context)
    assert changed(generator, trainer.run.generator) == set()  # running statistics included
    assert changed(discriminator, trainer.run.discriminator) == set(discriminator)


def test_a_generator_update_leaves_the_discriminator_unchanged(tmp_path):
    trainer = make_trainer(tmp_path)
    generator, discriminator = snapshot(trainer.run.generator), snapshot(trainer.run.discriminator)
    generator_update(trainer.context)
    assert changed(discriminator, trainer.run.discriminator) == set()
    assert {"project.weight", "blocks.0.running_mean", "blocks.9.running_var"} <= changed(generator, trainer.run.generator)
    assert all(p.requires_grad for p in trainer.run.discriminator.parameters())


def batchnorm_modes_during(step, generator):
    modes = []
    hooks = [m.register_forward_pre_hook(lambda module, args: modes.append(module.training))
             for m in generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    step()
    for hook in hooks:
        hook.remove()
    return modes


def test_fakes_for_the_discriminator_use_running_statistics_and_the_generator_step_batch_statistics(tmp_path):
    trainer = make_trainer(tmp_path)
    assert batchnorm_modes_during(lambda: discriminator_update(trainer.context), trainer.run.generator) == [False] * 4
    assert batchnorm_modes_during(lambda: generator_update(trainer.context), trainer.run.generator) == [True] * 4


def test_learning_rate_after_t_updates_is_keras_time_decay(tmp_path):
    trainer = make_trainer(tmp_path, lr_d=1e-3, decay_d=0.5, lr_g=2e-3, decay_g=0.25)
    used = [trainer.step() for _ in range(4)]
    for t, metrics in enumerate(used):
        assert metrics["lr_d"] == pytest.approx(1e-3 / (1 + 0.5 * t), rel=1e-12)
        assert metrics["lr_g"] == pytest.approx(2e-3 / (1 + 0.25 * t), rel=1e-12)
    assert trainer.engine.optimizers["discriminator"].current_lr().item() == pytest.approx(1e-3 / (1 + 0.5 * 4), rel=1e-12)


def test_the_first_rmsprop_update_is_keras(tmp_path):
    # Keras: a = rho a + (1 - rho) g^2 with a0 = 0, rho 0.9; p -= lr g / (sqrt(a) + 1e-7).
    trainer = make_trainer(tmp_path)
    bias = trainer.run.discriminator.classify.bias
    before = bias.detach().clone()
    grads = []
    bias.register_hook(lambda g: grads.append(g.clone()))
    discriminator_update(trainer.context)
    g = grads[0]
    expected = before - 2e-4 * g / (torch.sqrt(0.1 * g * g) + 1e-7)
    torch.testing.assert_close(bias.detach(), expected, rtol=1e-6, atol=1e-9)


def test_dcgan_defaults_are_the_seed_recipe(tmp_path):
    config = make_trainer(tmp_path, batch_size=None).run.config
    assert {key: config[key] for key in ("steps", "batch_size", "lr_d", "decay_d", "lr_g", "decay_g", "loss",
                                         "dataset", "sample_every")} == {
        "steps": 40_000, "batch_size": 64, "lr_d": 2e-4, "decay_d": 6e-8, "lr_g": 1e-4, "decay_g": 3e-8,
        "loss": "bce", "dataset": "mnist", "sample_every": 500}


def test_noise_is_uniform_in_minus_one_one(tmp_path):
    noise = make_trainer(tmp_path).context.latent(10_000).z
    assert noise.shape == (10_000, 100)
    assert -1 <= noise.min() < -0.99 and 0.99 < noise.max() <= 1
    assert noise.mean().abs() < 0.01


def test_same_seed_same_losses(tmp_path):
    first = [make_trainer(tmp_path / "a").step() for _ in range(1)]
    second = [make_trainer(tmp_path / "b").step() for _ in range(1)]
    assert first == second


def test_ema_is_a_moving_average_of_the_generator_saved_and_used_for_samples(tmp_path):
    trainer = make_trainer(tmp_path, ema=0.75)
    before = snapshot(trainer.run.ema_generator)
    trainer.step()
    generator = dict(trainer.run.generator.named_parameters())
    for name, average in trainer.run.ema_generator.named_parameters():
        torch.testing.assert_close(average, 0.75 * before[name] + 0.25 * generator[name].detach())
    torch.testing.assert_close(trainer.run.ema_generator.blocks[0].running_mean, trainer.run.generator.blocks[0].running_mean)
    state = trainer.state_dict()
    assert state["networks"]["generator_ema"]["project.weight"].equal(trainer.run.ema_generator.project.weight)
    trainer.run.ema_generator.eval()
    with torch.no_grad():
        torch.testing.assert_close(trainer.run.sample(), trainer.run.ema_generator(trainer.run.fixed_latent.z))


def test_an_ema_half_life_in_images_ramped_up_gives_stylegan2_s_decays(tmp_path):
    """NVlabs' G_ema: decay 0.5 ** (batch / half-life), the half-life at
    most ramp-up times the images shown before the step (so the first step
    copies the generator), once per step; a resumed run continues them."""
    trainer = make_trainer(tmp_path, ema_kimg=0.02, ema_rampup=0.5)  # 20 images; batch 8
    average = trainer.average
    decays = []
    for step in range(4):
        decays.append(float(average.decay()))
        before = snapshot(trainer.run.ema_generator)
        trainer.step()
        generator = dict(trainer.run.generator.named_parameters())
        for name, value in trainer.run.ema_generator.named_parameters():
            torch.testing.assert_close(value, generator[name].detach().lerp(before[name], decays[-1]))
    # Images shown before each step: 0, 8, 16, 24; half-lives min(20, images / 2): 0, 4, 8, 12.
    assert decays == [0.0, pytest.approx(0.5 ** 2), pytest.approx(0.5), pytest.approx(0.5 ** (8 / 12))]
    assert make_trainer(tmp_path / "fixed", ema_kimg=0.02).average.decay() == pytest.approx(0.5 ** 0.4)
    average.start_at(1)
    assert float(average.decay()) == pytest.approx(0.5 ** 2)


@pytest.mark.parametrize("options, problem", [
    ({"ema": 0.9, "ema_kimg": 10}, "--ema 0.9 and --ema-kimg 10 both set the generator's moving average"),
    ({"ema_rampup": 0.05}, "--ema-rampup ramps up --ema-kimg's half-life; give --ema-kimg too"),
])
def test_ema_options_that_contradict_are_refused(tmp_path, options, problem):
    with pytest.raises(pygan.UsageError, match=problem):
        make_trainer(tmp_path, **options)


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_ema_decay_outside_0_1_is_refused(tmp_path, decay):
    with pytest.raises(pygan.UsageError, match="--ema must lie strictly between 0 and 1"):
        make_trainer(tmp_path, ema=decay)
