"""Runs that misuse, collide or break still end in a clear message and
leave nothing damaged: claimed run folders, failing plugins, runs that
stopped before their first checkpoint, damaged checkpoints and malformed
input."""

import json
import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import pygan_command

import pygan
from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._contracts.messages import PyganError, UsageError
from pygan._files.folder_lock import LOCK_FILE, claimed
from pygan._training import checkpoint
from pygan._training.runner import create_runner, make_out_dir, prepare_out_dir


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, images=np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    return path


def train_args(digits, out, steps, *extra):
    return ["train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", digits, "--batch-size", "8",
            "--steps", str(steps), "--sample-every", "0", "--out", out, *extra]


# --- one run per folder ----------------------------------------------------------


def test_a_claimed_run_folder_is_refused_naming_the_holder(tmp_path):
    with claimed(tmp_path):
        with pytest.raises(UsageError, match=f"in use by another pygan run \\(process {os.getpid()} on "):
            with claimed(tmp_path):
                pass
    with claimed(tmp_path):  # released at the end of the block
        pass


def test_a_lock_left_by_a_killed_run_is_taken_over_with_a_notice(tmp_path, capsys):
    (tmp_path / LOCK_FILE).write_text("process 999999 on elsewhere")  # nobody holds it
    with claimed(tmp_path):
        pass
    assert "taking over from a run that ended without releasing it (process 999999 on elsewhere)" in \
        capsys.readouterr().err
    with claimed(tmp_path):  # a clean release leaves nothing to take over
        pass
    assert "taking over" not in capsys.readouterr().err


def test_two_runs_started_together_into_one_folder_cannot_both_train(digits, tmp_path):
    out = tmp_path / "shared"
    script = os.path.join(os.path.dirname(sys.executable), "pygan")
    runs = [subprocess.Popen([script, *map(str, train_args(digits, out, 6, "--seed", str(seed)))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for seed in (1, 2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    assert sorted(status for status, _ in results) == [0, 2], results
    (loser,) = [stderr for status, stderr in results if status == 2]
    assert "in use by another pygan run (process " in loser or "already holds a run" in loser
    (winner,) = [seed for seed, (status, _) in zip((1, 2), results) if status == 0]
    assert json.loads((out / "config.json").read_text())["seed"] == winner
    assert checkpoint.load(out)["config"]["seed"] == winner


def test_the_write_probe_leaves_the_probes_of_runs_started_alongside_alone(tmp_path):
    # Two runs started together probe the folder at once; one deleting the
    # other's probe made the other fail with "cannot be written".
    others = [tmp_path / ".pygan-write-test", tmp_path / ".pygan-write-test-of-another-run"]
    for other in others:
        other.write_bytes(b"")
    make_out_dir(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([checkpoint.DIRECTORY, *(o.name for o in others)])


def test_default_run_folders_of_runs_started_in_the_same_second_differ(digits, tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "pygan")
    args = ["train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", str(digits), "--batch-size", "8",
            "--steps", "1", "--sample-every", "0"]
    runs = [subprocess.Popen([script, *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    assert [run.wait(timeout=300) for run in runs] == [0, 0], [run.stderr.read() for run in runs]
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2 and all((folder / "config.json").is_file() for folder in folders)


# --- plugins failing in their callbacks ---------------------------------------------


class FailsAt:
    def __init__(self, hook_name, step, error):
        self.hook_name, self.step, self.error = hook_name, step, error
        self.generator_updates = 0

    @pygan.hookimpl
    def on_step_end(self, run, step, metrics):
        if self.hook_name == "on_step_end" and step == self.step:
            raise self.error

    @pygan.hookimpl
    def measure(self, run, step):
        if self.hook_name == "measure" and step == self.step:
            def fail():
                raise self.error
            return fail

    @pygan.hookimpl
    def after_update(self, run, network, module):
        if self.hook_name == "after_update" and network == "generator":
            self.generator_updates += 1
            if self.generator_updates == self.step:
                raise self.error


def failing_runner(tmp_path, hook_name, error, step=3):
    plugins = load_plugins()
    plugins.add("fragile", FailsAt(hook_name, step, error))
    config = resolve_config(plugins, {"plugin": "dcgan", "batch_size": 4, "steps": 6, "sample_every": 0,
                                      "checkpoint_every": 0})
    prepare_out_dir(tmp_path, resuming=False)
    return create_runner(plugins, config, tmp_path, torch.rand(16, 1, 28, 28))


@pytest.mark.parametrize("error", [RuntimeError("disk of the dashboard is full"), SystemExit(3)])
def test_a_plugin_failing_in_a_callback_is_named_and_the_run_ends_failed_with_a_checkpoint(tmp_path, error):
    runner = failing_runner(tmp_path, "on_step_end", error)
    with pytest.raises(PyganError) as raised:
        runner.train()
    message = str(raised.value)
    assert message.startswith(f"plugin 'fragile' failed in its on_step_end hook ({type(error).__name__}")
    assert f"checkpoint {checkpoint.path_for(tmp_path, 3)}" in message and "--resume" in message
    assert checkpoint.load(tmp_path)["step"] == 3


@pytest.mark.parametrize("error", [PyganError("cannot compare 50 samples with 12 real images"),
                                   FloatingPointError("NaN in the features")])
def test_a_measurement_failing_mid_run_stops_it_with_the_checkpoint_of_its_step(tmp_path, error):
    runner = failing_runner(tmp_path, "measure", error)
    with pytest.raises(PyganError) as raised:
        runner.train()
    message = str(raised.value)
    assert message.startswith(f"plugin 'fragile' failed in its measure hook ({type(error).__name__}: {error})")
    assert f"checkpoint {checkpoint.path_for(tmp_path, 3)}" in message and "--resume" in message
    assert checkpoint.load(tmp_path)["step"] == 3
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3  # the step itself is logged


def test_a_plugin_failing_inside_a_step_leaves_no_half_made_checkpoint(tmp_path):
    runner = failing_runner(tmp_path, "after_update", ValueError("bad constraint"))
    with pytest.raises(PyganError, match="plugin 'fragile' failed in its after_update hook .*training stopped"):
        runner.train()
    assert not checkpoint.saved_in(tmp_path)


def test_a_failed_run_reports_failed_to_the_other_plugins(tmp_path):
    statuses = []

    class Watches:
        @pygan.hookimpl
        def on_run_end(self, run, step, status):
            statuses.append(status)

    runner = failing_runner(tmp_path, "on_step_end", RuntimeError("x"))
    runner.hook.manager.register(Watches())
    with pytest.raises(PyganError):
        runner.train()
    assert statuses == ["failed"]


# --- resuming what is left --------------------------------------------------------


def test_resuming_a_run_that_stopped_before_its_first_checkpoint_starts_it_again(digits, tmp_path):
    out = tmp_path / "run"
    assert pygan_command(*train_args(digits, out, 3)).returncode == 0
    for path in checkpoint.saved_in(out):
        path.unlink()  # as if it had failed before writing one
    resumed = pygan_command("train", "--resume", out)
    assert resumed.returncode == 0, resumed.stderr
    assert "has no checkpoint (the run stopped before its first): starting it again from step 0" in resumed.stderr
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3]
    assert checkpoint.load(out)["step"] == 3


def test_a_damaged_newest_checkpoint_is_named_and_the_previous_one_resumed(digits, tmp_path):
    out = tmp_path / "run"
    assert pygan_command(*train_args(digits, out, 4, "--checkpoint-every", "2")).returncode == 0
    newest = checkpoint.path_for(out, 4)
    newest.write_bytes(newest.read_bytes()[:1000])  # cut short
    resumed = pygan_command("train", "--resume", out, "--steps", "6")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{newest}: cannot be read as a pygan checkpoint" in resumed.stderr
    assert "resuming from the previous checkpoint, 00000002.pt, instead" in resumed.stderr
    assert checkpoint.load(out)["step"] == 6


def test_python_and_numpy_random_states_are_seeded_and_resumed(tmp_path):
    draws = []

    class DrawsEverywhere:
        @pygan.hookimpl
        def on_step_end(self, run, step, metrics):
            draws.append((random.random(), float(np.random.rand())))

    def train(out, steps, resume=False):
        plugins = load_plugins()
        plugins.add("draws", DrawsEverywhere())
        config = resolve_config(plugins, {"plugin": "dcgan", "batch_size": 4, "steps": steps, "sample_every": 0,
                                          "seed": 7})
        prepare_out_dir(out, resuming=resume)
        runner = create_runner(plugins, config, out, torch.rand(16, 1, 28, 28, generator=torch.Generator().manual_seed(0)))
        if resume:
            runner.load_state_dict(checkpoint.load(out))
        runner.run.start_step = runner.step_count
        runner.train()

    random.seed(123), np.random.seed(123)
    train(tmp_path / "whole", 4)
    whole, draws[:] = list(draws), []
    random.seed(456), np.random.seed(456)
    train(tmp_path / "halves", 2)
    random.seed(789), np.random.seed(789)  # whatever happens between, the resume restores the states
    train(tmp_path / "halves", 4, resume=True)
    assert draws == whole


# --- malformed input ----------------------------------------------------------------


def with_config(text):
    def make(run):
        (run / "config.json").write_text(text)
        return run
    return make


@pytest.mark.parametrize("make, message", [
    (lambda run: run / "config.json", "not a run folder"),
    (with_config("[1, 2]"), "not a pygan run configuration"),
    (with_config('{"plugin": "dcgan", "lr_d": "fast"}'), "--lr-d must be a number, not 'fast'"),
])
def test_malformed_runs_to_resume_are_usage_errors(digits, tmp_path, make, message):
    run = tmp_path / "run"
    assert pygan_command(*train_args(digits, run, 1)).returncode == 0
    result = pygan_command("train", "--resume", make(run))
    assert result.returncode == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_checkpoint_with_the_marker_but_missing_keys_is_a_usage_error(digits, tmp_path):
    run = tmp_path / "run"
    assert pygan_command(*train_args(digits, run, 1)).returncode == 0
    path = checkpoint.saved_in(run)[-1]
    state = torch.load(path, weights_only=True)
    del state["networks"]
    torch.save(state, path)
    result = pygan_command("sample", "--checkpoint", path, "--out", tmp_path / "grid.png")
    assert result.returncode == 2 and "a pygan checkpoint without networks" in result.stderr


def test_a_batch_larger_than_the_data_set_is_refused_before_training(digits, tmp_path):
    result = pygan_command(*train_args(digits, tmp_path / "run", 1)[:-4], "--batch-size", "65", "--out",
                           tmp_path / "run")
    assert result.returncode == 2
    assert "--batch-size 65 is larger than the data set (64 images); choose at most 64" in result.stderr


def test_sampling_more_than_a_grid_can_hold_is_refused(digits, tmp_path):
    run = tmp_path / "run"
    assert pygan_command(*train_args(digits, run, 1)).returncode == 0
    result = pygan_command("sample", "--checkpoint", run, "--n", "10000000", "--out", tmp_path / "grid.png")
    assert result.returncode == 2 and "ask for fewer with --n" in result.stderr
    assert not (tmp_path / "grid.png").exists()


def test_data_parallel_usage_errors_are_one_message_before_any_worker_starts(tmp_path):
    result = pygan_command("train", "--nproc", "2", "--plugin", "nope", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert result.stderr.count("unknown architecture 'nope'") == 1 and "torch.distributed" not in result.stderr
