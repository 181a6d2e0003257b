"""Shared set-up of the operator benchmarks: two threads, and a switch
between the fused and the reference backend."""

from __future__ import annotations

import os

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


def use_backend(name: str) -> None:
    """Selects a backend the way a user does, with PYGAN_OPS, and forgets the
    choice pygan made before, so that the next op call makes it anew."""
    os.environ["PYGAN_OPS"] = name
    pygan.ops._selected.clear()


@pytest.fixture(params=BACKENDS)
def backend(request, monkeypatch):
    monkeypatch.setenv("PYGAN_OPS", request.param)  # restored afterwards
    use_backend(request.param)
    yield request.param
    pygan.ops._selected.clear()
