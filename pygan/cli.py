"""The ``pygan`` command: train, sample, eval, report, info, plugins."""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path

import torch

from pygan import __version__, checkpoint
from pygan.errors import PyganError, UsageError


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

    train = commands.add_parser("train", help="train a GAN", description=(
        "Train an architecture registered by a plugin. Options left out take the architecture's "
        "defaults (see 'pygan plugins'). Writes config.json, metrics.jsonl, losses.png, "
        "samples/NNNNN.png and checkpoints/NNNNNNNN.pt into --out."))
    # Every option defaults to None, meaning "not given", so that the
    # architecture's defaults apply and a resumed run can tell a contradiction.
    train.add_argument("--plugin", help="architecture to train, e.g. dcgan")
    train.add_argument("--loss", help="adversarial loss (default: the architecture's)")
    train.add_argument("--penalty", help="discriminator penalty, e.g. r1 or gp ('none' for none; default: the loss's)")
    train.add_argument("--penalty-weight", type=float, help="weight of --penalty (default 10)")
    train.add_argument("--d-steps", type=positive_int, help="discriminator updates per generator update (default 1)")
    train.add_argument("--dataset", help="data set of real samples (default: the architecture's)")
    train.add_argument("--data-dir", help="where the data set's files are (default: the data set's cache)")
    train.add_argument("--steps", type=positive_int, help="total training steps")
    train.add_argument("--batch-size", type=positive_int, help="real (and fake) samples per step")
    train.add_argument("--lr-d", type=float, help="discriminator learning rate")
    train.add_argument("--lr-g", type=float, help="generator learning rate")
    train.add_argument("--decay-d", type=float, help="discriminator learning-rate time decay (Keras 'decay')")
    train.add_argument("--decay-g", type=float, help="generator learning-rate time decay (Keras 'decay')")
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where to train (default auto)")
    train.add_argument("--out", type=Path, help="run folder (default runs/PLUGIN-TIMESTAMP)")
    train.add_argument("--sample-every", type=non_negative_int, help="steps between sample grids (default 500, 0 never)")
    train.add_argument("--checkpoint-every", type=non_negative_int,
                       help="steps between checkpoints (default 1000, 0 only at the end)")
    train.add_argument("--keep-checkpoints", type=non_negative_int, help="newest checkpoints kept (default 3, 0 all)")
    train.add_argument("--precision", choices=["fp32", "bf16", "fp16"],
                       help="run the networks in mixed precision (default fp32; fp16 needs CUDA)")
    train.add_argument("--ema", type=float, metavar="DECAY",
                       help="keep a moving average of the generator's weights (e.g. 0.999) for samples")
    train.add_argument("--eval-every", type=non_negative_int, metavar="N",
                       help="every N steps, log the Frechet classifier distance and classifier score (see pygan eval)")
    train.add_argument("--eval-n", type=positive_int, help="samples per --eval-every evaluation (default 1000)")
    train.add_argument("--tensorboard", action="store_true", default=None,
                       help="also log metrics for TensorBoard into RUN_DIR/tensorboard (pip install 'pygan[tensorboard]')")
    train.add_argument("--skip-nonfinite", action="store_true", default=None,
                       help="skip updates whose loss is NaN or infinite instead of stopping")
    train.add_argument("--sync-every", type=positive_int, metavar="N",
                       help="read the metrics back from the device every N steps; every step is still logged "
                            "(default 1 on the CPU, 100 on CUDA)")
    train.add_argument("--no-cuda-graphs", dest="cuda_graphs", action="store_false", default=None,
                       help="on CUDA, run every step eagerly instead of replaying a captured CUDA graph")
    train.add_argument("--nproc", type=positive_int, metavar="N",
                       help="train data-parallel in N processes (runs torchrun; batch size is per process)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")

    sample = commands.add_parser("sample", help="draw images from a trained generator")
    sample.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file, or a run folder (its newest)")
    sample.add_argument("--n", type=positive_int, default=64, help="how many images (default 64)")
    sample.add_argument("--out", type=Path, default=Path("samples.png"), help="PNG grid to write (default samples.png)")
    sample.add_argument("--seed", type=int, default=None, help="noise seed (default: random)")
    sample.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")

    evaluate = commands.add_parser("eval", help="measure a trained generator against labelled real data", description=(
        "Compare generated with real samples in the feature space of a classifier trained on the data set's "
        "labels (trained once, then cached): the Fréchet classifier distance (lower is better), the "
        "classifier score (the Inception score's formula; higher is better) and each class's share."))
    evaluate.add_argument("--checkpoint", type=Path, required=True, help="checkpoint file, or a run folder (its newest)")
    evaluate.add_argument("--n", type=positive_int, default=10_000,
                          help="generated and real samples compared (default 10000)")
    evaluate.add_argument("--dataset", help="labelled data set to compare with (default: the run's)")
    evaluate.add_argument("--data-dir", help="where the data set's files are (default: the run's, else the cache)")
    evaluate.add_argument("--seed", type=int, default=0, help="noise and real-sample seed (default 0)")
    evaluate.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    evaluate.add_argument("--json", action="store_true", help="print the results as JSON")

    report = commands.add_parser("report", help="plot, animate and summarise a run", description=(
        "Write losses.png, samples.gif and report.md into a run folder from its metrics and sample grids."))
    report.add_argument("run_dir", type=Path, metavar="RUN_DIR")

    commands.add_parser("info", help="versions, the compiled extension, op backends and devices")
    commands.add_parser("plugins", help="list installed plugins and what they register")
    return parser


def command_train(args) -> None:
    from pygan import distributed, trainer
    from pygan.plugins import get_plugins

    options = {key: getattr(args, key) for key in (
        "plugin", "loss", "penalty", "penalty_weight", "d_steps", "dataset", "data_dir", "steps", "batch_size", "lr_d", "lr_g", "decay_d", "decay_g",
        "seed", "device", "sample_every", "checkpoint_every", "keep_checkpoints", "skip_nonfinite", "ema", "tensorboard", "precision", "eval_every", "eval_n",
        "cuda_graphs", "sync_every")}
    if args.resume is not None and args.out is not None and args.out != args.resume:
        raise UsageError("--out and --resume name different folders; a resumed run stays in its own folder")
    if args.resume is None and args.plugin is None:
        raise UsageError("choose an architecture with --plugin (see 'pygan plugins'), or --resume a run")
    out = args.out
    if args.resume is None and out is None:
        from datetime import datetime

        out = Path("runs") / f"{args.plugin}-{datetime.now():%Y%m%d-%H%M%S}"
    try:
        run = trainer.train(get_plugins(), options, out, args.resume)
    finally:
        distributed.stop()
    if run.processes.is_main:
        print(f"run finished at step {run.total_steps}: {run.out_dir}")


def load_generator(checkpoint_path: Path, device: torch.device):
    """The checkpoint's state, and a function ``draw(count, rng)`` of images
    from its generator in inference mode."""
    from pygan.plugins import get_plugins

    state = checkpoint.load(checkpoint_path, map_location=device)
    architecture = get_plugins().architecture(state["architecture"])
    generator = architecture.build_generator(tuple(state["image_shape"])).to(device)
    # The moving average, where the run kept one, is the better generator.
    generator.load_state_dict(state.get("generator_ema", state["generator"]))
    generator.eval()

    def draw(count: int, rng: torch.Generator) -> torch.Tensor:
        with torch.no_grad():
            return generator(architecture.sample_noise(count, architecture.latent_size, rng, device))

    return state, draw


def command_sample(args) -> None:
    from pygan.images import save_grid
    from pygan.trainer import select_device

    device = select_device(args.device)
    state, draw = load_generator(args.checkpoint, device)
    rng = torch.Generator(device)
    rng.manual_seed(args.seed) if args.seed is not None else rng.seed()
    save_grid(draw(args.n, rng), args.out, columns=math.ceil(math.sqrt(args.n)))
    print(f"{args.n} samples of {state['architecture']} at step {state['step']} written to {args.out}")


def command_eval(args) -> None:
    from pygan import evaluation
    from pygan.plugins import get_plugins
    from pygan.trainer import select_device

    device = select_device(args.device)
    state, draw = load_generator(args.checkpoint, device)
    config = state["config"]
    dataset = get_plugins().dataset(args.dataset or config["dataset"])
    if dataset.load_labelled is None:
        raise UsageError(f"data set {dataset.name!r} has no labels; evaluation needs a labelled data set "
                         f"(one whose plugin sets load_labelled), chosen with --dataset")
    # The run's own --data-dir only fits when comparing with the run's data set.
    data_dir = args.data_dir or (config["data_dir"] if dataset.name == config["dataset"] else None)
    images, labels = dataset.load_labelled(Path(data_dir) if data_dir else None)
    classifier = evaluation.load_classifier(dataset.name, images, labels, device)
    rng = torch.Generator(device).manual_seed(args.seed)
    results = evaluation.evaluate(lambda count: draw(count, rng), images, classifier, args.n, seed=args.seed)
    results = {"checkpoint": str(state["path"]), "step": state["step"], "dataset": dataset.name, **results}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{state['architecture']} at step {state['step']} ({state['path']}) against {dataset.name}, "
          f"{args.n:,} samples each")
    print(f"  Fréchet classifier distance  {results['fcd']:10.4f}   (lower is better; real data ~0)")
    print(f"  classifier score             {results['classifier_score']:10.4f}   "
          f"(higher is better; real data {results['real_classifier_score']:.4f})")
    print(f"  classifier accuracy          {results['classifier_accuracy']:10.2%}   (on held-out real images)")
    print("  class shares  " + "  ".join(f"{label}: {share:.1%}" for label, share in enumerate(results["class_shares"])))
    if results["mode_collapse"]:
        print(f"  warning: {results['dominant_class_share']:.0%} of the samples are class "
              f"{results['dominant_class']}: the generator may have collapsed onto few modes")


def command_report(args) -> None:
    from pygan.report import write_report

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
        print(f"extension: kernels loaded (CUDA kernels built: {'yes' if info['extension_with_cuda'] else 'no'})")
        kernels = ", ".join(f"{op} ({', '.join(devices)})" for op, devices in info["kernels"].items())
        print(f"compiled kernels: {kernels}")
    else:
        print(f"extension: NOT loaded: {info['extension_error']}")
    print(f"op backends (PYGAN_OPS={info['requested']}):")
    for device_type, backend in info["devices"].items():
        print(f"  {device_type}: {backend['selected']} ({backend['reason']})")
    devices = ["cpu"] + [f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())]
    print(f"devices: {', '.join(devices)}")
    print(f"threads: {torch.get_num_threads()}")


def command_plugins(args) -> None:
    from pygan.plugins import external_plugins_disabled, get_plugins

    plugins = get_plugins()
    for info in plugins.loaded:
        print(f"{info.name}  ({info.distribution or 'no distribution'} {info.version})".rstrip())
        for kind, names in info.registers.items():
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


COMMANDS = {"train": command_train, "sample": command_sample, "eval": command_eval, "report": command_report,
            "info": command_info, "plugins": command_plugins}


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus --nproc, for the processes torchrun starts."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--nproc":
            skip = True
        elif not word.startswith("--nproc="):
            kept.append(word)
    return kept


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    if args.command == "train" and args.nproc and args.nproc > 1:
        from pygan import distributed

        return distributed.launch(args.nproc, without_nproc(argv))
    try:
        COMMANDS[args.command](args)
    except PyganError as error:
        print(f"pygan: error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("pygan: aborted", file=sys.stderr)
        return 130
    return 0

