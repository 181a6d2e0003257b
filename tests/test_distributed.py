"""Data-parallel training: two processes with gloo on the CPU."""

import json

import numpy as np
import pytest

from pygan import checkpoint
from pygan.cli import without_nproc

from conftest import pygan_command


def train_data_parallel(tmp_path, *options):
    """dcgan on random 28x28 images in two processes; returns the run folder and the result."""
    data = tmp_path / "digits.npz"
    np.savez(data, images=np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    out = tmp_path / "run"
    return out, pygan_command("train", "--nproc", "2", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", data,
                              "--out", out, *options, timeout=600)


def test_two_processes_train_in_step_and_write_the_run_folder_once(tmp_path):
    out, result = train_data_parallel(tmp_path, "--batch-size", "8", "--steps", "4", "--sample-every", "2")
    assert result.returncode == 0, result.stderr
    assert "data-parallel over 2 processes: batch 8 per process, 16 in all" in result.stderr
    # Written once, by rank 0: one metrics row per step, one final message.
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2, 3, 4]
    assert result.stdout.count("run finished at step 4") == 1
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["00002.png", "00004.png"]
    # Every rank's random state is saved, and they differ: each drew its own samples.
    state = checkpoint.load(out)
    assert len(state["rng"]) == 2 and not state["rng"][0].equal(state["rng"][1])


def test_a_data_parallel_run_with_a_gradient_penalty_resumes_only_with_as_many_processes(tmp_path):
    # The penalty differentiates the discriminator twice inside DDP's backward.
    out, first = train_data_parallel(tmp_path, "--batch-size", "4", "--steps", "2", "--sample-every", "0",
                                     "--penalty", "r1")
    assert first.returncode == 0, first.stderr
    assert all("d_penalty" in json.loads(row) for row in (out / "metrics.jsonl").read_text().splitlines())
    single = pygan_command("train", "--resume", out, "--steps", "3")
    assert single.returncode == 2
    assert "was written by a run of 2 processes; resume it with as many (--nproc 2)" in single.stderr
    again = pygan_command("train", "--nproc", "2", "--resume", out, "--steps", "3", timeout=600)
    assert again.returncode == 0, again.stderr
    assert checkpoint.load(out)["step"] == 3


@pytest.mark.parametrize("argv, expected", [
    (["train", "--nproc", "2", "--steps", "3"], ["train", "--steps", "3"]),
    (["train", "--nproc=2", "--plugin", "dcgan"], ["train", "--plugin", "dcgan"]),
])
def test_the_launched_command_is_the_same_without_nproc(argv, expected):
    assert without_nproc(argv) == expected
