"""The commands: ``pygan`` on the command line (``cli``) and ``pygan
report`` (``report``)."""
