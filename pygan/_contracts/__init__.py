"""The contracts between pygan and its plugins: the records plugins register
(``records``), the hooks they implement (``hooks``), the run their callbacks
receive (``run``), and how pygan reports to the user (``messages``). Public
through ``pygan``."""
