"""pygan's worker processes never outlive it: decoders stopped by any
signal to pygan, DataLoader workers of a run killed with -9, and no run
folder kept "in use" by a dead run's children. Real processes, real
signals."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from pygan._contracts.messages import PyganError, UsageError
from pygan._contracts.records import DataRequest
from pygan._files.folder_lock import claimed
from pygan._training import checkpoint
from pygan._training.data import StreamingData, TensorSamples

PYGAN = str(Path(sys.executable).parent / "pygan")


def descendants(pid: int) -> set[int]:
    """The processes below ``pid`` now."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    """Those of ``pids`` still running (a zombie has ended)."""
    running = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            running.add(pid)
    return running


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.05)


def picture_folder(root: Path) -> Path:
    """2,000 pictures (enough for decoding in worker processes), the first
    512 large enough that each worker's first task takes many seconds."""
    root.mkdir()
    pictures = {}
    for side in (2000, 4):
        out = root / f"{side}.tmp"
        Image.new("RGB", (side, side), (90, 20, 200)).save(out, format="PNG")
        pictures[side] = out.read_bytes()
        out.unlink()
    for i in range(2000):
        (root / f"{i:04d}.png").write_bytes(pictures[2000 if i < 512 else 4])
    return root


@pytest.mark.slow
@pytest.mark.parametrize("signal_number, status, said", [
    (signal.SIGKILL, -signal.SIGKILL, None),
    (signal.SIGTERM, 128 + signal.SIGTERM, "pygan: stopped by SIGTERM"),
    (signal.SIGINT, 128 + signal.SIGINT, "pygan: aborted"),  # Ctrl-C: to the terminal's whole process group
], ids=["kill", "term", "ctrl-c"])
def test_pygan_stopped_while_decoding_leaves_no_process_behind(tmp_path, signal_number, status, said):
    folder = picture_folder(tmp_path / "pictures")
    cache = tmp_path / "cache"
    run = subprocess.Popen([PYGAN, "train", "--plugin", "dcgan64", "--resolution", "32", "--data-dir", str(folder),
                            "--steps", "1", "--out", str(tmp_path / "run")], stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYGAN_DATA_DIR": str(cache)}, start_new_session=True)
    try:
        # Decoding: the pixel file's temporary is open and the workers (and
        # multiprocessing's resource tracker) have started.
        wait_for(lambda: list(cache.glob("images/*/.pixels.u8.*.tmp")) and len(descendants(run.pid)) >= 3
                 or run.poll() is not None, 180, "the decoders to start")
        assert run.poll() is None, run.communicate()[1]
        time.sleep(2)
        helpers = descendants(run.pid)
        if signal_number == signal.SIGINT:
            os.killpg(run.pid, signal_number)
        else:
            run.send_signal(signal_number)
        # A worker's first task takes far longer than this: Ctrl-C must not wait for it.
        _, stderr = run.communicate(timeout=20)
        assert run.returncode == status, stderr
        assert "Traceback" not in stderr and (said is None or said in stderr), stderr
        wait_for(lambda: not alive(helpers), 20, f"the workers {alive(helpers)} to end")
    finally:
        for pid in alive(descendants(run.pid) | {run.pid}):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_streamed_run_killed_with_9_can_be_resumed_at_once_and_leaves_no_worker(tmp_path):
    digits = tmp_path / "digits.npz"
    np.savez(digits, images=np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    out = tmp_path / "run"
    args = ["train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", str(digits), "--batch-size", "8",
            "--sample-every", "0", "--stream", "--workers", "2"]
    run = subprocess.Popen([PYGAN, *args, "--steps", "100000", "--checkpoint-every", "2", "--out", str(out)],
                           stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: checkpoint.saved_in(out) or run.poll() is not None, 180, "a checkpoint")
        assert run.poll() is None, run.communicate()[1]
        workers = descendants(run.pid)
        assert len(workers) >= 2  # the DataLoader's
        run.kill()
        run.wait()
        with claimed(out):  # at once: no worker of the killed run holds the folder
            pass
        wait_for(lambda: not alive(workers), 5, f"the DataLoader workers {alive(workers)} to end")
        step = int(checkpoint.saved_in(out)[-1].stem)
        result = subprocess.run([PYGAN, "train", "--resume", str(out), "--steps", str(step + 1)],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    finally:
        for pid in alive(descendants(run.pid) | {run.pid}):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_data_worker_killed_mid_run_stops_it_with_a_checkpoint_of_the_last_step(tmp_path):
    """The out-of-memory killer's SIGKILL to a DataLoader worker: the step
    under way completes, its checkpoint is written, then a message; no
    traceback, no step lost, no process left."""
    digits = tmp_path / "digits.npz"
    np.savez(digits, images=np.random.default_rng(0).integers(0, 256, (64, 28, 28), dtype=np.uint8))
    out = tmp_path / "run"
    run = subprocess.Popen([PYGAN, "train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", str(digits),
                            "--batch-size", "8", "--sample-every", "0", "--stream", "--workers", "2",
                            "--steps", "100000", "--checkpoint-every", "0", "--out", str(out)],
                           stderr=subprocess.PIPE, text=True)
    log = out / "metrics.jsonl"
    try:
        wait_for(lambda: log.exists() and log.read_text().count("\n") >= 2 or run.poll() is not None, 180,
                 "two steps")
        assert run.poll() is None, run.communicate()[1]
        workers = descendants(run.pid)
        assert len(workers) == 2  # the DataLoader's
        os.kill(min(workers), signal.SIGKILL)
        _, stderr = run.communicate(timeout=60)
        assert run.returncode == 1, stderr
        assert "Traceback" not in stderr, stderr
        (saved,) = checkpoint.saved_in(out)
        step = int(saved.stem)
        assert len(log.read_text().splitlines()) == step  # every step trained is in the checkpoint
        assert (f"pygan: error: a process reading the data ended unexpectedly (pid {min(workers)}, killed by "
                f"SIGKILL), perhaps stopped by the system for lack of memory; training stopped at step {step}, "
                f"checkpoint {saved}\n"
                f"resume with: pygan train --resume {out} (with fewer --workers") in stderr
        wait_for(lambda: not alive(workers), 5, f"the other DataLoader worker {alive(workers)} to end")
    finally:
        for pid in alive(descendants(run.pid) | {run.pid}):
            os.kill(pid, signal.SIGKILL)


def test_a_killed_data_worker_is_replaced_by_reads_in_the_training_process_drawing_the_same():
    images = torch.arange(50, dtype=torch.uint8).view(50, 1, 1, 1).expand(50, 1, 2, 2).contiguous()
    samples = TensorSamples(images, torch.arange(50))
    sizes = [4, 4, 3, 9, 4] * 6  # more than the worker reads ahead
    plain = StreamingData(samples, torch.device("cpu"), 4, [7, 0], workers=0, labels=True)
    expected = [plain.draw(n).labels for n in sizes]
    before = descendants(os.getpid())
    stream = StreamingData(samples, torch.device("cpu"), 4, [7, 0], workers=1, labels=True)
    drawn = [stream.draw(n).labels for n in sizes[:2]]
    (worker,) = descendants(os.getpid()) - before
    os.kill(worker, signal.SIGKILL)
    drawn += [stream.draw(n).labels for n in sizes[2:]]
    assert all(torch.equal(a, b) for a, b in zip(drawn, expected))
    assert stream.failure == (f"a process reading the data ended unexpectedly (pid {worker}, killed by SIGKILL), "
                              f"perhaps stopped by the system for lack of memory")
    assert plain.failure is None


def test_a_picture_decoder_killed_by_the_system_is_a_message_leaving_no_temporary_and_no_process(tmp_path, monkeypatch):
    """The out-of-memory killer's SIGKILL to a process decoding pictures:
    a message saying what to do; the half-written pixel file removed."""
    from pygan_plugins import images

    folder = tmp_path / "pictures"
    folder.mkdir()
    for i in range(8):
        Image.new("RGB", (4, 4), (i, 20, 200)).save(folder / f"{i}.png")
    cache = tmp_path / "cache"
    monkeypatch.setenv("PYGAN_DATA_DIR", str(cache))
    monkeypatch.setattr(images, "PARALLEL_FROM", 1)  # in worker processes, however few the files

    def decoders() -> set[int]:
        found = set()
        for pid in descendants(os.getpid()):
            try:
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.add(pid)
            except OSError:
                continue
        return found

    killed = []

    def kill_the_first_decoder():
        while not killed:
            for pid in decoders():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.01)

    killer = threading.Thread(target=kill_the_first_decoder, daemon=True)
    killer.start()
    try:
        with pytest.raises(PyganError, match="a process decoding pictures was killed .*, perhaps by the system for "
                                             "lack of memory; try again with fewer --workers"):
            images.open_images(DataRequest(folder, (3, 4, 4), False, {"workers": 1}))
    finally:
        killed.append(None)  # stops the thread, had it found nothing
        killer.join()
    assert isinstance(killed[0], int)
    assert not list(cache.glob("images/*/.pixels.u8.*.tmp")) and not list(cache.glob("images/*/pixels.u8"))
    wait_for(lambda: not alive(decoders()), 5, "the decoders to end")


def test_a_forked_child_does_not_keep_the_folder_claimed(tmp_path):
    started, ready = os.pipe()
    with claimed(tmp_path):
        child = os.fork()
        if child == 0:  # a DataLoader worker, say, that outlives the run
            os.write(ready, b"!")
            time.sleep(30)
            os._exit(0)
        os.read(started, 1)  # the child is running (past what happens at its fork)
    try:
        with claimed(tmp_path):  # released by the run, though its child lives on
            pass
    except UsageError as error:
        pytest.fail(str(error))
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
