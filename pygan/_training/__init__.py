"""Training: the engine that runs steps on the device (``engine``,
``metric_rows``, ``optim``), what a recipe's step is given (``step``), a
run's life (``runner``, ``checkpoint``, ``distributed``), real batches
(``data``) and drawing from generators (``sampling``)."""
