"""Runs people can trust: exact resume, interruption, non-finite losses and
checkpoint rotation."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import pygan_command

import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._contracts.messages import PyganError
from pygan._training import checkpoint
from pygan._training.runner import create_runner, prepare_out_dir, stop_requests


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """Random 28x28 'digits' for the dcgan architecture."""
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, images=np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    return path


def train_args(digits, out, steps):
    return ["train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", digits, "--batch-size", "8",
            "--steps", str(steps), "--sample-every", "0", "--out", out]


def final_state(run_dir):
    return checkpoint.load(run_dir)


def assert_same_training_state(a, b):
    assert a["step"] == b["step"]
    for key in ("generator", "discriminator"):
        for name in a["networks"][key]:
            assert torch.equal(a["networks"][key][name], b["networks"][key][name]), f"{key}.{name} differs"
    assert len(a["rng"]) == len(b["rng"]) and all(map(torch.equal, a["rng"], b["rng"]))
    for key in ("generator", "discriminator"):
        optimizer_a, optimizer_b = a["engine"]["optimizers"][key], b["engine"]["optimizers"][key]
        assert torch.equal(optimizer_a["updates"], optimizer_b["updates"])
        assert all(map(torch.equal, optimizer_a["square_avgs"], optimizer_b["square_avgs"]))


def metrics_of(run_dir):
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def test_n_steps_then_resume_n_more_equals_2n_steps_bit_for_bit(digits, tmp_path):
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    assert pygan_command(*train_args(digits, whole, 8)).returncode == 0
    assert pygan_command(*train_args(digits, halves, 4)).returncode == 0
    resumed = pygan_command("train", "--resume", halves, "--steps", "8")
    assert resumed.returncode == 0, resumed.stderr
    assert_same_training_state(final_state(whole), final_state(halves))
    assert metrics_of(whole) == metrics_of(halves)


def test_resume_drops_the_steps_after_the_checkpoint_and_a_last_line_cut_short(digits, tmp_path):
    run = tmp_path / "run"
    assert pygan_command(*train_args(digits, run, 4), "--checkpoint-every", "2").returncode == 0
    checkpoint.path_for(run, 4).unlink()  # as if killed after step 4 was logged, before its checkpoint
    with open(run / "metrics.jsonl", "a") as metrics:
        metrics.write('{"step": 5, "d_lo')  # and a crash, or a full disk, cut the next line short
    resumed = pygan_command("train", "--resume", run, "--steps", "6")
    assert resumed.returncode == 0, resumed.stderr
    assert "metrics.jsonl: left out its last line, cut short by an interrupted write" in resumed.stderr
    assert [row["step"] for row in metrics_of(run)] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("signal_number, exit_status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_after_the_step_saves_and_resumes_to_the_same_weights(digits, tmp_path, signal_number,
                                                                               exit_status):
    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen([str(os.path.dirname(sys.executable) + "/pygan"),
                                *map(str, train_args(digits, interrupted, 100_000)), "--checkpoint-every", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    metrics = interrupted / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (metrics.exists() and metrics.read_text().count("\n") >= 3):
        assert time.monotonic() < deadline and process.poll() is None, process.stderr.read() if process.poll() else ""
        time.sleep(0.05)
    process.send_signal(signal_number)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == exit_status, stderr
    assert f"resume with: pygan train --resume {interrupted}" in stderr
    stopped_at = len(metrics_of(interrupted))
    assert checkpoint.saved_in(interrupted)[-1].name == f"{stopped_at:08d}.pt"

    target = stopped_at + 2
    assert pygan_command("train", "--resume", interrupted, "--steps", str(target)).returncode == 0
    uninterrupted = tmp_path / "uninterrupted"
    assert pygan_command(*train_args(digits, uninterrupted, target)).returncode == 0
    assert_same_training_state(final_state(uninterrupted), final_state(interrupted))


def test_a_second_signal_aborts_at_once():
    with stop_requests() as requested:
        assert requested() == 0
        os.kill(os.getpid(), signal.SIGINT)
        assert requested() == signal.SIGINT
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class NaNAtUpdate:
    """A loss plugin whose discriminator loss is NaN at one update."""

    def __init__(self, bad_update):
        self.calls, self.bad_update = 0, bad_update

    def discriminator_loss(self, real, fake):
        self.calls += 1
        loss = torch.nn.functional.softplus(-real).mean() + torch.nn.functional.softplus(fake).mean()
        return loss * float("nan") if self.calls == self.bad_update else loss

    @pygan.hookimpl
    def register_losses(self, register):
        register(pygan.Loss("nan-at", self.discriminator_loss, lambda fake: -fake.mean()))


def nan_trainer(tmp_path, **options):
    plugins = load_plugins()
    plugins.add("nan", NaNAtUpdate(bad_update=3))
    config = resolve_config(plugins, {"plugin": "dcgan", "loss": "nan-at", "batch_size": 4, "steps": 5,
                                      "sample_every": 0, "checkpoint_every": 1, "keep_checkpoints": 0, **options})
    prepare_out_dir(tmp_path, resuming=False)
    return create_runner(plugins, config, tmp_path, torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)))


def test_a_nonfinite_loss_stops_the_run_keeping_the_last_good_checkpoint(tmp_path):
    trainer = nan_trainer(tmp_path)
    with pytest.raises(PyganError) as raised:
        trainer.train()
    last_good = checkpoint.path_for(tmp_path, 2)
    assert str(raised.value) == (f"step 3: the discriminator loss or its gradients are not finite (loss nan); "
                                 f"training stopped, the last good "
                                 f"checkpoint is {last_good}. Lower the learning rates, or pass --skip-nonfinite "
                                 f"to skip such updates")
    assert checkpoint.saved_in(tmp_path) == [checkpoint.path_for(tmp_path, 1), last_good]
    assert all(torch.isfinite(p).all() for p in checkpoint.load(last_good)["networks"]["discriminator"].values())


def test_skipping_nonfinite_updates_leaves_the_weights_as_they_were(tmp_path):
    trainer = nan_trainer(tmp_path, skip_nonfinite=True)
    trainer.train()
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [row.get("skipped_updates", 0) for row in metrics] == [0, 0, 1, 1, 1]
    assert trainer.engine.optimizers["discriminator"].updates.item() == 4 and trainer.engine.optimizers["generator"].updates.item() == 5
    assert all(torch.isfinite(p).all() for p in trainer.run.discriminator.parameters())


def parameters(trainer):
    return [p.detach().clone() for network in (trainer.run.generator, trainer.run.discriminator)
            for p in network.parameters()]


def test_metrics_read_back_in_batches_are_those_of_every_step(tmp_path):
    every_step = nan_trainer(tmp_path / "a", sync_every=1, skip_nonfinite=True)
    batched = nan_trainer(tmp_path / "b", sync_every=4, skip_nonfinite=True, checkpoint_every=0)
    every_step.train()
    batched.train()
    assert metrics_of(tmp_path / "a") == metrics_of(tmp_path / "b")
    assert [row["step"] for row in metrics_of(tmp_path / "b")] == [1, 2, 3, 4, 5]
    assert all(map(torch.equal, parameters(every_step), parameters(batched)))


def test_a_nonfinite_update_found_late_was_never_applied_nor_any_after_it(tmp_path):
    # Read back only at the end: steps 4 and 5 run after the bad step 3 before
    # the host knows; they must not have changed the weights either.
    halted = nan_trainer(tmp_path / "halted", sync_every=5, checkpoint_every=0)
    with pytest.raises(PyganError, match="^step 3: the discriminator loss"):
        halted.train()
    two_steps = nan_trainer(tmp_path / "two", sync_every=5, checkpoint_every=0, steps=2)
    two_steps.train()
    assert all(map(torch.equal, parameters(halted), parameters(two_steps)))
    assert [row["step"] for row in metrics_of(tmp_path / "halted")] == [1, 2]
    assert not checkpoint.saved_in(tmp_path / "halted")


def test_only_the_newest_checkpoints_are_kept(tmp_path):
    trainer = nan_trainer(tmp_path, keep_checkpoints=2, skip_nonfinite=True)
    trainer.train()
    assert [path.name for path in checkpoint.saved_in(tmp_path)] == ["00000004.pt", "00000005.pt"]
    assert not list((tmp_path / "checkpoints").glob(".*"))  # no temporary files left behind
