"""The ``pygan`` command: train, sample, eval, report, info, plugins."""

from __future__ import annotations

import argparse
import itertools
import json
import math
import platform
import sys
from pathlib import Path

import torch

from pygan import __version__
from pygan._config.options import add_arguments, flag
from pygan._config.registry import get_plugins
from pygan._contracts.messages import PyganError, UsageError, notice


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
        "defaults (see 'pygan plugins'); plugins add options of their own. Writes config.json, "
        "metrics.jsonl, losses.png, samples/NNNNN.png and checkpoints/NNNNNNNN.pt into --out."))
    add_arguments(train, get_plugins().options.values())
    train.add_argument("--out", type=Path, help="run folder (default runs/PLUGIN-TIMESTAMP)")
    train.add_argument("--nproc", type=positive_int, metavar="N",
                       help="train data-parallel in N processes (runs torchrun; batch size is per process)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR")

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
    return parser


def command_train(args) -> int | None:
    from pygan._training import distributed, runner

    plugins = get_plugins()
    options = {name: getattr(args, name) for name in plugins.options}
    if args.resume is not None and args.out is not None and args.out != args.resume:
        raise UsageError("--out and --resume name different folders; a resumed run stays in its own folder")
    config = runner.configure(plugins, options, args.resume)  # a mistake is one message, before anything starts
    out, argv = args.out, args.argv
    if args.resume is None and out is None:
        out = new_run_folder(config["plugin"])
        argv = [*argv, "--out", str(out)]  # data-parallel workers train into the same folder
    if args.nproc and args.nproc > 1:
        if args.resume is None:
            runner.check_unused(out)
        return distributed.launch(args.nproc, without_nproc(argv))
    try:
        run = runner.train(plugins, options, out, args.resume)
    finally:
        distributed.stop()
    if run.rank == 0:
        print(f"run finished at step {run.total_steps}: {run.out_dir}")
    return None


def new_run_folder(plugin: str) -> Path:
    """A fresh ``runs/PLUGIN-TIMESTAMP`` folder, made atomically, so that
    runs started in the same second get folders of their own."""
    from datetime import datetime

    stem = Path("runs") / f"{plugin}-{datetime.now():%Y%m%d-%H%M%S}"
    for attempt in itertools.count(1):
        folder = stem if attempt == 1 else stem.with_name(f"{stem.name}-{attempt}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
        except OSError as error:
            raise UsageError(f"cannot make the run folder {folder}: {error.strerror or error}; "
                             f"choose one with --out") from None


DEFAULT_SAMPLES = 64
# Beyond this a grid (and the batch drawn for it) outgrows what one PNG is
# for, and what memory may hold: 64 Mi float32 values take 256 MiB.
MAX_SAMPLE_PIXELS = 64 * 2 ** 20
CLASS_GRID_COLUMNS = 10  # images per class of --class-grid
SWEEP_COLUMNS = 10  # images per row of --sweep


def command_sample(args) -> None:
    from pygan._files.pictures import image_format, save_grid
    from pygan._training import sampling
    from pygan._training.runner import select_device

    if args.interpolate:
        return command_interpolate(args)
    image_format(args.out)  # a name that says no known format is refused before any work
    device = select_device(args.device)
    state, architecture, generator = sampling.load_generator(get_plugins(), args.checkpoint, device)
    rng = torch.Generator(device)
    rng.manual_seed(args.seed) if args.seed is not None else rng.seed()
    if args.class_grid:
        columns = args.n or CLASS_GRID_COLUMNS
        latent = sampling.class_grid_latent(architecture, columns, rng, device)
    elif args.sweep is not None:
        code = args.sweep.removeprefix("code")
        if not code.isdigit():
            raise UsageError(f"--sweep takes code1, code2, ..., not {args.sweep!r}")
        columns = SWEEP_COLUMNS
        latent = sampling.sweep_latent(architecture, int(code) - 1, columns, rng, device)
    else:
        n = args.n or DEFAULT_SAMPLES
        columns, labels = math.ceil(math.sqrt(n)), None
        if args.label is not None:
            sampling.require_classes(architecture, "--class")
            if args.label >= architecture.classes:
                raise UsageError(f"--class {args.label}: architecture {architecture.name!r} generates classes 0 to "
                                 f"{architecture.classes - 1}")
            labels = torch.full((n,), args.label, device=device)
        latent = architecture.draw_latent(n, rng, device, labels)
    pixels = len(latent.z) * math.prod(state["image_shape"])
    if pixels > MAX_SAMPLE_PIXELS:
        raise UsageError(f"{len(latent.z):,} images of {'x'.join(map(str, state['image_shape']))} make a grid of "
                         f"{pixels:,} pixel values, more than the {MAX_SAMPLE_PIXELS:,} one grid may hold; "
                         f"ask for fewer with --n")
    images = sampling.generate(architecture, generator, latent)
    save_grid(images, args.out, columns=columns)
    print(f"{len(images)} samples of {state['architecture']} at step {state['step']} written to {args.out}")


INTERPOLATION_WALKS = 8  # default --n of --interpolate
INTERPOLATION_POINTS = 4  # random points each walk passes through, and returns to the first
INTERPOLATION_FRAMES = 16  # frames from one point to the next
STRIP_COLUMNS = 10  # images of each walk's first leg in the PNG strip


def command_interpolate(args) -> None:
    from PIL import Image

    from pygan._files.pictures import image_grid, save_grid, save_image
    from pygan._training import sampling
    from pygan._training.runner import select_device

    out = Path("interpolation.gif") if args.out == Path("samples.png") else Path(args.out)
    gif, strip = out.with_suffix(".gif"), out.with_suffix(".png")
    device = select_device(args.device)
    state, architecture, generator = sampling.load_generator(get_plugins(), args.checkpoint, device)
    rng = torch.Generator(device)
    rng.manual_seed(args.seed) if args.seed is not None else rng.seed()
    walks = args.n or INTERPOLATION_WALKS
    pixels = walks * STRIP_COLUMNS * math.prod(state["image_shape"])
    if pixels > MAX_SAMPLE_PIXELS:
        raise UsageError(f"{walks:,} walks of {'x'.join(map(str, state['image_shape']))} images are more than one "
                         f"strip may hold; ask for fewer with --n")
    latents = sampling.interpolation_latents(architecture, walks, INTERPOLATION_POINTS, INTERPOLATION_FRAMES,
                                             rng, device)
    frames = [sampling.generate(architecture, generator, latent).cpu() for latent in latents]
    columns = math.ceil(math.sqrt(walks))
    pictures = [Image.fromarray(picture[:, :, 0] if picture.shape[2] == 1 else picture)
                for picture in (image_grid(frame, columns) for frame in frames)]
    pictures = [picture.resize((picture.width * 2, picture.height * 2), Image.NEAREST) for picture in pictures]
    save_image(pictures[0], gif, format="GIF", save_all=True, append_images=pictures[1:], duration=80, loop=0)
    # The strip: one row per walk, its first leg in STRIP_COLUMNS evenly spaced frames.
    chosen = [round(i * INTERPOLATION_FRAMES / (STRIP_COLUMNS - 1)) for i in range(STRIP_COLUMNS)]
    strip_images = torch.stack([frames[i % len(frames)] for i in chosen], dim=1).flatten(0, 1)
    save_grid(strip_images, strip, columns=STRIP_COLUMNS)
    method = "slerp" if sampling.spherical(architecture) else "linear"
    print(f"{walks} walks ({method}) of {state['architecture']} at step {state['step']}: {len(frames)} frames "
          f"written to {gif}, a strip to {strip}")


def command_eval(args) -> None:
    from pygan._evaluation.classifier import HELD_OUT, ClassifierMetrics
    from pygan._evaluation.features import feature_distances, feature_network, inception_network
    from pygan._evaluation.real_images import reference_images
    from pygan._training import sampling
    from pygan._training.runner import select_device

    device = select_device(args.device)
    plugins = get_plugins()
    state, architecture, generator = sampling.load_generator(plugins, args.checkpoint, device)
    config = state["config"]
    dataset = plugins.dataset(args.dataset or config["dataset"])
    # The run's own --data-dir only fits when comparing with the run's data set.
    data_dir = args.data_dir or (config["data_dir"] if dataset.name == config["dataset"] else None)
    images, labels = reference_images(dataset, data_dir, tuple(state["image_shape"]), config)
    if labels is not None and len(labels) < 2 * HELD_OUT and not args.fid:
        notice(f"{dataset.name} has too few labelled images ({len(labels):,}) to train a classifier: "
               f"measuring FID and KID instead")
        labels = None
    run = {"checkpoint": str(state["path"]), "step": state["step"], "dataset": dataset.name}
    if args.fid or args.feature_network or labels is None:
        features = (feature_network(args.feature_network, device) if args.feature_network
                    else inception_network(args.inception_weights, device))
        draw = sampling.sampler(architecture, generator, torch.Generator(device).manual_seed(args.seed), device)
        results = feature_distances(draw, images, features, min(args.n, len(images)), seed=args.seed)
        results = {**run, "features": str(args.feature_network or "inception-v3"), **results}
        if args.json:
            print(json.dumps(results, indent=2))
            return
        print(f"{state['architecture']} at step {state['step']} ({state['path']}) against {dataset.name}, "
              f"{results['n']:,} samples each, in {results['features']} features")
        print(f"  FID  {results['fid']:12.4f}   (lower is better; real data ~0)")
        print(f"  KID  {results['kid']:12.6f}   (+- {results['kid_std']:.6f}; lower is better; real data ~0)")
        return
    if tuple(images.shape[1:]) != tuple(state["image_shape"]):
        notice(f"samples {'x'.join(map(str, state['image_shape']))} are converted to the {dataset.name} "
               f"classifier's {'x'.join(map(str, images.shape[1:]))}")
    metrics = ClassifierMetrics(dataset.name, images, labels, device)
    results = metrics.measure(architecture, generator, args.n, sample_seed=args.seed, real_seed=args.seed)
    results = {**run, **results}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{state['architecture']} at step {state['step']} ({state['path']}) against {dataset.name}, "
          f"{args.n:,} samples each")
    print(f"  Fréchet classifier distance  {results['fcd']:10.4f}   (lower is better; real data ~0)")
    print(f"  classifier score             {results['classifier_score']:10.4f}   "
          f"(higher is better; real data {results['real_classifier_score']:.4f})")
    if "label_accuracy" in results:
        print(f"  label accuracy               {results['label_accuracy']:10.2%}   "
              f"(samples recognised as the class asked for; chance {1 / architecture.classes:.0%})")
    print(f"  classifier accuracy          {results['classifier_accuracy']:10.2%}   (on held-out real images)")
    print("  class shares  " + "  ".join(f"{label}: {share:.1%}" for label, share in enumerate(results["class_shares"])))
    if results["mode_collapse"]:
        print(f"  warning: {results['dominant_class_share']:.0%} of the samples are class "
              f"{results['dominant_class']}: the generator may have collapsed onto few modes")


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
        print(f"extension: kernels loaded (CUDA kernels built: {'yes' if info['extension_with_cuda'] else 'no'})")
        kernels = ", ".join(f"{op} ({', '.join(devices)})" for op, devices in info["kernels"].items())
        print(f"compiled kernels: {kernels}")
    else:
        print(f"extension: NOT loaded: {info['extension_error']}")
    print(f"op backends (PYGAN_OPS={info['requested']}):")
    for device_type, backends in info["devices"].items():
        choices = {(op["selected"], op["reason"]) for op in backends.values()}
        if len(choices) == 1:  # the usual case: every op on one backend
            print("  {}: {} ({})".format(device_type, *choices.pop()))
        else:
            for op, backend in backends.items():
                print(f"  {device_type}, {op}: {backend['selected']} ({backend['reason']})")
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
    args.argv = argv
    try:
        status = COMMANDS[args.command](args)
    except PyganError as error:
        if getattr(error, "announce", True):
            print(f"pygan: error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        print("pygan: aborted", file=sys.stderr)
        return 130
    return status or 0

