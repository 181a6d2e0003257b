"""A progress bar for training: step, steps/s, ETA and the current losses
and accuracies (every metric named "*_loss" or "*_acc"), on stderr (a
widget in Jupyter)."""

from tqdm.auto import tqdm  # a text bar in a terminal, a widget in Jupyter

import pygan

REFRESH_EVERY = 10  # steps between updates of the losses shown; tqdm paces the redraws


@pygan.hookimpl
def on_train_start(run):
    run.state["progress"] = tqdm(total=run.total_steps, initial=run.start_step, unit="step",
                                 dynamic_ncols=True, desc=run.config["plugin"])


@pygan.hookimpl
def on_step_end(run, step, metrics):
    bar = run.state["progress"]
    if step % REFRESH_EVERY == 0 or step == run.total_steps:
        bar.set_postfix_str(" ".join(f"{name} {value:.3f}" for name, value in metrics.items()
                                     if name.endswith(("_loss", "_acc"))), refresh=False)
    bar.update(1)


@pygan.hookimpl
def on_run_end(run, step, status):
    bar = run.state.pop("progress", None)
    if bar is not None:
        bar.close()
