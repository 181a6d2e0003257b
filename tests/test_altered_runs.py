"""Run folders and checkpoints altered by hand, and sampling asked for too
much: one check of the saved configuration serves resume, eval and sample;
a checkpoint's fields are checked as it is read; sizes are refused before
anything is drawn. In-process (pygan._commands.cli.main), on a tiny run made here."""

import json
import shutil

import numpy as np
import pytest
import torch

from pygan._commands.cli import main
from pygan._config import registry
from pygan._contracts.records import Architecture
from pygan._training import checkpoint, sampling


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    np.savez(folder / "digits.npz", images=np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    assert main(["train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", str(folder / "digits.npz"),
                 "--batch-size", "8", "--steps", "2", "--sample-every", "0", "--out", str(folder / "run")]) == 0
    return folder / "run"


@pytest.fixture
def copy(run, tmp_path):
    shutil.copytree(run, tmp_path / "run")
    return tmp_path / "run"


@pytest.mark.parametrize("key, message", [
    ("steps", "--steps must be a whole number, not None"),
    ("batch_size", "--batch-size must be a whole number, not None"),
    ("seed", "--seed must be a whole number, not None"),
    ("lr_d", "--lr-d must be a number, not None"),
])
def test_null_in_config_json_is_refused_naming_the_file_and_the_option(copy, key, message, capsys):
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, key: None}))
    assert main(["train", "--resume", str(copy)]) == 2
    assert f"{copy / 'config.json'}: the run's configuration was altered: {message}" in capsys.readouterr().err


def altered_checkpoint(folder, **changes):
    path = checkpoint.saved_in(folder)[-1]
    state = torch.load(path, weights_only=True)
    state.update(changes)
    torch.save(state, path)
    return path


@pytest.mark.parametrize("changes, message", [
    ({"format_version": "3"}, "whose format_version is '3', not a format number: it has been altered"),
    ({"image_shape": [3, 100_000, 100_000]}, "whose image_shape is [3, 100000, 100000], not [channels, height"),
    ({"image_shape": [1, 64, 64]}, "its image shape [1, 64, 64] is not what 'dcgan' makes with the run's options"),
    ({"step": "2"}, "whose step is '2', not a step count"),
    ({"config": {"plugin": "dcgan", "seed": None}}, "the run's configuration was altered: --seed must be"),
], ids=["format-version-text", "huge-image-shape", "other-image-shape", "step-text", "null-in-config"])
@pytest.mark.parametrize("command", ["sample", "eval"])
def test_an_altered_checkpoint_is_named_with_exit_status_2(copy, tmp_path, changes, message, command, capsys):
    path = altered_checkpoint(copy, **changes)
    extra = ["--out", str(tmp_path / "x.png")] if command == "sample" else ["--n", "8"]
    assert main([command, "--checkpoint", str(copy), *extra]) == 2
    err = capsys.readouterr().err
    assert f"{path}: " in err and message in err


def test_too_many_samples_are_refused_before_any_latent_is_drawn(run, tmp_path, monkeypatch, capsys):
    def draw_latent(self, n, *args, **kwargs):
        pytest.fail(f"a latent of {n:,} was drawn")

    monkeypatch.setattr(Architecture, "draw_latent", draw_latent)
    monkeypatch.setattr(sampling, "interpolation_latents", lambda *args: pytest.fail("latents were drawn"))
    assert main(["sample", "--checkpoint", str(run), "--n", "1000000000000", "--out", str(tmp_path / "x.png")]) == 2
    assert "1,000,000,000,000 images of 1x28x28 make a grid of" in capsys.readouterr().err
    # Every frame of an animation is held: its bound counts them all, not the strip's ten.
    assert main(["sample", "--checkpoint", str(run), "--interpolate", "--n", "2000",
                 "--out", str(tmp_path / "walk.gif")]) == 2
    assert "make an animation of 2,000 walks of" in capsys.readouterr().err


def test_many_samples_are_made_a_few_hundred_at_a_time(run, tmp_path, monkeypatch):
    state, architecture, generator = sampling.load_generator(registry.load_plugins(), run, torch.device("cpu"))
    seen = []
    generator.register_forward_hook(lambda module, inputs, output: seen.append(len(output)))
    latent = architecture.draw_latent(600, torch.Generator().manual_seed(0), torch.device("cpu"))
    images = sampling.generate(architecture, generator, latent)
    assert len(images) == 600 and max(seen) <= sampling.GENERATE_BATCH
    assert torch.allclose(images[:5], sampling.generate(architecture, generator, sampling.Latent(latent.z[:5])),
                          atol=1e-6)


def test_a_sweep_has_n_columns(tmp_path):
    from PIL import Image
    from test_idx import random_split, write_split

    (tmp_path / "digits").mkdir()
    write_split(tmp_path / "digits", "train", *random_split(64))
    assert main(["train", "--plugin", "infogan", "--data-dir", str(tmp_path / "digits"), "--batch-size", "8",
                 "--steps", "1", "--sample-every", "0", "--out", str(tmp_path / "run")]) == 0
    for columns in (4, None):
        out = tmp_path / f"sweep-{columns}.png"
        assert main(["sample", "--checkpoint", str(tmp_path / "run"), "--sweep", "code1", "--out", str(out),
                     *(["--n", str(columns)] if columns else [])]) == 0
        with Image.open(out) as grid:  # 28-pixel digits, 2-pixel gaps, scaled 2x; 10 rows, one per digit
            assert grid.size == (((28 + 2) * (columns or 10) - 2) * 2, ((28 + 2) * 10 - 2) * 2)


def test_data_dir_is_recorded_absolute_and_a_resume_on_other_data_is_refused(run, tmp_path, monkeypatch, capsys):
    config = json.loads((run / "config.json").read_text())
    assert config["data_dir"] == str(run.parent / "digits.npz")  # given relative or not, kept absolute
    monkeypatch.chdir(run.parent)
    np.savez(tmp_path / "digits.npz", images=np.zeros((64, 28, 28), dtype=np.uint8))
    assert main(["train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", "digits.npz", "--batch-size", "8",
                 "--steps", "1", "--sample-every", "0", "--out", str(tmp_path / "relative")]) == 0
    saved = json.loads((tmp_path / "relative" / "config.json").read_text())["data_dir"]
    assert saved == str(run.parent / "digits.npz")
    monkeypatch.chdir(tmp_path)  # where another digits.npz lies: the run still reads its own
    assert main(["train", "--resume", str(tmp_path / "relative"), "--steps", "2"]) == 0
    capsys.readouterr()
    other = tmp_path / "other"
    shutil.copytree(run, other)
    assert main(["train", "--resume", str(other), "--steps", "3", "--data-dir", str(tmp_path / "digits.npz")]) == 2
    assert (f"{tmp_path / 'digits.npz'}: not the data the run in {other} was trained on (64 images where it had 64, "
            f"or other images)") in capsys.readouterr().err
