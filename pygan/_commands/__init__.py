"""The commands: ``pygan`` on the command line (``cli``), starting a run
for ``pygan train`` and ``pygan.train`` (``train``), ``pygan sample``
(``sample``), ``pygan eval`` (``evaluate``) and ``pygan report``
(``report``); and pygan from Python, ``pygan.train`` and ``pygan.load``
(``api``)."""
