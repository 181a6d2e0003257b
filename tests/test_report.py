"""``pygan report``: the plot, the GIF of sample grids and the Markdown
summary, from a hand-made run folder and from a real one."""

import json

import pytest
import torch
from conftest import pygan_command, require_mnist
from PIL import Image

from pygan._commands.report import write_report
from pygan._contracts.messages import PyganError
from pygan._files.pictures import save_grid

GREYS = {500: 0.2, 99_500: 0.5, 100_000: 0.8}  # the last name sorts first as text


@pytest.fixture
def run_dir(tmp_path):
    """150 logged steps, evaluations at steps 50, 100 and 150 (one of them
    without a classifier score), and three uniformly grey sample grids."""
    sources = {"dcgan": {"distribution": "pygan", "version": "1.0", "provides": {"architecture": ["dcgan"]}},
               "watcher": {"distribution": "pygan-watch", "version": "2.0", "provides": {}}}
    (tmp_path / "config.json").write_text(json.dumps({"plugin": "dcgan", "loss": "bce", "lr_d": 0.0002,
                                                      "plugins": sources}))
    rows = [{"step": step, "d_loss": 1.0 if step <= 50 else 0.5, "d_acc": 0.75, "g_loss": 2.0, "g_acc": 0.25}
            for step in range(1, 151)]
    rows += [{"step": 50, "fcd": 30.0, "classifier_score": 4.5}, {"step": 100, "fcd": 12.5},
             {"step": 150, "fcd": 20.25, "classifier_score": 6.75}]
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    (tmp_path / "samples").mkdir()
    for step, grey in GREYS.items():
        save_grid(torch.full((4, 1, 28, 28), grey), tmp_path / "samples" / f"{step:05d}.png")
    return tmp_path


def test_report_writes_the_plot_the_gif_and_the_summary(run_dir):
    written = write_report(run_dir)
    assert written == [run_dir / "losses.png", run_dir / "samples.gif", run_dir / "report.md"]
    with Image.open(run_dir / "losses.png") as plot:
        assert plot.format == "PNG" and plot.size == (900, 600)
    with Image.open(run_dir / "samples.gif") as gif:
        assert gif.n_frames == 3 and gif.info["loop"] == 0
        greys = []
        for frame in range(3):
            gif.seek(frame)
            greys.append(gif.convert("L").getpixel((10, gif.height - 10)))  # inside a digit
    # Frames in step order, not name order.
    assert greys == sorted(greys) and greys[0] == pytest.approx(0.2 * 255, abs=3)


def test_the_summary_has_the_config_the_final_values_and_the_best_evaluations(run_dir):
    write_report(run_dir)
    text = (run_dir / "report.md").read_text()
    assert "| plugin | dcgan |" in text and "| lr_d | 0.0002 |" in text
    assert "| plugins | dcgan (pygan 1.0), watcher (pygan-watch 2.0) |" in text
    assert "150 steps. Final values (mean of the last 100 steps logged)" in text
    assert "| d_loss | 0.5000 |" in text and "| g_acc | 0.2500 |" in text
    assert "| final | 150 | 20.2500 | 6.7500 |" in text
    assert "| best FCD | 100 | 12.5000 | - |" in text
    assert "| best classifier score | 150 | 20.2500 | 6.7500 |" in text
    assert "samples.gif (3 grids, steps 500 to 100,000)" in text


def test_a_run_without_grids_or_evaluations_gets_plot_and_summary_only(run_dir):
    for grid in (run_dir / "samples").iterdir():
        grid.unlink()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows if "d_loss" in row))
    (run_dir / "config.json").unlink()
    assert write_report(run_dir) == [run_dir / "losses.png", run_dir / "report.md"]
    text = (run_dir / "report.md").read_text()
    assert "No readable config.json." in text
    assert "No evaluations in metrics.jsonl; train with --eval-every N to log them." in text


@pytest.mark.parametrize("metrics, message", [
    (None, "no metrics.jsonl; is it a pygan run folder?"),
    ('{"step": 1, "d_loss": 0.5}\n{"step": 2, "d_lo\n{"step": 3, "d_loss": 0.5}\n',
     "metrics.jsonl, line 2: not valid JSON"),
    ('{"step": 1, "fcd": 3.0}\n', "metrics.jsonl: no training steps logged yet, nothing to report"),
])
def test_unusable_metrics_are_refused_naming_the_file(tmp_path, metrics, message):
    if metrics is not None:
        (tmp_path / "metrics.jsonl").write_text(metrics)
    with pytest.raises(PyganError, match=message):
        write_report(tmp_path)


def test_a_last_line_cut_short_is_left_out_with_a_notice(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1, "d_loss": 0.5}\n{"step": 2, "d_lo')
    write_report(tmp_path)
    assert "1 steps." in (tmp_path / "report.md").read_text()
    assert "metrics.jsonl: left out its last line, cut short by an interrupted write" in capsys.readouterr().err


def test_pygan_report_on_a_trained_run_prints_the_files_written(tmp_path):
    out = tmp_path / "run"
    trained = pygan_command("train", "--plugin", "dcgan", "--data-dir", require_mnist(), "--steps", "2",
                            "--sample-every", "1", "--out", out, env={"OMP_NUM_THREADS": "1"})
    assert trained.returncode == 0, trained.stderr
    result = pygan_command("report", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(out / name) for name in ("losses.png", "samples.gif", "report.md")]
    with Image.open(out / "samples.gif") as gif:
        assert gif.n_frames == 2
    assert "2 steps." in (out / "report.md").read_text()


def test_pygan_report_on_a_folder_that_is_no_run_fails_with_a_message(tmp_path):
    result = pygan_command("report", tmp_path)
    assert result.returncode == 1
    assert f"pygan: error: {tmp_path}: no metrics.jsonl; is it a pygan run folder?" in result.stderr
