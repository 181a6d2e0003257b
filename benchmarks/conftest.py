"""Shared set-up of the operator benchmarks: two threads, and a switch
between the fused and the reference backend."""

from __future__ import annotations

import pytest
import torch

import pygan.ops

THREADS = 2
BACKENDS = ["reference", "fused"]


@pytest.fixture(autouse=True)
def fixed_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    """Selects a backend the way a user does, with PYGAN_OPS."""
    monkeypatch.setenv("PYGAN_OPS", request.param)
    monkeypatch.setattr(pygan.ops, "_selected", {})
    return request.param
