"""Plugins: built-ins through entry points, broken and duplicate plugins
skipped with a report, external plugins disabled on request, and a real
third-party package installed and trained."""

import importlib.metadata
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, FeatureNetwork
from PIL import Image

import pygan
from pygan import __version__
from pygan._config.registry import Plugins, get_plugins, load_plugins
from pygan._config.resolve import resolve_config, saved_config

BUILTINS = {"dcgan", "cgan", "wgan", "lsgan", "acgan", "infogan", "dcgan64", "alternating", "optimizers",
            "constraints", "regularisers", "bce", "losses", "mnist", "npz", "images", "progress", "metrics_log",
            "sample_grids", "evaluation", "tensorboard", "stylegan2", "stylegan2_import"}


def fake_installed_plugin(site: Path, distribution: str, entry_point: str, module: str, source: str) -> None:
    """Lay out a plugin in ``site`` exactly as pip installs one: a module and
    a dist-info folder whose entry_points.txt names it."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{distribution.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[pygan]\n{entry_point} = {module}\n")


@pytest.fixture
def broken_site(tmp_path):
    fake_installed_plugin(tmp_path, "broken-plugin", "broken", "broken_plugin", "import no_such_module\n")
    fake_installed_plugin(tmp_path, "copycat", "copycat", "copycat_plugin", """
        import pygan
        from pygan_plugins.dcgan import build_discriminator, build_generator

        @pygan.hookimpl
        def register_architectures(register):
            register(pygan.Architecture("dcgan", build_generator, build_discriminator, latent_size=3))
    """)
    return tmp_path


def test_builtins_are_registered_through_the_entry_point_group():
    entry_points = {ep.name for ep in importlib.metadata.entry_points(group="pygan") if ep.dist.name == "pygan"}
    assert entry_points == BUILTINS
    plugins = get_plugins()
    assert {"dcgan"} <= set(plugins.registered["architecture"])
    assert {"bce"} <= set(plugins.registered["loss"])
    assert {"mnist", "fashion-mnist", "npz"} <= set(plugins.registered["dataset"])


def test_plugins_command_lists_name_distribution_and_registrations(pygan):
    result = pygan("plugins")
    assert result.returncode == 0, result.stderr
    assert f"dcgan  (pygan {__version__})" in result.stdout
    assert "architecture dcgan" in result.stdout
    assert "loss bce" in result.stdout
    assert "hooks on_sample" in result.stdout


def test_a_broken_plugin_is_reported_once_by_name_and_skipped(pygan, broken_site):
    result = pygan("plugins", env={"PYTHONPATH": str(broken_site)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("plugin 'broken' (broken-plugin) was skipped: ModuleNotFoundError") == 1
    assert "broken  (broken-plugin)  FAILED: ModuleNotFoundError: No module named 'no_such_module'" in result.stdout
    assert f"dcgan  (pygan {__version__})" in result.stdout
    info = pygan("info", env={"PYTHONPATH": str(broken_site)})
    assert info.returncode == 0 and f"pygan {__version__}" in info.stdout


def test_a_plugin_that_exits_on_import_or_in_a_hook_is_skipped_like_any_broken_one(pygan, tmp_path):
    fake_installed_plugin(tmp_path, "quits-on-import", "quitter", "quitter_plugin", "import sys\nsys.exit()\n")
    fake_installed_plugin(tmp_path, "quits-in-hook", "hook-quitter", "hook_quitter_plugin", """
        import sys
        import pygan

        @pygan.hookimpl
        def register_losses(register):
            sys.exit(4)
    """)
    result = pygan("plugins", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "quitter  (quits-on-import)  FAILED: SystemExit\n" in result.stdout
    assert "hook-quitter  (quits-in-hook)  FAILED: SystemExit: 4" in result.stdout
    assert f"dcgan  (pygan {__version__})" in result.stdout


def test_ctrl_c_in_a_plugin_hook_still_stops_pygan():
    class Interrupts:
        @pygan.hookimpl
        def register_losses(self, register):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Plugins().add("interrupts", Interrupts())


def test_a_plugin_registering_a_taken_name_is_skipped_and_the_first_kept(pygan, broken_site):
    result = pygan("plugins", env={"PYTHONPATH": str(broken_site)})
    assert ("plugin 'copycat' (copycat) was skipped: ValueError: architecture 'dcgan' is already registered "
            "by plugin 'dcgan'") in result.stderr
    assert "copycat  (copycat)  FAILED" in result.stdout


def test_disabling_external_plugins_loads_only_the_builtins(pygan, broken_site):
    result = pygan("plugins", env={"PYTHONPATH": str(broken_site), "PYGAN_DISABLE_PLUGINS": "1"})
    assert result.returncode == 0
    assert "broken" not in result.stdout + result.stderr and "copycat" not in result.stdout
    assert f"dcgan  (pygan {__version__})" in result.stdout
    assert "external plugins disabled" in result.stdout


class Registers:
    def __init__(self, *records):
        self.records = records

    @pygan.hookimpl
    def register_losses(self, register):
        for record in self.records:
            register(record)


def test_registering_something_that_is_not_a_record_fails_that_plugin_only(capsys):
    plugins = Plugins()
    good = pygan.Loss("good", lambda r, f: r.mean(), lambda f: f.mean())
    assert plugins.add("ok", Registers(good))
    assert not plugins.add("bad", Registers("not a loss"))
    assert not plugins.add("twice", Registers(pygan.Loss("x", None, None), pygan.Loss("x", None, None)))
    assert list(plugins.registered["loss"]) == ["good"]
    assert [f.name for f in plugins.failures] == ["bad", "twice"]
    assert "expected a pygan.Loss" in plugins.failures[0].error
    assert "loss 'x' is already registered by plugin 'twice'" in plugins.failures[1].error


def test_unknown_names_list_the_available_ones():
    with pytest.raises(pygan.UsageError, match=r"unknown architecture 'nope'; available: .*dcgan"):
        get_plugins().architecture("nope")


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory):
    """The third-party example plugin, pip-installed (with build isolation)
    into a folder of its own so the test environment stays as it was."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
                    str(REPO_ROOT / "tests" / "tiny_plugin")], check=True, timeout=600)
    return site


def test_a_third_party_plugin_installs_lists_and_trains(pygan, tiny_site, tmp_path):
    env = {"PYTHONPATH": str(tiny_site)}
    listing = pygan("plugins", env=env)
    assert "tiny  (pygan-tiny 1.1.0)" in listing.stdout
    assert "architecture tiny" in listing.stdout
    images = tmp_path / "digits.npz"
    np.savez(images, images=np.random.default_rng(0).integers(0, 256, (50, 12, 10), dtype=np.uint8))
    result = pygan("train", "--plugin", "tiny", "--data-dir", images, "--steps", "6", "--sample-every", "3",
                   "--out", tmp_path / "run", env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["00003.png", "00006.png"]
    assert (tmp_path / "run" / "checkpoints" / "00000006.pt").is_file()


def test_a_third_party_plugin_trains_its_own_recipe_conditional_generator_and_option(pygan, tiny_site, tmp_path):
    env = {"PYTHONPATH": str(tiny_site), "PYGAN_DATA_DIR": str(tmp_path / "cache")}
    listing = pygan("plugins", env=env).stdout
    assert "recipe smoothed" in listing and "architecture tiny-cgan" in listing and "options --real-target" in listing
    assert "--real-target" in pygan("train", "--help", env=env).stdout

    # --hidden sets the generator's width: every command below that rebuilds
    # the generator (resume, sample, eval, pygan.load) must build it 5 wide
    # from the run's recorded configuration, or the weights would not load.
    def train(out, *args):
        return pygan("train", "--plugin", "tiny-cgan", "--hidden", "5", "--steps", "4", "--sample-every", "2",
                     "--out", out, *args, env=env)

    run = tmp_path / "run"
    result = train(run, "--real-target", "0.8")
    assert result.returncode == 0, result.stderr
    config = json.loads((run / "config.json").read_text())
    assert (config["recipe"], config["real_target"], config["optimizer_d"], config["hidden"]) == (
        "smoothed", 0.8, "adam", 5)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [set(row) for row in rows] == [{"step", "d_loss", "g_loss", "real_score"}] * 4
    # The recipe reads the option: the discriminator's first loss depends on the real target.
    unsmoothed = tmp_path / "unsmoothed"
    assert train(unsmoothed, "--real-target", "1.0").returncode == 0
    first = json.loads((unsmoothed / "metrics.jsonl").read_text().splitlines()[0])
    assert first["d_loss"] != rows[0]["d_loss"]

    bad = train(tmp_path / "bad", "--real-target", "0.3")
    assert bad.returncode == 2 and "--real-target: must lie in (0.5, 1], not 0.3" in bad.stderr
    contradicting = pygan("train", "--resume", run, "--steps", "6", "--real-target", "0.7", env=env)
    assert contradicting.returncode == 2 and "--real-target 0.7 contradicts the resumed run's 0.8" in contradicting.stderr
    resumed = pygan("train", "--resume", run, "--steps", "6", env=env)
    assert resumed.returncode == 0 and (run / "checkpoints" / "00000006.pt").is_file(), resumed.stderr

    grid = tmp_path / "classes.png"
    assert pygan("sample", "--checkpoint", run, "--class-grid", "--n", "5", "--out", grid, env=env).returncode == 0
    with Image.open(grid) as picture:
        assert picture.size == ((5 * 12 + 4 * 2) * 2, (3 * 12 + 2 * 2) * 2)  # 3 classes of 5, 2-pixel gaps, 2x
    one_class = pygan("sample", "--checkpoint", run, "--class", "2", "--out", tmp_path / "two.png", env=env)
    assert one_class.returncode == 0, one_class.stderr
    beyond = pygan("sample", "--checkpoint", run, "--class", "3", "--out", tmp_path / "three.png", env=env)
    assert beyond.returncode == 2 and "generates classes 0 to 2" in beyond.stderr
    unconditional = pygan("sample", "--checkpoint", run, "--sweep", "code1", "--out", tmp_path / "s.png", env=env)
    assert unconditional.returncode == 2 and "has no codes" in unconditional.stderr

    torch.jit.save(torch.jit.script(FeatureNetwork()), tmp_path / "features.pt")
    evaluated = pygan("eval", "--checkpoint", run, "--n", "8", "--feature-network", tmp_path / "features.pt",
                      "--json", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["n"] == 8
    width = "import pygan, sys; print(pygan.load(sys.argv[1]).generator.net[0].out_features)"
    loaded = subprocess.run([sys.executable, "-c", width, str(run)], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=600)
    assert (loaded.returncode, loaded.stdout) == (0, "5\n"), loaded.stderr

    # The plugin uninstalled: what the run used is named, with what to install.
    assert config["plugins"]["tiny-conditional"] == {
        "distribution": "pygan-tiny", "version": "1.1.0",
        "provides": {"architecture": ["tiny-cgan"], "dataset": ["bars"], "recipe": ["smoothed"]}}
    missing = ("the run used architecture 'tiny-cgan' from plugin 'tiny-conditional' (pygan-tiny 1.1.0), which is "
               "not installed; install it with pip install 'pygan-tiny==1.1.0', then try again")
    resumed = pygan("train", "--resume", run, "--steps", "8")
    assert resumed.returncode == 2 and f"{run / 'config.json'}: {missing}" in resumed.stderr, resumed.stderr
    sampled = pygan("sample", "--checkpoint", run, "--out", tmp_path / "x.png")
    assert sampled.returncode == 2 and f"00000006.pt: {missing}" in sampled.stderr, sampled.stderr


class Watches:
    @pygan.hookimpl
    def on_step_end(self, run, step, metrics):
        pass


class FailsToRegister:
    @pygan.hookimpl
    def register_datasets(self, register):
        raise ImportError("no module named 'bars_data'")


def test_a_saved_run_whose_plugins_are_gone_names_each_and_what_to_do(tmp_path, monkeypatch, capsys):
    from pygan_plugins.dcgan import build_discriminator, build_generator

    class Bars:
        @pygan.hookimpl
        def register_architectures(self, register):
            register(pygan.Architecture("bars", build_generator, build_discriminator, latent_size=100,
                                        defaults={"loss": "bce", "dataset": "npz"}))

    plugins = load_plugins()
    plugins.add("bars", Bars(), "pygan-bars", "0.3")
    plugins.add("watcher", Watches(), "pygan-watch", "2.0")
    config = resolve_config(plugins, {"plugin": "bars"})
    assert config["plugins"]["bars"] == {"distribution": "pygan-bars", "version": "0.3",
                                         "provides": {"architecture": ["bars"]}}
    assert config["plugins"]["watcher"]["provides"] == {} and config["plugins"]["npz"]["distribution"] == "pygan"

    with pytest.raises(pygan.UsageError, match=r"^RUN: the run used architecture 'bars' from plugin 'bars' \(pygan-bars "
                       r"0.3\), which is not installed; install it with pip install 'pygan-bars==0.3', then try"):
        saved_config(load_plugins(), config, "RUN")
    failing = load_plugins()
    failing.add("bars", FailsToRegister(), "pygan-bars", "0.3")
    with pytest.raises(pygan.UsageError, match=r"from plugin 'bars' \(pygan-bars 0.3\), which failed to load "
                       r"\(ImportError: no module named 'bars_data'\); see 'pygan plugins', fix it, then try again"):
        saved_config(failing, config, "RUN")
    monkeypatch.setenv("PYGAN_DISABLE_PLUGINS", "1")
    with pytest.raises(pygan.UsageError, match="which PYGAN_DISABLE_PLUGINS=1 leaves out; unset PYGAN_DISABLE_PLUGINS"):
        saved_config(load_plugins(), config, "RUN")
    monkeypatch.delenv("PYGAN_DISABLE_PLUGINS")

    # A plugin that only ran hooks is not needed to read the run: a notice says it is gone.
    without_watcher = load_plugins()
    without_watcher.add("bars", Bars(), "pygan-bars", "0.3")
    capsys.readouterr()
    assert saved_config(without_watcher, config, "RUN")["plugin"] == "bars"
    assert ("RUN: the run used plugin 'watcher' (pygan-watch 2.0), which is not installed: its hooks do not run now "
            "(install it with pip install 'pygan-watch==2.0' to have them)") in capsys.readouterr().err
