"""The ``pygan`` command: train, sample, eval, report, info, plugins."""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import sys
from pathlib import Path

import torch

from pygan import __version__
from pygan._commands import train
from pygan._commands.evaluate import command_eval
from pygan._commands.sample import command_sample
from pygan._config.options import add_arguments, flag
from pygan._config.registry import add_command_arguments, calling_plugin, get_plugins
from pygan._contracts.messages import PyganError, Terminated


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive whole number, not {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or a positive whole number, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pygan", description="Train and sample GANs built from plugins.")
    parser.add_argument("--version", action="version", version=f"pygan {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    trainer = commands.add_parser("train", help="train a GAN", description=(
        "Train an architecture registered by a plugin. Options left out take the architecture's "
        "defaults (see 'pygan plugins'); plugins add options of their own. Writes config.json, "
        "metrics.jsonl, losses.png, samples/NNNNN.png and checkpoints/NNNNNNNN.pt into --out."))
    add_arguments(trainer, get_plugins().options.values())
    trainer.add_argument("--out", type=Path, help="run folder (default runs/PLUGIN-TIMESTAMP)")
    trainer.add_argument("--nproc", type=positive_int, metavar="N",
                       help="train data-parallel in N processes (runs torchrun; batch size is per process)")
    trainer.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")
    trainer.add_argument("--dry-run", action="store_true", help="build both networks from the resolved configuration, "
                       "print it and each network's parameter count, and exit without reading data or training")

    sample = commands.add_parser("sample", help="draw images from a trained generator")
    sample.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file, or a run folder (its newest)")
    sample.add_argument("--n", type=positive_int, help="how many images (default 64; with --class-grid, per class, "
                        "default 10)")
    sample.add_argument("--out", type=Path, default=Path("samples.png"),
                        help="image grid to write, in the format its suffix names: .png, .jpg, ... (default samples.png)")
    sample.add_argument("--seed", type=int, default=None, help="noise seed (default: random)")
    chosen = sample.add_mutually_exclusive_group()
    chosen.add_argument("--class", dest="label", type=non_negative_int, metavar="C",
                        help="draw class C only (conditional architectures)")
    chosen.add_argument("--class-grid", action="store_true",
                        help="one row per class, --n images each (default 10) (conditional architectures)")
    chosen.add_argument("--sweep", metavar="codeK",
                        help="vary code K from -2 to 2 along each row, one row per class (architectures with codes)")
    chosen.add_argument("--interpolate", action="store_true",
                        help="walk the latent space through random points (slerp for normal latents): --n walks "
                        "(default 8) as an animated GIF, and a PNG strip beside it (--out, default interpolation.gif)")
    sample.add_argument("--truncation", type=float, metavar="PSI",
                        help="the truncation trick: pull each latent towards the average by PSI (1: none; 0.7 is "
                        "usual), for architectures whose generator has it (stylegan2)")
    sample.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    evaluate = commands.add_parser("eval", help="measure a trained generator against real data", description=(
        "Compare generated with real samples in the feature space of a classifier trained on the data set's "
        "labels (trained once, then cached): the Fréchet classifier distance (lower is better), the "
        "classifier score (the Inception score's formula; higher is better) and each class's share. With "
        "--fid or --feature-network, and for data sets without labels, FID and KID in a feature network's "
        "features instead."))
    evaluate.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file, or a run folder (its newest)")
    evaluate.add_argument("--n", type=positive_int, default=10_000,
                          help="generated and real samples compared (default 10000)")
    evaluate.add_argument("--dataset", help="labelled data set to compare with (default: the run's)")
    evaluate.add_argument("--data-dir", help="where the data set's files are (default: the run's, else the cache)")
    evaluate.add_argument("--seed", type=int, default=0, help="noise and real-sample seed (default 0)")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")
    evaluate.add_argument("--fid", action="store_true",
                          help="measure FID and KID in InceptionV3's features (pip install \"pygan[metrics]\"); "
                          "the default for data sets without labels")
    evaluate.add_argument("--inception-weights", type=Path, metavar="FILE",
                          help="the InceptionV3 weights file (default: $PYGAN_DATA_DIR/inception/"
                          "weights-inception-2015-12-05-6726825d.pth, then torch hub's cache)")
    evaluate.add_argument("--feature-network", type=Path, metavar="FILE",
                          help="measure FID and KID in the features of this TorchScript module (uint8 RGB images "
                          "(N, 3, H, W) -> (N, D)) instead of InceptionV3's")

    report = commands.add_parser("report", help="plot, animate and summarise a run", description=(
        "Write losses.png, samples.gif and report.md into a run folder from its metrics and sample grids."))
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")

    commands.add_parser("info", help="versions, the compiled extension, op backends and devices")
    commands.add_parser("plugins", help="list installed plugins and what they register")
    for command in get_plugins().registered["command"].values():
        add_command_arguments(command, commands.add_parser(command.name, help=command.description,
                                                           description=command.details or command.description))
    return parser


def command_train(args) -> int | None:
    from pygan._config.resolve import configure
    from pygan._training import distributed, runner

    plugins = get_plugins()
    options = {name: getattr(args, name) for name in plugins.options}
    if args.dry_run:
        print(train.dry_run(plugins, options, args.resume))
        return None
    config = configure(plugins, options, args.resume)  # a mistake is one message, before anything starts
    out = train.run_folder(plugins, config, args.out, args.resume)
    if args.nproc and args.nproc > 1:
        if args.resume is None:
            runner.check_unused(out)
        # The workers train into the same folder, with the same configuration.
        return distributed.launch(args.nproc, [*train.without_nproc(args.argv), "--out", str(out)])
    try:
        run = runner.train(plugins, config, out, resuming=args.resume is not None)
    finally:
        distributed.stop()
    if run.rank == 0:
        print(f"run finished at step {run.total_steps}: {run.out_dir}")
    return None


def command_report(args) -> None:
    from pygan._commands.report import write_report

    for path in write_report(args.run_dir):
        print(path)


def command_info(args) -> None:
    from pygan import ops

    print(f"pygan {__version__}")
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda or 'none'})")
    print(f"python {platform.python_version()} ({sys.executable})")
    info = ops.backend_info()
    if info["built_against_torch"]:
        print(f"extension: built against torch {info['built_against_torch']} (stable ABI: loads into torch "
              f">= {info['min_torch']}), running on torch {torch.__version__}")
        print(f"extension: compiled for CPU features {' '.join(info['cpu_features']) or '(baseline)'}")
    if info["extension_loaded"]:
        print("extension: kernels loaded")
        kernels = ", ".join(f"{op} ({', '.join(devices)})" for op, devices in info["kernels"].items())
        print(f"compiled kernels: {kernels}")
    else:
        print(f"extension: NOT loaded: {info['extension_error']}")
    cuda = info["cuda_kernels"]
    built = (f"built with CUDA {cuda['cuda_version']} for {' '.join(cuda['architectures'])}; "
             if cuda["built"] else "")
    print(f"CUDA kernels: {built}{'loaded' if cuda['loaded'] else cuda['why_not']}")
    print(f"op backends (PYGAN_OPS={info['requested']}):")
    for device_type, backends in info["devices"].items():
        # The backend most ops share on one line, then each op that differs.
        choices = [(op["selected"], op["reason"]) for op in backends.values()]
        usual = max(choices, key=choices.count)
        print("  {}: {} ({})".format(device_type, *usual))
        for op, choice in zip(backends, choices):
            if choice != usual:
                print("  {}, {}: {} ({})".format(device_type, op, *choice))
    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    print(f"devices: {', '.join(devices)}")
    print(f"threads: {torch.get_num_threads()}")


def command_plugins(args) -> None:
    from pygan._config.registry import external_plugins_disabled

    plugins = get_plugins()
    for info in plugins.loaded:
        print(f"{info.name}  ({info.distribution or 'no distribution'} {info.version})".rstrip())
        for kind, names in info.registers.items():
            if kind == "option":
                print(f"    options {', '.join(flag(plugins.options[name]) for name in names)}")
                continue
            for name in names:
                record = plugins.registered[kind][name]
                description = f": {record.description}" if record.description else ""
                print(f"    {kind} {name}{description}")
        if info.hooks:
            print(f"    hooks {', '.join(info.hooks)}")
    for failure in plugins.failures:
        print(f"{failure.name}  ({failure.distribution or 'no distribution'})  FAILED: {failure.error}")
    if external_plugins_disabled():
        print("(external plugins disabled by PYGAN_DISABLE_PLUGINS)")


def plugin_command(args) -> int | None:
    plugins = get_plugins()
    command = plugins.registered["command"][args.command]
    return calling_plugin(plugins.owner("command", command.name), "register_commands", command.run, args,
                          where=f"its command {command.name!r}")


COMMANDS = {"train": command_train, "sample": command_sample, "eval": command_eval, "report": command_report,
            "info": command_info, "plugins": command_plugins}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser().parse_args(argv)
        args.argv = argv
        with terminated_as_interrupted():
            status = COMMANDS.get(args.command, plugin_command)(args)
    except PyganError as error:
        if getattr(error, "announce", True):
            print(f"pygan: error: {error}", file=sys.stderr)
        return error.exit_status
    except Terminated:
        print("pygan: stopped by SIGTERM (no half-written file was kept)", file=sys.stderr)
        return 128 + Terminated.signal_number
    except KeyboardInterrupt:
        print("pygan: aborted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`pygan info | head`): stop quietly, as a shell tool does. Python
        # flushes stdout again at exit, so point it at /dev/null first or that flush raises too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    return status or 0


@contextlib.contextmanager
def terminated_as_interrupted():
    """SIGTERM raises Terminated inside the block (training replaces this
    with a stop after the step and a checkpoint): by default it would end
    pygan on the spot, leaving its worker processes and temporary files."""
    def handle(signal_number, frame):
        raise Terminated

    try:
        previous = signal.signal(signal.SIGTERM, handle)
    except ValueError:  # not the main thread: signals stay with whoever owns them
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
