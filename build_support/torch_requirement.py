"""A scikit-build-core metadata provider for pygan's dependencies: the list
in pyproject.toml, plus torch pinned to the release the extension is being
built against.

An extension built against one torch release does not load into another.
With build isolation (``pip install .``) the build environment holds
pyproject's build requirement, so the pin is that release. Without it
(``pip install --no-build-isolation .`` on a machine with its own torch,
say a CUDA build), the pin is the torch already installed there, which pip
then neither replaces nor tries to download.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dynamic_metadata(field: str, settings: Mapping[str, Any]) -> list[str]:
    if field != "dependencies":
        raise ValueError(f"build_support/torch_requirement.py provides 'dependencies', not {field!r}")
    import torch  # the build environment's

    release = torch.__version__.split("+")[0]  # 2.11.0+cu130 -> 2.11.0, which the local build satisfies
    return [f"torch=={release}", *settings["requires"]]
