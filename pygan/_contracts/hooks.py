"""The hooks a pygan plugin can implement.

A plugin is a module (or object) listed under the ``pygan`` entry-point group
whose functions carry the ``@pygan.hookimpl`` marker and one of the names
below. pygan's own architectures, losses, recipes, optimizers, regularisers,
weight clipping, data sets, progress bar, metrics log, sample grids,
evaluation and TensorBoard logging are plugins written exactly this way (see
``plugins/pygan_plugins/``).

Registration hooks receive a ``register`` callable and are called once, when
the plugin is loaded; the records they take are public in ``pygan``
(defined in ``pygan/_contracts/records.py``). The training callbacks receive
the ``pygan.Run`` being trained: its ``config``, ``out_dir``, networks,
``device``, ``start_step``, ``total_steps`` and ``state`` (a dict for
plugins' own per-run objects).

A hook implementation whose name is no hook below (a misspelling) makes
pygan skip the plugin, named, as FAILED. Implementations may leave out the
arguments they do not use. Where several plugins implement a hook, they are
called in pluggy's order: the last registered first (pygan's built-ins are
registered before other plugins), unless an implementation is marked
``@pygan.hookimpl(tryfirst=True)`` or ``@pygan.hookimpl(trylast=True)``.
"""

import pluggy

hookspec = pluggy.HookspecMarker("pygan")
hookimpl = pluggy.HookimplMarker("pygan")


@hookspec
def register_architectures(register):
    """Register generator/discriminator pairs by calling ``register(Architecture(...))``.

    Example::

        @pygan.hookimpl
        def register_architectures(register):
            register(pygan.Architecture(
                name="tiny",
                build_generator=lambda shape: TinyGenerator(shape),
                build_discriminator=lambda shape: TinyDiscriminator(shape),
                latent_size=16,
                defaults={"lr_d": 1e-3, "lr_g": 1e-3},
            ))
    """


@hookspec
def register_losses(register):
    """Register adversarial objectives by calling ``register(Loss(...))``, and
    discriminator regularisers by calling ``register(Penalty(...))``.

    Example::

        @pygan.hookimpl
        def register_losses(register):
            register(pygan.Loss(
                name="hinge",
                discriminator_loss=lambda real, fake: F.relu(1 - real).mean() + F.relu(1 + fake).mean(),
                generator_loss=lambda fake: -fake.mean(),
            ))
    """


@hookspec
def register_recipes(register):
    """Register training steps by calling ``register(Recipe(...))``; a run
    uses the one its ``--recipe`` option names (default ``alternating``, the
    seed's step).

    Example::

        @pygan.hookimpl
        def register_recipes(register):
            register(pygan.Recipe(name="generator-only", step=generator_only_step))

        def generator_only_step(step):
            with step.training("generator"):
                fake = step.generate(step.latent())
                loss = step.loss.generator_loss(step.discriminate(fake).source)
                step.update(loss)
            return {"g_loss": loss}
    """


@hookspec
def register_optimizers(register):
    """Register optimizers by calling ``register(Optimizer(...))``; a run
    uses the ones ``--optimizer-d`` and ``--optimizer-g`` name.

    Example::

        @pygan.hookimpl
        def register_optimizers(register):
            register(pygan.Optimizer(name="sgd", build=lambda params, settings: MySGD(params, settings["lr"])))
    """


@hookspec
def register_options(register):
    """Declare options of ``pygan train`` by calling ``register(Option(...))``,
    as pytest's ``pytest_addoption`` does: the flag, its config.json key,
    default, check and whether a resumed run may change it all come from
    the one declaration. Options are read in ``run.config[name]``.

    Example::

        @pygan.hookimpl
        def register_options(register):
            register(pygan.Option("clip_weights", float, 0.0, "clip every discriminator weight to +-C after "
                                  "each update (0: off)", check=lambda v: None if v >= 0 else "must be >= 0"))
    """


@hookspec
def register_commands(register):
    """Add subcommands to ``pygan`` by calling ``register(Command(...))``:
    ``pygan NAME`` parses the arguments the command declares and calls its
    ``run(args)``. The names of pygan's own commands (train, sample, eval,
    report, info, plugins) are taken.

    Example::

        @pygan.hookimpl
        def register_commands(register):
            register(pygan.Command(
                name="count",
                description="count the images in a folder",
                add_arguments=lambda parser: parser.add_argument("folder", type=Path),
                run=lambda args: print(len(list(args.folder.glob("*.png")))),
            ))
    """


@hookspec
def register_datasets(register):
    """Register sources of real samples by calling ``register(Dataset(...))``.

    Example::

        @pygan.hookimpl
        def register_datasets(register):
            register(pygan.Dataset(
                name="squares",
                load=lambda data_dir: torch.rand(1000, 1, 28, 28),
            ))
    """


@hookspec
def prepare_network(config, network, module, training):
    """Change a freshly built network in place: ``network`` is "generator"
    or "discriminator", ``config`` the run's configuration. For regularisers
    that any architecture can take: reparametrizing weights (spectral
    normalization) or transforming the input with a forward pre-hook
    (differentiable augmentation). ``training`` is True when the network is
    built to be trained (before its optimizer is made) and False when it is
    rebuilt to load trained weights into (``pygan sample``, ``pygan eval``,
    ``pygan.load``): change the parameters' layout either way, so that the
    weights load, but add what only training does (augmentation) only then.
    A hook implementation may leave out arguments it does not use.

    Example::

        @pygan.hookimpl
        def prepare_network(config, network, module, training):
            if network == "discriminator" and config["spectral_norm"]:
                for layer in module.modules():
                    ...
    """


@hookspec
def after_update(run, network, module):
    """Called inside the training step right after each optimizer update of
    ``network`` ("discriminator" or "generator", whose module is ``module``),
    for weight constraints. Tensor code only: on CUDA it is captured with
    the step.

    Example::

        @pygan.hookimpl
        def after_update(run, network, module):
            if network == "discriminator":
                for parameter in module.parameters():
                    parameter.data.clamp_(-0.01, 0.01)
    """


@hookspec
def judged_real(run, logits):
    """Called inside the training step each time the recipe reports the
    discriminator's source logits for a batch of real training images
    (``StepContext.judged_real``), detached: for regularisers that adapt to
    how the discriminator judges its training data, such as ADA's
    overfitting measure E[sign(D(real))] (``--augment ada``). A logit
    above ``run.loss.decision_threshold`` calls an image real. Tensor code
    only: on CUDA it is captured with the step, so keep what it accumulates
    in device tensors (a module's buffers, which checkpoints save), not in
    Python numbers.

    Example::

        @pygan.hookimpl
        def judged_real(run, logits):
            run.state["called_real"] = (logits > run.loss.decision_threshold).float().mean()
    """


@hookspec
def step_metrics(run):
    """Called inside each training step, after the recipe: return None, or a
    dict of metric names to 0-d tensors that join the step's metrics
    (``metrics.jsonl``, ``on_step_end``), read back with the recipe's own
    every ``--sync-every`` steps. The same names every step, none the
    recipe uses; tensor code only (captured with the step on CUDA). For a
    regulariser's state, such as ADA's augmentation probability.

    Example::

        @pygan.hookimpl
        def step_metrics(run):
            return {"d_called_real": run.state["called_real"]}   # set by judged_real above
    """


@hookspec
def measure(run, step):
    """Called on the host after training step ``step`` is queued, while the
    weights are those of that step. Return None, or a function taking no
    argument that measures the step and returns a dict of metric names to
    numbers: pygan calls it once the step's own metrics have been read back
    and found finite (on a GPU, when the device has finished the step), and
    the dict joins the step's metrics in ``on_step_end``. Training waits
    while it runs, so it may take its time (an evaluation). A measurement
    that raises, or returns something other than a dict, ends the run
    "failed" with a checkpoint, naming the plugin, like a failing callback.

    Example::

        @pygan.hookimpl
        def measure(run, step):
            if step % 1000 == 0:
                return lambda: {"mean_pixel": float(run.sample().mean())}
    """


@hookspec
def on_train_start(run):
    """Called once before the first step of a run (also of a resumed one).

    Example::

        @pygan.hookimpl
        def on_train_start(run):
            print("training", run.config["plugin"], "into", run.out_dir)
    """


@hookspec
def on_step_end(run, step, metrics):
    """Called for every training step, in order, with the step number
    (1-based) and a dict of floats: what the recipe returned (for the
    built-in one ``d_loss``, ``d_acc``, ``g_loss``, ``g_acc``, ``lr_d``,
    ``lr_g``) and what ``measure`` added.

    When it runs: the metrics are read back from the device every
    ``--sync-every`` steps (every step on the CPU, every 100 on a GPU), so the
    calls come in batches, up to that many steps after the step ran, and
    always before the step's sample grid or checkpoint. The networks' weights
    seen from here are therefore those of the latest step trained, not of
    ``step``. A value that belongs to ``step`` itself is returned by the
    recipe as a metric (a 0-d tensor), or measured through ``measure``, which
    runs while the weights are those of its step.

    Example::

        @pygan.hookimpl
        def on_step_end(run, step, metrics):
            if metrics["d_loss"] < 1e-3:
                print("the discriminator is winning at step", step)
    """


@hookspec
def on_sample(run, step, images):
    """Called every ``--sample-every`` steps with the generator's output for
    the run's fixed latent (``run.fixed_latent``: for conditional
    architectures its labels are 0, 1, 2, ... in turn): a CPU tensor
    (16, C, H, W) with values in [0, 1].

    Example::

        @pygan.hookimpl
        def on_sample(run, step, images):
            torch.save(images, run.out_dir / f"samples-{step}.pt")
    """


@hookspec
def on_checkpoint(run, step, path):
    """Called after a checkpoint has been written (atomically) to ``path``.

    Example::

        @pygan.hookimpl
        def on_checkpoint(run, step, path):
            shutil.copy(path, "/backup/")
    """


@hookspec
def on_run_end(run, step, status):
    """Called once when training stops, with the last completed step and
    ``status`` "finished", "interrupted" or "failed".

    Example::

        @pygan.hookimpl
        def on_run_end(run, step, status):
            print(f"run {status} at step {step}")
    """
