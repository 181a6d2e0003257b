"""Plugins' own subcommands (``register_commands``) and run folders of
weights trained elsewhere (``pygan.write_run``), the two mechanisms a plugin
that imports another program's networks needs."""

from __future__ import annotations

import json
import re

import pytest
import torch

import pygan
from pygan._commands import cli
from pygan._config.registry import load_plugins


class Commands:
    def __init__(self, *commands):
        self.commands = commands

    @pygan.hookimpl
    def register_commands(self, register):
        for command in self.commands:
            register(command)


def greet(args):
    if args.name == "nobody":
        raise pygan.UsageError("--name nobody: greet someone")
    if args.name == "bug":
        raise ZeroDivisionError("a bug")
    print(f"hello {args.name} x{args.times}")
    return 3


GREET = pygan.Command("greet", greet, "say hello", details="Say hello to someone, as many times as asked.",
                      add_arguments=lambda parser: (parser.add_argument("--name", required=True),
                                                    parser.add_argument("--times", type=int, default=1)))


@pytest.fixture
def with_plugin(monkeypatch):
    def install(plugin):
        plugins = load_plugins()
        added = plugins.add("greeter", plugin)
        monkeypatch.setattr(cli, "get_plugins", lambda: plugins)
        return plugins, added
    return install


def test_a_plugin_command_parses_its_arguments_and_runs(with_plugin, capsys):
    with_plugin(Commands(GREET))
    assert cli.main(["greet", "--name", "ada", "--times", "2"]) == 3
    assert capsys.readouterr().out == "hello ada x2\n"
    assert re.search(r"greet +say hello", cli.build_parser().format_help())
    with pytest.raises(SystemExit):
        cli.main(["greet", "--help"])
    assert "Say hello to someone, as many times as asked." in capsys.readouterr().out


def test_a_plugin_commands_mistakes_exit_2_and_its_bugs_name_the_plugin(with_plugin, capsys):
    with_plugin(Commands(GREET))
    assert cli.main(["greet", "--name", "nobody"]) == 2
    assert capsys.readouterr().err == "pygan: error: --name nobody: greet someone\n"
    with pytest.raises(SystemExit) as exited:  # argparse's own usage error
        cli.main(["greet", "--times", "x"])
    assert exited.value.code == 2
    assert cli.main(["greet", "--name", "bug"]) == 1
    err = capsys.readouterr().err
    assert "plugin 'greeter' failed in its command 'greet' (ZeroDivisionError: a bug)" in err
    assert "Traceback" not in err


def test_a_command_named_as_pygans_own_or_with_broken_arguments_fails_its_plugin(with_plugin):
    plugins, added = with_plugin(Commands(pygan.Command("train", greet, "train otherwise")))
    assert not added and "command 'train' is one of pygan's own" in plugins.failures[-1].error

    def broken(parser):
        parser.add_argument("--x")
        parser.add_argument("--x")

    plugins, added = with_plugin(Commands(pygan.Command("broken", greet, "broken", add_arguments=broken)))
    assert not added and "conflicting option string: --x" in plugins.failures[-1].error
    assert "broken" not in cli.build_parser().format_help()


OPTIONS = dict(resolution=32, channels=1, seed=3)


def trained_elsewhere(seed):
    """dcgan64's networks with weights of their own, as another program might have them."""
    torch.manual_seed(seed)
    architecture = load_plugins().architecture("dcgan64")
    shape = architecture.image_shape(OPTIONS)
    return {network: architecture.build(network, shape, OPTIONS).state_dict()
            for network in ("generator", "discriminator")}


def test_write_run_makes_a_run_that_samples_and_loads_but_does_not_resume(tmp_path, capsys):
    weights = trained_elsewhere(1)
    weights["generator_ema"] = trained_elsewhere(2)["generator"]
    out = pygan.write_run(tmp_path / "run", weights, "elsewhere.bin", plugin="dcgan64", **OPTIONS)
    config = json.loads((out / "config.json").read_text())
    assert (config["plugin"], config["resolution"], config["channels"]) == ("dcgan64", 32, 1)
    run = pygan.load(out)
    for name, network in (("generator_ema", run.generator), ("discriminator", run.discriminator)):
        for key, value in network.state_dict().items():
            assert torch.equal(value, weights[name][key]), (name, key)
    assert run.sample(2, seed=0).shape == (2, 1, 32, 32)
    assert cli.main(["sample", "--checkpoint", str(out), "--n", "4", "--out", str(tmp_path / "grid.png")]) == 0
    assert (tmp_path / "grid.png").exists()
    capsys.readouterr()
    assert cli.main(["sample", "--checkpoint", str(out), "--truncation", "0.7"]) == 2
    assert "--truncation: architecture 'dcgan64' has no truncation" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(out), "--steps", "2"]) == 2
    assert "holds weights imported from elsewhere.bin" in capsys.readouterr().err
    with pytest.raises(pygan.UsageError, match="already holds a run"):
        pygan.write_run(out, weights, "elsewhere.bin", plugin="dcgan64", **OPTIONS)


def test_write_run_refuses_weights_that_do_not_fit_and_unknown_options(tmp_path):
    weights = trained_elsewhere(1)
    with pytest.raises(pygan.UsageError, match="elsewhere.bin: its generator weights do not fit a 'dcgan64'"):
        pygan.write_run(tmp_path / "run", weights, "elsewhere.bin", plugin="dcgan64", **{**OPTIONS, "channels": 3})
    with pytest.raises(pygan.UsageError, match="takes the weights of generator, discriminator"):
        pygan.write_run(tmp_path / "run", {"generator": weights["generator"]}, "x", plugin="dcgan64", **OPTIONS)
    with pytest.raises(pygan.UsageError, match="unknown option 'resolutoin'; did you mean resolution"):
        pygan.write_run(tmp_path / "run", weights, "x", plugin="dcgan64", resolutoin=32)
    assert not (tmp_path / "run" / "config.json").exists()
