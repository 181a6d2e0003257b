"""``pygan eval``: a trained generator measured against real images, in a
classifier's features (labelled data) or a feature network's (FID, KID)."""

from __future__ import annotations

import json

import torch

from pygan._config.registry import get_plugins
from pygan._contracts.messages import notice


def command_eval(args) -> None:
    from pygan._evaluation.classifier import HELD_OUT, ClassifierMetrics
    from pygan._evaluation.features import feature_distances, feature_network, inception_network
    from pygan._evaluation.real_images import reference_images
    from pygan._training import sampling
    from pygan._training.runner import select_device

    device = select_device(args.device)
    plugins = get_plugins()
    state, architecture, generator = sampling.load_generator(plugins, args.checkpoint, device)
    config = state["config"]
    dataset = plugins.dataset(args.dataset or config["dataset"])
    # The run's own --data-dir only fits when comparing with the run's data set.
    data_dir = args.data_dir or (config["data_dir"] if dataset.name == config["dataset"] else None)
    images, labels = reference_images(dataset, data_dir, tuple(state["image_shape"]), config)
    if labels is not None and len(labels) < 2 * HELD_OUT and not args.fid:
        notice(f"{dataset.name} has too few labelled images ({len(labels):,}) to train a classifier: "
               f"measuring FID and KID instead")
        labels = None
    run = {"checkpoint": str(state["path"]), "step": state["step"], "dataset": dataset.name}
    if args.fid or args.feature_network or labels is None:
        features = (feature_network(args.feature_network, device) if args.feature_network
                    else inception_network(args.inception_weights, device))
        draw = sampling.sampler(architecture, generator, torch.Generator(device).manual_seed(args.seed), device)
        results = feature_distances(draw, images, features, min(args.n, len(images)), seed=args.seed)
        results = {**run, "features": str(args.feature_network or "inception-v3"), **results}
        if args.json:
            print(json.dumps(results, indent=2))
            return
        print(f"{state['architecture']} at step {state['step']} ({state['path']}) against {dataset.name}, "
              f"{results['n']:,} samples each, in {results['features']} features")
        print(f"  FID  {results['fid']:12.4f}   (lower is better; real data ~0)")
        print(f"  KID  {results['kid']:12.6f}   (+- {results['kid_std']:.6f}; lower is better; real data ~0)")
        return
    if tuple(images.shape[1:]) != tuple(state["image_shape"]):
        notice(f"samples {'x'.join(map(str, state['image_shape']))} are converted to the {dataset.name} "
               f"classifier's {'x'.join(map(str, images.shape[1:]))}")
    metrics = ClassifierMetrics(dataset.name, images, labels, device)
    results = metrics.measure(architecture, generator, args.n, sample_seed=args.seed, real_seed=args.seed)
    results = {**run, **results}
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{state['architecture']} at step {state['step']} ({state['path']}) against {dataset.name}, "
          f"{args.n:,} samples each")
    print(f"  Fréchet classifier distance  {results['fcd']:10.4f}   (lower is better; real data ~0)")
    print(f"  classifier score             {results['classifier_score']:10.4f}   "
          f"(higher is better; real data {results['real_classifier_score']:.4f})")
    if "label_accuracy" in results:
        print(f"  label accuracy               {results['label_accuracy']:10.2%}   "
              f"(samples recognised as the class asked for; chance {1 / architecture.classes:.0%})")
    print(f"  classifier accuracy          {results['classifier_accuracy']:10.2%}   (on held-out real images)")
    print("  class shares  " + "  ".join(f"{label}: {share:.1%}" for label, share in enumerate(results["class_shares"])))
    if results["mode_collapse"]:
        print(f"  warning: {results['dominant_class_share']:.0%} of the samples are class "
              f"{results['dominant_class']}: the generator may have collapsed onto few modes")
