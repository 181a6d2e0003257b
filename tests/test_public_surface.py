"""pygan's public surface: what plugins and scripts may import is ``pygan``
and ``pygan.ops``; the built-in plugins are the proof that it is enough."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from conftest import REPO_ROOT

import pygan
import pygan.ops

PLUGINS = REPO_ROOT / "plugins" / "pygan_plugins"
PUBLIC_MODULES = {"pygan": pygan, "pygan.ops": pygan.ops}


def pygan_imports(path: Path) -> list[tuple[int, str, str | None]]:
    """(line, module, name) for every import of pygan's modules in a file,
    and every attribute reached through ``pygan.<underscored>``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, None) for alias in node.names
                      if alias.name.split(".")[0] == "pygan"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "pygan":
            found += [(node.lineno, node.module, alias.name) for alias in node.names]
        elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "pygan"
              and node.attr.startswith("_") and node.attr != "__version__"):
            found.append((node.lineno, f"pygan.{node.attr}", None))
    return found


def non_public_imports(path: Path, root: Path = REPO_ROOT) -> list[str]:
    problems = []
    for line, module, name in pygan_imports(path):
        where = f"{path.relative_to(root)}:{line}"
        if module not in PUBLIC_MODULES:
            problems.append(f"{where} imports {module}")
        elif name is not None and name not in PUBLIC_MODULES[module].__all__ and f"{module}.{name}" not in PUBLIC_MODULES:
            problems.append(f"{where} imports {name} from {module}, which does not make it public")
    return problems


def test_the_built_in_plugins_import_only_the_public_surface():
    files = sorted(PLUGINS.rglob("*.py"))
    assert len(files) > 20
    problems = [problem for path in files for problem in non_public_imports(path)]
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_private_import(tmp_path):
    plugin = tmp_path / "sneaky.py"
    plugin.write_text("import pygan\nfrom pygan._training.step import StepContext\nfrom pygan import notice, nope\n"
                      "x = pygan._config\n")
    assert non_public_imports(plugin, tmp_path) == [
        "sneaky.py:2 imports pygan._training.step", "sneaky.py:3 imports nope from pygan, which does not make it public",
        "sneaky.py:4 imports pygan._config"]


@pytest.mark.parametrize("module", PUBLIC_MODULES.values(), ids=PUBLIC_MODULES.keys())
def test_every_public_name_exists(module):
    for name in module.__all__:
        assert hasattr(module, name), f"{module.__name__}.__all__ names {name}, which it lacks"


def test_every_other_module_of_pygan_is_private():
    """Only pygan/__init__.py and pygan/ops/ (with pygan.ops.reference) are
    public; every other module's or package's name starts with an underscore."""
    public = []
    for path in (REPO_ROOT / "pygan").rglob("*.py"):
        parts = path.relative_to(REPO_ROOT / "pygan").with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts and not any(part.startswith("_") for part in parts) and parts not in {("ops",), ("ops", "reference")}:
            public.append("/".join(parts))
    assert public == []


def test_no_two_modules_share_a_name_across_core_and_plugins():
    names: dict[str, list[Path]] = {}
    for root in (REPO_ROOT / "pygan", PLUGINS):
        for path in root.rglob("*.py"):
            if path.name != "__init__.py":
                names.setdefault(path.stem.lstrip("_"), []).append(path.relative_to(REPO_ROOT))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}



def module_map() -> dict[str, str]:
    """The README's map of the tree (its section "How pygan is put together"):
    each path at the start of a line, with the text up to the next path."""
    block = (REPO_ROOT / "README.md").read_text().split("### How pygan is put together", 1)[1].split("```")[1]
    entries: dict[str, str] = {}
    for line in block.strip("\n").splitlines():
        if line[:1].strip():
            path, _, text = line.partition(" ")
            entries[path] = text
        else:
            entries[path] += line
    return entries


def test_the_readme_module_map_is_the_tree():
    """Every package and module of pygan/ is in the map, each module in its
    package's entry, and every module the map names exists. pygan.ops' own
    modules are the exception: the map names the package, and the README's
    sections on the operators say what its modules hold."""
    entries = module_map()
    missing = []
    for path in sorted((REPO_ROOT / "pygan").rglob("*.py")):
        relative = path.relative_to(REPO_ROOT)
        folder = f"{relative.parent.as_posix()}/"
        if relative.parent.name == "pygan":
            if relative.name not in {"__init__.py", "__main__.py"} and relative.as_posix() not in entries:
                missing.append(relative.as_posix())
        elif folder not in entries:
            missing.append(folder)
        elif relative.parent.name != "ops" and relative.name != "__init__.py" and relative.name not in entries[folder]:
            missing.append(relative.as_posix())
    assert missing == []
    named = [f"{path}{name}" for path, text in entries.items() if path.endswith("/")
             for name in re.findall(r"\b\w+\.py\b", text)]
    assert named and [path for path in named if not (REPO_ROOT / path).is_file()] == []

OLD_PATHS = {"pygan.layers": "LeakyReLUConv2d", "pygan.specs": "Architecture", "pygan.step": "StepContext",
             "pygan.options": "whole", "pygan.files": "write_bytes_atomically", "pygan.data": "Samples"}
# For each 0.2 path: import the old name with warnings as errors, print the warning.
OLD_IMPORTS = """
import warnings
warnings.simplefilter("error")
for path, name in {paths!r}.items():
    try:
        exec(f"from {{path}} import {{name}}")
    except DeprecationWarning as warning:
        print(warning)
"""


def test_pygan_0_2_module_paths_still_import_with_a_deprecation_warning():
    result = subprocess.run([sys.executable, "-c", OLD_IMPORTS.format(paths=OLD_PATHS)], capture_output=True,
                            text=True, cwd="/")
    assert result.returncode == 0, result.stderr
    warned = result.stdout.splitlines()
    assert [line.partition(" is ")[0] for line in warned] == [f"{path}.{name}" for path, name in OLD_PATHS.items()]
    assert all("is pygan 0.2's name; use pygan" in line for line in warned)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pygan.layers import LeakyReLUConv2d
        from pygan.options import whole
        assert LeakyReLUConv2d is pygan.ops.LeakyReLUConv2d and whole is pygan.whole_number
    with pytest.raises(AttributeError, match="pygan 1.0 keeps only"):
        pygan.layers.no_such_name
