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
from test_optim import refuse_host_reads
from PIL import Image
from pygan_plugins.stylegan2 import architecture, recipe

import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._training.runner import create_runner, prepare_out_dir

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


def test_two_processes_train_every_phase_with_the_same_weights(tmp_path):
    """Data-parallel: the lazy R1 phase differentiates the discriminator
    itself (the data-parallel wrapper cannot differentiate twice), so its
    gradients are averaged by hand; without that the ranks' discriminators
    part at the first step, which the run's final check refuses."""
    folder = picture_folder(tmp_path / "pictures", classes=2)
    result = pygan_command(*tiny_options(folder, tmp_path / "run", "--nproc", "2", "--steps", "17",
                                         "--sample-every", "0"),
                           env={"PYGAN_DATA_DIR": str(tmp_path / "cache")}, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 17 and rows[-1]["r1_penalty"] > 0 and rows[-1]["pl_mean"] > 0  # both phases ran


# --- the recipe ---------------------------------------------------------------------------


def tiny_runner(tmp_path, **options):
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "stylegan2", "resolution": 8, **TINY, "batch_size": 4,
                                      "sample_every": 0, **options})
    prepare_out_dir(tmp_path, resuming=False)
    torch.manual_seed(0)
    return create_runner(plugins, config, tmp_path, torch.rand(8, 3, 8, 8))


def test_lazy_regularisation_runs_on_nvlabs_steps_with_r1_as_computed_by_hand(tmp_path, monkeypatch):
    runner = tiny_runner(tmp_path)
    config, discriminator = runner.run.config, runner.run.discriminator
    reals, updates = [], []
    draw, update = runner.context.data.draw, runner.engine.update
    monkeypatch.setattr(runner.context.data, "draw", lambda *args: reals.append(draw(*args)) or reals[-1])

    def spy(network, loss, **options):
        if network == "discriminator" and updates[-1:] == ["d"]:  # the R1 phase: by hand, before its update
            images = reals[-1].images.detach().requires_grad_(True)
            (gradient,) = torch.autograd.grad(discriminator(images).sum(), images)
            by_hand = config["penalty_weight"] * 16 * 0.5 * gradient.square().sum((1, 2, 3)).mean()
            torch.testing.assert_close(loss.detach(), by_hand, rtol=1e-4, atol=0)
            spy.checked += 1
        updates.append(network[0])
        return update(network, loss, **options)
    spy.checked = 0
    monkeypatch.setattr(runner.engine, "update", spy)
    phases = {}
    for index in (0, 1, 4, 16, 17):
        updates.clear()
        runner.engine.step_count = index  # the steps trained before: what decides the phases
        runner.step()
        phases[index] = "".join(updates)
    # NVlabs' phase order: Gmain, Greg (every 4th), Dmain, Dreg (every 16th).
    assert phases == {0: "ggdd", 1: "gd", 4: "ggd", 16: "ggdd", 17: "gd"}
    assert spy.checked == 2


def test_the_regularisation_phases_read_nothing_back_to_the_host(tmp_path, monkeypatch):
    runner = tiny_runner(tmp_path, sync_every=8)
    runner.enqueue_step()  # the first step allocates lazily
    runner.engine.step_count = 16  # the next: both regularisation phases
    refuse_host_reads(monkeypatch)
    runner.enqueue_step()
    monkeypatch.undo()
    (_, _, first), (_, metrics, problem) = runner.read_metrics()
    assert first is None and problem is None and metrics["r1_penalty"] > 0 and metrics["pl_penalty"] > 0


def test_the_lazy_correction_of_the_learning_rates_and_betas(tmp_path):
    runner = tiny_runner(tmp_path)
    for network, interval in (("discriminator", 16), ("generator", 4)):
        group = runner.engine.optimizers[network].optimizer.param_groups[0]
        c = interval / (interval + 1)
        assert group["lr"] == pytest.approx(0.0025 * c) and group["betas"] == pytest.approx((0.0, 0.99 ** c))
        assert group["eps"] == 1e-8
    assert runner.run.config["lr_d"] == 0.0025  # the configuration keeps the preset's, as NVlabs' --glr/--dlr


def test_path_lengths_are_the_noise_projected_gradient_norms_on_nvlabs_images():
    rng = torch.Generator().manual_seed(3)
    a = torch.randn(5, 16, generator=rng)
    ws = torch.randn(2, 3, 5, generator=rng, requires_grad=True)
    images = (ws.sum(1) @ a).view(2, 1, 4, 4)  # pygan's [0, 1] images, linear in every layer's w
    lengths = recipe.path_lengths(images, ws, torch.Generator().manual_seed(7))
    noise = torch.randn(2, 1, 4, 4, generator=torch.Generator().manual_seed(7)) / 4
    # d/dw_l of sum((2 image - 1) * noise) = 2 a noise for every layer l: the mean over layers is that.
    torch.testing.assert_close(lengths, (2 * noise.view(2, 16) @ a.T).norm(dim=1))


def test_the_path_length_mean_moves_by_the_decay_and_the_penalty_is_the_distance_from_it():
    mean = torch.tensor(1.0)
    lengths = torch.tensor([2.0, 4.0])
    penalty = recipe.path_length_penalty(lengths, mean)
    assert float(mean) == pytest.approx(1 + 0.01 * (3 - 1))
    torch.testing.assert_close(penalty, (lengths - 1.02).square())


def test_style_mixing_takes_the_layers_from_the_cutoff_from_the_second_latent():
    config = {**resolve_config(load_plugins(), {"plugin": "stylegan2", "resolution": 8, **TINY}), "classes": 0}
    generator = architecture.build_generator(architecture.image_shape(config), config)
    z, z2 = torch.randn(2, 512), torch.randn(2, 512)
    generator.eval()
    _, ws = generator(z, return_ws=True)
    _, ws2 = generator(z2, return_ws=True)
    _, mixed = generator(z, mixing=(z2, torch.tensor(2)), return_ws=True)
    assert generator.num_ws == 4
    assert torch.equal(mixed[:, :2], ws[:, :2]) and torch.equal(mixed[:, 2:], ws2[:, 2:])
    generator.train()
    before = generator.mapping.w_avg.clone()
    generator(z, mixing=(z2, torch.tensor(4)), return_ws=True)  # cutoff num_ws: no mixing; w_avg moves once
    torch.testing.assert_close(generator.mapping.w_avg, generator.mapping(z, None, update_w_avg=False)[:, 0].mean(0)
                               .lerp(before, 0.995))


@pytest.mark.parametrize("value", [1.5, -0.1])
def test_style_mixing_must_be_a_probability(value):
    with pytest.raises(pygan.UsageError, match=r"--style-mixing must lie in \[0, 1\]"):
        resolve_config(load_plugins(), {"plugin": "stylegan2", "style_mixing": value})


@pytest.mark.parametrize("options, problem", [
    ({"plugin": "dcgan", "recipe": "stylegan2"}, "it trains StyleGAN2's networks"),
    ({"plugin": "stylegan2", "batch_size": 6}, "--batch-size 6: the discriminator's minibatch standard deviation "
                                               "takes groups of 4"),
])
def test_the_recipe_refuses_what_it_cannot_train(options, problem):
    with pytest.raises(pygan.UsageError, match=problem):
        resolve_config(load_plugins(), options)


def trained(folder, out, **options):
    return pygan.train(plugin="stylegan2", data_dir=str(folder), out=str(out), resolution=8, batch_size=4,
                       sample_every=0, **TINY, **options)


def test_resume_is_bit_exact_with_every_phase_and_the_average(tmp_path):
    """3 steps then 2 more equal 5 at once: path length at steps 0 and 4 (its
    running mean from the checkpoint), R1 at 0, the ramped-up average."""
    folder = picture_folder(tmp_path / "pictures", count=8)
    trained(folder, tmp_path / "whole", steps=5)
    trained(folder, tmp_path / "halves", steps=3)
    pygan.train(resume=str(tmp_path / "halves"), steps=5)
    whole, halves = (torch.load(tmp_path / run / "checkpoints" / "00000005.pt", weights_only=True)
                     for run in ("whole", "halves"))
    for network in ("generator", "discriminator", "generator_ema"):
        for name, value in whole["networks"][network].items():
            assert torch.equal(value, halves["networks"][network][name]), (network, name)
    assert float(whole["engine"]["recipe_state"]["pl_mean"]) > 0
    assert whole["engine"]["recipe_state"].keys() == {"pl_mean", "pl_penalty", "r1_penalty"}
    assert all(torch.equal(value, halves["engine"]["recipe_state"][name])
               for name, value in whole["engine"]["recipe_state"].items())
    logs = [(tmp_path / run / "metrics.jsonl").read_text() for run in ("whole", "halves")]
    assert logs[0] == logs[1]


def test_bf16_steps_every_phase_finitely(tmp_path):
    runner = tiny_runner(tmp_path, precision="bf16")
    metrics = runner.step()  # step 0: every phase
    assert all(np.isfinite(value) for value in metrics.values()) and metrics["r1_penalty"] > 0
