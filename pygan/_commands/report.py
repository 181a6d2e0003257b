"""``pygan report``: a run folder summed up as a plot, an animation and a page.

Reads what the built-in plugins write during training (``metrics.jsonl``,
``samples/NNNNN.png``, ``config.json``) and writes beside them
``losses.png``, ``samples.gif`` and ``report.md``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pygan._config.resolve import SOURCES
from pygan._contracts.messages import PyganError
from pygan._files.atomic import write_atomically
from pygan._files.pictures import save_image
from pygan._files.plot import plot_metrics, training_keys
from pygan._files.run_folder import LOSS_PLOT_FILE, METRICS_FILE, SAMPLES_DIR, read_step_log

GIF_FILE = "samples.gif"
REPORT_FILE = "report.md"
FINAL_WINDOW = 100  # steps averaged for the final losses and accuracies
FRAME_MS = 250
CAPTION_HEIGHT = 16


def write_report(run_dir: Path) -> list[Path]:
    """Write the plot, the GIF (when the run saved sample grids) and the
    Markdown summary into ``run_dir``; return their paths."""
    run_dir = Path(run_dir)
    rows = _read_rows(run_dir / METRICS_FILE)
    config = _read_config(run_dir / "config.json")
    written = [run_dir / LOSS_PLOT_FILE]
    plot_metrics(rows, written[0], title=f"{config.get('plugin', '')} ({config.get('loss', '')})")
    grids = grids_of(run_dir)
    if grids:
        written.append(run_dir / GIF_FILE)
        write_gif(grids, written[-1])
    written.append(run_dir / REPORT_FILE)
    write_atomically(written[-1], markdown(run_dir, config, rows, grids).encode())
    return written


def _read_rows(path: Path) -> list[dict]:
    try:
        rows = read_step_log(path)
    except FileNotFoundError:
        raise PyganError(f"{path.parent}: no {path.name}; is it a pygan run folder?") from None
    except OSError as error:
        raise PyganError(f"{path}: cannot be read: {error.strerror or error}") from None
    if not training_keys(rows):
        raise PyganError(f"{path}: no training steps logged yet, nothing to report")
    return rows


def _read_config(path: Path) -> dict:
    # A report is still worth having without the configuration.
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def grids_of(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's sample grids as (step, path), in step order (numerically:
    names outgrow their zero padding after step 99,999)."""
    folder = run_dir / SAMPLES_DIR
    return sorted((int(path.stem), path) for path in folder.glob("*.png") if path.stem.isdigit())


def write_gif(grids: list[tuple[int, Path]], path: Path) -> None:
    """An endlessly looping GIF of the grids, each captioned with its step."""
    frames = []
    for step, grid_path in grids:
        with Image.open(grid_path) as grid:
            frame = Image.new("RGB", (grid.width, grid.height + CAPTION_HEIGHT), "white")
            frame.paste(grid.convert("RGB"), (0, CAPTION_HEIGHT))
        ImageDraw.Draw(frame).text((4, 2), f"step {step}", fill="black")
        frames.append(frame)
    save_image(frames[0], path, format="GIF", save_all=True, append_images=frames[1:], duration=FRAME_MS, loop=0)


def markdown(run_dir: Path, config: dict, rows: list[dict], grids: list[tuple[int, Path]]) -> str:
    lines = [f"# Run report: {run_dir.name}", ""]
    if config:
        lines += ["| setting | value |", "|---|---|"]
        lines += [f"| {key} | {plugin_sources(value) if key == SOURCES else value} |"
                  for key, value in sorted(config.items())]
    else:
        lines.append("No readable config.json.")
    keys = training_keys(rows)
    training = [row for row in rows if any(key in row for key in keys)]
    lines += ["", "## Training", "",
              f"{training[-1]['step']:,} steps. Final values (mean of the last "
              f"{min(FINAL_WINDOW, len(training))} steps logged):", "",
              "| metric | value |", "|---|---|"]
    for key in keys:
        values = [row[key] for row in training[-FINAL_WINDOW:] if key in row]
        if values:
            lines.append(f"| {key} | {np.mean(values):.4f} |")
    lines += ["", "## Evaluation", ""] + evaluation_lines(rows)
    lines += ["", "## Files", "", f"- loss and accuracy curves: {LOSS_PLOT_FILE}"]
    if grids:
        lines.append(f"- samples over training: {GIF_FILE} ({len(grids)} grids, steps {grids[0][0]:,} "
                     f"to {grids[-1][0]:,})")
    return "\n".join(lines) + "\n"


def plugin_sources(sources) -> str:
    """config.json's record of the run's plugins, one 'name (distribution version)' each."""
    if not isinstance(sources, dict):
        return str(sources)
    return ", ".join(f"{name} ({source.get('distribution')} {source.get('version')})" if isinstance(source, dict)
                     else str(name) for name, source in sorted(sources.items()))


def evaluation_lines(rows: list[dict]) -> list[str]:
    """The final and best evaluation numbers among rows with ``fcd`` or
    ``classifier_score`` (lower FCD is better, higher score is better)."""
    evaluated = [row for row in rows if "fcd" in row or "classifier_score" in row]
    if not evaluated:
        return ["No evaluations in metrics.jsonl; train with --eval-every N to log them."]
    lines = ["| | step | FCD | classifier score |", "|---|---|---|---|"]
    picks = [("final", evaluated[-1])]
    for label, key, best in (("best FCD", "fcd", min), ("best classifier score", "classifier_score", max)):
        having = [row for row in evaluated if key in row]
        if having:
            picks.append((label, best(having, key=lambda row: row[key])))
    for label, row in picks:
        cells = [f"{row[key]:.4f}" if key in row else "-" for key in ("fcd", "classifier_score")]
        lines.append(f"| {label} | {row['step']:,} | {' | '.join(cells)} |")
    return lines
