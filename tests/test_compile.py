"""--compile: the training step's networks through torch.compile, with
pygan's fused operator inside the graph, give the eager step's losses
within float32 rounding; a resumed run records the option and compiles
again; a network dynamo cannot trace whole falls back, saying why. The
networks are tiny: each graph compiles in seconds, but inductor's first
compile in a process with a cold cache takes about 40 s on 2 loaded cores,
hence slow."""

import json
import math

import pytest
import torch
from torch import nn
from torch._dynamo.utils import counters

import pygan
from pygan._config.registry import load_plugins
from pygan.ops import LeakyReLUConv2d

SHAPE, LATENT = (1, 8, 8), 4
pytestmark = pytest.mark.slow

COMPILED = "--compile: the first step, which compiled the networks, took"


class Generator(nn.Module):
    """With BatchNorm, so that the step runs it in training and in inference mode."""

    def __init__(self, image_shape):
        super().__init__()
        self.project = nn.Linear(LATENT, math.prod(image_shape))
        self.norm = nn.BatchNorm2d(image_shape[0])

    def forward(self, z):
        return torch.sigmoid(self.norm(self.project(z).view(-1, *SHAPE)))


class Discriminator(nn.Module):
    def __init__(self, image_shape):
        super().__init__()
        self.features = LeakyReLUConv2d(image_shape[0], 2, kernel_size=3, stride=2)
        self.classify = nn.Linear(2 * 4 * 4, 1)

    def forward(self, images):
        return self.classify(self.features(images).flatten(1))


class Untraceable(Discriminator):
    def forward(self, images):
        # A host read deciding the flow: dynamo breaks the graph here.
        if images.sum().item() > -1:
            images = images + 0
        return super().forward(images)


class Compiled:
    @pygan.hookimpl
    def register_architectures(self, register):
        for name, discriminator in (("little", Discriminator), ("untraceable", Untraceable)):
            register(pygan.Architecture(name, Generator, discriminator, latent_size=LATENT,
                                        defaults={"loss": "bce", "dataset": "squares", "batch_size": 4}))

    @pygan.hookimpl
    def register_datasets(self, register):
        register(pygan.Dataset("squares", load=lambda data_dir: torch.rand(
            16, *SHAPE, generator=torch.Generator().manual_seed(0))))


@pytest.fixture(autouse=True)
def plugins(monkeypatch):
    plugins = load_plugins()
    assert plugins.add("compiled", Compiled())
    monkeypatch.setattr("pygan._commands.api.get_plugins", lambda: plugins)
    torch._dynamo.reset()
    counters.clear()
    return plugins


def losses(out):
    return [{key: value for key, value in json.loads(line).items() if key.endswith(("_loss", "_acc"))}
            for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_compiled_steps_give_the_eager_losses_and_a_resumed_run_compiles_again(tmp_path, capsys):
    pygan.train("little", out=tmp_path / "eager", steps=4, sample_every=0)
    eager = losses(tmp_path / "eager")
    assert COMPILED not in capsys.readouterr().err
    pygan.train("little", out=tmp_path / "compiled", steps=2, sample_every=0, checkpoint_every=2, compile=True)
    first = capsys.readouterr().err
    assert COMPILED in first and "does not compile into one graph" not in first
    # Both networks traced (the generator in training and in inference mode),
    # the fused operator inside the graph: no break.
    assert counters["stats"]["unique_graphs"] >= 3 and not counters["graph_break"], dict(counters)
    assert json.loads((tmp_path / "compiled" / "config.json").read_text())["compile"] is True
    torch._dynamo.reset()  # as a new process would: nothing compiled
    pygan.train(resume=tmp_path / "compiled", steps=4)
    assert COMPILED in capsys.readouterr().err
    compiled = losses(tmp_path / "compiled")
    assert len(compiled) == len(eager) == 4
    for step_compiled, step_eager in zip(compiled, eager):
        assert step_compiled == pytest.approx(step_eager, rel=1e-4, abs=1e-6)


def test_a_network_dynamo_cannot_trace_whole_falls_back_and_says_why(tmp_path, capsys):
    pygan.train("untraceable", out=tmp_path / "eager", steps=2, sample_every=0)
    pygan.train("untraceable", out=tmp_path / "compiled", steps=2, sample_every=0, compile=True)
    eager, compiled = losses(tmp_path / "eager"), losses(tmp_path / "compiled")
    said = capsys.readouterr().err
    assert "--compile: the discriminator does not compile into one graph (" in said
    assert "--compile: the generator does not compile" not in said
    for step_compiled, step_eager in zip(compiled, eager):
        assert step_compiled == pytest.approx(step_eager, rel=1e-4, abs=1e-6)


def test_ada_augments_inside_the_compiled_discriminator(tmp_path, capsys):
    # Inductor draws its own random numbers: the losses are not the eager
    # ones, but the augmentation (a forward pre-hook) compiles with the
    # network and p adapts.
    pygan.train("little", out=tmp_path / "compiled", steps=4, sample_every=0, compile=True, augment=["ada"],
                ada_pipeline="bgc", ada_kimg=0.01)
    said = capsys.readouterr().err
    assert COMPILED in said and "does not compile into one graph" not in said
    rows = [json.loads(line) for line in (tmp_path / "compiled" / "metrics.jsonl").read_text().splitlines()]
    assert all(math.isfinite(value) for row in rows for value in row.values())
    # The controller ran: after the 4th batch of 4 real images, p moved by 16 / 10 (--ada-kimg 0.01) up if
    # r_t was above the target (0.6), else stayed at 0.
    assert [row["ada_p"] for row in rows[:3]] == [0, 0, 0]
    assert rows[-1]["ada_p"] == pytest.approx(1.6 if rows[-1]["ada_rt"] > 0.6 else 0)
