"""The options of ``pygan train`` that the core itself reads, declared the
way plugins declare theirs (``register_options``). pygan registers this
module before any plugin, so these names are always taken.

``pygan._config.options`` has the checks they share with plugins' options
(public as ``pygan.whole_number``, ``pygan.finite_number``, ``pygan.fraction``).
"""

from __future__ import annotations

from pygan._config.options import finite_number, fraction, name, whole_number
from pygan._contracts.hooks import hookimpl
from pygan._contracts.records import Option

# What --precision runs the networks in, under autocast; float32 weights and
# optimizer state either way.
PRECISIONS = ("fp32", "bf16", "fp16")
DEVICES = ("auto", "cpu", "cuda")
# torch seeds are 64-bit; each data-parallel rank adds its rank, the fixed
# sample latent adds 1 and evaluation 2.
MAX_SEED = 2 ** 63 - 1024


@hookimpl
def register_options(register):
    for option in [
        Option("plugin", str, None, "the architecture to train, e.g. dcgan (see 'pygan plugins')", check=name,
               metavar="NAME"),
        Option("recipe", str, "alternating", "the training step (see 'pygan plugins')", check=name, metavar="NAME"),
        Option("loss", str, None, "the adversarial loss (default: the architecture's)", check=name, metavar="NAME"),
        Option("penalty", str, None, "discriminator penalty, e.g. r1 or gp; 'none' for none (default: the loss's)",
               check=name, metavar="NAME"),
        Option("penalty_weight", float, 10.0, "weight of --penalty", check=finite_number(minimum=0), metavar="W"),
        Option("d_steps", int, 1, "discriminator updates per generator update", check=whole_number(minimum=1),
               metavar="K"),
        Option("dataset", str, None, "the data set of real samples (default: the architecture's)", check=name,
               metavar="NAME"),
        Option("data_dir", str, None, "where the data set's files are (default: the data set's cache)",
               resumable=True, metavar="DIR"),
        Option("steps", int, 10_000, "total training steps; a resumed run may extend them",
               check=whole_number(minimum=1), resumable=True, metavar="N"),
        Option("batch_size", int, 64, "real (and fake) samples per step, per process", check=whole_number(minimum=1),
               metavar="N"),
        Option("optimizer", str, "rmsprop", "the optimizer, rmsprop or adam (see 'pygan plugins')", check=name,
               per_network=True,
               metavar="NAME"),
        Option("lr", float, 2e-4, "learning rate", check=finite_number(minimum=0, exclusive=True), per_network=True,
               metavar="LR"),
        Option("classes", int, None, "classes to generate, for an architecture that takes the count from the run "
               "(0: unconditional; default: the data set's labels)", check=whole_number(minimum=0), metavar="N"),
        Option("seed", int, 0, "random seed of the weights, the data drawn and the noise",
               check=whole_number(minimum=0, maximum=MAX_SEED), metavar="N"),
        Option("device", str, "auto", "where to train: auto, cpu or cuda", choices=DEVICES, resumable=True),
        Option("sample_every", int, 500, "steps between sample grids (0: never)", check=whole_number(minimum=0),
               resumable=True, metavar="N"),
        Option("checkpoint_every", int, 1000, "steps between checkpoints (0: only at the end)",
               check=whole_number(minimum=0), resumable=True, metavar="N"),
        Option("keep_checkpoints", int, 3, "newest checkpoints kept (0: all)", check=whole_number(minimum=0),
               resumable=True, metavar="K"),
        Option("skip_nonfinite", bool, False, "skip updates whose loss is NaN or infinite instead of stopping",
               resumable=True),
        Option("ema", float, None, "keep a moving average of the generator's weights for samples, e.g. 0.999",
               check=fraction, metavar="DECAY"),
        Option("ema_kimg", float, None, "keep a moving average of the generator's weights whose half-life is K "
               "thousand images (StyleGAN2's; instead of --ema)", check=finite_number(minimum=0, exclusive=True),
               metavar="K"),
        Option("ema_rampup", float, None, "with --ema-kimg, a half-life of at most R times the images shown so far",
               check=finite_number(minimum=0, exclusive=True), metavar="R"),
        Option("precision", str, "fp32", "fp32, or mixed precision bf16 or fp16 (fp16 needs CUDA)",
               choices=PRECISIONS),
        Option("sync_every", int, None, "read the metrics back from the device every N steps; every step is still "
               "logged (default 1 on the CPU, 100 on CUDA)", check=whole_number(minimum=1), resumable=True, metavar="N"),
        Option("stream", bool, False, "stream the data from worker processes instead of keeping it on the device "
               "(default: only when it takes more than half the free memory)"),
        Option("workers", int, 2, "processes reading streamed data (0: the training process itself)",
               check=whole_number(minimum=0), resumable=True, metavar="N"),
        Option("cuda_graphs", bool, True, "on CUDA, run every step eagerly instead of replaying a captured "
               "CUDA graph", resumable=True, flag="--no-cuda-graphs"),
        Option("compile", bool, False, "torch.compile the networks for the training step (the first step compiles "
               "them; a resumed run compiles again)", resumable=True),
    ]:
        register(option)
