"""pygan: a pluggable GAN training library for PyTorch.

This module is pygan's public surface: everything a plugin or a script may
rely on is importable from here (and the operators from ``pygan.ops``).
Modules whose names start with an underscore are pygan's own and may change
in any release.

- Records plugins register in their hooks: ``Architecture``, ``Loss``,
  ``Penalty``, ``Recipe``, ``Optimizer``, ``Option``, ``Command`` (a
  subcommand of ``pygan``), ``Dataset`` (with
  ``DataRequest`` and ``Samples``), and what steps pass around: ``Latent``,
  ``Batch``, ``Judgement``; the latent distributions ``uniform_noise`` and
  ``normal_noise``; ``ImageShape``, the (channels, height, width) builders
  are given.
- ``hookimpl`` marks a plugin's hook implementations; the hooks are
  documented, each with an example, in ``pygan/_contracts/hooks.py``.
- What plugins are given: the ``Run`` being trained (callbacks,
  measurements) and the ``StepContext`` of a training step (recipes).
- Option checks for ``Option(check=...)``: ``whole_number``,
  ``finite_number``, ``fraction``, ``probability``; ``network_option(config, name, network)``
  reads a per-network option.
- Telling the user: ``PyganError`` and ``UsageError`` (exit status 1 and 2,
  no traceback), ``notice`` and ``notice_once``.
- Files from elsewhere, read so that none can hang pygan or exhaust its
  memory: ``open_regular``, ``read_regular`` (regular files only, bounded),
  ``open_zip``, ``check_member``, ``read_member`` (zip members checked before
  they are inflated), ``UnreadableFile``, ``describe_size``,
  ``describe_os_error``.
- Caches shared by processes: ``claimed`` and ``claimed_if_free`` (a folder
  one process fills while the others wait), ``remove_orphaned_temporaries``;
  ``parallel_map`` (worker processes that never outlive pygan).
- Files: ``write_atomically``, ``atomic_writer`` and
  ``reporting_write_errors`` (writes that never leave a damaged file and
  name what failed: ``WriteError``); ``cache_dir()`` ($PYGAN_DATA_DIR);
  ``download`` (mirrors, SHA-256, limits; ``DownloadFailed``);
  ``MAX_DEFLATE_RATIO`` (the most a compressed member can honestly expand);
  the run folder's shared file names and step logs (``METRICS_FILE``,
  ``LOSS_PLOT_FILE``, ``SAMPLES_DIR``, ``read_step_log``, ``trim_step_log``);
  pictures (``save_grid``, ``image_grid``, ``plot_metrics``).
- Measuring: ``ClassifierMetrics`` and ``reference_images``.
- Optimizers: ``DeviceOptimizer``, the base of optimizers that skip an update
  on the device.
- From Python: ``train(plugin=..., **options)`` and ``load(path)``, which
  give a ``LoadedRun`` (its networks, ``config`` and ``sample(n)``);
  ``write_run(out, weights, origin, plugin=..., **options)``, a run folder
  of weights trained elsewhere (for plugins that import other programs').
"""

from pygan._commands.api import LoadedRun, load, train, write_run
from pygan._config.options import finite_number, fraction, network_option, probability, whole_number
from pygan._contracts.hooks import hookimpl
from pygan._contracts.messages import PyganError, UsageError, notice, notice_once
from pygan._contracts.records import (
                                      Architecture,
                                      Batch,
                                      Command,
                                      DataRequest,
                                      Dataset,
                                      ImageShape,
                                      Judgement,
                                      Latent,
                                      Loss,
                                      Optimizer,
                                      Option,
                                      Penalty,
                                      Recipe,
                                      Samples,
                                      normal_noise,
                                      uniform_noise,
)
from pygan._contracts.run import Run
from pygan._evaluation.classifier import ClassifierMetrics
from pygan._evaluation.real_images import reference_images
from pygan._files.atomic import (
                                      MAX_DEFLATE_RATIO,
                                      WriteError,
                                      atomic_writer,
                                      remove_orphaned_temporaries,
                                      reporting_write_errors,
                                      write_atomically,
)
from pygan._files.download import DownloadFailed, cache_dir, download
from pygan._files.folder_lock import claimed, claimed_if_free
from pygan._files.pictures import image_grid, save_grid
from pygan._files.plot import plot_metrics
from pygan._files.reading import (
                                      UnreadableFile,
                                      check_member,
                                      describe_os_error,
                                      describe_size,
                                      open_regular,
                                      open_zip,
                                      read_member,
                                      read_regular,
)
from pygan._files.run_folder import LOSS_PLOT_FILE, METRICS_FILE, SAMPLES_DIR, read_step_log, trim_step_log
from pygan._training.optim import DeviceOptimizer
from pygan._training.step import StepContext
from pygan._training.worker_processes import parallel_map
from pygan._version import __version__

__all__ = [
    "LOSS_PLOT_FILE",
    "MAX_DEFLATE_RATIO",
    "METRICS_FILE",
    "SAMPLES_DIR",
    "Architecture",
    "Batch",
    "ClassifierMetrics",
    "Command",
    "DataRequest",
    "Dataset",
    "DeviceOptimizer",
    "DownloadFailed",
    "ImageShape",
    "Judgement",
    "Latent",
    "LoadedRun",
    "Loss",
    "Optimizer",
    "Option",
    "Penalty",
    "PyganError",
    "Recipe",
    "Run",
    "Samples",
    "StepContext",
    "UnreadableFile",
    "UsageError",
    "WriteError",
    "__version__",
    "atomic_writer",
    "cache_dir",
    "check_member",
    "claimed",
    "claimed_if_free",
    "describe_os_error",
    "describe_size",
    "download",
    "finite_number",
    "fraction",
    "hookimpl",
    "image_grid",
    "load",
    "network_option",
    "normal_noise",
    "notice",
    "notice_once",
    "open_regular",
    "open_zip",
    "parallel_map",
    "plot_metrics",
    "probability",
    "read_member",
    "read_regular",
    "read_step_log",
    "reference_images",
    "remove_orphaned_temporaries",
    "reporting_write_errors",
    "save_grid",
    "train",
    "trim_step_log",
    "uniform_noise",
    "whole_number",
    "write_atomically",
    "write_run",
]

# pygan 0.2's module paths (pygan.layers, pygan.specs, ...) for the plugins written against them.
from pygan import _compat  # noqa: E402

_compat.register()
