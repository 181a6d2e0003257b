"""Per-step training metrics gathered on the device and read back to the
host in one transfer every few steps, rather than one wait per value per
step: the GPU runs ahead of the host in between (and a CUDA graph can write
the metrics of each replay)."""

from __future__ import annotations

import torch

from pygan._training.distributed import Processes


class MetricRows:
    """Up to ``capacity`` steps' metrics, one row per step, in float64."""

    def __init__(self, capacity: int, device: torch.device) -> None:
        self.capacity = capacity
        self.names: list[str] | None = None
        self.rows: torch.Tensor | None = None
        # Rows written since the last read: on the device for the writes (a
        # replayed graph writes at the right row), mirrored on the host.
        self.written = torch.zeros(1, dtype=torch.int64, device=device)
        self.pending = 0

    def record(self, metrics: dict[str, torch.Tensor]) -> None:
        """Write one step's metrics (0-d tensors, same names every step) at the next row, on the device."""
        if self.names is None:
            self.names = list(metrics)
            self.rows = torch.zeros(self.capacity, len(self.names), dtype=torch.float64, device=self.written.device)
        values = torch.stack([metrics[name].detach().to(torch.float64) for name in self.names])
        self.rows.index_copy_(0, self.written, values.unsqueeze(0))
        self.written.add_(1)

    def advance(self) -> None:
        """Count a step whose record() has been enqueued (once per step, also for graph replays)."""
        self.pending += 1

    @property
    def full(self) -> bool:
        return self.pending >= self.capacity

    def read(self, processes: Processes = Processes()) -> list[dict[str, float]]:
        """The pending rows, oldest first, averaged over data-parallel ranks; empties the buffer."""
        if not self.pending:
            return []
        rows = processes.average(self.rows[:self.pending]).tolist()
        self.written.zero_()
        self.pending = 0
        return [dict(zip(self.names, row)) for row in rows]
