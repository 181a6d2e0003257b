"""The command line end to end: train, sample, resume, info, and bad input."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import pygan_command, require_mnist
from PIL import Image

from pygan import __version__
from pygan._contracts.messages import UsageError
from pygan._files import pictures as images
from pygan._training import checkpoint
from pygan.ops import _extension


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """The issue's end-to-end run: 30 dcgan steps on the real MNIST test split."""
    mnist_dir = require_mnist()
    out = tmp_path_factory.mktemp("runs") / "dcgan"
    result = pygan_command("train", "--plugin", "dcgan", "--data-dir", mnist_dir, "--steps", "30",
                           "--sample-every", "10", "--out", out)
    assert result.returncode == 0, result.stderr
    return out, result


def test_train_writes_grids_metrics_plot_config_and_a_checkpoint(trained_run):
    out, result = trained_run
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["00010.png", "00020.png", "00030.png"]
    with Image.open(out / "samples" / "00030.png") as grid:
        assert grid.size == ((4 * 30 - 2) * 2, (4 * 30 - 2) * 2)  # 4x4 digits, 2-pixel gaps, scaled 2x
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(1, 31))
    assert set(rows[0]) == {"step", "d_loss", "d_acc", "g_loss", "g_acc", "lr_d", "lr_g"}
    config = json.loads((out / "config.json").read_text())
    assert config["plugin"] == "dcgan" and config["steps"] == 30 and config["lr_d"] == 2e-4
    assert (out / "losses.png").is_file()
    state = torch.load(out / "checkpoints" / "00000030.pt", weights_only=True)
    assert state["step"] == 30 and state["architecture"] == "dcgan"
    assert {"networks", "engine", "rng", "global_rng", "fixed_latent", "config", "image_shape"} <= set(state)
    assert set(state["networks"]) == {"generator", "discriminator"}
    assert set(state["engine"]["optimizers"]) == {"generator", "discriminator"}


def test_train_shows_progress_with_rate_and_losses(trained_run):
    _, result = trained_run
    assert "30/30" in result.stderr and "step/s" in result.stderr and "d_loss 0." in result.stderr and "g_acc " in result.stderr
    assert "only the 10,000-image test split" in result.stderr


def test_sample_draws_a_grid_from_a_checkpoint(trained_run, tmp_path):
    out, _ = trained_run
    grid = tmp_path / "grid.png"
    result = pygan_command("sample", "--checkpoint", out / "checkpoints" / "00000030.pt", "--n", "64",
                           "--out", grid, "--seed", "3")
    assert result.returncode == 0, result.stderr
    with Image.open(grid) as picture:
        assert picture.size == ((8 * 30 - 2) * 2, (8 * 30 - 2) * 2)
        low, high = picture.convert("L").getextrema()
        assert high - low > 50  # not a blank image


def test_sample_writes_the_format_its_out_suffix_names(trained_run, tmp_path):
    out, _ = trained_run
    result = pygan_command("sample", "--checkpoint", out, "--n", "4", "--out", tmp_path / "grid.jpg")
    assert result.returncode == 0, result.stderr
    with Image.open(tmp_path / "grid.jpg") as picture:
        assert picture.format == "JPEG"


def test_sample_refuses_an_out_suffix_naming_no_image_format(trained_run, tmp_path):
    out, _ = trained_run
    result = pygan_command("sample", "--checkpoint", out, "--out", tmp_path / "grid.txt")
    assert result.returncode == 2
    assert (f"pygan: error: {tmp_path / 'grid.txt'}: cannot tell the image format from the suffix '.txt'; "
            f"end the name with one of .png, .jpg, .jpeg, .gif, .bmp, .tif, .tiff") in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name, image_format", [("a.PNG", "PNG"), ("a.jpeg", "JPEG"), ("a.tif", "TIFF")])
def test_the_image_format_is_the_one_the_suffix_names(name, image_format):
    assert images.image_format(Path(name)) == image_format


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_a_grid_of_any_channel_count_can_be_a_jpeg(tmp_path, channels):
    images.save_grid(torch.rand(4, channels, 8, 8), tmp_path / "grid.jpg")
    with Image.open(tmp_path / "grid.jpg") as picture:
        assert picture.format == "JPEG"


def test_a_name_without_a_suffix_names_no_image_format():
    with pytest.raises(UsageError, match="grid: cannot tell the image format from a name without a suffix"):
        images.image_format(Path("grid"))


def test_sample_into_a_missing_folder_names_it(trained_run, tmp_path):
    out, _ = trained_run
    grid = tmp_path / "missing" / "grid.png"
    result = pygan_command("sample", "--checkpoint", out, "--out", grid)
    assert result.returncode == 1
    assert f"pygan: error: cannot write {grid}: the folder {grid.parent} does not exist" in result.stderr


def test_resume_extends_a_finished_run(trained_run, tmp_path):
    out, _ = trained_run
    again = pygan_command("train", "--resume", out)
    assert again.returncode == 2 and "already at step 30; give a larger --steps" in again.stderr
    result = pygan_command("train", "--resume", out, "--steps", "32")
    assert result.returncode == 0, result.stderr
    rows = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["step"] for row in rows] == list(range(1, 33))


def test_resume_refuses_a_contradicting_flag_naming_both_values(trained_run):
    out, _ = trained_run
    result = pygan_command("train", "--resume", out, "--lr-d", "0.1", "--steps", "40")
    assert result.returncode == 2
    assert "--lr-d 0.1 contradicts the resumed run's 0.0002" in result.stderr


def test_a_checkpoint_of_another_architecture_is_refused_with_both_names(trained_run, tmp_path):
    out, _ = trained_run
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text((out / "config.json").read_text())
    state = torch.load(out / "checkpoints" / "00000030.pt", weights_only=True)
    state["architecture"] = "tiny"
    torch.save(state, run / "checkpoints" / "00000030.pt")
    result = pygan_command("train", "--resume", run, "--steps", "40")
    assert result.returncode == 2
    assert "checkpoint of architecture 'tiny', not 'dcgan'" in result.stderr


@pytest.mark.parametrize("damage, message", [
    (lambda data: data[: len(data) // 2], "truncated, corrupt or not a checkpoint"),
    (lambda data: b"", "truncated, corrupt or not a checkpoint"),
    ("foreign", "not a pygan checkpoint"),
    ("newer", f"checkpoint format 99; this pygan reads format {checkpoint.FORMAT_VERSION} and older: upgrade pygan"),
])
def test_damaged_foreign_and_newer_checkpoints_are_refused_naming_the_file(trained_run, tmp_path, damage, message):
    out, _ = trained_run
    good = out / "checkpoints" / "00000030.pt"
    bad = tmp_path / "bad.pt"
    if damage == "foreign":
        torch.save({"weights": torch.zeros(3)}, bad)
    elif damage == "newer":
        state = torch.load(good, weights_only=True)
        state["format_version"] = 99
        torch.save(state, bad)
    else:
        bad.write_bytes(damage(good.read_bytes()))
    result = pygan_command("sample", "--checkpoint", bad, "--out", tmp_path / "grid.png")
    assert result.returncode == 1
    assert str(bad) in result.stderr and message in result.stderr
    assert not (tmp_path / "grid.png").exists()


def format_2(state):
    """A checkpoint as pygan 0.1 wrote it (format 2): the networks at the top level."""
    old = {key: value for key, value in state.items() if key not in ("networks", "engine", "fixed_latent")}
    return {**old, **state["networks"], "format_version": 2, "fixed_noise": state["fixed_latent"]["z"]}


def test_a_checkpoint_of_an_older_format_still_samples_but_cannot_be_resumed(trained_run, tmp_path):
    out, _ = trained_run
    old_run = tmp_path / "old"
    shutil.copytree(out, old_run)
    newest = checkpoint.saved_in(old_run)[-1]
    state = torch.load(newest, weights_only=True)
    torch.save(format_2(state), newest)
    new_grid, old_grid = tmp_path / "new.png", tmp_path / "old.png"
    assert pygan_command("sample", "--checkpoint", out, "--seed", "3", "--out", new_grid).returncode == 0
    assert pygan_command("sample", "--checkpoint", newest, "--seed", "3", "--out", old_grid).returncode == 0
    assert new_grid.read_bytes() == old_grid.read_bytes()  # the same weights, read from either layout
    resumed = pygan_command("train", "--resume", old_run, "--steps", "100")
    assert resumed.returncode == 2
    assert f"{newest} was written by pygan" in resumed.stderr and "cannot resume training" in resumed.stderr


@pytest.mark.parametrize("args, message", [
    (["--plugin", "nope"], "unknown architecture 'nope'; available: "),
    (["--plugin", "dcgan", "--loss", "nope"], "unknown loss 'nope'; available: bce"),
    (["--plugin", "dcgan", "--dataset", "nope"], "unknown dataset 'nope'; available: "),
    (["--plugin", "dcgan", "--dataset", "bars"], "(a dataset of a plugin that is not installed, or failed to load, "
                                                 "is unknown: see 'pygan plugins')"),
    (["--plugin", "dcgan", "--steps", "0"], "--steps: must be a positive whole number, not 0"),
    (["--plugin", "dcgan", "--batch-size", "-4"], "--batch-size: must be a positive whole number, not -4"),
    (["--plugin", "dcgan", "--lr-d", "0"], "--lr-d: must be a finite number above 0, not 0"),
    (["--plugin", "dcgan", "--lr-g", "inf"], "--lr-g: must be a finite number above 0, not inf"),
    (["--plugin", "dcgan", "--seed", str(2 ** 64)], "--seed: must be a whole number from 0 to"),
    (["--plugin", "dcgan", "--betas-d", "0.5"], "--betas-d: not a valid betas: '0.5'"),
    (["--plugin", "dcgan", "--optimizer-g", "nope"], "unknown optimizer 'nope'; available: adam, rmsprop"),
    (["--plugin", "dcgan", "--recipe", "nope"], "unknown recipe 'nope'; available: alternating"),
    ([], "choose an architecture with --plugin"),
])
def test_usage_errors_exit_2_with_a_clear_message(tmp_path, args, message):
    result = pygan_command("train", *args, "--out", tmp_path / "run")
    assert result.returncode == 2
    assert message in result.stderr
    assert not (tmp_path / "run" / "config.json").exists()


def test_an_unwritable_out_fails_before_training(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = pygan_command("train", "--plugin", "dcgan", "--data-dir", tmp_path / "no-data", "--out", blocker / "run")
    assert result.returncode == 2
    assert f"--out {blocker / 'run'} cannot be written" in result.stderr


def test_an_out_that_holds_a_run_is_not_overwritten(trained_run):
    out, _ = trained_run
    before = (out / "config.json").read_bytes()
    result = pygan_command("train", "--plugin", "dcgan", "--out", out)
    assert result.returncode == 2 and f"--out {out} already holds a run" in result.stderr
    assert (out / "config.json").read_bytes() == before


def test_info_reports_versions_extension_and_devices():
    result = pygan_command("info")
    assert result.returncode == 0, result.stderr
    assert f"torch {torch.__version__}" in result.stdout
    assert f"pygan {__version__}" in result.stdout and "devices: cpu" in result.stdout
    assert (f"extension: built against torch {_extension.build.torch_version} (stable ABI: loads into torch >= "
            f"{_extension.build.min_torch_version}), running on torch {torch.__version__}") in result.stdout
    assert "extension: kernels loaded" in result.stdout
    assert "  cpu: fused (compiled kernel)" in result.stdout
    assert "compiled kernels: leaky_relu_conv2d (cpu" in result.stdout and ", rmsprop_step_ (cpu" in result.stdout
    build = _extension.build
    built = (f"built with CUDA {build.cuda_version} for {' '.join(build.cuda_architectures)}; "
             if build.with_cuda else "")
    assert f"CUDA kernels: {built}{_extension.cuda_error or 'loaded'}\n" in result.stdout


def test_a_reader_that_goes_away_stops_pygan_quietly():
    # As `pygan info | head -1` does: the pipe's reading end is closed before pygan writes.
    script = Path(sys.executable).parent / "pygan"
    process = subprocess.Popen([str(script), "info"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    process.stdout.close()
    stderr = process.stderr.read()
    assert process.wait(timeout=600) == 141 and stderr == "", stderr


def test_info_says_when_the_reference_is_forced():
    result = pygan_command("info", env={"PYGAN_OPS": "reference", "PYGAN_REQUIRE_EXT": "0"})
    assert "op backends (PYGAN_OPS=reference):" in result.stdout
    assert "  cpu: reference (PYGAN_OPS=reference)" in result.stdout
