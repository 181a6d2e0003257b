"""The generator's images for the run's fixed noise, as ``samples/NNNNN.png``
4x4 grids, every ``--sample-every`` steps."""

import pygan
from pygan.files import reporting_write_errors
from pygan.images import save_grid
from pygan.run_folder import SAMPLES


@pygan.hookimpl
def on_sample(run, step, images):
    folder = run.out_dir / SAMPLES
    with reporting_write_errors(folder):
        folder.mkdir(exist_ok=True)
    save_grid(images, folder / f"{step:05d}.png")
