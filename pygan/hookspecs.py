"""The hooks a pygan plugin can implement.

A plugin is a module (or object) listed under the ``pygan`` entry-point group
whose functions carry the ``@pygan.hookimpl`` marker and one of the names
below. pygan's own architecture, loss, data sets, progress bar, metrics log and
sample grids are plugins written exactly this way (see ``plugins/``).

Registration hooks receive a ``register`` callable; the training callbacks
receive the ``Run`` being trained (``pygan.trainer.Run``: its ``config``,
``out_dir``, ``generator``, ``discriminator``, ``device``, ``start_step`` and
``total_steps``).
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
    (1-based) and a dict of floats: ``d_loss``, ``d_acc``, ``g_loss``,
    ``g_acc``, ``lr_d``, ``lr_g``. The metrics are read back from the device
    every ``--sync-every`` steps, so on a GPU the calls come in batches, up to
    that many steps after the step ran; always before the step's sample grid
    or checkpoint.

    Example::

        @pygan.hookimpl
        def on_step_end(run, step, metrics):
            if metrics["d_loss"] < 1e-3:
                print("the discriminator is winning at step", step)
    """


@hookspec
def on_sample(run, step, images):
    """Called every ``--sample-every`` steps with the generator's output for
    the run's fixed noise: a CPU tensor (16, C, H, W) with values in [0, 1].

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
