"""What the repository's files say as a whole: nothing outside the
repository, and pygan's version once.

No file points at files that live beside a checkout (a shared data folder,
notes that are not part of the project): what the project needs of them is
in its own docs (docs/book-gans.md) and its own data (the MNIST test split
it ships)."""

import importlib.metadata
import shutil
import subprocess

import pytest
from conftest import REPO_ROOT

import pygan

# Spelled in pieces, so that this file does not name them itself.
OUTSIDE = [b"../" + b"shared", b"/work/" + b"shared", b"SEED" + b".md", b"BOOK-" + b"GANS"]


def tracked_files() -> list[str]:
    if shutil.which("git") is None or not (REPO_ROOT / ".git").exists():
        pytest.skip("not a git checkout: which files the repository holds is git's to say")
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
    return [name for name in listing.decode().split("\0") if name]


def test_no_file_of_the_repository_points_outside_it():
    files = tracked_files()
    assert "docs/book-gans.md" in files
    found = []
    for name in files:
        path = REPO_ROOT / name
        if not path.is_file():  # deleted in the work tree, not yet in git
            continue
        text = path.read_bytes()
        found += [f"{name}: {reference.decode()}" for reference in OUTSIDE if reference in text]
    assert found == []


def test_the_version_is_written_once():
    # pyproject.toml reads pygan/_version.py; the installed metadata says what it read.
    assert importlib.metadata.version("pygan") == pygan.__version__
    written = [name for name in tracked_files() if (REPO_ROOT / name).is_file()
               and pygan.__version__.encode() in (REPO_ROOT / name).read_bytes()]
    assert written == ["pygan/_version.py"]
