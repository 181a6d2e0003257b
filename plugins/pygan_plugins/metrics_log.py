"""Per-step metrics as JSON lines (``metrics.jsonl``) and, at the end of a
run, a plot of the losses and accuracies (``losses.png``)."""

import json
import os

import pygan
from pygan import LOSS_PLOT_FILE, METRICS_FILE, plot_metrics, read_step_log, reporting_write_errors


@pygan.hookimpl
def on_train_start(run):
    path = run.out_dir / pygan.METRICS_FILE
    pygan.trim_step_log(path, run.start_step)
    with reporting_write_errors(path):
        run.state["metrics_log"] = open(path, "a", buffering=1)  # line-buffered: a crash loses no step


@pygan.hookimpl
def on_step_end(run, step, metrics):
    stream = run.state["metrics_log"]
    with reporting_write_errors(stream.name):
        stream.write(json.dumps({"step": step, **metrics}) + "\n")


@pygan.hookimpl
def on_checkpoint(run, step, path):
    # The checkpoint is on disk now; so are the steps logged up to it, or a
    # resume after a power loss would find them missing.
    stream = run.state.get("metrics_log")
    if stream is not None:
        with reporting_write_errors(stream.name):
            os.fsync(stream.fileno())


@pygan.hookimpl
def on_run_end(run, step, status):
    stream = run.state.pop("metrics_log", None)
    if stream is None:
        return
    with reporting_write_errors(stream.name):
        stream.close()
    rows = read_step_log(run.out_dir / METRICS_FILE)
    if rows:
        plot_metrics(rows, run.out_dir / LOSS_PLOT_FILE, title=f"{run.config['plugin']} ({run.config['loss']})")
