"""Evaluation while training (``--eval-every N``): every N steps, the
Fréchet classifier distance, classifier score and dominant class share of
``--eval-n`` fresh samples (and, for a conditional generator, its label
accuracy) join that step's metrics. ``pygan eval`` measures a checkpoint
the same way (``pygan.ClassifierMetrics``)."""

import pygan

# What each evaluation adds to metrics.jsonl.
LOGGED = ("fcd", "classifier_score", "dominant_class_share", "label_accuracy")
# Evaluation draws its samples from a generator of its own, seeded apart
# from training's (which uses the run's seed and seed + 1), so that
# evaluating never changes training.
SEED_OFFSET = 2


@pygan.hookimpl
def register_options(register):
    register(pygan.Option("eval_every", int, 0, "every N steps, log the Frechet classifier distance and classifier "
                          "score of --eval-n samples (0: never; see pygan eval)", check=pygan.whole_number(minimum=0),
                          resumable=True, metavar="N"))
    register(pygan.Option("eval_n", int, 1000, "samples per --eval-every evaluation", check=pygan.whole_number(minimum=2),
                          resumable=True, metavar="N"))


@pygan.hookimpl
def on_train_start(run):
    if not run.config["eval_every"]:
        return
    dataset = run.dataset
    images, labels = pygan.reference_images(dataset, run.config["data_dir"], run.image_shape, run.config)
    if labels is None:
        raise pygan.UsageError(f"--eval-every needs a labelled data set, and {dataset.name!r} has no labels here; "
                               f"train without it and measure checkpoints with pygan eval, which uses FID and KID "
                               f"for images without labels")
    if run.config["eval_n"] > len(images):  # each evaluation compares as many real images as samples
        raise pygan.UsageError(f"--eval-n {run.config['eval_n']:,} is more than the {len(images):,} labelled images "
                               f"of {dataset.name!r} that samples are compared with; choose at most {len(images):,}")
    run.state["evaluation"] = pygan.ClassifierMetrics(dataset.name, images, labels, run.device)


@pygan.hookimpl
def measure(run, step):
    every = run.config["eval_every"]
    if every and step % every == 0:
        return lambda: evaluate(run)


def evaluate(run) -> dict[str, float]:
    results = run.state["evaluation"].measure(run.architecture, run.sampling_generator, run.config["eval_n"],
                                              sample_seed=run.config["seed"] + SEED_OFFSET)
    return {key: results[key] for key in LOGGED if key in results}
