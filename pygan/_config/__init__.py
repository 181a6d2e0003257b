"""Plugin loading and options: finding and checking plugins (``registry``),
options from their declarations to command-line flags and checks
(``options``), the core's own options (``core_options``), and a run's
configuration resolved from them (``resolve``)."""
