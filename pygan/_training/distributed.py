"""Data-parallel training over processes started by torchrun.

Each process (rank) draws its own real samples and noise; DistributedDataParallel
averages the gradients, so every rank takes the same optimizer steps. Rank 0
alone writes the run folder. A single process is the world of one: every
method below is then a no-op, so the trainer has one code path.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from pygan._contracts.messages import PyganError


@dataclass(frozen=True)
class Processes:
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def wrap(self, module: nn.Module) -> nn.Module:
        """The module that training should call: gradient-averaging across ranks."""
        if not self.distributed:
            return module
        device_ids = [module_device(module).index] if module_device(module).type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def average(self, values: torch.Tensor) -> torch.Tensor:
        if self.distributed:
            values = values.clone()
            dist.all_reduce(values)
            values /= self.world_size
        return values

    def average_in_place(self, tensors: list[torch.Tensor]) -> None:
        """Each tensor replaced by its mean over the ranks, in one collective
        (what the data-parallel wrapper does for the gradients of a loss that
        went through it)."""
        if not self.distributed or not tensors:
            return
        means = self.average(torch.cat([tensor.reshape(-1) for tensor in tensors]))
        for tensor, mean in zip(tensors, means.split([tensor.numel() for tensor in tensors])):
            tensor.copy_(mean.view_as(tensor))

    def any(self, flag: int) -> int:
        """The largest ``flag`` of all ranks, so that all of them act on it together."""
        if not self.distributed:
            return flag
        value = torch.tensor([flag], dtype=torch.int64, device=self.collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return int(value.item())

    def any_on_device(self, flag: torch.Tensor) -> torch.Tensor:
        """The bool tensor ``flag`` or-ed over all ranks, left on the device:
        the host does not wait for it."""
        if not self.distributed:
            return flag
        value = flag.to(torch.int32)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return value.bool()

    def gather(self, value) -> list:
        if not self.distributed:
            return [value]
        gathered = [None] * self.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def check_same_weights(self, *modules: nn.Module) -> None:
        """Every rank must hold the same parameters, or the run is not the one the user asked for."""
        if not self.distributed:
            return
        checksums = self.gather([float(p.detach().double().sum()) for m in modules for p in m.parameters()])
        for rank, sums in enumerate(checksums):
            if sums != checksums[0]:
                raise PyganError(f"rank {rank}'s weights differ from rank 0's after training")

    def collective_device(self) -> torch.device:
        if dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def module_device(module: nn.Module) -> torch.device:
    return next(module.parameters()).device


def start(device_name: str) -> tuple[Processes, str]:
    """Join the process group torchrun set up, if any; returns the processes
    and the device this rank trains on."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Processes(), device_name
    use_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if use_cuda:
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local_rank)
        device_name = f"cuda:{local_rank}"
    else:
        device_name = "cpu"
    dist.init_process_group("nccl" if use_cuda else "gloo")
    return Processes(dist.get_rank(), dist.get_world_size()), device_name


def stop() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: list[str]) -> int:
    """``pygan train --nproc N ...``: the same command under torchrun.

    SIGINT and SIGTERM go on to torchrun, which passes them to every worker:
    the workers stop after the current step, checkpoint and exit as a
    single-process run does, and so does the launcher, with 128 + the signal.
    """
    # The workers run "python -P -m pygan": -P keeps the current folder off
    # sys.path, so a pygan source tree there cannot shadow the installed one.
    command = [sys.executable, "-P", "-c", "import sys, pygan._training.distributed as d; sys.exit(d.torchrun(sys.argv[1:]))",
               "--standalone", f"--nproc-per-node={nproc}", "--no-python", sys.executable, "-P", "-m", "pygan", *argv]
    # In a process group of its own, torchrun hears a terminal's Ctrl-C once,
    # from here: twice would make the workers abort without a checkpoint.
    # The launcher's end of a pipe is how torchrun knows the launcher is gone.
    alive, launcher_alive = os.pipe()
    try:
        with forwarded_signals() as forwarder:
            torchrun = subprocess.Popen(command, start_new_session=True, pass_fds=(alive,),
                                        env={**os.environ, LAUNCHER_ALIVE: str(alive)})
            os.close(alive)
            forwarder.forward_to(torchrun)
            status = torchrun.wait()
    finally:
        os.close(launcher_alive)
    return 128 + forwarder.received[0] if forwarder.received else status


# The environment variable naming the pipe whose end closes when the launcher ends.
LAUNCHER_ALIVE = "PYGAN_LAUNCHER_ALIVE"


def torchrun(args: list[str]) -> int:
    """torchrun's command line; a signal it passed on to the workers ends it
    with 128 + the signal instead of a traceback."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.run import main

    stop_with_the_launcher()
    try:
        main(args)
    except SignalException as stopped:
        return 128 + stopped.sigval
    return 0


def stop_with_the_launcher() -> None:
    """SIGTERM to this torchrun, once, when the launcher has ended, however
    (kill -9 too, which it cannot pass on): the workers then stop with a
    checkpoint instead of training on as orphans. Told by the launcher's end
    of a pipe closing, which happens once, when the whole process is gone;
    the kernel's parent-death signal comes once per thread of the dying
    launcher, and a second SIGTERM makes torchrun signal the workers twice,
    which aborts them without a checkpoint."""
    descriptor = os.environ.pop(LAUNCHER_ALIVE, None)
    if descriptor is None:  # started by hand, not by launch()
        return

    def watch() -> None:
        with contextlib.suppress(OSError):
            os.read(int(descriptor), 1)  # returns when the launcher's end closes
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="pygan-launcher-watch", daemon=True).start()


class SignalForwarder:
    """Passes the signals it handles on to a child process, once there is one."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.process: subprocess.Popen | None = None

    def forward_to(self, process: subprocess.Popen) -> None:
        self.process = process
        for signal_number in self.received:  # those that came before the process did
            process.send_signal(signal_number)

    def handle(self, signal_number: int, frame) -> None:
        self.received.append(signal_number)
        if self.process is not None:
            self.process.send_signal(signal_number)


@contextlib.contextmanager
def forwarded_signals() -> Iterator[SignalForwarder]:
    """Forward SIGINT and SIGTERM instead of acting on them, while in the block."""
    forwarder = SignalForwarder()
    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, forwarder.handle) for number in handled}
    try:
        yield forwarder
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
