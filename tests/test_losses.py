"""The losses and penalties of ``pygan_plugins.losses``: their values against
the papers' formulas, their gradients, and training with them on each backend."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from pygan_plugins import bce, losses
from pygan_plugins.alternating import binary_accuracy
from test_trainer import make_trainer
from torch import nn

from pygan._config.registry import get_plugins
from pygan._config.resolve import resolve_config
from pygan.ops import LeakyReLUConv2d, _extension

LOSSES = ["bce", "nonsaturating", "hinge", "wgan-gp", "lsgan"]
LN3 = math.log(3)


def logits(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64).unsqueeze(1)  # (N, 1), as discriminators return


# (loss, real logits, fake logits, L_D, L_G on the fake logits), worked out by hand.
VALUES = [
    # sigmoid(ln 3) = 3/4: -log(3/4) for the real, -log(1 - 1/4) for the fake; G: -log(1/4).
    ("nonsaturating", logits(LN3), logits(-LN3), 2 * math.log(4 / 3), math.log(4)),
    ("nonsaturating", logits(0, 0), logits(0, 0), 2 * math.log(2), math.log(2)),
    # relu(1 - r) = [0, 0.5, 2], relu(1 + f) = [0, 1, 1.5]; G: -mean(f).
    ("hinge", logits(2, 0.5, -1), logits(-3, 0, 0.5), 2.5 / 3 + 2.5 / 3, 2.5 / 3),
    ("wgan-gp", logits(1, 3), logits(-1, 0), -0.5 - 2, 0.5),
    # (r - 1)^2 = [0, 4], f^2 = [0, 4]; G: (f - 1)^2 = [1, 1].
    ("lsgan", logits(1, 3), logits(0, 2), 0.5 * 2 + 0.5 * 2, 0.5 * 1),
]


@pytest.mark.parametrize("name, real, fake, expected_d, expected_g", VALUES)
def test_loss_values_follow_the_papers_formulas(name, real, fake, expected_d, expected_g):
    loss = get_plugins().loss(name)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(expected_d, rel=1e-12)
    assert loss.generator_loss(fake).item() == pytest.approx(expected_g, rel=1e-12)


def test_nonsaturating_sums_the_two_expectations_where_bce_averages_over_the_concatenated_batch():
    real, fake = torch.randn(6, 1), torch.randn(6, 1)
    nonsaturating = get_plugins().loss("nonsaturating")
    torch.testing.assert_close(nonsaturating.discriminator_loss(real, fake), 2 * bce.discriminator_loss(real, fake))
    torch.testing.assert_close(nonsaturating.generator_loss(fake), bce.generator_loss(fake))


@pytest.mark.parametrize("name", LOSSES)
def test_the_discriminator_learns_to_raise_real_and_lower_fake_logits_and_the_generator_to_raise_fake(name):
    # Logits of an undecided discriminator, inside every loss's margin or target
    # (hinge ignores r >= 1 and f <= -1; lsgan pulls f up again below 0).
    real = torch.linspace(0.1, 0.9, 5, dtype=torch.float64).unsqueeze(1).requires_grad_()
    fake = torch.linspace(0.1, 0.9, 5, dtype=torch.float64).unsqueeze(1).requires_grad_()
    loss = get_plugins().loss(name)
    grad_real, grad_fake = torch.autograd.grad(loss.discriminator_loss(real, fake), [real, fake])
    assert (grad_real < 0).all() and (grad_fake > 0).all()
    (grad_generator,) = torch.autograd.grad(loss.generator_loss(fake), [fake])
    assert (grad_generator < 0).all()


@pytest.mark.parametrize("options, penalty", [
    ({"loss": "wgan-gp"}, "gp"),
    ({"loss": "wgan-gp", "penalty": "none"}, "none"),
    ({"loss": "wgan-gp", "penalty": "r1"}, "r1"),
    ({"loss": "bce"}, None),
    ({"loss": "hinge", "penalty": "gp"}, "gp"),
])
def test_a_loss_brings_its_default_penalty_and_penalty_overrides_it(options, penalty):
    config = resolve_config(get_plugins(), {"plugin": "dcgan", **options})
    assert config["penalty"] == penalty


def test_penalty_none_trains_without_one(tmp_path):
    trainer = make_trainer(tmp_path, loss="wgan-gp", penalty="none")
    assert trainer.context.penalty is None
    assert "d_penalty" not in trainer.step()


def linear_discriminator(weight_norm: float) -> nn.Module:
    """D(x) = <w, x> + b over the flattened image: its input gradient is w for
    every x, so both penalties have a closed form in ||w||."""
    torch.manual_seed(0)
    discriminator = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 1, dtype=torch.float64))
    with torch.no_grad():
        weight = discriminator[1].weight
        weight.mul_(weight_norm / weight.norm())
    return discriminator


def images(seed: int, n: int = 4, size: int = 3) -> torch.Tensor:
    return torch.randn(n, 2, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def test_r1_is_half_the_squared_input_gradient_norm_and_trains_the_weights():
    discriminator = linear_discriminator(3.0)
    weight = discriminator[1].weight
    penalty = losses.r1_penalty(discriminator, images(seed=1), images(seed=2))
    assert penalty.item() == pytest.approx(0.5 * 3.0 ** 2, rel=1e-12)
    # d/dw 1/2 ||w||^2 = w: only there if the input gradient was kept differentiable.
    (grad,) = torch.autograd.grad(penalty, weight)
    torch.testing.assert_close(grad, weight.detach())


@pytest.mark.parametrize("weight_norm", [3.0, 1.0, 0.25])
def test_gp_is_the_squared_distance_of_the_input_gradient_norm_from_one_and_trains_the_weights(weight_norm):
    discriminator = linear_discriminator(weight_norm)
    weight = discriminator[1].weight
    penalty = losses.gradient_penalty(discriminator, images(seed=1), images(seed=2))
    assert penalty.item() == pytest.approx((weight_norm - 1) ** 2, abs=1e-12)
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    (grad,) = torch.autograd.grad(penalty, weight)
    torch.testing.assert_close(grad, 2 * (weight_norm - 1) * weight.detach() / weight_norm)


def test_gp_interpolates_between_real_and_fake_per_sample():
    seen = []

    def discriminator(x):
        seen.append(x.detach())
        return x.flatten(1).sum(1, keepdim=True)

    real, fake = torch.ones(64, 1, 2, 2), torch.zeros(64, 1, 2, 2)
    losses.gradient_penalty(discriminator, real, fake)
    (interpolates,) = seen
    eps = interpolates[:, 0, 0, 0]
    assert (interpolates == eps.view(-1, 1, 1, 1)).all()  # one eps per sample, shared by its pixels
    assert 0 <= eps.min() and eps.max() <= 1 and eps.unique().numel() > 32


@pytest.mark.parametrize("penalty", ["r1", "gp"])
def test_penalty_gradients_through_the_fused_layers_match_finite_differences(penalty):
    # The penalty is a function of the discriminator's input gradient, so its
    # gradient in the weights runs through the layers' double backward.
    torch.manual_seed(0)
    discriminator = nn.Sequential(
        LeakyReLUConv2d(2, 3, 3, stride=2), LeakyReLUConv2d(3, 2, 3, stride=1), nn.Flatten(), nn.Linear(2 * 3 * 3, 1),
    ).double()
    names = [name for name, _ in discriminator.named_parameters()]
    real, fake = images(seed=1, n=3, size=5), images(seed=2, n=3, size=5)
    compute = get_plugins().penalty(penalty).compute

    def penalty_of(*parameters):
        torch.manual_seed(0)  # gp's interpolation points, the same in every evaluation
        return compute(lambda x: torch.func.functional_call(discriminator, dict(zip(names, parameters)), (x,)),
                       real, fake)

    parameters = tuple(p.detach().clone().requires_grad_() for p in discriminator.parameters())
    assert torch.autograd.gradcheck(penalty_of, parameters)


# Three steps of the dcgan with each penalty; the per-step metrics go out as JSON.
TRAIN_SCRIPT = """
import json, torch
import pygan.ops
from pygan._config.registry import get_plugins
from pygan._config.resolve import resolve_config
from pygan._training.runner import create_runner

plugins = get_plugins()
results = {"backend": pygan.ops.backend_info()["devices"]["cpu"]["leaky_relu_conv2d"]["selected"]}
for name, options in [("wgan-gp", {"loss": "wgan-gp"}), ("bce+r1", {"loss": "bce", "penalty": "r1"})]:
    config = resolve_config(plugins, {"plugin": "dcgan", "batch_size": 8, "device": "cpu", **options})
    torch.manual_seed(1)
    data = torch.rand(16, 1, 28, 28)
    trainer = create_runner(plugins, config, ".", data)
    results[name] = [trainer.step()]
    # The first update starts from the same weights and batch on either backend:
    # its gradient (the penalty's double backward included) must agree closely.
    discriminator = trainer.run.discriminator
    torch.save({key: p.grad for key, p in discriminator.named_parameters()}, f"{name}-gradients.pt")
    results[name] += [trainer.step() for _ in range(2)]
print(json.dumps(results))
"""


def train_with_backend(backend: str, out_dir) -> dict:
    # The backend is chosen once per process, hence a process per backend; run
    # outside the source tree so the installed pygan is the one imported.
    out_dir.mkdir()
    result = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT], capture_output=True, text=True, cwd=out_dir,
                            env={**os.environ, "PYGAN_OPS": backend}, timeout=600)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.slow
def test_training_with_penalties_gives_the_same_results_on_the_fused_and_the_reference_backend(tmp_path):
    if _extension.module is None and os.environ.get("CI") != "true":
        pytest.skip(f"no compiled backend to compare: {_extension.error}")
    fused, reference = train_with_backend("fused", tmp_path / "fused"), train_with_backend("reference", tmp_path / "reference")
    assert (fused.pop("backend"), reference.pop("backend")) == ("fused", "reference")
    for run in ("wgan-gp", "bce+r1"):
        gradients = {backend: torch.load(tmp_path / backend / f"{run}-gradients.pt") for backend in ("fused", "reference")}
        scale = max(g.abs().max() for g in gradients["reference"].values())
        for name, expected in gradients["reference"].items():
            # atol relative to the largest component: some (the last conv's bias
            # under wgan-gp) are 0 exactly, leaving only rounding to compare.
            torch.testing.assert_close(gradients["fused"][name], expected, rtol=1e-4, atol=1e-5 * scale,
                                       msg=lambda m: f"{run}, gradient of {name}: {m}")
        # The first discriminator loss and penalty come from identical weights and batches.
        first_fused, first_reference = fused[run][0], reference[run][0]
        for key in ("d_loss", "d_penalty"):
            assert first_fused[key] == pytest.approx(first_reference[key], rel=1e-5, abs=1e-7), (run, key)
        for step_fused, step_reference in zip(fused[run], reference[run], strict=True):
            assert step_fused["d_penalty"] > 0
            # Much looser after an update: RMSprop's first step moves every weight by
            # about lr * sqrt(10) * sign(gradient), so a component at rounding level
            # whose sign differs between the backends moves by the full step (seen:
            # 2.6e-3 relative on a wgan-gp g_loss of 0.013 after three steps).
            assert step_fused == pytest.approx(step_reference, rel=2e-2, abs=1e-4), run


def test_d_steps_updates_the_discriminator_k_times_per_generator_update_and_reports_the_penalty(tmp_path):
    trainer = make_trainer(tmp_path, loss="wgan-gp", d_steps=3)
    metrics = [trainer.step() for _ in range(2)]
    assert (trainer.engine.optimizers["discriminator"].updates.item(), trainer.engine.optimizers["generator"].updates.item()) == (6, 2)
    assert all(m["d_penalty"] >= 0 for m in metrics)


def test_lsgan_accuracy_counts_outputs_above_one_half_as_real(tmp_path):
    trainer = make_trainer(tmp_path, loss="lsgan")
    assert trainer.run.loss.decision_threshold == 0.5
    outputs = torch.tensor([[0.4], [0.6], [0.7], [0.2]])
    assert binary_accuracy(outputs, 1.0, 0.5).item() == 0.5
    assert binary_accuracy(outputs, 1.0, 0.0).item() == 1.0
