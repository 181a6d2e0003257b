"""The built-in dcgan architecture is the seed's network, layer for layer."""

import math

import pytest
import torch
import torch.nn.functional as F
from pygan_plugins.book import KerasBatchNorm2d
from pygan_plugins.dcgan import Discriminator, Generator, build_generator

import pygan
from pygan.ops._layers import LeakyReLUConv2d, SameConvTranspose2d, same_padding


def count(tensors) -> int:
    return sum(t.numel() for t in tensors)


def test_discriminator_has_the_seed_parameter_count():
    assert count(Discriminator().parameters()) == 1_080_577


def test_generator_has_the_seed_parameter_count_with_704_running_statistics():
    generator = Generator()
    running = count(b for name, b in generator.named_buffers() if name.endswith(("running_mean", "running_var")))
    assert running == 704
    assert count(generator.parameters()) + running == 1_301_505


def test_layer_shapes_follow_the_seed_summary():
    shapes = []
    discriminator = Discriminator()
    for block in discriminator.blocks:
        block.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape[1:])))
    logits = discriminator(torch.rand(3, 1, 28, 28))
    assert shapes == [(32, 14, 14), (64, 7, 7), (128, 4, 4), (256, 4, 4)]
    assert logits.shape == (3, 1)
    assert Generator()(torch.rand(5, 100) * 2 - 1).shape == (5, 1, 28, 28)


@pytest.mark.parametrize("size, stride, expected", [(28, 2, (1, 2)), (14, 2, (1, 2)), (7, 2, (2, 2)), (4, 1, (2, 2))])
def test_same_padding_is_tensorflows(size, stride, expected):
    assert same_padding(size, 5, stride) == expected


def test_discriminator_blocks_equal_explicit_pad_and_convolution():
    torch.manual_seed(0)
    x = torch.randn(4, 1, 28, 28, dtype=torch.float64)
    discriminator = Discriminator().double()
    for block, (top, bottom) in zip(discriminator.blocks, [(1, 2), (1, 2), (2, 2), (2, 2)]):
        expected = F.conv2d(F.pad(F.leaky_relu(x, 0.2), (top, bottom, top, bottom)), block.weight, block.bias,
                            block.stride)
        x = block(x)
        torch.testing.assert_close(x, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("size, stride", [(7, 2), (14, 2), (28, 1), (5, 3)])
def test_transposed_convolution_is_the_gradient_of_a_same_convolution(size, stride):
    # TensorFlow defines Conv2DTranspose(padding='same') as the gradient of the
    # 'same' Conv2D that maps size*stride back to size.
    torch.manual_seed(0)
    layer = SameConvTranspose2d(3, 2, 5, stride).double()
    y = torch.randn(2, 3, size, size, dtype=torch.float64)
    out_size = size * stride
    x = torch.zeros(2, 2, out_size, out_size, dtype=torch.float64, requires_grad=True)
    before, after = same_padding(out_size, 5, stride)
    forward = F.conv2d(F.pad(x, (before, after, before, after)), layer.weight, None, stride)
    assert forward.shape[-1] == size
    (gradient,) = torch.autograd.grad(forward, x, y)
    # The layer works on mirrored images: mirror its input and output back.
    output = layer(y.flip(-2, -1)).flip(-2, -1)
    torch.testing.assert_close(output, gradient + layer.bias.view(1, -1, 1, 1), rtol=1e-12, atol=1e-12)


def test_initial_values_are_keras_defaults():
    torch.manual_seed(0)
    for module in [*Discriminator().modules(), *Generator().modules()]:
        if isinstance(module, (LeakyReLUConv2d, SameConvTranspose2d, torch.nn.Linear)):
            weight = module.weight
            receptive_field = weight[0, 0].numel()
            fan_in_plus_fan_out = (weight.shape[0] + weight.shape[1]) * receptive_field
            limit = math.sqrt(6 / fan_in_plus_fan_out)  # Glorot uniform
            assert weight.abs().max() <= limit
            assert weight.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.1)
            assert torch.count_nonzero(module.bias) == 0
        if isinstance(module, torch.nn.BatchNorm2d):
            assert (module.eps, module.momentum) == (1e-3, 0.01)
            assert torch.all(module.weight == 1) and torch.all(module.bias == 0)


def test_generator_outputs_lie_in_0_1():
    images = Generator()(torch.rand(8, 100) * 2 - 1)
    assert images.min() >= 0 and images.max() <= 1


def test_other_image_shapes_are_refused_naming_both():
    with pytest.raises(pygan.UsageError, match=r"1x28x28 .* 3x32x32"):
        build_generator((3, 32, 32))


# --- Keras' BatchNorm: zero-debiased moving statistics ---------------------------------

def batches(count=3, channels=4):
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(8, channels, 5, 5, generator=generator) * (i + 1) + i for i in range(count)]


def keras_moving_statistics(seen, momentum=0.99, epsilon=1e-3):
    """TensorFlow's assign_moving_average(zero_debias=True), written out: the
    batch statistics weighted by momentum^age, divided by the weights' sum.
    The variance is Keras' n / (n - 1 - epsilon) times the batch variance."""
    weights = torch.tensor([(1 - momentum) * momentum ** (len(seen) - 1 - i) for i in range(len(seen))],
                           dtype=torch.float64)
    n = seen[0].numel() // seen[0].shape[1]
    means = torch.stack([x.double().mean(dim=(0, 2, 3)) for x in seen])
    variances = torch.stack([x.double().var(dim=(0, 2, 3), correction=0) * n / (n - 1 - epsilon) for x in seen])
    return (weights @ means / weights.sum()).float(), (weights @ variances / weights.sum()).float()


def test_keras_batchnorm_normalises_like_batchnorm_and_averages_as_tensorflow_keras_does():
    layer, plain = KerasBatchNorm2d(4), torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01)
    seen = []
    for x in batches():
        seen.append(x)
        assert torch.allclose(layer(x), plain(x), atol=1e-6)  # training mode: the batch's own statistics
        mean, variance = keras_moving_statistics(seen)
        assert torch.allclose(layer.running_mean, mean, rtol=1e-5, atol=1e-6)
        assert torch.allclose(layer.running_var, variance, rtol=1e-5, atol=1e-6)
    # After the first batch the moving statistics are that batch's, where PyTorch's still hold 99% of 0 and 1.
    first = KerasBatchNorm2d(4)
    first(seen[0])
    assert torch.allclose(first.running_mean, seen[0].mean(dim=(0, 2, 3)), atol=1e-6)
    layer.eval()
    expected = F.batch_norm(seen[0], layer.running_mean, layer.running_var, layer.weight, layer.bias, False, 0, 1e-3)
    assert torch.equal(layer(seen[0]), expected)


def test_keras_batchnorm_reads_weights_saved_with_plain_moving_averages_and_continues_them():
    plain = torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01)
    first, second = batches(2)
    plain(first)
    layer = KerasBatchNorm2d(4)
    layer.load_state_dict(plain.state_dict())  # pygan 0.2's generators had no shadow averages
    assert torch.equal(layer.running_mean, plain.running_mean) and torch.equal(layer.running_var, plain.running_var)
    layer(second)
    # The saved average stands for the first batch's weight (1 - 0.99) in the debiased one.
    expected = (0.99 * 0.01 * plain.running_mean + 0.01 * second.mean(dim=(0, 2, 3))) / (1 - 0.99 ** 2)
    assert torch.allclose(layer.running_mean, expected, rtol=1e-5, atol=1e-6)
    assert int(layer.num_batches_tracked) == 2
