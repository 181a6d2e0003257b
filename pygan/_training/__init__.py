"""Training: the engine that runs steps on the device (``engine``,
``metric_rows``, ``optim``), what a recipe's step is given (``step``), a
run's life (``runner``, ``checkpoint``, ``distributed``), building its
networks (``networks``), real batches (``data``), worker processes that end
with pygan (``worker_processes``) and drawing from generators
(``sampling``)."""
