"""Loss and accuracy curves as a PNG, drawn with Pillow (no plotting library
needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pygan._files.pictures import save_image

# Metrics are plotted by name: every "*_loss" on the loss panel, every
# "*_acc" on the accuracy panel.
PANELS = [("loss", "_loss"), ("accuracy", "_acc")]
COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def panel_keys(rows: list[dict], suffix: str) -> list[str]:
    """The metrics ending in ``suffix``, in the order they first appear."""
    return list(dict.fromkeys(key for row in rows for key in row if key.endswith(suffix)))


def training_keys(rows: list[dict]) -> list[str]:
    return [key for _, suffix in PANELS for key in panel_keys(rows, suffix)]
WIDTH, PANEL_HEIGHT, MARGIN = 900, 300, 50


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """A trailing moving average, so the trend shows through step-to-step noise."""
    if window <= 1:
        return values
    cumulative = np.cumsum(np.insert(values, 0, 0.0))
    counts = np.minimum(np.arange(1, len(values) + 1), window)
    starts = np.arange(1, len(values) + 1) - counts
    return (cumulative[np.arange(1, len(values) + 1)] - cumulative[starts]) / counts


def plot_metrics(rows: list[dict], path: Path, title: str = "",
                 panels: list[tuple[str, str]] = PANELS) -> None:
    """Plot the rows of metrics.jsonl, one panel per (label, suffix) of
    ``panels`` holding the metrics whose names end in the suffix (by default
    the losses and the accuracies); a row lacking a series' key (such as an
    evaluation row) is left out of that series."""
    steps = np.array([row["step"] for row in rows], dtype=float)
    window = max(1, len(rows) // 200)
    picture = Image.new("RGB", (WIDTH, PANEL_HEIGHT * len(panels)), "white")
    draw = ImageDraw.Draw(picture)
    for panel, (label, suffix) in enumerate(panels):
        keys = panel_keys(rows, suffix)[:len(COLOURS)]
        top = panel * PANEL_HEIGHT
        left, right, bottom = MARGIN + 20, WIDTH - 20, top + PANEL_HEIGHT - MARGIN
        series = {key: (np.array([row["step"] for row in rows if key in row], dtype=float),
                        smooth(np.array([row[key] for row in rows if key in row], dtype=float), window))
                  for key in keys}
        finite = np.concatenate([values[np.isfinite(values)] for _, values in series.values()] or [np.zeros(1)])
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        first, last = steps[0], max(steps[-1], steps[0] + 1)

        def x_of(step):
            return left + (step - first) / (last - first) * (right - left)

        def y_of(value):
            return bottom - (value - low) / (high - low) * (bottom - top - 30)

        draw.rectangle([left, top + 30, right, bottom], outline="black")
        draw.text((left, top + 8), f"{title}  {label} (moving average of {window} steps)", fill="black")
        for value in (low, high):
            draw.text((4, y_of(value) - 6), f"{value:.3g}", fill="black")
        draw.text((left, bottom + 6), f"step {int(first)}", fill="black")
        draw.text((right - 90, bottom + 6), f"step {int(last)}", fill="black")
        for index, (key, (key_steps, values)) in enumerate(series.items()):
            points = [(x_of(s), y_of(v)) for s, v in zip(key_steps, values) if np.isfinite(v)]
            if len(points) > 1:
                draw.line(points, fill=COLOURS[index], width=2)
            draw.text((right - 80 * (len(series) - index), top + 8), key, fill=COLOURS[index])
    save_image(picture, path, format="PNG")
