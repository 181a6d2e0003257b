"""The runtime torch pin follows the torch the extension was built against."""

from __future__ import annotations

import importlib.util
from importlib import metadata

import pytest
import torch

from conftest import REPO_ROOT


def load_provider():
    path = REPO_ROOT / "build_support" / "torch_requirement.py"
    spec = importlib.util.spec_from_file_location("torch_requirement", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_provider_pins_the_torch_it_runs_with_then_the_rest():
    release = torch.__version__.split("+")[0]
    assert load_provider().dynamic_metadata("dependencies", {"requires": ["pluggy>=1.3"]}) == [
        f"torch=={release}", "pluggy>=1.3"]


def test_the_provider_only_provides_dependencies():
    with pytest.raises(ValueError, match="not 'version'"):
        load_provider().dynamic_metadata("version", {"requires": []})


def test_the_installed_pygan_requires_the_torch_it_loads_into():
    requirements = [r for r in metadata.requires("pygan") if r.split("=")[0].strip() == "torch"]
    assert requirements == [f"torch=={torch.__version__.split('+')[0]}"]
