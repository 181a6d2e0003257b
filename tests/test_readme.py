"""The README's option table is the options' declarations, written out."""

import re

from conftest import REPO_ROOT

from pygan._config.options import markdown_table
from pygan._config.registry import load_plugins

TABLE = re.compile(r"<!-- options table: generated from the declarations -->\n(.*?)<!-- end of options table -->",
                   re.DOTALL)


def builtin_options_table() -> str:
    plugins = load_plugins()
    builtin = {info.name for info in plugins.loaded if info.distribution == "pygan"}
    options = [option for name, option in plugins.options.items() if plugins.owner("option", name) in builtin]
    return markdown_table(options, {option.name: plugins.owner("option", option.name) for option in options})


def test_the_readme_option_table_is_generated_from_the_declarations():
    readme = (REPO_ROOT / "README.md").read_text()
    (table,) = TABLE.findall(readme)
    expected = builtin_options_table()
    assert table == expected, f"README.md's option table is out of date; replace it with:\n{expected}"
