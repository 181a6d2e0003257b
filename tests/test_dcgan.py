"""The built-in dcgan architecture is the seed's network, layer for layer."""

import math

import pytest
import torch
import torch.nn.functional as F
from pygan_plugins.book import KerasBatchNorm2d
from pygan_plugins.dcgan import Discriminator, Generator, build_generator

import pygan
from pygan.ops import LeakyReLUConv2d, SameConvTranspose2d, same_padding


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
        build_generator((3, 32, 32), {"batchnorm_statistics": "plain"})


# --- Keras' BatchNorm: TensorFlow 2's plain moving averages, or the 2018 zero-debiased ones --------

def batches(count=3, channels=4):
    generator = torch.Generator().manual_seed(0)
    return [torch.randn(8, channels, 5, 5, generator=generator) * (i + 1) + i for i in range(count)]


def tensorflow2_moving_statistics(seen, momentum=0.99):
    """TensorFlow 2 Keras' BatchNormalization, written out: moving = moving *
    momentum + batch * (1 - momentum), from mean 0 and variance 1, of the
    batch mean and the batch variance with Bessel's correction (the fused
    kernel's, which 4-d inputs take)."""
    mean, variance = torch.zeros(seen[0].shape[1], dtype=torch.float64), torch.ones(seen[0].shape[1],
                                                                                     dtype=torch.float64)
    for x in seen:
        mean = mean * momentum + x.double().mean(dim=(0, 2, 3)) * (1 - momentum)
        variance = variance * momentum + x.double().var(dim=(0, 2, 3), correction=1) * (1 - momentum)
    return mean.float(), variance.float()


def zero_debiased_moving_statistics(seen, momentum=0.99, epsilon=1e-3):
    """TensorFlow's assign_moving_average(zero_debias=True), as standalone
    Keras 2.1.3-2.2.5 called it, written out: the batch statistics weighted by
    momentum^age, divided by the weights' sum. The variance is Keras' n / (n -
    1 - epsilon) times the batch variance."""
    weights = torch.tensor([(1 - momentum) * momentum ** (len(seen) - 1 - i) for i in range(len(seen))],
                           dtype=torch.float64)
    n = seen[0].numel() // seen[0].shape[1]
    means = torch.stack([x.double().mean(dim=(0, 2, 3)) for x in seen])
    variances = torch.stack([x.double().var(dim=(0, 2, 3), correction=0) * n / (n - 1 - epsilon) for x in seen])
    return (weights @ means / weights.sum()).float(), (weights @ variances / weights.sum()).float()


@pytest.mark.parametrize("zero_debias, expected_statistics",
                         [(False, tensorflow2_moving_statistics), (True, zero_debiased_moving_statistics)])
def test_keras_batchnorm_normalises_like_batchnorm_and_averages_as_its_keras_does(zero_debias, expected_statistics):
    layer, plain = KerasBatchNorm2d(4, zero_debias), torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01)
    seen = []
    for x in batches():
        seen.append(x)
        assert torch.allclose(layer(x), plain(x), atol=1e-6)  # training mode: the batch's own statistics
        mean, variance = expected_statistics(seen)
        assert torch.allclose(layer.running_mean, mean, rtol=1e-5, atol=1e-6)
        assert torch.allclose(layer.running_var, variance, rtol=1e-5, atol=1e-6)
    layer.eval()
    expected = F.batch_norm(seen[0], layer.running_mean, layer.running_var, layer.weight, layer.bias, False, 0, 1e-3)
    assert torch.equal(layer(seen[0]), expected)


def test_the_default_batchnorm_is_pytorchs_bit_for_bit():
    layer, plain = KerasBatchNorm2d(4), torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01)
    assert dict(layer.state_dict()).keys() == dict(plain.state_dict()).keys()
    for x in batches():
        assert torch.equal(layer(x), plain(x))
    for a, b in zip(layer.state_dict().values(), plain.state_dict().values()):
        assert torch.equal(a, b)
    layer.eval(), plain.eval()
    assert torch.equal(layer(x), plain(x))


def test_zero_debiased_statistics_are_the_first_batchs_own_where_plain_ones_hold_on_to_0_and_1():
    (x,) = batches(1)
    debiased, plain = KerasBatchNorm2d(4, zero_debias=True), KerasBatchNorm2d(4)
    debiased(x), plain(x)
    assert torch.allclose(debiased.running_mean, x.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(plain.running_mean, 0.01 * x.mean(dim=(0, 2, 3)), atol=1e-6)
    assert torch.allclose(plain.running_var, 0.99 + 0.01 * x.var(dim=(0, 2, 3)), atol=1e-6)


def test_zero_debiased_variance_takes_keras_n_over_n_minus_1_minus_epsilon():
    # Two values per channel, where n / (n - 1 - epsilon) and Bessel's n / (n - 1) differ by 1e-3.
    x = torch.tensor([[1.0, -2.0, 0.5], [3.0, 2.0, -0.5]]).view(2, 3, 1, 1)
    layer = KerasBatchNorm2d(3, zero_debias=True)
    layer(x)
    expected = x.double().var(dim=(0, 2, 3), correction=0) * 2 / (2 - 1 - 1e-3)
    torch.testing.assert_close(layer.running_var.double(), expected, rtol=1e-6, atol=0)


def trained(zero_debias, count=2):
    layer = KerasBatchNorm2d(4, zero_debias)
    for x in batches(count):
        layer(x)
    return layer


@pytest.mark.parametrize("saved_zero_debias", [False, True])
@pytest.mark.parametrize("loading_zero_debias", [False, True])
def test_weights_saved_in_either_mode_load_in_both_and_normalise_alike(saved_zero_debias, loading_zero_debias):
    saved = trained(saved_zero_debias).eval()
    layer = KerasBatchNorm2d(4, loading_zero_debias)
    layer.load_state_dict(saved.state_dict())  # strict: nothing missing, nothing left over
    layer.eval()
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert torch.equal(getattr(layer, name), getattr(saved, name))
    x = batches(3)[2]
    assert torch.equal(layer(x), saved(x))


def test_the_zero_debiased_mode_continues_plain_moving_statistics_as_its_own():
    plain = torch.nn.BatchNorm2d(4, eps=1e-3, momentum=0.01)  # pygan 0.2 wrote these, and the plain mode does
    first, second = batches(2)
    plain(first)
    layer = KerasBatchNorm2d(4, zero_debias=True)
    layer.load_state_dict(plain.state_dict())
    assert torch.equal(layer.running_mean, plain.running_mean) and torch.equal(layer.running_var, plain.running_var)
    layer(second)
    # The saved average stands for the first batch's weight (1 - 0.99) in the debiased one.
    expected = (0.99 * 0.01 * plain.running_mean + 0.01 * second.mean(dim=(0, 2, 3))) / (1 - 0.99 ** 2)
    assert torch.allclose(layer.running_mean, expected, rtol=1e-5, atol=1e-6)
    assert int(layer.num_batches_tracked) == 2


def test_the_plain_mode_continues_zero_debiased_moving_statistics_as_plain_averages():
    debiased = trained(True)
    layer = KerasBatchNorm2d(4)
    layer.load_state_dict(debiased.state_dict())
    x = batches(3)[2]
    layer(x)
    expected = 0.99 * debiased.running_mean + 0.01 * x.mean(dim=(0, 2, 3))
    assert torch.allclose(layer.running_mean, expected, rtol=1e-6, atol=1e-7)


def test_the_zero_debiased_generators_weights_are_laid_out_as_pygan_0_2_1_wrote_them():
    # Checkpoints written by main before the plain default (797e59f) hold
    # these buffers for every BatchNorm; the zero-debiased mode writes the same.
    names = {name.split(".", 2)[-1] for name in Generator(zero_debias=True).state_dict() if "blocks.0." in name}
    assert names == {"weight", "bias", "running_mean", "running_var", "num_batches_tracked", "biased_mean",
                     "biased_var"}
    assert {name.split(".", 2)[-1] for name in Generator().state_dict() if "blocks.0." in name} == \
        names - {"biased_mean", "biased_var"}


@pytest.mark.parametrize("saved_zero_debias", [False, True])
def test_a_generator_saved_in_either_mode_draws_the_same_images_in_both(saved_zero_debias):
    torch.manual_seed(0)
    saved = Generator(zero_debias=saved_zero_debias)
    for _ in range(3):
        saved(torch.rand(16, 100) * 2 - 1)  # training mode: the moving statistics move
    z = torch.rand(4, 100) * 2 - 1
    expected = saved.eval()(z)
    for zero_debias in (False, True):
        generator = Generator(zero_debias=zero_debias)
        generator.load_state_dict(saved.state_dict())
        assert torch.equal(generator.eval()(z), expected)


def test_the_generator_runs_channels_last_and_computes_what_it_computes_in_nchw():
    torch.manual_seed(0)
    generator = Generator()
    nchw = Generator()
    nchw.load_state_dict(generator.state_dict())
    nchw.blocks.to(memory_format=torch.contiguous_format)
    convolutions = [m for m in generator.modules() if isinstance(m, SameConvTranspose2d)]
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in convolutions)
    z = torch.rand(8, 100, dtype=torch.float64) * 2 - 1
    generator.double(), nchw.double()
    torch.testing.assert_close(generator(z), nchw(z), rtol=1e-12, atol=1e-12)  # training mode: batch statistics
    torch.testing.assert_close(generator.eval()(z), nchw.eval()(z), rtol=1e-12, atol=1e-12)
