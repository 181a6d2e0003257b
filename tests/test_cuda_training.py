"""Training on a GPU: a step captured in a CUDA graph trains as the eager
step does, never synchronizes, resumes exactly, and runs in mixed precision."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from conftest import pygan_command

from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._training import checkpoint
from pygan._training.engine import GRAPH_WARMUP_STEPS
from pygan._training.runner import create_runner, prepare_out_dir

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


def cuda_trainer(out, **options):
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "device": "cuda", "sync_every": 50, **options})
    prepare_out_dir(out, resuming=False)
    data = torch.rand(512, 1, 28, 28, generator=torch.Generator().manual_seed(0)).cuda()
    return create_runner(plugins, config, out, data)


def run_steps(trainer, steps):
    for _ in range(steps):
        trainer.enqueue_step()
    return trainer.read_metrics()


# ADA with every transform, p adapting fast, and R1 differentiating twice through them.
ADA = {"augment": ["ada"], "ada_pipeline": "bgcfnc", "ada_kimg": 1.0, "loss": "nonsaturating", "penalty": "r1"}


# DiffAugment's three policies: random draws and masks made on the GPU, none copied from the host.
DIFFAUGMENT = {"augment": ["translation", "cutout", "color"]}


@pytest.mark.parametrize("options", [{}, {"loss": "wgan-gp", "d_steps": 2, "ema": 0.99}, ADA, DIFFAUGMENT])
def test_the_captured_step_trains_as_the_eager_step(tmp_path, options):
    eager = cuda_trainer(tmp_path / "eager", cuda_graphs=False, **options)
    graphed = cuda_trainer(tmp_path / "graphed", **options)
    eager_reports, graphed_reports = run_steps(eager, 20), run_steps(graphed, 20)
    assert eager.engine.graph is None and graphed.engine.graph is not None
    for (step, eager_metrics, _), (same_step, graphed_metrics, problem) in zip(eager_reports, graphed_reports,
                                                                                strict=True):
        assert step == same_step and problem is None
        # The same kernels on the same random numbers: equal up to the
        # algorithms cuBLAS/cuDNN pick under capture.
        assert graphed_metrics == pytest.approx(eager_metrics, rel=1e-3, abs=1e-5), step
    for a, b in zip(eager.run.generator.parameters(), graphed.run.generator.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("options", [{}, ADA])
def test_steps_never_synchronize_eager_or_replayed(tmp_path, options):
    for trainer in (cuda_trainer(tmp_path / "eager", cuda_graphs=False, **options),
                    cuda_trainer(tmp_path / "graphed", **options)):
        run_steps(trainer, GRAPH_WARMUP_STEPS + 1)  # lazy initialization and the capture may synchronize
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                trainer.enqueue_step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
        assert [step for step, _, _ in trainer.read_metrics()] == [GRAPH_WARMUP_STEPS + 2, GRAPH_WARMUP_STEPS + 3,
                                                                   GRAPH_WARMUP_STEPS + 4]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_mixed_precision_trains_finite_under_graphs(tmp_path, precision):
    trainer = cuda_trainer(tmp_path, precision=precision)
    reports = run_steps(trainer, 30)
    assert trainer.engine.graph is not None
    assert all(problem is None for _, _, problem in reports)
    assert all(torch.isfinite(torch.tensor([m["d_loss"], m["g_loss"]])).all() for _, m, _ in reports)
    assert trainer.engine.optimizers["generator"].updates.item() >= 25  # float16 overflow may skip a few early updates
    if precision == "fp16":
        assert trainer.engine.scalers["generator"].scale.item() > 1


def test_a_graphed_run_resumes_to_the_same_weights(tmp_path, mnist_dir):
    def train(*args):
        result = pygan_command("train", *args)
        assert result.returncode == 0, result.stderr
    common = ["--plugin", "dcgan", "--device", "cuda", "--data-dir", mnist_dir, "--sample-every", "0"]
    train(*common, "--steps", "40", "--out", tmp_path / "whole")
    train(*common, "--steps", "20", "--out", tmp_path / "halves")
    train("--resume", tmp_path / "halves", "--steps", "40")
    whole, halves = checkpoint.load(tmp_path / "whole"), checkpoint.load(tmp_path / "halves")
    assert whole["step"] == halves["step"] == 40
    for name, value in whole["networks"]["generator"].items():
        torch.testing.assert_close(value, halves["networks"]["generator"][name], rtol=1e-4, atol=1e-6)
    assert torch.equal(whole["rng"][0], halves["rng"][0])


# A plugin's loss that reads a value back to the host, trained with CUDA
# graphs. In a process of its own: a failed capture leaves torch's CUDA
# random generator capturing for the rest of the process.
HOST_READING_RUN = """
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._contracts.messages import PyganError
from pygan._training.engine import GRAPH_WARMUP_STEPS
from pygan._training.runner import create_runner, prepare_out_dir


class HostReadingLoss:
    @pygan.hookimpl
    def register_losses(self, register):
        def discriminator_loss(real, fake):
            loss = F.softplus(-real).mean() + F.softplus(fake).mean()
            return loss * 0 + loss.item()  # .item() synchronizes: capture refuses it
        register(pygan.Loss("host-read", discriminator_loss, lambda fake: F.softplus(-fake).mean()))


plugins = load_plugins()
plugins.add("host-read", HostReadingLoss())
config = resolve_config(plugins, {"plugin": "dcgan", "device": "cuda", "loss": "host-read", "sync_every": 50})
out = Path(sys.argv[1])
prepare_out_dir(out, resuming=False)
trainer = create_runner(plugins, config, out, torch.rand(64, 1, 28, 28, device="cuda"))
try:
    for _ in range(GRAPH_WARMUP_STEPS + 1):
        trainer.enqueue_step()
    trainer.read_metrics()
except PyganError as error:
    print(error)
    sys.exit(3)
"""


def test_a_loss_that_reads_a_value_back_fails_capture_with_a_way_out(tmp_path):
    result = subprocess.run([sys.executable, "-c", HOST_READING_RUN, str(tmp_path)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 3, result.stderr
    assert re.search("capturing the training step in a CUDA graph failed .*--no-cuda-graphs", result.stdout)
