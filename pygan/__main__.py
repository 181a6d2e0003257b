"""``python -m pygan``: the ``pygan`` command."""

import sys

from pygan._commands.cli import main

sys.exit(main())
