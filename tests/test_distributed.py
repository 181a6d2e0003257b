"""Data-parallel training: two processes with gloo on the CPU."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import pygan_command

from pygan._commands.train import without_nproc
from pygan._training import checkpoint


def data_parallel_args(tmp_path, *options):
    """``pygan train`` of dcgan on random 28x28 images in two processes, into tmp_path / "run"."""
    data = tmp_path / "digits.npz"
    np.savez(data, images=np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    return ["train", "--nproc", "2", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", data,
            "--out", tmp_path / "run", *options]


def train_data_parallel(tmp_path, *options):
    """Train data-parallel to the end; returns the run folder and the result."""
    return tmp_path / "run", pygan_command(*data_parallel_args(tmp_path, *options), timeout=600)


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
    # The penalty differentiates the discriminator twice inside DDP's backward,
    # through ADA's augmentation, whose counts are summed over the processes.
    out, first = train_data_parallel(tmp_path, "--batch-size", "4", "--steps", "2", "--sample-every", "0",
                                     "--penalty", "r1", "--augment", "ada")
    assert first.returncode == 0, first.stderr
    rows = [json.loads(row) for row in (out / "metrics.jsonl").read_text().splitlines()]
    assert all({"d_penalty", "ada_p"} <= set(row) for row in rows)
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


def processes_mentioning(text: str) -> list[int]:
    """The ids of the processes whose command line contains ``text``."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(int(cmdline.parent.name))
        except OSError:  # the process ended meanwhile
            pass
    return found


@pytest.mark.parametrize("signal_number, to_group, exit_status", [
    (signal.SIGTERM, False, 143),
    (signal.SIGINT, True, 130),  # Ctrl-C in a terminal signals the launcher's whole process group
    (signal.SIGKILL, False, -9),  # the launcher cannot pass it on: torchrun sees it gone, and stops once
])
def test_a_signal_to_the_launcher_stops_every_worker_with_a_checkpoint(tmp_path, signal_number, to_group,
                                                                      exit_status):
    out = tmp_path / "run"
    launcher = subprocess.Popen([str(Path(sys.executable).parent / "pygan"),
                                 *map(str, data_parallel_args(tmp_path, "--batch-size", "4", "--steps", "100000",
                                                              "--sample-every", "0", "--checkpoint-every", "0"))],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        metrics, deadline = out / "metrics.jsonl", time.monotonic() + 120
        while not (metrics.exists() and metrics.read_text().count("\n") >= 2):
            assert time.monotonic() < deadline and launcher.poll() is None, launcher.communicate()[1]
            time.sleep(0.05)
        if to_group:
            os.killpg(launcher.pid, signal_number)
        else:
            launcher.send_signal(signal_number)
        _, stderr = launcher.communicate(timeout=120)
        assert launcher.returncode == exit_status, stderr
        assert "Traceback" not in stderr
        assert f"resume with: pygan train --resume {out}" in stderr
        stopped_at = len(metrics.read_text().splitlines())
        assert [path.name for path in checkpoint.saved_in(out)] == [f"{stopped_at:08d}.pt"]
        assert processes_mentioning(str(out)) == []  # no worker trains on
    finally:
        for orphan in processes_mentioning(str(out)):
            os.kill(orphan, signal.SIGKILL)
