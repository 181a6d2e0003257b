"""Running training steps on the device, whatever they compute.

The engine owns what makes a step safe and fast, and nothing of GANs:

- each named network's optimizer, and the update made from a loss:
  backward, float16 loss scaling, and the decision, on the device, to skip
  an update whose loss or gradients are not finite (``--skip-nonfinite``)
  or to halt every later update until the host has seen it and stops;
- the metrics of every step, gathered in a device buffer (``MetricRows``)
  and read back every ``sync_every`` steps instead of once per value;
- on CUDA, after a few eager warm-up steps, the whole step captured once
  in a CUDA graph and replayed;
- with ``--compile``, the networks the step calls run through
  ``torch.compile`` (``pygan._training.compiling``), and the first step,
  which compiles them, is timed for the user;
- data parallelism: modules wrapped to average gradients across ranks, and
  every decision taken on all ranks alike.

Nothing here reads a value back to the host inside a step.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Callable

import torch
from torch import nn

from pygan._contracts.messages import PyganError, UsageError, notice
from pygan._training.compiling import CompiledNetwork
from pygan._training.distributed import Processes
from pygan._training.metric_rows import MetricRows
from pygan._training.optim import LossScaler

# Eager steps before a step is captured in a CUDA graph: the first steps
# initialize what capture cannot (cuBLAS/cuDNN handles and workspaces,
# lazily allocated optimizer state).
GRAPH_WARMUP_STEPS = 3
# sync_every when not given: on the CPU reading a value back costs nothing;
# on a GPU each read stalls the queue of work the host has run ahead with.
DEFAULT_SYNC_EVERY = {"cpu": 1, "cuda": 100}
AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
# Metric columns the engine adds to every step, per network; read back and
# turned into a stop (or dropped) before the metrics reach anyone.
_NONFINITE, _LOSS = "nonfinite/", "loss/"


class Engine:
    """Runs steps given as functions, on one device (per process)."""

    def __init__(self, device: torch.device, *, precision: str = "fp32", skip_nonfinite: bool = False,
                 sync_every: int | None = None, cuda_graphs: bool = True, compile_networks: bool = False,
                 processes: Processes = Processes()) -> None:
        if precision == "fp16" and device.type != "cuda":
            raise UsageError("--precision fp16 needs a CUDA device (its loss scaling guards against float16 "
                             "underflow there); use --precision bf16 on the CPU")
        self.device, self.processes, self.skip_nonfinite = device, processes, skip_nonfinite
        self.autocast_dtype = AUTOCAST_DTYPES[precision]
        self.scale_losses = precision == "fp16"
        self.optimizers: dict[str, Any] = {}
        self.scalers: dict[str, LossScaler] = {}
        self.after_update: dict[str, list[Callable[[], None]]] = {}
        self.after_step: list[Callable[[], None]] = []  # inside the step, after the recipe (the generator's average)
        # Set on the device by a non-finite update (unless skipping them):
        # every later update is skipped until the host sees it and stops.
        self.halted = torch.zeros((), dtype=torch.bool, device=device)
        self.skipped_updates = torch.zeros((), dtype=torch.int64, device=device)
        self.metric_rows = MetricRows(sync_every or DEFAULT_SYNC_EVERY[device.type], device)
        wants_graphs = cuda_graphs and device.type == "cuda"
        self.use_graphs = wants_graphs and not processes.distributed
        if wants_graphs and processes.distributed and processes.is_main:
            notice("CUDA graphs are off for data-parallel runs: each step runs eagerly")
        self.compile_networks = compile_networks
        self.graph: torch.cuda.CUDAGraph | None = None
        self.graph_generators: list[torch.Generator] = []
        self.eager_steps = 0
        self.step_count = 0
        self._step_flags: dict[str, torch.Tensor] = {}
        # Tensors a recipe keeps from step to step (StepContext.persistent), and
        # those a checkpoint held, until the recipe asks for them.
        self.recipe_state: dict[str, torch.Tensor] = {}
        self.saved_recipe_state: dict[str, torch.Tensor] = {}

    # --- set-up -----------------------------------------------------------------

    def add_network(self, name: str, module: nn.Module, optimizer) -> nn.Module:
        """Give ``module`` its optimizer (and loss scaler); returns the module
        that a step should call when computing this network's loss
        (gradient-averaging across ranks when data-parallel)."""
        self.optimizers[name] = optimizer
        self.scalers[name] = LossScaler(self.device, enabled=self.scale_losses)
        self.after_update[name] = []
        return self.runnable(self.processes.wrap(module), name)

    def runnable(self, module: nn.Module, name: str):
        """``module`` (network ``name``) as a step calls it: through
        ``torch.compile`` with ``--compile``."""
        return CompiledNetwork(module, name) if self.compile_networks else module

    def draws_from(self, generator: torch.Generator) -> None:
        """Declare a random generator the step draws from, so that a CUDA
        graph replays fresh numbers from it instead of the captured ones."""
        self.graph_generators.append(generator)

    def autocast(self):
        # No cast cache: it would keep casts made during CUDA graph capture.
        return torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None,
                              cache_enabled=False)

    # --- inside a step ----------------------------------------------------------

    def current_lr(self, name: str) -> torch.Tensor:
        return self.optimizers[name].current_lr()

    def update(self, name: str, loss: torch.Tensor, average_gradients: bool = False) -> torch.Tensor:
        """One update of network ``name`` from ``loss``, made on the device
        only if the loss and the gradients are finite (and the run has not
        halted); returns whether the loss (or without loss scaling, a
        gradient) was not finite. Overflowing float16 gradients are the loss
        scaler's to handle. ``average_gradients``: the loss did not go
        through the network's data-parallel wrapper, so its gradients are
        averaged over the ranks here."""
        optimizer, scaler = self.optimizers[name], self.scalers[name]
        optimizer.zero_grad()
        scaler.scaled(loss).backward()
        gradients = optimizer.gradients()
        if average_gradients:
            self.processes.average_in_place(gradients)
        overflowed = scaler.unscale_(gradients)
        nonfinite = torch.isfinite(loss.detach()).logical_not()
        if not scaler.enabled:
            nonfinite = nonfinite | overflowed
        # The same decision on every rank, or their weights would part.
        nonfinite = self.processes.any_on_device(nonfinite)
        optimizer.step(skip=nonfinite | overflowed | self.halted)
        scaler.update(overflowed)
        if self.skip_nonfinite:
            self.skipped_updates.add_(nonfinite)
        else:
            self.halted.logical_or_(nonfinite)
        for callback in self.after_update[name]:
            callback()
        self._step_flags[_NONFINITE + name] = self._step_flags.get(_NONFINITE + name, nonfinite) | nonfinite
        self._step_flags[_LOSS + name] = loss.detach()
        return nonfinite

    # --- running steps ----------------------------------------------------------

    def enqueue(self, step: Callable[[], dict[str, torch.Tensor]]) -> None:
        """Run one step, or queue it on the GPU (replaying the captured step
        once it is captured); ``step`` returns its metrics as 0-d tensors,
        the same names every time. Reads nothing back."""
        if self.metric_rows.full:
            raise RuntimeError(f"the metrics of the last {self.metric_rows.capacity} steps are not read yet: "
                               f"call read() before running more steps")
        if self.graph is None and self.use_graphs and self.eager_steps >= GRAPH_WARMUP_STEPS:
            self.graph = self._capture(step)
        if self.graph is not None:
            self.graph.replay()
        elif self.compile_networks and self.eager_steps == 0:
            # The first step compiles the networks (forward and backward),
            # which takes seconds to minutes: the user sees how long.
            started = time.perf_counter()
            self._eager(step)
            if self.processes.is_main:
                notice(f"--compile: the first step, which compiled the networks, took "
                       f"{time.perf_counter() - started:.1f} s")
        else:
            self._eager(step)
        self.metric_rows.advance()
        self.step_count += 1

    def _record(self, step: Callable[[], dict[str, torch.Tensor]]) -> None:
        self._step_flags = {}
        metrics = step()
        for callback in self.after_step:
            callback()
        metrics["skipped_updates"] = self.skipped_updates
        self.metric_rows.record({**metrics, **self._step_flags})

    def _eager(self, step) -> None:
        if not self.use_graphs:
            self._record(step)
        else:
            # Warm-up steps run on a side stream, as CUDA graph capture requires.
            side = torch.cuda.Stream(self.device)
            side.wait_stream(torch.cuda.current_stream(self.device))
            with torch.cuda.stream(side):
                self._record(step)
            torch.cuda.current_stream(self.device).wait_stream(side)
        self.eager_steps += 1

    def _capture(self, step) -> torch.cuda.CUDAGraph:
        graph = torch.cuda.CUDAGraph()
        try:
            for generator in self.graph_generators:
                graph.register_generator_state(generator)
            with torch.cuda.graph(graph):
                self._record(step)
        except PyganError:  # a plugin's failure, named already
            raise
        except Exception as error:  # whatever capture refuses (a host read in a plugin, say)
            reason = str(error).partition("\n")[0]
            raise PyganError(f"capturing the training step in a CUDA graph failed ({type(error).__name__}: "
                             f"{reason}); train with --no-cuda-graphs, in a new process (a failed capture leaves "
                             f"torch's CUDA random generator unusable in this one)") from error
        return graph

    def read(self) -> list[tuple[int, dict[str, float], str | None]]:
        """The metrics of the steps since the last read, with their step
        numbers, and for a step whose update was not finite (and not skipped
        on purpose) what went wrong; waits for those steps."""
        rows = self.metric_rows.read(self.processes)
        reports = []
        for step, metrics in enumerate(rows, self.step_count - len(rows) + 1):
            problem = None
            for name in self.optimizers:
                nonfinite = metrics.pop(_NONFINITE + name, 0.0)
                loss = metrics.pop(_LOSS + name, None)
                if nonfinite and not self.skip_nonfinite and problem is None:
                    problem = f"the {name} loss or its gradients are not finite (loss {loss})"
            if not metrics["skipped_updates"]:
                del metrics["skipped_updates"]
            else:
                metrics["skipped_updates"] = int(metrics["skipped_updates"])
            reports.append((step, metrics, problem))
        return reports

    # --- checkpoints ------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        return {"optimizers": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
                "scalers": {name: scaler.state_dict() for name, scaler in self.scalers.items()},
                "skipped_updates": self.skipped_updates.cpu(),
                "recipe_state": {name: value.cpu() for name, value in self.recipe_state.items()},
                "step": self.step_count}

    def persistent(self, name: str, initial: Callable[[], torch.Tensor]) -> torch.Tensor:
        """The recipe's tensor ``name``: as a checkpoint saved it, else
        ``initial()``; the same tensor every step after."""
        if name not in self.recipe_state:
            saved = self.saved_recipe_state.pop(name, None)
            self.recipe_state[name] = initial() if saved is None else saved.to(self.device)
        return self.recipe_state[name]

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, scaler in self.scalers.items():
            scaler.load_state_dict(state["scalers"][name])
        self.skipped_updates.copy_(state["skipped_updates"])
        self.saved_recipe_state = dict(state.get("recipe_state", {}))  # absent before pygan 1.0
        self.step_count = state["step"]


@contextlib.contextmanager
def frozen(module: nn.Module):
    """``module``'s parameters need no gradient inside the block (they are
    not being trained), as Keras' frozen discriminator in the adversarial model."""
    trained = [parameter for parameter in module.parameters() if parameter.requires_grad]
    for parameter in trained:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter in trained:
            parameter.requires_grad_(True)
