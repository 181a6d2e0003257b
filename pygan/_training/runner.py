"""A training run's life: setting it up from a configuration (new or
resumed), stepping it through its recipe on the engine to its total,
checkpoints, sample grids, Ctrl-C and SIGTERM, and the plugins' callbacks.

The pieces: ``pygan._training.engine`` runs steps on the device; a recipe
(``pygan.Recipe``, a plugin) says what a step computes, through a
``pygan.StepContext``; this module drives them.
"""

from __future__ import annotations

import contextlib
import random
import signal
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import numpy as np
import torch

from pygan._config.options import network_option
from pygan._config.registry import PluginFailed, Plugins, calling_plugin
from pygan._config.resolve import CONFIG_FILE, resolve_classes, write_config
from pygan._contracts.messages import Interrupted, PyganError, UsageError, notice
from pygan._contracts.run import Run
from pygan._files import atomic as files
from pygan._files.folder_lock import claimed
from pygan._training import checkpoint, distributed
from pygan._training.average import GeneratorAverage
from pygan._training.data import InMemoryData, StreamingData, load_data
from pygan._training.distributed import Processes
from pygan._training.engine import Engine
from pygan._training.networks import build_networks
from pygan._training.sampling import fixed_latent
from pygan._training.step import StepContext


class NonFiniteLoss(Exception):
    """A loss (or, without loss scaling, a gradient) came out NaN or
    infinite; no update was made with it."""


class NoCallbacks:
    """Stands in for the plugins' callbacks on ranks other than 0: every
    callback is accepted and ignored."""

    def named(self, hook_name: str, **kwargs) -> list:
        return []

    def __getattr__(self, hook_name: str):
        return lambda **kwargs: []


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.partition(":")[0] == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device cuda, but torch {torch.__version__} sees no CUDA device; use --device cpu")
    if name.partition(":")[0] not in ("cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


class Runner:
    """Steps a run through its recipe and keeps everything a checkpoint needs."""

    def __init__(self, run: Run, engine: Engine, context: StepContext, recipe, rng: torch.Generator,
                 plugins: Plugins, processes: Processes, average: GeneratorAverage | None = None) -> None:
        self.run, self.engine, self.context, self.recipe, self.rng = run, engine, context, recipe, rng
        self.average = average
        self.recipe_plugin = plugins.owner("recipe", recipe.name)
        self.processes = processes
        # Only rank 0 reports, samples and writes the run folder.
        self.hook = plugins.callbacks if self.processes.is_main else NoCallbacks()
        self.step_hooks = plugins.callbacks  # called inside the step, on every rank alike
        self.finite_so_far = True  # whether every step read back so far was finite

    @property
    def step_count(self) -> int:
        return self.engine.step_count

    def step(self) -> dict[str, float]:
        """One training step, and its metrics read back; raises
        NonFiniteLoss if an update was not finite. ``train`` instead reads
        the metrics back every ``--sync-every`` steps."""
        self.enqueue_step()
        (_, metrics, problem), = self.read_metrics()[-1:]
        if problem is not None:
            raise NonFiniteLoss(problem)
        return metrics

    def enqueue_step(self) -> None:
        self.engine.enqueue(self._recipe_step)

    def _recipe_step(self) -> dict[str, torch.Tensor]:
        """The recipe's step, its failures and broken promises named with it."""
        recipe, plugin = self.recipe, self.recipe_plugin
        where = f"its recipe {recipe.name!r}"
        metrics = calling_plugin(plugin, "register_recipes", recipe.step, self.context, where=where, inside_step=True)
        if not is_metrics(metrics):
            raise PluginFailed(plugin, "register_recipes", TypeError(
                f"it returned {shown(metrics)}, where a recipe returns its metrics as a dict of names to 0-d tensors "
                f"(return {{'d_loss': d_loss, ...}}; keep them tensors: a float read from one stalls the GPU)"),
                where, inside_step=True)
        return {**metrics, **self._plugin_metrics(metrics)}

    def _plugin_metrics(self, recipe_metrics: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """What the ``step_metrics`` hooks add to the step's metrics, checked
        like a recipe's, and never renaming one."""
        added: dict[str, torch.Tensor] = {}
        for plugin, metrics in self.step_hooks.named("step_metrics", run=self.run):
            if not is_metrics(metrics):
                problem = f"it returned {shown(metrics)}, where step_metrics returns a dict of names to 0-d tensors"
            else:
                taken = sorted(set(metrics) & (set(recipe_metrics) | set(added)))
                problem = f"it returned {', '.join(map(repr, taken))}, which the step has already" if taken else None
            if problem is not None:
                raise PluginFailed(plugin, "step_metrics", TypeError(problem), inside_step=True)
            added.update(metrics)
        return added

    def read_metrics(self) -> list[tuple[int, dict[str, float], str | None]]:
        return self.engine.read()

    # --- checkpoints ------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        # On every rank: it gathers their random states.
        return checkpoint.training_state(self.run, self.engine.state_dict(), self.processes.gather(self.rng.get_state()),
                                         self.context.data.state_dict())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        checkpoint.check_resumable(state, self.run.architecture.name)
        if len(state["rng"]) != self.processes.world_size:
            raise UsageError(f"{state['path']} was written by a run of {len(state['rng'])} processes; "
                             f"resume it with as many (--nproc {len(state['rng'])})")
        data = checkpoint.data_state(state)
        saved = data.get("fingerprint")  # absent before pygan 0.3
        if saved is not None and saved != self.context.data.fingerprint():
            where = self.run.config["data_dir"] or f"the {self.run.config['dataset']} data set's cache"
            raise UsageError(f"{where}: not the data the run in {self.run.out_dir} was trained on ("
                             f"{len(self.context.data):,} images where it had {saved['count']:,}, or other images); "
                             f"resume it with --data-dir naming its data, or start a new run")
        self.engine.load_state_dict(checkpoint.restore_run(state, self.run))
        if self.average is not None:
            self.average.start_at(self.engine.step_count)
        self.rng.set_state(state["rng"][self.processes.rank].cpu())
        self.context.data.load_state_dict(data)

    def save_checkpoint(self) -> Path:
        path = checkpoint.path_for(self.run.out_dir, self.step_count)
        state = self.state_dict()
        if not self.processes.is_main:
            return path
        checkpoint.save(path, state)
        checkpoint.prune(self.run.out_dir, self.run.config["keep_checkpoints"])
        self.hook.on_checkpoint(run=self.run, step=self.step_count, path=path)
        return path

    # --- the run ----------------------------------------------------------------

    def train(self) -> None:
        """Step until the run's total, calling the plugins' callbacks."""
        run, config = self.run, self.run.config
        status = "failed"
        self.hook.on_train_start(run=run)
        # Written only once the plugins have accepted the run, so that a run
        # that failed to start does not block the same --out from being used.
        if self.processes.is_main:
            write_config(run.out_dir, config)
        try:
            with stop_requests(announce=self.processes.is_main) as requested_stop:
                while self.step_count < run.total_steps:
                    self.enqueue_step()
                    step = self.step_count
                    measurements = [measurement(plugin, measure)
                                    for plugin, measure in self.hook.named("measure", run=run, step=step)]
                    sample = bool(config["sample_every"] and step % config["sample_every"] == 0)
                    save = step == run.total_steps or bool(config["checkpoint_every"]
                                                           and step % config["checkpoint_every"] == 0)
                    stop_signal = self.processes.any(requested_stop())
                    # A data worker killed during the step: the step completed
                    # without it; the run stops with its checkpoint.
                    data_failed = step < run.total_steps and self.processes.any(
                        int(self.context.data.failure is not None))
                    # Metrics are read back in batches (on every rank at
                    # once: reading averages them over ranks), and always
                    # before anything is made from the weights: a
                    # measurement, checkpoint or sample grid never shows a
                    # run that has gone non-finite.
                    if (self.engine.metric_rows.full or sample or save or stop_signal or data_failed
                            or self.processes.any(int(bool(measurements)))):
                        self._report_metrics(measurements)
                    if sample:
                        self.hook.on_sample(run=run, step=step, images=run.sample())
                    if save or data_failed:
                        path = self.save_checkpoint()
                    if data_failed:
                        raise PyganError(
                            f"{self.context.data.failure or 'a process reading the data of another rank was killed'}; "
                            f"training stopped at step {step}, checkpoint {path}\n"
                            f"resume with: pygan train --resume {run.out_dir} (with fewer --workers where memory is "
                            f"short; --workers 0 reads the data in the training process)")
                    if stop_signal:
                        path = self.save_checkpoint()
                        status = "interrupted"
                        raise Interrupted(
                            f"stopped at step {step}; checkpoint {path}\n"
                            f"resume with: pygan train --resume {run.out_dir}", stop_signal,
                            announce=self.processes.is_main)
            self.processes.check_same_weights(run.generator, run.discriminator)
            status = "finished"
        except PluginFailed as failure:
            raise PyganError(f"{failure}; {self._save_after_failure(failure)}") from failure
        finally:
            try:
                self.hook.on_run_end(run=run, step=self.step_count, status=status)
            except PluginFailed as failure:
                if status == "finished":
                    raise PyganError(f"{failure} after the run finished") from failure
                # What stopped the run is what the user must hear about.
                notice(str(failure))

    def _report_metrics(self, measurements: list) -> None:
        """Pass the steps' metrics read back to the callbacks, with what the
        due measurements add to the latest step; or stop at a non-finite one."""
        reports = self.read_metrics()
        self.finite_so_far = all(problem is None for _, _, problem in reports)
        for step, metrics, problem in reports:
            if problem is not None:
                raise PyganError(self._nonfinite_message(step, problem))
            failed = None
            if step == self.step_count:
                for measure in measurements:
                    try:
                        metrics.update(measure())
                    except PluginFailed as failure:
                        failed = failed or failure
            self.hook.on_step_end(run=self.run, step=step, metrics=metrics)
            if failed is not None:  # the step is logged: train() stops with its checkpoint
                raise failed

    def _save_after_failure(self, failure: PluginFailed) -> str:
        """After a plugin failed between steps: a checkpoint of the weights
        as they are, if every step so far was finite, and what to do. Not
        after a failure inside a step (its updates are half made), nor in a
        data-parallel run (the other ranks cannot join in)."""
        if self.step_count == self.run.start_step:
            return "no step was trained"
        finite = self.finite_so_far and all(problem is None for _, _, problem in self.read_metrics())
        if not finite or failure.inside_step or self.processes.distributed:
            return "training stopped"
        path = checkpoint.path_for(self.run.out_dir, self.step_count)
        checkpoint.save(path, self.state_dict())
        return (f"training stopped at step {self.step_count}, checkpoint {path}; fix or remove the plugin, "
                f"then resume with: pygan train --resume {self.run.out_dir}")

    def _nonfinite_message(self, step: int, problem: str) -> str:
        found = checkpoint.saved_in(self.run.out_dir)
        kept = f"the last good checkpoint is {found[-1]}" if found else "no checkpoint was written yet"
        return (f"step {step}: {problem}; training stopped, {kept}. Lower the learning rates, "
                f"or pass --skip-nonfinite to skip such updates")


def is_metrics(value: Any) -> bool:
    """Whether ``value`` is a step's metrics: a dict of names to 0-d tensors."""
    return isinstance(value, Mapping) and all(
        isinstance(name, str) and isinstance(metric, torch.Tensor) and metric.dim() == 0
        for name, metric in value.items())


def shown(value: Any) -> str:
    """What a plugin returned instead of a step's metrics, for the message."""
    if not isinstance(value, Mapping):
        return type(value).__name__
    return ", ".join(f"{name!r}: {type(metric).__name__}" for name, metric in value.items())


def measurement(plugin: str, measure: Any) -> Callable[[], dict[str, float]]:
    """What a ``measure`` hook returned, checked to be a function and called
    so that its failures, and a result that is not a dict, name the plugin."""
    if not callable(measure):
        raise PluginFailed(plugin, "measure", TypeError(
            f"it returned a {type(measure).__name__}; measure returns a function that measures the step (or "
            f"None), which pygan calls once the step's metrics are read"))

    def measured() -> dict[str, float]:
        try:
            values = calling_plugin(plugin, "measure", measure)
        except PluginFailed:
            raise
        except PyganError as error:  # by the time it runs, what to do is to deal with the plugin
            raise PluginFailed(plugin, "measure", error) from error
        if not isinstance(values, Mapping):
            raise PluginFailed(plugin, "measure", TypeError(
                f"its measurement returned a {type(values).__name__}, not a dict of metric names to numbers"))
        return values
    return measured


@contextlib.contextmanager
def stop_requests(announce: bool = True) -> Iterator:
    """Turn the first Ctrl-C or SIGTERM into a request to stop after the
    current step (the returned callable gives the signal number, or 0),
    saying so if ``announce``; a second one aborts at once."""
    received: list[int] = []

    def handle(signal_number, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signal_number)
        if announce:
            notice("stopping after this step and saving a checkpoint (press Ctrl-C again to abort at once)")

    handled = (signal.SIGINT, signal.SIGTERM)
    try:
        previous = {number: signal.signal(number, handle) for number in handled}
    except ValueError:  # not the main thread: signals stay with whoever owns them
        yield lambda: 0
        return
    try:
        yield lambda: received[0] if received else 0
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def make_out_dir(out_dir: Path) -> None:
    """Make the run folder, or fail before any training if it cannot be written."""
    try:
        (out_dir / checkpoint.DIRECTORY).mkdir(parents=True, exist_ok=True)
        # A probe file of this process's own: two runs started together into
        # one folder (which the run lock then refuses) each delete only theirs.
        with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".pygan-write-test-"):
            pass
    except OSError as error:
        raise UsageError(f"--out {out_dir} cannot be written: {error.strerror or error}") from None


def check_unused(out_dir: Path) -> None:
    if (out_dir / CONFIG_FILE).exists():
        raise UsageError(f"--out {out_dir} already holds a run; continue it with --resume {out_dir} "
                         f"or choose another --out")


def prepare_out_dir(out_dir: Path, resuming: bool) -> None:
    """Make the run folder; a new run's must not hold a run already."""
    make_out_dir(out_dir)
    if not resuming:
        check_unused(out_dir)


def seed_everything(seed: int, processes: Processes) -> None:
    """Seed torch's global generator (the same on every rank: the networks'
    initial weights must agree) and Python's and numpy's (per rank, as each
    rank draws its own samples), so plugins drawing from any are
    reproducible; checkpoints save all three."""
    torch.manual_seed(seed)
    random.seed(seed + processes.rank)
    np.random.seed((seed + processes.rank) % 2 ** 32)


def optimizer_for(plugins: Plugins, config: dict[str, Any], network: str, module: torch.nn.Module):
    """The network's optimizer, built from its own settings (``lr_d`` and
    the optimizer's options with the ``_d`` suffix, for the discriminator),
    as the recipe adjusts them (``Recipe.optimizer_settings``)."""
    optimizer = plugins.optimizer(network_option(config, "optimizer", network))
    settings = {name: network_option(config, name, network) for name in ("lr", *optimizer.options)}
    recipe = plugins.recipe(config["recipe"])
    if recipe.optimizer_settings is not None:
        settings = dict(recipe.optimizer_settings(config, network, settings))
    return optimizer.build(list(module.parameters()), settings)


def create_runner(plugins: Plugins, config: dict[str, Any], out_dir: Path,
                  data: InMemoryData | StreamingData | torch.Tensor, processes: Processes = Processes()) -> Runner:
    """Build the networks (seeded), their optimizers, the engine and the
    recipe's context for a resolved config and the data on its device."""
    if isinstance(data, torch.Tensor):
        data = InMemoryData(data)
    architecture = plugins.architecture(config["plugin"])
    device = data.device
    config["classes"] = resolve_classes(architecture, config, data.classes)
    architecture = architecture.configured(config["classes"])
    data.check_labels(config["dataset"], architecture)
    seed_everything(config["seed"], processes)
    networks = build_networks(plugins, architecture, config, data.image_shape, device, training=True)
    generator, discriminator = networks["generator"], networks["discriminator"]
    run = Run(config=config, out_dir=Path(out_dir), architecture=architecture, loss=plugins.loss(config["loss"]),
              generator=generator, discriminator=discriminator, device=device, image_shape=data.image_shape,
              fixed_latent=fixed_latent(architecture, config["seed"], device), total_steps=config["steps"],
              rank=processes.rank, world_size=processes.world_size, dataset=plugins.dataset(config["dataset"]))
    # A streamed batch is fetched by the host: such a step cannot be a CUDA graph.
    if device.type == "cuda" and config["cuda_graphs"] and not data.on_device and processes.is_main:
        notice("CUDA graphs are off while the data is streamed: each step runs eagerly")
    engine = Engine(device, precision=config["precision"], skip_nonfinite=config["skip_nonfinite"],
                    sync_every=config["sync_every"], cuda_graphs=config["cuda_graphs"] and data.on_device,
                    compile_networks=config["compile"], processes=processes)
    wrapped = {network: engine.add_network(network, module, optimizer_for(plugins, config, network, module))
               for network, module in (("discriminator", discriminator), ("generator", generator))}
    for network, module in (("discriminator", discriminator), ("generator", generator)):
        engine.after_update[network].append(
            lambda network=network, module=module: plugins.callbacks.after_update(run=run, network=network,
                                                                                   module=module))
    average = None
    if config["ema"] is not None or config["ema_kimg"] is not None:
        # An exponential moving average of the generator's weights: smoother
        # samples than the generator's latest, noisy, weights.
        average = GeneratorAverage(generator, config, config["batch_size"] * processes.world_size, device)
        run.ema_generator = average.module
        engine.after_step.append(average.update)
    # One generator for everything the step draws (real indices, noise), so
    # that its state in a checkpoint is all a resumed run needs; each rank
    # draws its own samples.
    rng = torch.Generator(device).manual_seed(config["seed"] + processes.rank)
    engine.draws_from(rng)
    penalty = None if config["penalty"] in (None, "none") else plugins.penalty(config["penalty"])
    context = StepContext(run, engine, data, rng, penalty, wrapped, plugins.callbacks)
    return Runner(run, engine, context, plugins.recipe(config["recipe"]), rng, plugins, processes, average)


def train(plugins: Plugins, config: dict[str, Any], out_dir: Path, resuming: bool) -> Run:
    """Set up a run from its resolved configuration (``pygan._config.resolve.configure``),
    new or resumed from ``out_dir``, and train it."""
    out_dir = Path(out_dir)
    processes, device_name = distributed.start(config["device"])
    device = select_device(device_name)
    with contextlib.ExitStack() as claim:
        if processes.is_main:
            make_out_dir(out_dir)
            claim.enter_context(claimed(out_dir))
            if not resuming:
                check_unused(out_dir)
            files.remove_orphaned_temporaries(out_dir)  # only now: no other run writes there
            if processes.distributed:
                notice(f"data-parallel over {processes.world_size} processes: batch {config['batch_size']} per "
                       f"process, {config['batch_size'] * processes.world_size} in all")
        state = resumed_state(out_dir, device) if resuming else None
        if state is not None:  # before any data is read
            checkpoint.check_resumable(state, config["plugin"])
        architecture = plugins.architecture(config["plugin"])
        # A resumed run draws its samples as it did before: in memory or streamed.
        kind = checkpoint.data_state(state)["kind"] if state is not None else None
        data = load_data(plugins.dataset(config["dataset"]), config["data_dir"], architecture, device, config,
                         kind=kind, rank=processes.rank)
        if config["batch_size"] > len(data):
            raise UsageError(f"--batch-size {config['batch_size']} is larger than the data set ({len(data):,} "
                             f"images); choose at most {len(data):,}")
        runner = create_runner(plugins, config, out_dir, data, processes)
        if state is not None:
            runner.load_state_dict(state)
            if runner.step_count >= config["steps"]:
                raise UsageError(f"the run in {out_dir} is already at step {runner.step_count}; "
                                 f"give a larger --steps to extend it")
        run = runner.run
        run.start_step = runner.step_count
        runner.train()
    return run


def resumed_state(out_dir: Path, device: torch.device) -> dict[str, Any] | None:
    """The newest readable checkpoint of a run; None for a run that stopped
    before its first, which then starts again from step 0 with its saved
    configuration."""
    if not checkpoint.saved_in(out_dir):
        notice(f"{out_dir} has no checkpoint (the run stopped before its first): starting it again from step 0 "
               f"with its saved configuration")
        return None
    return checkpoint.load_newest_good(out_dir, map_location=device)
