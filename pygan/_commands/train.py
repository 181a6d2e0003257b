"""Starting a run, for ``pygan train`` and ``pygan.train`` alike: the run
folder, the configuration resolved once, ``--dry-run``, and the launch of
data-parallel workers."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Mapping

import torch

from pygan._config.registry import Plugins
from pygan._config.resolve import configure, resolve_classes
from pygan._contracts.messages import UsageError
from pygan._training.networks import build_networks


def run_folder(plugins: Plugins, config: Mapping[str, Any], out: Path | None, resume: Path | None) -> Path:
    """Where a run trains: its own folder when resumed, ``out``, or a fresh
    ``runs/PLUGIN-TIMESTAMP``."""
    if resume is not None:
        if out is not None and Path(out) != Path(resume):
            raise UsageError("--out and --resume name different folders; a resumed run stays in its own folder")
        return Path(resume)
    return Path(out) if out is not None else new_run_folder(config["plugin"])


def new_run_folder(plugin: str) -> Path:
    """A fresh ``runs/PLUGIN-TIMESTAMP`` folder, made atomically, so that
    runs started in the same second get folders of their own."""
    stem = Path("runs") / f"{plugin}-{datetime.now():%Y%m%d-%H%M%S}"
    for attempt in itertools.count(1):
        folder = stem if attempt == 1 else stem.with_name(f"{stem.name}-{attempt}")
        try:
            folder.mkdir(parents=True)
            return folder
        except FileExistsError:
            continue
        except OSError as error:
            raise UsageError(f"cannot make the run folder {folder}: {error.strerror or error}; "
                             f"choose one with --out") from None


def dry_run(plugins: Plugins, options: Mapping[str, Any], resume: Path | None) -> str:
    """The resolved configuration and each network's parameter count, from
    networks built as training would build them (on the meta device: no
    memory, no data read)."""
    config = configure(plugins, options, resume)
    architecture = plugins.architecture(config["plugin"])
    if architecture.image_shape is None:
        raise UsageError(f"architecture {architecture.name!r} takes its image shape from the data set, so its "
                         f"networks cannot be built without reading the data; --dry-run needs an architecture "
                         f"that declares image_shape")
    image_shape = tuple(architecture.image_shape(config))
    config["classes"] = resolve_classes(architecture, config, None)
    with torch.device("meta"):
        networks = build_networks(plugins, architecture.configured(config["classes"]), config, image_shape, "meta",
                                  training=True)
    lines = [json.dumps(config, indent=2, sort_keys=True),
             f"image shape: {'x'.join(map(str, image_shape))}"]
    if architecture.classes is None and options.get("classes") is None and resume is None:
        lines.append("classes: from the data set's labels when training (0 here, as --classes is not given)")
    for network, module in networks.items():
        lines.append(f"{network}: {sum(p.numel() for p in module.parameters()):,} parameters")
    return "\n".join(lines)


def without_nproc(argv: list[str]) -> list[str]:
    """The command line minus --nproc, for the processes torchrun starts."""
    kept, skip = [], False
    for word in argv:
        if skip:
            skip = False
        elif word == "--nproc":
            skip = True
        elif not word.startswith("--nproc="):
            kept.append(word)
    return kept
