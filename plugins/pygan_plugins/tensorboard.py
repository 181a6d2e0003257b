"""Training metrics for TensorBoard, with ``pygan train --tensorboard``:
scalars every step and the sample grids, in ``RUN_DIR/tensorboard``."""

import pygan
from pygan import image_grid, reporting_write_errors

DIRECTORY = "tensorboard"


def summary_writer(log_dir):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise pygan.UsageError("--tensorboard needs the tensorboard package: pip install 'pygan[tensorboard]' "
                               "(or pip install tensorboard)") from None
    with reporting_write_errors(log_dir):  # a full disk or a file in the folder's place, named
        return SummaryWriter(log_dir=str(log_dir))


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("tensorboard", bool, False, "also log metrics for TensorBoard into RUN_DIR/tensorboard "
                          "(pip install 'pygan[tensorboard]')", resumable=True))


@pygan.hookimpl
def on_train_start(run):
    if run.config.get("tensorboard"):
        run.state["tensorboard"] = summary_writer(run.out_dir / DIRECTORY)


@pygan.hookimpl
def on_step_end(run, step, metrics):
    writer = run.state.get("tensorboard")
    if writer is not None:
        for key, value in metrics.items():
            writer.add_scalar(key, value, step)


@pygan.hookimpl
def on_sample(run, step, images):
    writer = run.state.get("tensorboard")
    if writer is not None:
        writer.add_image("samples", image_grid(images, columns=4), step, dataformats="HWC")


@pygan.hookimpl
def on_run_end(run, step, status):
    writer = run.state.pop("tensorboard", None)
    if writer is not None:
        with reporting_write_errors(run.out_dir / DIRECTORY):
            writer.close()
