"""The adversarial training loop of SEED.md, for any registered architecture,
loss and data set.

Each step: fakes from the generator in inference mode; one discriminator
update on real and fake together; one generator update through the frozen
discriminator with the generator in training mode. RMSprop with Keras' time
decay, lr_t = lr / (1 + decay * t), t the number of updates so far
(``pygan.optim``).
"""

from __future__ import annotations

import contextlib
import copy
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import torch
from torch import nn

from pygan import checkpoint, distributed, evaluation, files
from pygan.config import (
    PRECISIONS,
    merge_resumed_config,
    read_config,
    resolve_config,
    write_config,
)
from pygan.console import notice
from pygan.distributed import Processes
from pygan.errors import Interrupted, PyganError, UsageError
from pygan.metric_rows import MetricRows
from pygan.optim import LossScaler, RMSprop
from pygan.plugins import Plugins
from pygan.specs import Architecture, Loss

SAMPLE_GRID_SIZE = 16  # the seed's 4x4 grid
# Eager steps before a training step is captured in a CUDA graph: the first
# steps initialize what capture cannot (cuBLAS/cuDNN handles and workspaces,
# lazily allocated state).
GRAPH_WARMUP_STEPS = 3
# --sync-every when not given: on the CPU reading a value back costs nothing;
# on a GPU each read stalls the queue of work the host has run ahead with.
DEFAULT_SYNC_EVERY = {"cpu": 1, "cuda": 100}


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA device (its loss scaling guards against float16 "
                         "underflow there); use --precision bf16 on the CPU")


def select_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"--device cuda, but torch {torch.__version__} sees no CUDA device; use --device cpu")
    if name.partition(":")[0] not in ("cpu", "cuda"):
        raise UsageError(f"--device must be auto, cpu or cuda, not {name!r}")
    return torch.device(name)


class NonFiniteLoss(Exception):
    """A loss (or, without loss scaling, a gradient) came out NaN or
    infinite; no update was made with it."""


class NoCallbacks:
    """Stands in for the plugins' hooks on ranks other than 0: every
    callback is accepted and ignored."""

    def __getattr__(self, hook_name: str):
        return lambda **kwargs: []


@dataclass
class Run:
    """A training run, as the training callbacks see it."""

    config: dict[str, Any]
    out_dir: Path
    architecture: Architecture
    loss: Loss
    generator: nn.Module
    discriminator: nn.Module
    device: torch.device
    image_shape: tuple[int, int, int]
    start_step: int = 0
    total_steps: int = 0
    processes: Processes = Processes()  # rank and world size when data-parallel
    state: dict[str, Any] = field(default_factory=dict)  # for plugins' own per-run state


def binary_accuracy(outputs: torch.Tensor, label: float, threshold: float) -> torch.Tensor:
    """Keras' binary accuracy: an output above the threshold (a logit above 0,
    sigmoid above 0.5) counts as label 1."""
    return ((outputs.flatten() > threshold).float() == label).float().mean()


class Trainer:
    """Owns the networks, optimizers and random state of one run.

    A training step runs entirely on the device, with no value read back to
    the host: its metrics go to a buffer (``MetricRows``) read every
    ``sync_every`` steps, and a non-finite loss skips its update on the
    device (``--skip-nonfinite``) or halts every later update until the host
    reads the metrics and stops the run. On CUDA, after a few eager steps,
    the whole step is captured once in a CUDA graph and replayed.
    """

    def __init__(self, run: Run, data: torch.Tensor, plugins: Plugins, processes: Processes = Processes()) -> None:
        self.run, self.data, self.processes = run, data, processes
        device = run.device
        # Only rank 0 reports, samples and writes the run folder.
        self.hook = plugins.hook if processes.is_main else NoCallbacks()
        # What training calls: gradient-averaging wrappers when data-parallel.
        self.train_discriminator = processes.wrap(run.discriminator)
        self.train_generator = processes.wrap(run.generator)
        config = run.config
        self.optimizer_d = RMSprop(run.discriminator.parameters(), config["lr_d"], config["decay_d"])
        self.optimizer_g = RMSprop(run.generator.parameters(), config["lr_g"], config["decay_g"])
        # One generator for everything the loop draws (real indices, noise), so
        # that its state in a checkpoint is all a resumed run needs; each rank
        # draws its own samples.
        self.rng = torch.Generator(device).manual_seed(config["seed"] + processes.rank)
        fixed = torch.Generator().manual_seed(config["seed"] + 1)
        self.fixed_noise = self.noise(SAMPLE_GRID_SIZE, fixed, torch.device("cpu")).to(device)
        check_precision(config["precision"], device)
        self.autocast_dtype = PRECISIONS[config["precision"]]
        # Loss scaling (float16 only) keeps small gradients from flushing to
        # zero; one scaler per network since each has its own loss.
        self.scalers = {network: LossScaler(device, enabled=config["precision"] == "fp16")
                        for network in ("discriminator", "generator")}
        penalty = config["penalty"]
        self.penalty = plugins.penalty(penalty) if penalty not in (None, "none") else None
        # An exponential moving average of the generator's weights: smoother
        # samples than the generator's latest, noisy, weights.
        self.ema_generator = None
        if config["ema"] is not None:
            self.ema_generator = copy.deepcopy(run.generator).requires_grad_(False).eval()
        # Set on the device by a non-finite update (unless skipping them):
        # every later update is skipped until the host sees it and stops.
        self.halted = torch.zeros((), dtype=torch.bool, device=device)
        self.skipped_updates = torch.zeros((), dtype=torch.int64, device=device)
        self.metric_rows = MetricRows(config["sync_every"] or DEFAULT_SYNC_EVERY[device.type], device)
        wants_graphs = config["cuda_graphs"] and device.type == "cuda"
        self.use_graphs = wants_graphs and not processes.distributed
        if wants_graphs and processes.distributed and processes.is_main:
            notice("CUDA graphs are off for data-parallel runs: each step runs eagerly")
        self.graph: torch.cuda.CUDAGraph | None = None
        self.eager_steps = 0
        self.step_count = 0
        self.classifier = self.labelled_images = None  # set up by prepare_evaluation()

    def prepare_evaluation(self, plugins: Plugins) -> None:
        """Load (training it the first time) the classifier ``--eval-every`` measures samples with."""
        config = self.run.config
        dataset = plugins.dataset(config["dataset"])
        if dataset.load_labelled is None:
            raise UsageError(f"--eval-every needs a labelled data set, and {dataset.name!r} has no labels")
        images, labels = dataset.load_labelled(Path(config["data_dir"]) if config["data_dir"] else None)
        self.classifier = evaluation.load_classifier(dataset.name, images, labels, self.run.device)
        self.labelled_images = images

    def noise(self, n: int, rng: torch.Generator | None = None, device: torch.device | None = None) -> torch.Tensor:
        architecture = self.run.architecture
        return architecture.sample_noise(n, architecture.latent_size, rng or self.rng, device or self.run.device)

    def step(self) -> dict[str, float]:
        """One training step, and its metrics read back; raises
        NonFiniteLoss if an update was not finite. ``train`` instead reads
        the metrics back every ``sync_every`` steps."""
        self.enqueue_step()
        (_, metrics, problem), = self.read_metrics()[-1:]
        if problem is not None:
            raise NonFiniteLoss(problem)
        return metrics

    def enqueue_step(self) -> None:
        """Run one training step, or queue it on the GPU (replaying the
        captured step once it is captured). Reads nothing back."""
        if self.metric_rows.full:
            raise RuntimeError(f"the metrics of the last {self.metric_rows.capacity} steps are not read yet: "
                               f"call read_metrics() before running more steps")
        if self.graph is None and self.use_graphs and self.eager_steps >= GRAPH_WARMUP_STEPS:
            self.graph = self._capture_step()
        if self.graph is not None:
            self.graph.replay()
        else:
            self._eager_step()
        self.metric_rows.advance()
        self.step_count += 1

    def _eager_step(self) -> None:
        if not self.use_graphs:
            self._step_on_device()
        else:
            # Warm-up steps run on a side stream, as CUDA graph capture requires.
            side = torch.cuda.Stream(self.run.device)
            side.wait_stream(torch.cuda.current_stream(self.run.device))
            with torch.cuda.stream(side):
                self._step_on_device()
            torch.cuda.current_stream(self.run.device).wait_stream(side)
        self.eager_steps += 1

    def _capture_step(self) -> torch.cuda.CUDAGraph:
        graph = torch.cuda.CUDAGraph()
        try:
            graph.register_generator_state(self.rng)  # noise and real indices come from it
            with torch.cuda.graph(graph):
                self._step_on_device()
        except Exception as error:  # whatever capture refuses (a host read in a plugin, say)
            reason = str(error).partition("\n")[0]
            raise PyganError(f"capturing the training step in a CUDA graph failed ({type(error).__name__}: "
                             f"{reason}); train with --no-cuda-graphs") from error
        return graph

    def _step_on_device(self) -> None:
        """``d_steps`` discriminator updates (1 in the seed recipe), then one
        generator update; records the metrics of the last of each."""
        nonfinite = torch.zeros((), dtype=torch.bool, device=self.run.device)
        for _ in range(self.run.config["d_steps"]):
            metrics = self.discriminator_step()
            nonfinite = nonfinite | metrics["d_nonfinite"]
        metrics["d_nonfinite"] = nonfinite
        metrics.update(self.generator_step())
        metrics["skipped_updates"] = self.skipped_updates
        self.metric_rows.record(metrics)

    def discriminator_step(self) -> dict[str, torch.Tensor]:
        """The discriminator learns real (1) from fake (0); the fakes come from
        the generator in inference mode, as Keras' predict() makes them."""
        run, batch_size = self.run, self.run.config["batch_size"]
        indices = torch.randint(0, len(self.data), (batch_size,), generator=self.rng, device=self.data.device)
        real = self.data[indices]
        run.generator.eval()
        metrics = {}
        with self.autocast():
            with torch.no_grad():
                fake = run.generator(self.noise(batch_size))
            logits = self.train_discriminator(torch.cat([real, fake]))
            real_logits, fake_logits = logits[:batch_size], logits[batch_size:]
            loss = run.loss.discriminator_loss(real_logits, fake_logits)
            if self.penalty is not None:
                penalty = self.penalty.compute(run.discriminator, real, fake)
                loss = loss + run.config["penalty_weight"] * penalty
                metrics["d_penalty"] = penalty
        lr = self.optimizer_d.current_lr()
        nonfinite = self._update("discriminator", loss, self.optimizer_d)
        with torch.no_grad():
            threshold = run.loss.decision_threshold
            accuracy = (binary_accuracy(real_logits, 1.0, threshold) + binary_accuracy(fake_logits, 0.0, threshold)) / 2
        return {"d_loss": loss, "d_acc": accuracy, "lr_d": lr, **metrics, "d_nonfinite": nonfinite}

    def generator_step(self) -> dict[str, torch.Tensor]:
        """The generator learns to have its fakes called real, through the
        frozen discriminator; its BatchNorm runs in training mode here."""
        run, batch_size = self.run, self.run.config["batch_size"]
        run.generator.train()
        run.discriminator.requires_grad_(False)
        try:
            with self.autocast():
                logits = run.discriminator(self.train_generator(self.noise(batch_size)))
                loss = run.loss.generator_loss(logits)
            lr = self.optimizer_g.current_lr()
            nonfinite = self._update("generator", loss, self.optimizer_g)
        finally:
            run.discriminator.requires_grad_(True)
        if self.ema_generator is not None:
            self._update_ema()
        with torch.no_grad():
            accuracy = binary_accuracy(logits, 1.0, run.loss.decision_threshold)
        return {"g_loss": loss, "g_acc": accuracy, "lr_g": lr, "g_nonfinite": nonfinite}

    def _update(self, network: str, loss: torch.Tensor, optimizer: RMSprop) -> torch.Tensor:
        """One optimizer update, made on the device only if the loss and the
        gradients are finite (and the run has not halted); returns whether
        the loss (or without loss scaling, a gradient) was not finite.
        Overflowing float16 gradients are the loss scaler's to handle."""
        scaler = self.scalers[network]
        optimizer.zero_grad()
        scaler.scaled(loss).backward()
        overflowed = scaler.unscale_(optimizer.gradients())
        nonfinite = torch.isfinite(loss.detach()).logical_not()
        if not scaler.enabled:
            nonfinite = nonfinite | overflowed
        # The same decision on every rank, or their weights would part.
        nonfinite = self.processes.any_on_device(nonfinite)
        optimizer.step(skip=nonfinite | overflowed | self.halted)
        scaler.update(overflowed)
        if self.run.config["skip_nonfinite"]:
            self.skipped_updates.add_(nonfinite)
        else:
            self.halted.logical_or_(nonfinite)
        return nonfinite

    def read_metrics(self) -> list[tuple[int, dict[str, float], str | None]]:
        """The metrics of the steps since the last read, with their step
        numbers, and for a step whose update was not finite (and not
        skipped on purpose) what went wrong; waits for those steps."""
        rows = self.metric_rows.read(self.processes)
        reports = []
        for step, metrics in enumerate(rows, self.step_count - len(rows) + 1):
            problem = None
            for prefix, network in (("d", "discriminator"), ("g", "generator")):
                if metrics.pop(f"{prefix}_nonfinite") and not self.run.config["skip_nonfinite"] and problem is None:
                    problem = (f"the {network} loss or its gradients are not finite "
                               f"(loss {metrics[prefix + '_loss']})")
            if not metrics["skipped_updates"]:
                del metrics["skipped_updates"]
            else:
                metrics["skipped_updates"] = int(metrics["skipped_updates"])
            reports.append((step, metrics, problem))
        return reports

    def autocast(self):
        # No cast cache: it would keep casts made during CUDA graph capture.
        return torch.autocast(self.run.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None,
                              cache_enabled=False)

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = self.run.config["ema"]
        ema, generator = self.ema_generator, self.run.generator
        torch._foreach_lerp_(list(ema.parameters()), list(generator.parameters()), 1 - decay)
        for average, buffer in zip(ema.buffers(), generator.buffers()):
            average.copy_(buffer)  # running statistics are averages already

    def samples(self, noise: torch.Tensor | None = None) -> torch.Tensor:
        """Images for ``noise`` (default: the run's fixed noise) from the
        generator's moving average if there is one, in inference mode."""
        generator = self.run.generator if self.ema_generator is None else self.ema_generator
        generator.eval()
        with torch.no_grad():
            return generator(self.fixed_noise if noise is None else noise).cpu()

    def evaluation(self) -> dict[str, float]:
        """The evaluation metrics of ``--eval-every``, on fresh samples drawn
        with their own generator so that evaluating never changes training."""
        rng = torch.Generator(self.run.device).manual_seed(self.run.config["seed"] + 2)
        results = evaluation.evaluate(lambda count: self.samples(self.noise(count, rng)), self.labelled_images,
                                      self.classifier, self.run.config["eval_n"])
        return {key: results[key] for key in ("fcd", "classifier_score", "dominant_class_share")}

    def state_dict(self) -> dict[str, Any]:
        run = self.run
        return {
            "architecture": run.architecture.name,
            "image_shape": list(run.image_shape),
            "latent_size": run.architecture.latent_size,
            "config": run.config,
            "step": self.step_count,
            "generator": run.generator.state_dict(),
            "discriminator": run.discriminator.state_dict(),
            "optimizer_d": self.optimizer_d.state_dict(),
            "optimizer_g": self.optimizer_g.state_dict(),
            "skipped_updates": self.skipped_updates.cpu(),
            "scalers": {network: scaler.state_dict() for network, scaler in self.scalers.items()},
            "rng": self.processes.gather(self.rng.get_state()),  # one per rank
            "global_rng": checkpoint.capture_rng_states(),
            "fixed_noise": self.fixed_noise.cpu(),
            **({"generator_ema": self.ema_generator.state_dict()} if self.ema_generator is not None else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        run = self.run
        if state["architecture"] != run.architecture.name:
            raise UsageError(f"{state['path']}: checkpoint of architecture {state['architecture']!r}, "
                             f"not {run.architecture.name!r}")
        if state["format_version"] < checkpoint.RESUMABLE_FORMAT_VERSION:
            raise UsageError(f"{state['path']} was written by pygan {state.get('pygan_version', '?')} in checkpoint "
                             f"format {state['format_version']}, which this pygan cannot resume training from "
                             f"(`pygan sample` and `pygan eval` still read it); start a new run")
        run.generator.load_state_dict(state["generator"])
        run.discriminator.load_state_dict(state["discriminator"])
        self.optimizer_d.load_state_dict(state["optimizer_d"])
        self.optimizer_g.load_state_dict(state["optimizer_g"])
        self.skipped_updates.copy_(state["skipped_updates"])
        for network, scaler in self.scalers.items():
            scaler.load_state_dict(state["scalers"][network])
        if len(state["rng"]) != self.processes.world_size:
            raise UsageError(f"{state['path']} was written by a run of {len(state['rng'])} processes; "
                             f"resume it with as many (--nproc {len(state['rng'])})")
        self.rng.set_state(state["rng"][self.processes.rank].cpu())
        checkpoint.restore_rng_states(state["global_rng"])
        self.fixed_noise = state["fixed_noise"].to(run.device)
        if self.ema_generator is not None:
            self.ema_generator.load_state_dict(state["generator_ema"])
        self.step_count = state["step"]

    def save_checkpoint(self) -> Path:
        path = checkpoint.path_for(self.run.out_dir, self.step_count)
        state = self.state_dict()  # on every rank: it gathers their random states
        if not self.processes.is_main:
            return path
        checkpoint.save(path, state)
        checkpoint.prune(self.run.out_dir, self.run.config["keep_checkpoints"])
        self.hook.on_checkpoint(run=self.run, step=self.step_count, path=path)
        return path

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
            with stop_requests() as requested_stop:
                while self.step_count < run.total_steps:
                    self.enqueue_step()
                    step = self.step_count
                    evaluate = bool(config["eval_every"] and step % config["eval_every"] == 0 and self.processes.is_main)
                    sample = bool(config["sample_every"] and step % config["sample_every"] == 0)
                    save = step == run.total_steps or bool(config["checkpoint_every"]
                                                           and step % config["checkpoint_every"] == 0)
                    stop_signal = self.processes.any(requested_stop())
                    # Metrics are read back in batches, and always before
                    # anything is written from the weights: a checkpoint or a
                    # sample grid never shows a run that has gone non-finite.
                    if self.metric_rows.full or evaluate or sample or save or stop_signal:
                        self._report_metrics(evaluate)
                    if sample:
                        self.hook.on_sample(run=run, step=step, images=self.samples())
                    if save:
                        self.save_checkpoint()
                    if stop_signal:
                        path = self.save_checkpoint()
                        status = "interrupted"
                        raise Interrupted(
                            f"stopped at step {step}; checkpoint {path}\n"
                            f"resume with: pygan train --resume {run.out_dir}", stop_signal)
            self.processes.check_same_weights(run.generator, run.discriminator)
            status = "finished"
        finally:
            self.hook.on_run_end(run=run, step=self.step_count, status=status)

    def _report_metrics(self, evaluate: bool) -> None:
        """Pass the steps' metrics read back to the callbacks (with the
        evaluation's at the latest step, if due), or stop at a non-finite one."""
        reports = self.read_metrics()
        for step, metrics, problem in reports:
            if problem is not None:
                raise PyganError(self._nonfinite_message(step, problem))
            if evaluate and step == self.step_count:
                metrics.update(self.evaluation())
            self.hook.on_step_end(run=self.run, step=step, metrics=metrics)

    def _nonfinite_message(self, step: int, problem: str) -> str:
        found = checkpoint.saved_in(self.run.out_dir)
        kept = f"the last good checkpoint is {found[-1]}" if found else "no checkpoint was written yet"
        return (f"step {step}: {problem}; training stopped, {kept}. Lower the learning rates, "
                f"or pass --skip-nonfinite to skip such updates")


@contextlib.contextmanager
def stop_requests() -> Iterator:
    """Turn the first Ctrl-C or SIGTERM into a request to stop after the
    current step (the returned callable gives the signal number, or 0); a
    second one aborts at once."""
    received: list[int] = []

    def handle(signal_number, frame):
        if received:
            raise KeyboardInterrupt
        received.append(signal_number)
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


def prepare_out_dir(out_dir: Path, resuming: bool) -> None:
    """Make the run folder, or fail before any training if it cannot be used."""
    config_path = out_dir / "config.json"
    if not resuming and config_path.exists():
        raise UsageError(f"--out {out_dir} already holds a run; continue it with --resume {out_dir} "
                         f"or choose another --out")
    try:
        (out_dir / checkpoint.DIRECTORY).mkdir(parents=True, exist_ok=True)
        probe = out_dir / ".pygan-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise UsageError(f"--out {out_dir} cannot be written: {error.strerror or error}") from None
    files.remove_orphaned_temporaries(out_dir)





def load_data(plugins: Plugins, config: dict[str, Any], device: torch.device) -> torch.Tensor:
    dataset = plugins.dataset(config["dataset"])
    data = dataset.load(Path(config["data_dir"]) if config["data_dir"] else None)
    if not (isinstance(data, torch.Tensor) and data.dim() == 4 and data.is_floating_point() and len(data)):
        raise PyganError(f"data set {dataset.name!r} returned {type(data).__name__} "
                         f"{tuple(getattr(data, 'shape', ()))}; expected a non-empty float tensor (N, C, H, W)")
    return data.to(device=device, dtype=torch.float32)


def create_trainer(plugins: Plugins, config: dict[str, Any], out_dir: Path, data: torch.Tensor,
                   processes: Processes = Processes()) -> Trainer:
    """Build the networks (seeded) and their trainer for a resolved config."""
    architecture = plugins.architecture(config["plugin"])
    device = data.device
    image_shape = tuple(data.shape[1:])
    torch.manual_seed(config["seed"])
    run = Run(config=config, out_dir=Path(out_dir), architecture=architecture, loss=plugins.loss(config["loss"]),
              generator=architecture.build_generator(image_shape).to(device),
              discriminator=architecture.build_discriminator(image_shape).to(device),
              device=device, image_shape=image_shape, total_steps=config["steps"], processes=processes)
    return Trainer(run, data, plugins, processes)


def train(plugins: Plugins, options: dict[str, Any], out_dir: Path | None, resume: Path | None) -> Run:
    """Set up a run (new or resumed) from command-line options and train it."""
    if resume is not None:
        out_dir = Path(resume)
        config = merge_resumed_config(read_config(out_dir), options)
    else:
        config = resolve_config(plugins, options)
    processes, device_name = distributed.start(config["device"])
    device = select_device(device_name)
    if processes.is_main:
        prepare_out_dir(out_dir, resuming=resume is not None)
        if processes.distributed:
            notice(f"data-parallel over {processes.world_size} processes: batch {config['batch_size']} per "
                   f"process, {config['batch_size'] * processes.world_size} in all")
    state = checkpoint.load(out_dir, map_location=device) if resume is not None else None

    trainer = create_trainer(plugins, config, out_dir, load_data(plugins, config, device), processes)
    if state is not None:
        trainer.load_state_dict(state)
        if trainer.step_count >= config["steps"]:
            raise UsageError(f"the run in {out_dir} is already at step {trainer.step_count}; "
                             f"give a larger --steps to extend it")
    if config["eval_every"] and processes.is_main:
        trainer.prepare_evaluation(plugins)
    run = trainer.run
    run.start_step = trainer.step_count
    trainer.train()
    return run
