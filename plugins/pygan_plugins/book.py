"""The networks every GAN of R. Atienza's "Advanced Deep Learning with
Keras" (chapters 4-6) is built from: the book's ``lib/gan.py``, shared by the
``dcgan``, ``cgan``, ``wgan``, ``lsgan``, ``acgan`` and ``infogan`` plugins
(docs/book-gans.md).

- ``Generator(input_size)``: the vectors it is given concatenated (z first),
  Dense(7*7*128), then four BatchNorm -> ReLU -> Conv2DTranspose(5, 'same')
  blocks (128, 64, 32, 1 filters; strides 2, 2, 1, 1), then sigmoid. Its
  BatchNorm is Keras' (``KerasBatchNorm2d``): TensorFlow 2's plain moving
  averages, or the first edition's zero-debiased ones, as
  ``--batchnorm-statistics`` (``BATCHNORM_STATISTICS``) says.
- ``Discriminator(in_channels, classes, codes)``: four LeakyReLU(0.2) ->
  Conv2D(5, 'same') blocks (32, 64, 128, 256 filters; strides 2, 2, 2, 1),
  run through pygan's fused operator, Flatten (4096), and heads on the
  flattened vector: the source Dense(1); with classes, a shared Dense(128)
  then the label Dense(classes); with codes, one Dense(1) per code on the
  same Dense(128).
- ``LabelChannelDiscriminator``: cgan's, the one-hot label made into a
  second image channel by a Dense layer.

Outputs are pre-activation: the book's sigmoid and softmax are folded into
the losses (binary cross-entropy from logits, categorical cross-entropy on a
softmax is ``F.cross_entropy`` on its logits); infogan's loss applies the
code heads' sigmoid itself. Initial values are Keras': Glorot-uniform
kernels, zero biases.

Parameter counts follow Keras' ``model.summary()``, BatchNorm moving
statistics included (``keras_parameter_count``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import pygan
from pygan.ops import LeakyReLUConv2d, SameConvTranspose2d

IMAGE_SHAPE = (1, 28, 28)
LATENT_SIZE = 100
FLAT = 4 * 4 * 256  # the trunk's flattened output
AUXILIARY_FEATURES = 128  # the shared Dense layer of the label and code heads

# What every program of the family shares unless it says otherwise (docs/book-gans.md):
# MNIST, 40,000 steps of 64, binary cross-entropy, and RMSprop with Keras'
# time decay, the adversarial model at half the discriminator's rate and decay.
SEED_DEFAULTS = {
    "dataset": "mnist",
    "loss": "bce",
    "steps": 40_000,
    "batch_size": 64,
    "lr_d": 2e-4,
    "decay_d": 6e-8,
    "lr_g": 1e-4,
    "decay_g": 3e-8,
}


# --batchnorm-statistics: which Keras the generators' BatchNorm follows
# (KerasBatchNorm2d): the seed's TensorFlow 2 Keras, or the first edition's.
# Declared here once; each book plugin registers it (shared), so that it
# belongs to the runs of any of them.
BATCHNORM_STATISTICS = pygan.Option(
    "batchnorm_statistics", str, "plain",
    "the book GANs' generator BatchNorm moving statistics: plain (TensorFlow 2's Keras, which the seed's program "
    "runs) or zero-debiased (standalone Keras on TensorFlow 1, which made the book's 2018 figures; its early "
    "samples depend on z sooner, so training starts faster)",
    choices=("plain", "zero-debiased"), metavar="MODE", shared=True)


def generator(name: str, input_size: int, image_shape, config) -> "Generator":
    """The book plugin ``name``'s generator for ``input_size`` inputs, its
    BatchNorm statistics chosen by ``--batchnorm-statistics``."""
    check_shape(name, image_shape)
    return Generator(input_size, zero_debias=config["batchnorm_statistics"] == "zero-debiased")


def image_shape(config) -> tuple[int, int, int]:
    """What every book GAN makes, whatever its options: 1x28x28 MNIST digits."""
    return IMAGE_SHAPE


def check_shape(name: str, image_shape) -> None:
    if tuple(image_shape) != IMAGE_SHAPE:
        raise pygan.UsageError(
            f"architecture {name!r} makes 1x28x28 images but the data set has "
            f"{'x'.join(map(str, image_shape))} images; use a 28x28 grayscale data set such as mnist"
        )


def dense(in_features: int, out_features: int) -> nn.Linear:
    """Keras' Dense: Glorot-uniform kernel, zero bias."""
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def trunk(in_channels: int = 1) -> nn.Sequential:
    """Four LeakyReLU(0.2) -> Conv2D(5, 'same') blocks, each one fused op;
    the first LeakyReLU acts on the raw input."""
    return nn.Sequential(
        LeakyReLUConv2d(in_channels, 32, 5, stride=2),
        LeakyReLUConv2d(32, 64, 5, stride=2),
        LeakyReLUConv2d(64, 128, 5, stride=2),
        LeakyReLUConv2d(128, 256, 5, stride=1),
    )


def flatten(features: torch.Tensor) -> torch.Tensor:
    # Keras' Flatten of its channels-last tensor: (height, width, channel)
    # order. The fused op's output is channels-last in memory, so this is a
    # view; flattening (channel, height, width) would copy it.
    return features.permute(0, 2, 3, 1).flatten(1)


class Discriminator(nn.Module):
    """The trunk and the source head, plus a label head (``classes``) and
    code heads (``codes``, which need ``classes``) as the book's
    ``gan.discriminator(inputs, activation, num_labels, num_codes)``.

    ``forward`` returns the source logits (N, 1) alone when there are no
    other heads, else a dict: ``source``, ``classes`` (label logits
    (N, classes)) and ``codes`` (the code heads' pre-sigmoid outputs
    (N, codes), one column per code).
    """

    def __init__(self, in_channels: int = 1, classes: int = 0, codes: int = 0) -> None:
        super().__init__()
        if codes and not classes:
            raise ValueError("code heads share the label head's Dense layer: give classes too")
        # Names, order of registration and of initialisation are the seed's
        # (dcgan's golden run depends on them): blocks, then classify.
        self.blocks = trunk(in_channels)
        self.classify = dense(FLAT, 1)
        self.classes, self.codes = classes, codes
        if classes:
            self.features = dense(FLAT, AUXILIARY_FEATURES)
            self.label = dense(AUXILIARY_FEATURES, classes)
            self.code_heads = nn.ModuleList(dense(AUXILIARY_FEATURES, 1) for _ in range(codes))

    def forward(self, images: torch.Tensor):
        x = flatten(self.blocks(images))
        source = self.classify(x)
        if not self.classes:
            return source
        features = self.features(x)
        heads = {"source": source, "classes": self.label(features)}
        if self.codes:
            heads["codes"] = torch.cat([head(features) for head in self.code_heads], dim=1)
        return heads

    def probability(self, images: torch.Tensor) -> torch.Tensor:
        """The book's source output: the sigmoid of the logits."""
        output = self(images)
        return torch.sigmoid(output if isinstance(output, torch.Tensor) else output["source"])


class LabelChannelDiscriminator(Discriminator):
    """cgan's discriminator: the one-hot label goes through a linear
    Dense(H*W), is reshaped to an HxW image and concatenated with the image
    as its second channel (image first); the trunk then sees two channels.
    Called as ``discriminator(images, one_hot_labels)``."""

    def __init__(self, classes: int, image_shape=IMAGE_SHAPE) -> None:
        channels, height, width = image_shape
        super().__init__(in_channels=channels + 1)
        self.label_size = (height, width)
        self.embed_label = dense(classes, height * width)

    def forward(self, images: torch.Tensor, one_hot: torch.Tensor):
        label_channel = self.embed_label(one_hot).view(-1, 1, *self.label_size)
        return super().forward(torch.cat([images, label_channel], dim=1))


class KerasBatchNorm2d(nn.BatchNorm2d):
    """Keras' BatchNormalization: momentum 0.99 (PyTorch counts it the other
    way: 0.01), epsilon 1e-3, moving mean 0 and variance 1 to start with. Two
    Kerases keep the moving statistics differently:

    - ``zero_debias=False`` (the default): TensorFlow 2's Keras, which the
      seed's program runs (the book's repository imports ``tensorflow.keras``
      since its migration of December 2019). Its moving mean and variance
      are plain exponential averages, ``moving = 0.99 moving + 0.01 batch``,
      of the batch mean and the batch variance with Bessel's correction
      n / (n - 1), which is exactly what PyTorch's BatchNorm2d computes: the
      layer is PyTorch's.
    - ``zero_debias=True``: standalone Keras 2.1.3 to 2.2.5 on TensorFlow 1,
      which made the first edition's sample GIFs (2018). Its
      ``moving_average_update`` was TensorFlow's
      ``assign_moving_average(..., zero_debias=True)``: shadow averages
      (buffers ``biased_mean``, ``biased_var``) that start at 0, divided by
      1 - 0.99^t after t batches, so the moving statistics are the batches'
      own from the first step on, where a plain average holds on to its
      initial variance of 1 for hundreds of steps. Its moving variance
      averages the batch variance times n / (n - 1 - epsilon).

    Why the modes differ early in training: the discriminator's fakes come
    from the generator in inference mode, on these statistics. With plain
    averages they barely depend on z for the first few hundred steps (the
    seed's program draws one blob for every z at step 500 and digits by step
    2,000); zero-debiased ones give digit strokes at step 500, as in the 2018
    figures.

    Weights saved in either mode load in both: the moving statistics
    (``running_mean``, ``running_var``) are what inference uses in both, so
    a generator draws the same images whichever mode reads it. The plain
    mode drops the shadow averages; the zero-debiased mode rebuilds them from
    the moving statistics when they are missing (pygan 0.2's weights, and
    those of a plain run), so that its next update continues them.
    """

    def __init__(self, channels: int, zero_debias: bool = False) -> None:
        super().__init__(channels, eps=1e-3, momentum=0.01)
        self.zero_debias = zero_debias
        if zero_debias:
            # TensorFlow's shadow variables: the averages before debiasing.
            self.register_buffer("biased_mean", torch.zeros(channels))
            self.register_buffer("biased_var", torch.zeros(channels))

    def extra_repr(self) -> str:
        return super().extra_repr() + (", zero_debias=True" if self.zero_debias else "")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.zero_debias):
            return super().forward(x)
        # One pass over the batch: the native kernel computes its statistics,
        # normalises with them, and averages them, the variance times
        # n / (n - 1), into copies of the shadow averages given as its
        # running statistics (copies: autograd keeps what it was given).
        mean, var = self.biased_mean.clone(), self.biased_var.clone()
        out = F.batch_norm(x, mean, var, self.weight, self.bias, True, self.momentum, self.eps)
        with torch.no_grad():
            self.biased_mean.copy_(mean)
            # Keras' n / (n - 1 - epsilon): the term just averaged in, scaled
            # by (n - 1) / (n - 1 - epsilon).
            count = x.numel() // x.shape[1]
            added = var - (1 - self.momentum) * self.biased_var
            torch.add(var, added, alpha=self.eps / (count - 1 - self.eps), out=self.biased_var)
            self.num_batches_tracked.add_(1)
            self._debias()
        return out

    def _debias_factor(self, batches: torch.Tensor) -> torch.Tensor:
        """1 - 0.99^t after t batches. A Python number to the power of the
        counter tensor: nothing is copied from the host, so the step can be
        captured in a CUDA graph."""
        return 1 - (1 - self.momentum) ** batches

    def _debias(self) -> None:
        correction = self._debias_factor(self.num_batches_tracked)
        torch.div(self.biased_mean, correction, out=self.running_mean)
        torch.div(self.biased_var, correction, out=self.running_var)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        shadows = (prefix + "biased_mean", prefix + "biased_var")
        if not self.zero_debias:
            for key in shadows:
                state_dict.pop(key, None)
        elif prefix + "running_mean" in state_dict and shadows[0] not in state_dict:
            # The shadow averages that give back the saved moving statistics.
            correction = self._debias_factor(torch.as_tensor(state_dict.get(prefix + "num_batches_tracked", 0)))
            state_dict[shadows[0]] = state_dict[prefix + "running_mean"] * correction
            state_dict[shadows[1]] = state_dict[prefix + "running_var"] * correction
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


class Generator(nn.Module):
    """Dense(7*7*128) on the concatenated inputs, then four BatchNorm ->
    ReLU -> Conv2DTranspose(5, 'same') blocks (128, 64, 32, 1 filters;
    strides 2, 2, 1, 1), then sigmoid. Called as ``generator(z)`` or
    ``generator(z, one_hot, codes)``: the inputs are concatenated in order,
    so ``input_size`` is their total width. ``zero_debias`` chooses the
    BatchNorm statistics (see ``KerasBatchNorm2d``)."""

    def __init__(self, input_size: int = LATENT_SIZE, zero_debias: bool = False) -> None:
        super().__init__()
        self.project = dense(input_size, 7 * 7 * 128)
        layers = []
        for in_channels, out_channels, stride in [(128, 128, 2), (128, 64, 2), (64, 32, 1), (32, 1, 1)]:
            layers += [
                KerasBatchNorm2d(in_channels, zero_debias),
                nn.ReLU(),
                SameConvTranspose2d(in_channels, out_channels, 5, stride),
            ]
        # Channels-last memory (Keras' own layout): oneDNN's transposed
        # convolutions and their gradients run faster on it on the CPU. The
        # weights' values and the state dict's are unchanged.
        self.blocks = nn.Sequential(*layers).to(memory_format=torch.channels_last)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        z = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)
        # The blocks work on mirrored images (see SameConvTranspose2d):
        # BatchNorm and ReLU do not mind, and mirroring the 7x7 input and
        # the 28x28 output is cheaper than cropping every block's output.
        mirrored = self.project(z).view(-1, 128, 7, 7).flip(-2, -1).contiguous(memory_format=torch.channels_last)
        return torch.sigmoid(self.blocks(mirrored)).flip(-2, -1)


def keras_parameter_count(module: nn.Module) -> int:
    """What Keras' ``model.summary()`` totals: the parameters and the
    BatchNorm moving means and variances (not PyTorch's batch counter)."""
    parameters = sum(parameter.numel() for parameter in module.parameters())
    statistics = sum(buffer.numel() for name, buffer in module.named_buffers()
                     if name.endswith(("running_mean", "running_var")))
    return parameters + statistics
