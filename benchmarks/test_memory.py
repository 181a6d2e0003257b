"""Peak memory of one discriminator forward+backward on each backend.

The fused op saves its input instead of the activated (and padded) copies
the reference keeps for backward, so its peak of tensors is lower. The peak
is the highest sum of the CPU allocations torch's profiler records, from the
start of the forward to the end of the backward; it lands in the benchmark
JSON as extra_info, where ratios.py reads it. It leaves out the scratch the
CPU kernels' Winograd path keeps between calls, outside torch's allocator
(20 MiB for blocks 3 and 4 at batch 128, where the fused pass's tensors
peak at 12 MiB and the reference's at 23): with it, the fused pass takes
more memory.
"""

from __future__ import annotations

import itertools

import torch
from torch.profiler import ProfilerActivity, profile

BATCH = 128


def peak_bytes(step) -> int:
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted((e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"),
                    key=lambda e: e.start_ns())
    return max(itertools.accumulate((e.nbytes() for e in events), initial=0))


def discriminator_step():
    from pygan_plugins.dcgan import Discriminator

    torch.manual_seed(0)
    discriminator = Discriminator()
    images = torch.rand(BATCH, 1, 28, 28)
    return lambda: discriminator(images).sum().backward()


def test_peak_memory(benchmark, backend):
    benchmark.group = f"peak memory discriminator forward+backward batch {BATCH}"
    step = discriminator_step()
    step()  # the first call may set up one-time state
    benchmark.extra_info["peak_bytes"] = peak_bytes(step)
    benchmark.pedantic(step, rounds=1, iterations=1)


def test_fused_peak_of_tensors_is_lower(monkeypatch):
    import pygan.ops

    peaks = {}
    for name in ("reference", "fused"):
        monkeypatch.setenv("PYGAN_OPS", name)
        monkeypatch.setattr(pygan.ops, "_selected", {})
        step = discriminator_step()
        step()
        peaks[name] = peak_bytes(step)
    assert peaks["fused"] < peaks["reference"], peaks
