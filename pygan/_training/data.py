"""Real samples for training, drawn at random with replacement, as the seed
does (no epochs), from one of two sources:

- ``InMemoryData``: every image on the training device, indexed there, so a
  step reads nothing back and a CUDA graph can replay it; the default
  whenever the data fits;
- ``StreamingData``: a data set's ``Samples`` read by a torch ``DataLoader``
  in worker processes, pinned and copied to the device ahead of use, for
  data that does not fit (or with ``--stream``). Its draws come from its own
  seeded index stream, so a checkpoint's ``data`` entry (how many samples
  were drawn) is all a resumed run needs.

Both have ``draw(n, rng) -> Batch``, ``state_dict()``, ``load_state_dict()``,
``image_shape``, ``device``, ``len()``, ``on_device`` (whether a step
drawing from it may be captured in a CUDA graph) and ``failure`` (why the
run must stop after the current step, or None).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np
import torch

from pygan._contracts.messages import PyganError, UsageError, notice
from pygan._contracts.records import Architecture, Batch, DataRequest, Dataset, Samples
from pygan._training.worker_processes import data_loader_worker_started

# Data is kept on the device when its float32 images take at most this share
# of the memory free there.
MEMORY_SHARE = 0.5
# Batches each streaming worker reads ahead.
PREFETCH_BATCHES = 4
# Seconds a failed fetch waits for a worker to be seen dead (see StreamingData._killed_workers).
WORKER_DEATH_WAIT = 1.0


class TensorSamples:
    """A loaded (N, C, H, W) tensor as ``Samples``, to stream it."""

    def __init__(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> None:
        self.images, self.labels = images, labels
        self.image_shape = tuple(images.shape[1:])

    def __len__(self) -> int:
        return len(self.images)

    def read(self, indices: np.ndarray) -> torch.Tensor:
        return self.images[torch.from_numpy(indices)]


def to_unit_floats(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels or floats in [0, 1] as float32 in [0, 1]."""
    if images.dtype == torch.uint8:
        return images.float().div_(255)
    return images.float()


def check_labels(labels: Optional[torch.Tensor], dataset: str, architecture: Architecture) -> None:
    """That a run's data has the labels its (configured) architecture needs."""
    if not architecture.conditional:
        return
    if labels is None:
        raise UsageError(f"architecture {architecture.name!r} is conditional (it generates a chosen class) and "
                         f"needs a data set with labels, but {dataset!r} has none; choose one with "
                         f"--dataset (mnist and fashion-mnist have labels)")
    if int(labels.max()) >= architecture.classes:
        raise UsageError(f"data set {dataset!r} has labels up to {int(labels.max())}, but architecture "
                         f"{architecture.name!r} generates {architecture.classes} classes (0 to "
                         f"{architecture.classes - 1})")


def count_classes(labels: Optional[torch.Tensor]) -> Optional[int]:
    """The number of classes labels 0, 1, ... name; None without labels."""
    return None if labels is None or len(labels) == 0 else int(labels.max()) + 1


# Images a data set's fingerprint is taken from, evenly spaced over it.
FINGERPRINT_IMAGES = 64


def fingerprint(count: int, read: Any) -> dict[str, Any]:
    """What tells a data set from another, cheaply at any size: its image
    count, and the SHA-256 of FINGERPRINT_IMAGES evenly spaced images, as
    float32 in [0, 1] (``read(indices)`` gives them). A checkpoint keeps it,
    so that a resume on other data (another folder of that name, pictures
    added) is refused."""
    indices = np.unique(np.linspace(0, count - 1, min(count, FINGERPRINT_IMAGES)).round().astype(np.int64))
    images = to_unit_floats(read(indices)).cpu().contiguous()
    return {"count": count, "sha256": hashlib.sha256(images.numpy().tobytes()).hexdigest()}


class InMemoryData:
    """Images (N, C, H, W) and their labels (N,) or None, on one device."""

    on_device = True
    failure = None  # nothing of it can fail

    def __init__(self, images: torch.Tensor, labels: Optional[torch.Tensor] = None) -> None:
        self.images, self.labels = images, labels

    @property
    def device(self) -> torch.device:
        return self.images.device

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(len(self.images), lambda indices: self.images[torch.from_numpy(indices).to(self.device)])

    def state_dict(self) -> dict[str, Any]:
        # Its draws come from the run's random generator, saved apart.
        return {"kind": "memory", "fingerprint": self.fingerprint()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def classes(self) -> Optional[int]:
        """The number of classes in the labels (None without labels)."""
        return count_classes(self.labels)

    def check_labels(self, dataset: str, architecture: Architecture) -> None:
        """Refuse labels a conditional run cannot use; drop those an
        unconditional one does not."""
        check_labels(self.labels, dataset, architecture)
        if not architecture.conditional:
            self.labels = None

    def draw(self, n: int, rng: torch.Generator) -> Batch:
        """``n`` samples at random with replacement; indexed on the device,
        so nothing waits for the host (and a CUDA graph can replay it)."""
        indices = torch.randint(0, len(self.images), (n,), generator=rng, device=self.images.device)
        return Batch(self.images[indices], None if self.labels is None else self.labels[indices])


class _Reader(torch.utils.data.Dataset):
    """What the DataLoader's workers call: one whole batch of indices at once."""

    def __init__(self, samples: Samples) -> None:
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitems__(self, indices: list[int]):
        indices = np.asarray(indices, dtype=np.int64)
        images = self.samples.read(indices)
        labels = self.samples.labels
        return images, (torch.zeros(0, dtype=torch.int64) if labels is None else labels[torch.from_numpy(indices)])


def _as_is(batch):
    return batch


class _IndexStream(torch.utils.data.Sampler):
    """Batches of indices drawn with replacement, batch k from its own seed
    (seed, k): the stream can restart at any batch, whatever the loader had
    read ahead."""

    def __init__(self, size: int, batch_size: int, seed: list[int], start: int) -> None:
        self.size, self.batch_size, self.seed, self.start = size, batch_size, seed, start

    def __iter__(self):
        k = self.start
        while True:
            yield np.random.default_rng([*self.seed, k]).integers(0, self.size, self.batch_size).tolist()
            k += 1


class StreamingData:
    """A data set's ``Samples`` streamed to the device through a torch
    DataLoader: ``workers`` processes (0: the training process itself),
    pinned memory and the next batch copied to the device ahead of use.
    Samples are drawn with replacement from an index stream of its own
    (``seed``), ``batch`` at a time; ``state_dict`` is how many were drawn."""

    on_device = False

    def __init__(self, samples: Samples, device: torch.device, batch: int, seed: list[int], workers: int = 0,
                 labels: bool = False) -> None:
        self.samples, self.device, self.batch, self.seed, self.workers = samples, device, batch, seed, workers
        self.want_labels = labels and samples.labels is not None
        self.image_shape = tuple(samples.image_shape)
        self.drawn = 0
        # Why the run must stop after the current step: a worker was killed.
        self.failure: Optional[str] = None
        self._iterator = None
        self._fetched = 0  # the index stream's batches fetched so far
        self._workers: list = []  # the DataLoader's worker processes
        self._buffer: Optional[Batch] = None  # what is left of the current batch
        self._next: Optional[Batch] = None  # the following batch, on its way to the device

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def classes(self) -> Optional[int]:
        """The number of classes in the labels (None without labels)."""
        return count_classes(self.samples.labels) if self.want_labels else None

    def check_labels(self, dataset: str, architecture: Architecture) -> None:
        """Refuse labels a conditional run cannot use; stop reading those an
        unconditional one does not."""
        check_labels(self.samples.labels if self.want_labels else None, dataset, architecture)
        self.want_labels = self.want_labels and architecture.conditional

    def fingerprint(self) -> dict[str, Any]:
        return fingerprint(len(self.samples), self.samples.read)

    def state_dict(self) -> dict[str, Any]:
        return {"kind": "stream", "drawn": self.drawn, "batch": self.batch, "seed": list(self.seed),
                "fingerprint": self.fingerprint()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.close()
        self.drawn, self.batch, self.seed = int(state["drawn"]), int(state["batch"]), [int(s) for s in state["seed"]]

    def _open(self, start: int, workers: int):
        """An iterator over the index stream's batches from batch ``start``."""
        loader = torch.utils.data.DataLoader(
            _Reader(self.samples), batch_sampler=_IndexStream(len(self.samples), self.batch, self.seed, start),
            num_workers=workers, collate_fn=_as_is, pin_memory=self.device.type == "cuda",
            prefetch_factor=PREFETCH_BATCHES if workers else None, persistent_workers=workers > 0,
            # Its own generator for the workers' seeds: drawing them from torch's
            # global one would shift what the run draws after a resume.
            generator=torch.Generator().manual_seed(0),
            # Gone the moment training is (torch's own check takes seconds).
            worker_init_fn=data_loader_worker_started)
        self._fetched = start
        if not workers:
            return iter(loader)
        before = multiprocessing.active_children()
        with _worker_deaths_found_when_fetching():
            iterator = iter(loader)
        self._workers = [process for process in multiprocessing.active_children() if process not in before]
        return iterator

    def _start(self) -> None:
        self._iterator = self._open(self.drawn // self.batch, self.workers)
        self._next = self._fetch()
        self._buffer = self._take_next()
        skip = self.drawn % self.batch  # samples of the current batch drawn before a checkpoint
        self._buffer = Batch(*(None if part is None else part[skip:] for part in self._buffer))

    def _fetch(self) -> Batch:
        try:
            images, labels = next(self._iterator)
        except (RuntimeError, OSError):
            # A worker that ended without being asked to (the out-of-memory
            # killer's SIGKILL, say) shows as torch's RuntimeError, or as an
            # OSError receiving a batch it had shared. Its batch is read here
            # instead (the index stream gives the same one), so the step under
            # way completes as it would have; the run stops after it.
            killed = self._killed_workers()
            if not killed:
                raise
            self.failure = (f"a process reading the data ended unexpectedly ({_ended(killed)}), perhaps stopped by "
                            f"the system for lack of memory")
            self._iterator = None  # stops the other workers
            self._iterator = self._open(self._fetched, workers=0)
            images, labels = next(self._iterator)
        self._fetched += 1
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True) if self.want_labels else None
        return Batch(images, labels)

    def _killed_workers(self) -> list:
        """The workers that have ended. A worker's death can show in a fetch
        a moment before the process has ended: waited for up to a second."""
        deadline = time.monotonic() + WORKER_DEATH_WAIT
        while True:
            ended = [process for process in self._workers if not process.is_alive()]
            if ended or time.monotonic() > deadline:
                return ended
            time.sleep(0.01)

    def _take_next(self) -> Batch:
        taken, self._next = self._next, self._fetch()
        return Batch(to_unit_floats(taken.images), taken.labels)

    def draw(self, n: int, rng: torch.Generator | None = None) -> Batch:
        """``n`` samples at random with replacement (``rng`` is not used:
        the stream has its own seed)."""
        if self._iterator is None:
            self._start()
        parts = []
        while n > 0:
            if len(self._buffer.images) == 0:
                self._buffer = self._take_next()
            take = min(n, len(self._buffer.images))
            parts.append(Batch(*(None if part is None else part[:take] for part in self._buffer)))
            self._buffer = Batch(*(None if part is None else part[take:] for part in self._buffer))
            n -= take
            self.drawn += take
        if len(parts) == 1:
            return parts[0]
        return Batch(torch.cat([part.images for part in parts]),
                     None if parts[0].labels is None else torch.cat([part.labels for part in parts]))

    def close(self) -> None:
        """Stop the worker processes (a later draw starts them again)."""
        self._iterator = self._buffer = self._next = None


def _ended(processes: list) -> str:
    """'pid 12, killed by SIGKILL; ...': how each of the ended ``processes`` ended."""
    return "; ".join(f"pid {process.pid}, " + (f"killed by {signal.Signals(-process.exitcode).name}"
                                               if process.exitcode < 0 else f"exit status {process.exitcode}")
                     for process in processes)


@contextlib.contextmanager
def _worker_deaths_found_when_fetching() -> Iterator[None]:
    """Keep SIGCHLD's handler as it was while a DataLoader starts its workers.
    torch's handler raises a worker's death from whatever line the training
    process is running, the middle of an update or of a checkpoint's write;
    without it the death is found where the next batch is fetched (within
    seconds), where a run can recover."""
    if threading.current_thread() is not threading.main_thread():  # where torch sets no handler either
        yield
        return
    previous = signal.getsignal(signal.SIGCHLD)
    try:
        yield
    finally:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL if previous is None else previous)


def available_memory(device: torch.device) -> int:
    """Bytes free on ``device``: the GPU's free memory, or the host's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def _size(count: int) -> str:
    return f"{count / 2 ** 30:.1f} GiB" if count >= 2 ** 30 else f"{count / 2 ** 20:.0f} MiB"


def as_batch(name: str, loaded: Any) -> Batch:
    """What a data set's ``load`` returned, checked: images, or a ``Batch``
    (or pair) of images and labels."""
    images, labels = (loaded if isinstance(loaded, tuple) and len(loaded) == 2 else (loaded, None))
    if not (isinstance(images, torch.Tensor) and images.dim() == 4 and images.is_floating_point() and len(images)):
        raise PyganError(f"data set {name!r} returned {type(images).__name__} "
                         f"{tuple(getattr(images, 'shape', ()))}; expected a non-empty float tensor (N, C, H, W)")
    if labels is not None and not (isinstance(labels, torch.Tensor) and labels.shape == (len(images),)
                                   and not labels.is_floating_point() and labels.min() >= 0):
        raise PyganError(f"data set {name!r} returned labels {tuple(getattr(labels, 'shape', ()))} for "
                         f"{len(images)} images; expected integer labels 0, 1, ... of shape ({len(images)},)")
    return Batch(images, labels)


def load_data(dataset: Dataset, data_dir: Optional[str], architecture: Architecture,
              device: torch.device, config: Optional[dict[str, Any]] = None,
              kind: Optional[str] = None, rank: int = 0) -> InMemoryData | StreamingData:
    """The data set's samples, checked against what the architecture needs
    (its image shape, labels for a conditional one): on ``device`` when they
    fit in half its free memory, else streamed; ``--stream`` (or ``kind``,
    "memory" or "stream", which a resumed run takes from its checkpoint)
    decides instead. A streaming rank draws its own samples (seed and ``rank``)."""
    config = config or {}
    wanted = architecture.image_shape(config) if architecture.image_shape is not None else None
    path = Path(data_dir) if data_dir else None
    if dataset.open is not None:
        # Labels are needed by a conditional architecture; one that takes its class count from the run
        # needs them when --classes asks for classes, and otherwise uses them if the data has them.
        classes = architecture.classes if architecture.classes is not None else config.get("classes")
        loaded = dataset.open(DataRequest(path, wanted, bool(classes), config))
    else:
        loaded = dataset.load(path)
    samples = loaded if isinstance(loaded, Samples) else TensorSamples(*as_batch(dataset.name, loaded))
    labels = samples.labels
    if wanted is not None and tuple(samples.image_shape) != tuple(wanted):
        raise UsageError(f"architecture {architecture.name!r} makes {_shape(wanted)} images with these options, "
                         f"but data set {dataset.name!r} has {_shape(samples.image_shape)} images; choose the "
                         f"architecture's options to match (see 'pygan train --help'), or a data set that "
                         f"resizes, such as images")
    if len(samples) == 0:
        raise PyganError(f"data set {dataset.name!r} holds no images")
    if architecture.classes == 0:
        labels = None  # an unconditional run has no use for them
    size = len(samples) * int(np.prod(samples.image_shape)) * 4
    free = available_memory(device)
    forced = kind is not None
    if kind is None:
        kind = "stream" if config.get("stream") or size > MEMORY_SHARE * free else "memory"
    described = f"{len(samples):,} images {_shape(samples.image_shape)} ({_size(size)} as float32)"
    if kind == "memory":
        if isinstance(samples, TensorSamples):
            images = samples.images
        else:
            notice(f"reading {described} into memory")
            images = torch.cat([to_unit_floats(samples.read(np.arange(start, min(start + 4096, len(samples)))))
                                for start in range(0, len(samples), 4096)])
        notice(f"data: {described} kept on {device} (half its free memory is {_size(int(MEMORY_SHARE * free))})")
        return InMemoryData(images.to(device=device, dtype=torch.float32),
                            None if labels is None else labels.to(device=device, dtype=torch.int64))
    workers = config.get("workers", 0)
    why = ("as when the run started" if forced else "--stream" if config.get("stream")
           else f"more than half of the {_size(free)} free on {device}")
    notice(f"data: {described} streamed to {device} by {workers} worker process(es) ({why})")
    return StreamingData(samples, device, config.get("batch_size", 64), [config.get("seed", 0), rank], workers,
                         labels=labels is not None)


def _shape(shape) -> str:
    return "x".join(map(str, shape))
