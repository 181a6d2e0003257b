"""StyleGAN2's networks (pygan_plugins.stylegan2): parameter counts equal to
NVlabs', the layers' initialisers and statistics, the two ways of computing
the modulated convolution, resampling around convolutions, the mapping
network's w average and truncation, and NVlabs' state-dict keys."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pygan_plugins.stylegan2 import nvlabs, presets
from pygan_plugins.stylegan2.discriminator import Discriminator, MinibatchStdLayer
from pygan_plugins.stylegan2.generator import Generator, MappingNetwork
from pygan.ops import setup_filter, upfirdn2d
from pygan_plugins.stylegan2.layers import (Conv2dLayer, FullyConnected, demodulation, modulated_conv2d,
                                            resampled_conv2d, upsample_padding)

# Parameter counts of NVlabs' Generator and Discriminator (stylegan2-ada-pytorch's
# training/networks.py), built on the CPU from the constructor arguments their train.py
# gives for --cfg PRESET at that resolution, image channels, class count and GPU count
# (presets.network_kwargs reproduces those arguments; the same dicts built NVlabs'
# networks). Measured with a scratch script outside the repository (NVlabs' code is not
# ours to ship). The first row is the figure issue 20 quotes.
NVLABS_COUNTS = [  # (preset, resolution, channels, classes, gpus, generator, discriminator)
    ("cifar", 32, 3, 10, 1, 20_215_315, 23_089_664),
    ("cifar", 32, 3, 0, 1, 19_947_539, 20_720_641),
    ("cifar", 64, 3, 10, 1, 25_724_440, 27_809_280),
    ("auto", 64, 3, 0, 1, 22_243_608, 23_407_361),
    ("auto", 32, 1, 10, 1, 20_211_211, 23_875_072),
    ("auto", 128, 3, 5, 1, 23_214_493, 26_248_832),
    ("auto", 256, 3, 0, 1, 23_191_522, 24_001_089),
    ("auto", 512, 3, 0, 1, 28_700_647, 28_982_849),
    ("auto", 1024, 3, 0, 8, 28_794_124, 29_012_513),
    ("stylegan2", 1024, 3, 0, 1, 30_370_060, 29_012_513),
    ("stylegan2", 256, 3, 0, 1, 30_034_338, 28_864_129),
    ("stylegan2", 512, 3, 3, 1, 30_540_775, 31_348_288),
    ("paper256", 256, 3, 0, 1, 24_767_458, 24_001_089),
    ("paper256", 128, 3, 10, 1, 24_792_989, 26_251_392),
    ("paper512", 512, 3, 0, 1, 30_276_583, 28_982_849),
    ("paper512", 256, 3, 4, 1, 30_299_042, 31_230_080),
    ("paper1024", 1024, 3, 0, 1, 30_370_060, 29_012_513),
    ("paper1024", 512, 1, 0, 1, 30_270_551, 28_982_721),
]

# NVlabs' state-dict keys of a small conditional pair (read from their networks, built as in
# small_pair below): the names pygan's key mapping must produce.
NVLABS_KEYS_G = {
    "mapping.embed.bias", "mapping.embed.weight", "mapping.fc0.bias", "mapping.fc0.weight", "mapping.fc1.bias",
    "mapping.fc1.weight", "mapping.w_avg", "synthesis.b4.const", "synthesis.b4.conv1.affine.bias",
    "synthesis.b4.conv1.affine.weight", "synthesis.b4.conv1.bias", "synthesis.b4.conv1.noise_const",
    "synthesis.b4.conv1.noise_strength", "synthesis.b4.conv1.resample_filter", "synthesis.b4.conv1.weight",
    "synthesis.b4.resample_filter", "synthesis.b4.torgb.affine.bias", "synthesis.b4.torgb.affine.weight",
    "synthesis.b4.torgb.bias", "synthesis.b4.torgb.weight", "synthesis.b8.conv0.affine.bias",
    "synthesis.b8.conv0.affine.weight", "synthesis.b8.conv0.bias", "synthesis.b8.conv0.noise_const",
    "synthesis.b8.conv0.noise_strength", "synthesis.b8.conv0.resample_filter", "synthesis.b8.conv0.weight",
    "synthesis.b8.conv1.affine.bias", "synthesis.b8.conv1.affine.weight", "synthesis.b8.conv1.bias",
    "synthesis.b8.conv1.noise_const", "synthesis.b8.conv1.noise_strength", "synthesis.b8.conv1.resample_filter",
    "synthesis.b8.conv1.weight", "synthesis.b8.resample_filter", "synthesis.b8.torgb.affine.bias",
    "synthesis.b8.torgb.affine.weight", "synthesis.b8.torgb.bias", "synthesis.b8.torgb.weight",
}
NVLABS_KEYS_D = {
    "b4.conv.bias", "b4.conv.resample_filter", "b4.conv.weight", "b4.fc.bias", "b4.fc.weight", "b4.out.bias",
    "b4.out.weight", "b8.conv0.bias", "b8.conv0.resample_filter", "b8.conv0.weight", "b8.conv1.bias",
    "b8.conv1.resample_filter", "b8.conv1.weight", "b8.fromrgb.bias", "b8.fromrgb.resample_filter",
    "b8.fromrgb.weight", "b8.resample_filter", "b8.skip.resample_filter", "b8.skip.weight", "mapping.embed.bias",
    "mapping.embed.weight", "mapping.fc0.bias", "mapping.fc0.weight",
}
SMALL_COUNTS = (1397, 2340)  # NVlabs' parameter counts of the same pair


def small_pair(seed: int = 0, classes: int = 2, architecture: str = "resnet", resolution: int = 8,
               channels: int = 1, group: int = 4):
    torch.manual_seed(seed)
    generator = Generator(z_dim=4, c_dim=classes, w_dim=4, img_resolution=resolution, img_channels=channels,
                          mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=32, channel_max=8))
    discriminator = Discriminator(c_dim=classes, img_resolution=resolution, img_channels=channels,
                                  architecture=architecture, channel_base=32, channel_max=8,
                                  mapping_kwargs=dict(num_layers=1), epilogue_kwargs=dict(mbstd_group_size=group))
    return generator, discriminator


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name, resolution, channels, classes, gpus, g_count, d_count", NVLABS_COUNTS)
def test_parameter_counts_equal_nvlabs(name, resolution, channels, classes, gpus, g_count, d_count):
    g_kwargs, d_kwargs = presets.network_kwargs(presets.preset(name, resolution, gpus), resolution, channels,
                                                classes)
    with torch.device("meta"):  # the shapes without the memory
        assert (count(Generator(**g_kwargs)), count(Discriminator(**d_kwargs))) == (g_count, d_count)


def test_small_pair_counts_and_nvlabs_keys():
    generator, discriminator = small_pair()
    assert (count(generator), count(discriminator)) == SMALL_COUNTS
    for network, expected in ((generator, NVLABS_KEYS_G), (discriminator, NVLABS_KEYS_D)):
        keys = nvlabs.nvlabs_key_map(network)
        assert set(keys) == set(network.state_dict())
        assert set(keys.values()) | set(nvlabs.nvlabs_filters(network)) == expected


@pytest.mark.parametrize("architecture", ["resnet", "orig", "skip"])
def test_nvlabs_state_dict_round_trip(architecture):
    """A state dict in NVlabs' names, made from one network, loads into
    another through the mapping and gives it the first one's weights."""
    source = small_pair(seed=1, architecture=architecture)
    target = small_pair(seed=2, architecture=architecture)
    for a, b in zip(source, target):
        theirs = {nv_key: a.state_dict()[key] for key, nv_key in nvlabs.nvlabs_key_map(a).items()}
        theirs.update(nvlabs.nvlabs_filters(a))
        nvlabs.load_nvlabs_state_dict(b, theirs)
        for key, value in a.state_dict().items():
            assert torch.equal(b.state_dict()[key], value), key


def _nvlabs_state(network):
    state = {nv_key: network.state_dict()[key] for key, nv_key in nvlabs.nvlabs_key_map(network).items()}
    state.update(nvlabs.nvlabs_filters(network))
    return state


def test_nvlabs_state_dict_refused_when_it_does_not_fit():
    generator = small_pair()[0]
    state = _nvlabs_state(generator)
    with pytest.raises(ValueError, match="missing synthesis.b4.const"):
        nvlabs.load_nvlabs_state_dict(generator, {k: v for k, v in state.items() if k != "synthesis.b4.const"})
    with pytest.raises(ValueError, match="unexpected synthesis.b8.extra"):
        nvlabs.load_nvlabs_state_dict(generator, {**state, "synthesis.b8.extra": torch.zeros(1)})
    with pytest.raises(ValueError, match="synthesis.b8.conv0.resample_filter is not the filter"):
        nvlabs.load_nvlabs_state_dict(generator, {**state, "synthesis.b8.conv0.resample_filter":
                                                  setup_filter([1, 1])})
    with pytest.raises(ValueError, match=r"mapping.fc0.weight has shape \(4, 3\)"):
        nvlabs.load_nvlabs_state_dict(generator, {**state, "mapping.fc0.weight": torch.zeros(4, 3)})


def test_initialisers():
    """Equalised learning rate: weights stored N(0, 1) (the mapping's over
    its 0.01 multiplier), used at 1/sqrt(fan in) times the multiplier;
    styles' biases 1, other biases 0, noise strengths 0, the constant and
    the fixed noise images N(0, 1), w_avg 0."""
    torch.manual_seed(0)
    g_kwargs, d_kwargs = presets.network_kwargs(presets.preset("auto", 16), 16, 3, 2)
    g_kwargs["synthesis_kwargs"]["channel_base"] = d_kwargs["channel_base"] = 2048
    generator, discriminator = Generator(**g_kwargs), Discriminator(**d_kwargs)
    mapping_layer = generator.mapping.layers[0]
    assert mapping_layer.weight.std().item() == pytest.approx(100, rel=0.02)
    assert mapping_layer.weight_gain == pytest.approx(0.01 / math.sqrt(512 + 512))
    assert mapping_layer.bias_gain == 0.01
    block = generator.synthesis.blocks["16"]
    for tensor in (block.conv.weight, block.conv_up.weight, block.conv.noise_const, generator.synthesis.blocks["4"].const,
                   discriminator.blocks["16"].conv.weight):
        bound = 4 / math.sqrt(tensor.numel())  # four standard errors of the mean (and, over sqrt(2), of the std)
        assert abs(tensor.mean().item()) < bound and abs(tensor.std().item() - 1) < bound
    assert torch.equal(block.conv.style.bias, torch.ones(128)) and torch.equal(block.to_rgb.style.bias, torch.ones(128))
    assert block.conv.noise_strength.item() == 0 and not block.conv.bias.any() and not block.to_rgb.bias.any()
    assert not discriminator.blocks["16"].conv_down.bias.any() and discriminator.blocks["16"].skip.bias is None
    assert not generator.mapping.w_avg.any()
    layer = discriminator.blocks["16"].conv
    assert layer.weight_gain == pytest.approx(1 / math.sqrt(128 * 9))
    # the equalised weight has the He-initialised std once scaled
    assert (layer.weight * layer.weight_gain).std().item() == pytest.approx(1 / math.sqrt(128 * 9), rel=0.05)


@pytest.mark.parametrize("activation, function, gain", [
    ("lrelu", lambda x: F.leaky_relu(x, 0.2), math.sqrt(2)), ("linear", lambda x: x, 1), ("tanh", torch.tanh, 1)])
def test_fully_connected_with_lr_multiplier(activation, function, gain):
    """The gain g = m / sqrt(in) applies to the weight, whether the layer
    scales the weight or (homogeneous activations) the output."""
    torch.manual_seed(0)
    layer = FullyConnected(6, 5, activation=activation, lr_multiplier=0.1, bias_init=0.5)
    x = torch.randn(3, 6)
    expected = function(x @ (layer.weight * 0.1 / math.sqrt(6)).t() + 0.05) * gain
    torch.testing.assert_close(layer(x), expected)


@pytest.mark.parametrize("activation", ["lrelu", "linear", "tanh"])
def test_conv2d_layer_gain_and_clamp(activation):
    torch.manual_seed(0)
    layer = Conv2dLayer(3, 4, 3, activation=activation, conv_clamp=0.5)
    layer.bias.data.normal_()
    x = torch.randn(2, 3, 5, 5)
    function = {"lrelu": lambda y: F.leaky_relu(y, 0.2) * math.sqrt(2), "linear": lambda y: y, "tanh": torch.tanh}
    for gain in (1, math.sqrt(0.5)):
        y = F.conv2d(x, layer.weight / math.sqrt(27), layer.bias, padding=1)
        torch.testing.assert_close(layer(x, gain=gain), (function[activation](y) * gain).clamp(-0.5 * gain, 0.5 * gain))


@pytest.mark.parametrize("kernel, up", [(3, 1), (3, 2), (1, 1)])
@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_conv_grouped_equals_shared(kernel, up, demodulate):
    """Both ways of computing the modulated convolution agree: in float64 to
    rounding, and in float32 within float32 rounding of the same sums."""
    torch.manual_seed(0)
    f = setup_filter([1, 3, 3, 1])
    x, weight, styles = torch.randn(3, 5, 6, 6), torch.randn(4, 5, kernel, kernel), torch.randn(3, 5)
    noise = torch.randn(3, 1, 6 * up, 6 * up)
    for dtype, tolerance in ((torch.float64, 1e-12), (torch.float32, 1e-5)):
        args = [t.to(dtype) for t in (x, weight, styles)]
        grouped = modulated_conv2d(*args, f, up=up, demodulate=demodulate, noise=noise.to(dtype), grouped=True)
        shared = modulated_conv2d(*args, f, up=up, demodulate=demodulate, noise=noise.to(dtype), grouped=False)
        assert grouped.shape == (3, 4, 6 * up, 6 * up)
        torch.testing.assert_close(grouped, shared, rtol=tolerance, atol=tolerance)
    # and each sample's output is the plain convolution with its own modulated kernel
    kernel = weight * styles[1].reshape(1, 5, 1, 1)
    if demodulate:
        kernel = kernel / kernel.square().sum(dim=(1, 2, 3), keepdim=True).add(1e-8).sqrt()
    torch.testing.assert_close(resampled_conv2d(x[1:2], kernel, f, up=up) + noise[1],
                               modulated_conv2d(x, weight, styles, f, up=up, demodulate=demodulate, noise=noise)[1:2])


def test_demodulation_gives_unit_norm_kernels():
    torch.manual_seed(0)
    weight, styles = torch.randn(7, 5, 3, 3), torch.randn(2, 5) * 3
    scale = demodulation(weight, styles)
    kernels = weight[None] * styles[:, None, :, None, None] * scale[:, :, None, None, None]
    torch.testing.assert_close(kernels.square().sum(dim=(2, 3, 4)), torch.ones(2, 7))


@pytest.mark.parametrize("kernel", [1, 3])
@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2)])
def test_resampled_conv2d_is_resample_then_convolve(kernel, up, down):
    """The fast arrangements equal the plain definition (NVlabs' general
    one): upsample with the filter and pad, convolve (a true convolution
    when upsampling), then filter and downsample."""
    torch.manual_seed(0)
    f = setup_filter([1, 3, 3, 1])
    x, weight = torch.randn(2, 3, 8, 8, dtype=torch.float64), torch.randn(4, 3, kernel, kernel, dtype=torch.float64)
    p = kernel // 2
    if up > 1:
        before, after = upsample_padding(4, up)
        expected = F.conv2d(upfirdn2d(x, f, up=up, padding=(p + before, p + after) * 2, gain=up ** 2),
                            weight.flip([2, 3]))
    else:
        before, after = (1, 1) if down > 1 else (0, 0)  # downsample_padding(4, 2)
        expected = F.conv2d(F.pad(x, [p + before, p + after] * 2), weight)
        if down > 1:
            expected = upfirdn2d(expected, f, down=down)
    result = resampled_conv2d(x, weight, f, up=up, down=down)
    assert result.shape == (2, 4, 8 * up // down, 8 * up // down)
    torch.testing.assert_close(result, expected, rtol=1e-12, atol=1e-12)


def test_minibatch_std_groups_every_nth_sample():
    torch.manual_seed(0)
    x = torch.randn(6, 4, 2, 2)
    y = MinibatchStdLayer(group_size=3, num_channels=2)(x)
    assert y.shape == (6, 6, 2, 2) and torch.equal(y[:, :4], x)
    for i in range(6):
        group = x[i % 2::2]  # 6 / 3 = 2 groups: samples {0, 2, 4} and {1, 3, 5}
        for k in range(2):
            std = (group[:, 2 * k:2 * k + 2].var(dim=0, unbiased=False) + 1e-8).sqrt().mean()
            torch.testing.assert_close(y[i, 4 + k], std.expand(2, 2))
    with pytest.raises(ValueError, match="batch of 5 is not a multiple of 3"):
        MinibatchStdLayer(group_size=3)(x[:5])
    # a group larger than the batch takes the whole batch
    torch.testing.assert_close(MinibatchStdLayer(group_size=32)(x[:2]), MinibatchStdLayer(group_size=None)(x[:2]))


def test_w_avg_tracks_w_in_training_mode_only():
    torch.manual_seed(0)
    mapping = MappingNetwork(z_dim=4, c_dim=0, w_dim=3, num_ws=5, num_layers=2)
    mapping.w_avg.normal_()
    start = mapping.w_avg.clone()
    z = torch.randn(6, 4)
    mapping.eval()
    w = mapping(z, None)
    assert torch.equal(mapping.w_avg, start)
    assert w.shape == (6, 5, 3) and torch.equal(w[:, 0], w[:, 4])
    mapping.train()
    mapping(z, None, update_w_avg=False)
    assert torch.equal(mapping.w_avg, start)
    mapping(z, None)
    torch.testing.assert_close(mapping.w_avg, 0.995 * start + 0.005 * w[:, 0].mean(dim=0))


def test_truncation():
    torch.manual_seed(0)
    mapping = MappingNetwork(z_dim=4, c_dim=2, w_dim=3, num_ws=5, num_layers=2).eval()
    mapping.w_avg.normal_()
    z, c = torch.randn(6, 4), torch.eye(2)[torch.arange(6) % 2]
    w = mapping(z, c)
    assert torch.equal(mapping(z, c, truncation_psi=1), w)
    torch.testing.assert_close(mapping(z, c, truncation_psi=0), mapping.w_avg.expand(6, 5, 3))
    cut = mapping(z, c, truncation_psi=0.5, truncation_cutoff=2)
    torch.testing.assert_close(cut[:, :2], (w[:, :2] + mapping.w_avg) / 2)
    assert torch.equal(cut[:, 2:], w[:, 2:])


def test_generator_and_discriminator_forward_backward():
    generator, discriminator = small_pair(classes=3, resolution=16, channels=3)
    z, c = torch.randn(4, 4), torch.eye(3)[[0, 1, 2, 0]]
    images = generator(z, c)
    assert images.shape == (4, 3, 16, 16)
    logits = discriminator(images, c)
    assert logits.shape == (4, 1)
    logits.sum().backward()
    for name, p in list(generator.named_parameters()) + list(discriminator.named_parameters()):
        assert p.grad is not None, name  # every parameter takes part (w_avg, a buffer, is not one)
    # labels matter to both networks
    assert not torch.allclose(generator.eval()(z, c, noise_mode="const"),
                              generator(z, torch.eye(3)[[1, 2, 0, 1]], noise_mode="const"))
    assert not torch.allclose(discriminator(images.detach(), c), discriminator(images.detach(), c.roll(1, 1)))


def test_noise_modes():
    generator = small_pair(classes=0)[0].eval()
    z = torch.randn(2, 4)
    # noise strength 0 at initialisation: all modes agree
    assert torch.equal(generator(z, noise_mode="none"), generator(z, noise_mode="random"))
    for layer in generator.modules():
        if hasattr(layer, "noise_strength"):
            layer.noise_strength.data.fill_(0.5)
    const = generator(z, noise_mode="const")
    assert torch.equal(const, generator(z, noise_mode="const"))
    assert not torch.equal(const, generator(z, noise_mode="none"))
    assert not torch.equal(generator(z, noise_mode="random"), generator(z, noise_mode="random"))
    with pytest.raises(ValueError, match="noise_mode is one of random, const, none"):
        generator(z, noise_mode="fixed")
    # Unset: the constant noise in inference mode (pictures from a seed repeat), random noise in training.
    assert torch.equal(generator(z), const)
    generator.train()
    assert not torch.equal(generator(z), generator(z))


def test_images_in_pygan_range_map_nvlabs_range():
    """The generator returns NVlabs' image moved to [0, 1]; the
    discriminator moves its input back first."""
    generator, discriminator = small_pair(classes=0)
    generator.eval()
    z = torch.randn(2, 4)
    ws = generator.mapping(z, None)
    torch.testing.assert_close(generator(z, noise_mode="const"),
                               (generator.synthesis(ws, noise_mode="const") + 1) / 2)
    x = torch.rand(4, 1, 8, 8)
    block, img = discriminator.blocks["8"], x * 2 - 1
    features, _ = block(None, img)
    torch.testing.assert_close(discriminator(x), discriminator.epilogue(features, None, None))


def test_constructor_takes_nvlabs_and_stylegan3_argument_forms():
    kwargs = dict(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=1, mapping_kwargs=dict(num_layers=2))
    torch.manual_seed(0)
    nested = Generator(**kwargs, synthesis_kwargs=dict(channel_base=32, channel_max=8, num_fp16_res=4,
                                                       conv_clamp=256))
    torch.manual_seed(0)
    flat = Generator(**kwargs, channel_base=32, channel_max=8, num_fp16_res=4, conv_clamp=256,
                     fused_modconv_default="inference_only")
    for a, b in zip(nested.state_dict().values(), flat.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(TypeError):
        Generator(**kwargs, synthesis_kwargs=dict(channel_bass=32))
    with pytest.raises(ValueError, match="'skip' architecture only"):
        Generator(**kwargs, synthesis_kwargs=dict(architecture="resnet"))
    with pytest.raises(ValueError, match="power of two"):
        Generator(**{**kwargs, "img_resolution": 48})


def test_conv_clamp_limits_activations():
    generator = small_pair(classes=0)[0]
    clamped = Generator(z_dim=4, c_dim=0, w_dim=4, img_resolution=8, img_channels=1,
                        mapping_kwargs=dict(num_layers=2),
                        synthesis_kwargs=dict(channel_base=32, channel_max=8, conv_clamp=1e-3))
    clamped.load_state_dict(generator.state_dict())
    z = torch.randn(2, 4)
    image = clamped.eval()(z, noise_mode="const") * 2 - 1
    # the last ToRGB is clamped to 1e-3 and adds to the upsampled (clamped) 4x4 image
    assert image.abs().max() <= 2e-3 + 1e-6
    assert generator.eval()(z, noise_mode="const").mul(2).sub(1).abs().max() > 2e-3


def test_freeze_layers_keeps_the_first_layers_as_buffers():
    discriminator = Discriminator(c_dim=0, img_resolution=16, img_channels=1, channel_base=64, channel_max=8,
                                  block_kwargs=dict(freeze_layers=4))
    # b16: fromrgb, conv0, conv1, skip (layers 0-3) frozen; b8 trainable
    frozen = discriminator.blocks["16"]
    assert not list(frozen.parameters()) and "conv.weight" in frozen.state_dict()
    assert list(discriminator.blocks["8"].parameters())


def test_presets():
    auto = presets.preset("auto", 64)
    assert (auto.batch, auto.mbstd_group, auto.fmaps, auto.lr, auto.ema_kimg, auto.mapping_layers) == \
        (32, 4, 0.5, 0.0025, 10, 2)
    assert auto.gamma == pytest.approx(0.0002 * 64 ** 2 / 32)
    big = presets.preset("auto", 1024, gpus=8)
    assert (big.batch, big.mbstd_group, big.fmaps, big.lr) == (32, 4, 1, 0.002)
    assert presets.preset("auto", 256).batch == 16 and presets.preset("auto", 32, gpus=4).batch == 64
    cifar = presets.preset("cifar", 32)
    assert (cifar.d_architecture, cifar.pl_weight, cifar.style_mixing, cifar.ema_rampup) == ("orig", 0, 0, 0.05)
    assert presets.preset("paper256", 256).d_architecture == "resnet"
    g_kwargs, d_kwargs = presets.network_kwargs(presets.preset("paper256", 256), 256, 3, 0)
    assert g_kwargs["synthesis_kwargs"]["channel_base"] == d_kwargs["channel_base"] == 16384
    assert d_kwargs["epilogue_kwargs"] == {"mbstd_group_size": 8}
    with pytest.raises(ValueError, match="unknown StyleGAN2 preset 'paper128'"):
        presets.preset("paper128", 128)


def test_double_backward_for_penalties():
    """R1 differentiates the discriminator's gradient in its input, path
    length regularisation the generator's in w: both networks are twice
    differentiable (float64 gradgradcheck on a tiny pair)."""
    generator, discriminator = small_pair(classes=0, resolution=8, group=2)
    generator, discriminator = generator.double().eval(), discriminator.double()
    images = torch.rand(2, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: discriminator(x), (images,), fast_mode=True)
    ws = torch.randn(2, generator.num_ws, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda w: generator.synthesis(w, noise_mode="const"), (ws,), fast_mode=True)
