"""The generator's images for the run's fixed noise, as ``samples/NNNNN.png``
4x4 grids, every ``--sample-every`` steps."""

import pygan
from pygan import SAMPLES_DIR, reporting_write_errors, save_grid


@pygan.hookimpl
def on_sample(run, step, images):
    folder = run.out_dir / SAMPLES_DIR
    with reporting_write_errors(folder):
        folder.mkdir(exist_ok=True)
    save_grid(images, folder / f"{step:05d}.png")
