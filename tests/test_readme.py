"""The README's option table is the options' declarations, written out, and
its Python example runs."""

import os
import re
import subprocess
import sys

from conftest import REPO_ROOT

from pygan._config.options import markdown_table
from pygan._config.registry import load_plugins

TABLE = re.compile(r"<!-- options table: generated from the declarations -->\n(.*?)<!-- end of options table -->",
                   re.DOTALL)


def builtin_options_table() -> str:
    plugins = load_plugins()
    builtin = {info.name for info in plugins.loaded if info.distribution == "pygan"}
    options = [option for name, option in plugins.options.items() if plugins.owner("option", name) in builtin]
    owners = {option.name: ", ".join(plugins.owners("option", option.name)) for option in options}
    return markdown_table(options, owners)


def test_the_readme_option_table_is_generated_from_the_declarations():
    readme = (REPO_ROOT / "README.md").read_text()
    (table,) = TABLE.findall(readme)
    expected = builtin_options_table()
    assert table == expected, f"README.md's option table is out of date; replace it with:\n{expected}"


EXAMPLE = re.compile(r"<!-- python example: run by tests/test_readme.py -->\n```python\n(.*?)```", re.DOTALL)


def test_the_readme_python_example_runs(tmp_path):
    """The README's notebook-style example, run as a user would paste it, in
    a fresh process and folder, on a machine without MNIST or a mirror (it
    trains on the test split pygan ships)."""
    (example,) = EXAMPLE.findall((REPO_ROOT / "README.md").read_text())
    env = {**os.environ, "PYGAN_DATA_DIR": str(tmp_path / "cache"), "PYGAN_MNIST_MIRRORS": "http://127.0.0.1:9/"}
    result = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True, text=True, env=env,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    printed = result.stdout.splitlines()
    assert printed[0].startswith("<pygan run dcgan at step 20: ") and printed[0].endswith(
        "torch.Size([16, 1, 28, 28]) True True")
    assert printed[1] == "0.0002 Generator Discriminator"
    assert (tmp_path / "runs" / "notebook" / "samples" / "00020.png").is_file()
