"""Writing files: a write that fails (a full disk, a read-only folder, a
missing folder) says which file and why and leaves what was saved before
unchanged; files follow the umask; temporaries a kill left behind go away."""

import errno
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import pygan_command

from pygan._commands.report import write_report
from pygan._config.resolve import write_config
from pygan._evaluation import classifier as classifier_module
from pygan._files.atomic import WriteError, atomic_writer, remove_orphaned_temporaries, write_atomically
from pygan._files.pictures import save_grid
from pygan._training import checkpoint


@pytest.fixture
def read_only(monkeypatch):
    """Make a folder refuse new files as the kernel does for a user without
    write permission on it (chmod cannot show this here: the tests run as
    root, whom it does not stop)."""
    real_open = os.open

    def refuse_in(folder):
        def guarded_open(path, flags, *args, **kwargs):
            if os.path.dirname(os.fspath(path)) == os.fspath(folder) and flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(os, "open", guarded_open)

    return refuse_in


def write_checkpoint(path):
    checkpoint.save(path, {"step": 2, "weights": torch.zeros(1000)})


def write_config_json(path):
    assert path.name == "config.json"
    write_config(path.parent, {"plugin": "dcgan", "steps": 2})


def write_grid(path):
    save_grid(torch.rand(16, 1, 28, 28), path)


def write_losses_plot(path):
    assert path.name == "losses.png"
    (path.parent / "metrics.jsonl").write_text('{"step": 1, "d_loss": 0.5, "g_loss": 1.0}\n')
    write_report(path.parent)


WRITERS = {"a checkpoint": ("00000002.pt", write_checkpoint), "config.json": ("config.json", write_config_json),
           "a sample grid": ("00500.png", write_grid), "pygan report": ("losses.png", write_losses_plot)}


@pytest.fixture(params=WRITERS.values(), ids=WRITERS.keys())
def writer(request):
    return request.param


def test_a_full_disk_is_named_and_the_saved_file_is_kept(tmp_path, full_disk, writer):
    name, write = writer
    path = tmp_path / name
    path.write_bytes(b"saved before")
    with pytest.raises(WriteError) as raised:
        write(path)
    assert str(raised.value).startswith(f"cannot write {path}: {os.strerror(errno.ENOSPC)}; free space")
    assert path.read_bytes() == b"saved before"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_read_only_folder_is_named_and_the_saved_file_is_kept(tmp_path, read_only, writer):
    name, write = writer
    path = tmp_path / name
    path.write_bytes(b"saved before")
    read_only(tmp_path)
    with pytest.raises(WriteError) as raised:
        write(path)
    assert str(raised.value) == f"cannot write {path}: {os.strerror(errno.EACCES)}"
    assert path.read_bytes() == b"saved before"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the test above patches instead")
def test_a_folder_without_write_permission_is_named(tmp_path):
    tmp_path.chmod(0o555)
    try:
        with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'config.json'}: Permission denied"):
            write_config(tmp_path, {"steps": 2})
    finally:
        tmp_path.chmod(0o755)


def test_a_missing_folder_is_named(tmp_path):
    path = tmp_path / "no-such-folder" / "grid.png"
    with pytest.raises(WriteError) as raised:
        write_grid(path)
    assert str(raised.value) == f"cannot write {path}: the folder {path.parent} does not exist"


def test_a_failure_that_is_not_a_write_passes_through_and_leaves_nothing(tmp_path):
    with pytest.raises(KeyError):
        with atomic_writer(tmp_path / "data.bin") as stream:
            stream.write(b"half")
            raise KeyError("the caller's own problem")
    assert list(tmp_path.iterdir()) == []


def test_a_classifier_that_cannot_be_cached_is_still_used_with_a_notice(tmp_path, monkeypatch, full_disk, capsys):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(classifier_module, "train_classifier", lambda network, images, labels: 0.5)
    images, labels = torch.rand(2000, 1, 28, 28), torch.arange(2000) % 10
    classifier = classifier_module.load_classifier("digits", images, labels)
    assert classifier.trained and classifier.accuracy == 0.5
    assert not classifier.path.exists()
    err = capsys.readouterr().err
    assert f"cannot write {classifier.path}: {os.strerror(errno.ENOSPC)}; free space" in err
    assert "; the classifier is not cached" in err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_files_follow_the_umask_as_open_does(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        write_atomically(tmp_path / "config.json", b"{}")
        (tmp_path / "opened.txt").write_text("")
    finally:
        os.umask(previous)
    assert (tmp_path / "config.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "opened.txt").stat().st_mode & 0o777 == mode


def orphan_of_a_killed_write(path):
    """Start writing ``path`` in another process and kill it midway."""
    killed = subprocess.run([sys.executable, "-c", (
        "import os, sys; from pygan._files.atomic import atomic_writer\n"
        "writer = atomic_writer(sys.argv[1]); writer.__enter__().write(b'half')\n"
        "os.kill(os.getpid(), 9)"), str(path)])
    assert killed.returncode == -9
    orphans = [p for p in path.parent.iterdir() if p.name != path.name]
    assert len(orphans) == 1 and orphans[0].name.startswith(f".{path.name}.")
    return orphans[0]


def test_temporaries_of_killed_writes_are_removed_when_the_run_folder_is_used_again(tmp_path):
    digits = tmp_path / "digits.npz"
    np.savez(digits, images=np.random.default_rng(0).integers(0, 256, (16, 28, 28), dtype=np.uint8))
    run = tmp_path / "run"
    trained = pygan_command("train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", digits, "--batch-size",
                            "4", "--steps", "1", "--sample-every", "0", "--out", run)
    assert trained.returncode == 0, trained.stderr
    (run / "samples").mkdir()
    orphans = {orphan_of_a_killed_write(run / "samples" / "00500.png"),
               run / ".config.json.k2_9xq0a.tmp"}  # as older pygans named them
    (run / ".config.json.k2_9xq0a.tmp").write_text("half")
    others = {run / "notes.tmp", run / ".notes.tmp"}  # not pygan's temporaries
    for other in others:
        other.write_text("mine")
    resumed = pygan_command("train", "--resume", run, "--steps", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert not any(orphan.exists() for orphan in orphans) and all(other.exists() for other in others)
    assert f"removed 2 temporary file(s) left in {run} by an interrupted write" in resumed.stderr


def test_removing_orphans_from_a_folder_without_any_does_nothing(tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    assert remove_orphaned_temporaries(tmp_path) == []
    assert capsys.readouterr().err == ""


def test_a_full_disk_says_what_to_do(tmp_path, full_disk):
    with pytest.raises(WriteError, match=f"cannot write {tmp_path / 'config.json'}: No space left on device; free "
                                         f"space on the disk of {tmp_path} \\(or write elsewhere\\)"):
        write_config(tmp_path, {"steps": 2})
