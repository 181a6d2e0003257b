"""Plugins: built-ins through entry points, broken and duplicate plugins
skipped with a report, external plugins disabled on request, and a real
third-party package installed and trained."""

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import pygan
from pygan.plugins import Plugins, get_plugins

from conftest import REPO_ROOT

BUILTINS = {"dcgan", "bce", "losses", "mnist", "npz", "progress", "metrics_log", "sample_grids", "tensorboard"}


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
    assert "dcgan  (pygan 0.1.0)" in result.stdout
    assert "architecture dcgan" in result.stdout
    assert "loss bce" in result.stdout
    assert "hooks on_sample" in result.stdout


def test_a_broken_plugin_is_reported_once_by_name_and_skipped(pygan, broken_site):
    result = pygan("plugins", env={"PYTHONPATH": str(broken_site)})
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("plugin 'broken' (broken-plugin) was skipped: ModuleNotFoundError") == 1
    assert "broken  (broken-plugin)  FAILED: ModuleNotFoundError: No module named 'no_such_module'" in result.stdout
    assert "dcgan  (pygan 0.1.0)" in result.stdout
    info = pygan("info", env={"PYTHONPATH": str(broken_site)})
    assert info.returncode == 0 and "pygan 0.1.0" in info.stdout


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
    assert "dcgan  (pygan 0.1.0)" in result.stdout


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
    assert "dcgan  (pygan 0.1.0)" in result.stdout
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
    assert "tiny  (pygan-tiny 1.0.0)" in listing.stdout
    assert "architecture tiny" in listing.stdout
    images = tmp_path / "digits.npz"
    np.savez(images, images=np.random.default_rng(0).integers(0, 256, (50, 12, 10), dtype=np.uint8))
    result = pygan("train", "--plugin", "tiny", "--data-dir", images, "--steps", "6", "--sample-every", "3",
                   "--out", tmp_path / "run", env=env)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == ["00003.png", "00006.png"]
    assert (tmp_path / "run" / "checkpoints" / "00000006.pt").is_file()
