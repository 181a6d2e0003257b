"""``pygan sample``: grids, chosen classes, code sweeps and latent walks
drawn from a trained generator."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from pygan._config.registry import get_plugins
from pygan._contracts.messages import UsageError

DEFAULT_SAMPLES = 64
# Beyond this a grid outgrows what one picture is for, and what memory may
# hold: its images take 256 MiB as float32 (made a few hundred at a time),
# and as much again while they are laid out.
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
    sampling.check_truncation(architecture, generator, args.truncation, "--truncation")
    rng = torch.Generator(device)
    rng.manual_seed(args.seed) if args.seed is not None else rng.seed()
    rows = max(architecture.classes, 1)  # of --class-grid and --sweep
    if args.class_grid:
        columns = args.n or CLASS_GRID_COLUMNS
        check_grid_size(columns * rows, state["image_shape"])
        latent = sampling.class_grid_latent(architecture, columns, rng, device)
    elif args.sweep is not None:
        code = args.sweep.removeprefix("code")
        if not code.isdigit():
            raise UsageError(f"--sweep takes code1, code2, ..., not {args.sweep!r}")
        columns = args.n or SWEEP_COLUMNS
        check_grid_size(columns * rows, state["image_shape"])
        latent = sampling.sweep_latent(architecture, int(code) - 1, columns, rng, device)
    else:
        n = args.n or DEFAULT_SAMPLES
        check_grid_size(n, state["image_shape"])
        columns, labels = math.ceil(math.sqrt(n)), None
        if args.label is not None:
            sampling.require_classes(architecture, "--class")
            if args.label >= architecture.classes:
                raise UsageError(f"--class {args.label}: architecture {architecture.name!r} generates classes 0 to "
                                 f"{architecture.classes - 1}")
            labels = torch.full((n,), args.label, device=device)
        latent = architecture.draw_latent(n, rng, device, labels)
    images = sampling.generate(architecture, generator, latent, args.truncation)
    save_grid(images, args.out, columns=columns)
    print(f"{len(images)} samples of {state['architecture']} at step {state['step']} written to {args.out}")


def check_grid_size(count: int, image_shape, what: str = "a grid") -> None:
    """Refuse, before anything is drawn, more pixel values than ``what`` may hold."""
    pixels = count * math.prod(image_shape)
    if pixels > MAX_SAMPLE_PIXELS:
        raise UsageError(f"{count:,} images of {'x'.join(map(str, image_shape))} make {what} of {pixels:,} pixel "
                         f"values, more than the {MAX_SAMPLE_PIXELS:,} it may hold; ask for fewer with --n")


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
    sampling.check_truncation(architecture, generator, args.truncation, "--truncation")
    rng = torch.Generator(device)
    rng.manual_seed(args.seed) if args.seed is not None else rng.seed()
    walks = args.n or INTERPOLATION_WALKS
    # Every frame of every walk is held until the GIF is written.
    check_grid_size(walks * INTERPOLATION_POINTS * INTERPOLATION_FRAMES, state["image_shape"],
                    f"an animation of {walks:,} walks")
    latents = sampling.interpolation_latents(architecture, walks, INTERPOLATION_POINTS, INTERPOLATION_FRAMES,
                                             rng, device)
    frames = [sampling.generate(architecture, generator, latent, args.truncation).cpu() for latent in latents]
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
