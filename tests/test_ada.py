"""Adaptive discriminator augmentation (``--augment ada``): each transform's
defining property, first and second derivatives through the pipeline, the
probability each is applied with, the controller of p, and training with it
(p rising on 100 images and not on 5,000, every built-in architecture, an
exact resume, loading for sampling)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import require_mnist
from pygan_plugins import ada
from pygan_plugins import ada_transforms as T
from pygan_plugins.mnist import read_idx
from torch import nn

import pygan
from pygan._commands.train import dry_run
from pygan._config.registry import load_plugins
from pygan._config.resolve import merge_resumed_config, resolve_config
from pygan._contracts.messages import UsageError
from pygan._training import checkpoint
from pygan._training.data import InMemoryData
from pygan._training.runner import create_runner, prepare_out_dir

N = 4


def noise_images(n=N, channels=3, size=16, seed=0) -> torch.Tensor:
    """White noise in [-1, 1], float64: every frequency, the hardest case."""
    return torch.rand(n, channels, size, size, dtype=torch.float64,
                      generator=torch.Generator().manual_seed(seed)) * 2 - 1


def smooth_images(n=N, channels=3, size=16) -> torch.Tensor:
    """Low-frequency images in [-1, 1], float64: what resampling keeps."""
    y, x = torch.meshgrid(*[torch.linspace(0, 2 * math.pi, size, dtype=torch.float64)] * 2, indexing="ij")
    phases = torch.arange(n * channels, dtype=torch.float64).view(n, channels, 1, 1)
    return 0.5 * torch.sin(0.5 * x + phases) * torch.cos(0.3 * y - phases)


def per_image(value, n=N):
    return torch.full((n,), float(value))


def no_shift(n=N):
    return torch.zeros(n, 2, dtype=torch.long)


# --- pixel blitting -------------------------------------------------------------------

def test_an_x_flip_is_a_mirror_and_twice_the_identity():
    x = noise_images()
    once = T.blit(x, per_image(1), per_image(0).long(), no_shift())
    assert torch.equal(once, x.flip(3))
    assert torch.equal(T.blit(once, per_image(1), per_image(0).long(), no_shift()), x)


def test_quarter_turns_are_rot90_per_image_and_four_are_the_identity():
    x = noise_images()
    turns = torch.arange(N)  # image k turned k times
    turned = T.blit(x, per_image(0), turns, no_shift())
    for k in range(N):
        assert torch.equal(turned[k], torch.rot90(x[k], k, (1, 2)))
    once = per_image(1).long()
    y = x
    for _ in range(4):
        y = T.blit(y, per_image(0), once, no_shift())
    assert torch.equal(y, x)


def test_an_integer_translation_moves_pixels_and_reflects_at_the_borders():
    x = noise_images()
    y = T.blit(x, per_image(0), per_image(0).long(), torch.tensor([[3, -2]] * N))  # 3 right, 2 up
    assert torch.equal(y[..., :-2, 3:], x[..., 2:, :-3])
    assert torch.equal(y[..., :-2, :3], x[..., 2:, [3, 2, 1]])  # the left border's reflection
    assert torch.equal(y[..., -2:, 3:], x[..., [-2, -3], :-3])


# --- general geometric transforms -------------------------------------------------------

def resample(x, inverse):
    return T.resample(x, inverse, T.geometry_filter())


def test_a_rotation_by_zero_is_the_identity_up_to_the_filter():
    x = noise_images()
    assert (resample(x, T.rotate2d(0.0, N, "cpu")) - x).abs().max() < 1e-6  # sym6 is orthogonal (float32 taps)


def test_a_whole_pixel_translation_resamples_to_the_moved_pixels():
    x = noise_images()
    moved = resample(x, T.translate2d(-2.0, 1.0, N, "cpu"))  # the inverse of 2 right, 1 up
    blitted = T.blit(x, per_image(0), per_image(0).long(), torch.tensor([[2, -1]] * N))
    assert (moved - blitted)[..., 3:-3, 3:-3].abs().max() < 1e-6


def test_a_quarter_turn_resampled_is_rot90_on_smooth_images():
    x = smooth_images()
    assert (resample(x, T.rotate2d(-math.pi / 2, N, "cpu")) - torch.rot90(x, -1, (2, 3))).abs().max() < 0.02


def definition(x, inverse):
    """The resampling as NVlabs' pipeline does it, padded by reflection as
    far as it can be (size - 1), with nothing reflected afterwards: upsample
    2x through sym6, sample the 2x canvas bilinearly, downsample."""
    n, c, h, w = x.shape
    taps = T.geometry_filter().double()
    margin, pad = taps.shape[0] // 4, w - 1
    upsampled = pygan.ops.upsample2d(F.pad(x, [pad] * 4, mode="reflect"), taps)
    rows = []
    for k_y in range(2 * (h + 2 * margin)):
        for k_x in range(2 * (w + 2 * margin)):
            centred = torch.tensor([(k_x - 2 * margin) / 2 - (w - 1) / 2, (k_y - 2 * margin) / 2 - (h - 1) / 2, 1.0],
                                   dtype=torch.float64)
            source = inverse.double() @ centred  # (n, 3)
            index_x, index_y = 2 * (source[:, 0] + (w - 1) / 2 + pad), 2 * (source[:, 1] + (h - 1) / 2 + pad)
            rows.append(torch.stack([(2 * index_x + 1) / upsampled.shape[3] - 1,
                                     (2 * index_y + 1) / upsampled.shape[2] - 1], dim=-1))
    grid = torch.stack(rows, dim=1).view(n, 2 * (h + 2 * margin), 2 * (w + 2 * margin), 2)
    sampled = F.grid_sample(upsampled, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return pygan.ops.downsample2d(sampled, taps, padding=-2 * margin, flip_filter=True)


def test_resampling_is_the_definition_where_the_reflection_padding_reaches():
    x = noise_images(size=12)
    near = T.rotate2d(0.1, N, "cpu") @ T.scale2d(1 / 1.05, 1 / 1.05, N, "cpu")  # every point within reach
    assert (resample(x, near) - definition(x, near)).abs().max() < 1e-12
    # Points sent further out are reflected into the image instead of read
    # from a larger padding: the same pixels inside, close at the borders.
    far = T.rotate2d(torch.tensor([0.5, 1.0, 2.0, 3.0]), N, "cpu") @ T.scale2d(1.3, 0.8, N, "cpu")
    difference = (resample(x, far) - definition(x, far)).abs()
    assert difference[..., 4:-4, 4:-4].max() < 1e-12
    assert difference.max() < 0.3 and difference.mean() < 0.01


# --- colour transforms -------------------------------------------------------------------

def luma(x):
    return x.mean(dim=1, keepdim=True)


def test_brightness_adds_one_offset_and_contrast_scales_about_mid_grey():
    x = noise_images()
    assert torch.allclose(T.recolour(x, T.colour_offset(0.3, N, "cpu")), x + 0.3)
    assert torch.allclose(T.recolour(x, T.colour_gain(1.7, N, "cpu")), x * 1.7)


def test_a_luma_flip_negates_each_pixels_luma_and_keeps_its_colour():
    x = noise_images()
    y = T.recolour(x, T.luma_flip(1, N, "cpu"))
    assert torch.allclose(luma(y), -luma(x), atol=1e-6)
    assert torch.allclose(y - luma(y), x - luma(x), atol=1e-6)


def test_hue_rotation_keeps_luma_and_a_third_of_a_turn_permutes_the_channels():
    x = noise_images()
    y = T.recolour(x, T.rotate_about_luma(torch.tensor([0.3, 1.0, -2.0, 3.0]), N, "cpu"))
    assert torch.allclose(luma(y), luma(x), atol=1e-6)
    assert torch.allclose(T.recolour(x, T.rotate_about_luma(2 * math.pi / 3, N, "cpu")), x.roll(1, dims=1),
                          atol=1e-6)


def test_saturation_scales_the_colour_away_from_grey_and_keeps_luma():
    x = noise_images()
    y = T.recolour(x, T.saturate(2.5, N, "cpu"))
    assert torch.allclose(luma(y), luma(x), atol=1e-6)
    assert torch.allclose(y - luma(y), 2.5 * (x - luma(x)), atol=1e-6)


def test_every_colour_transform_keeps_grey_grey_and_all_but_brightness_keep_mid_grey():
    torch.manual_seed(0)
    grey = noise_images(channels=1).repeat(1, 3, 1, 1)
    colour = T.draw_colour(N, torch.tensor(1.0), 3)
    y = T.recolour(grey, colour)
    assert torch.allclose(y, luma(y).expand_as(y), atol=1e-6)
    no_offset = colour.clone()
    no_offset[:, :3, 3] = 0
    assert T.recolour(torch.zeros(N, 3, 4, 4, dtype=torch.float64), no_offset).abs().max() < 1e-6


def test_a_grey_image_takes_the_mean_of_what_its_colour_becomes():
    torch.manual_seed(1)
    grey = noise_images(channels=1)
    colour = T.draw_colour(N, torch.tensor(1.0), 3)
    assert torch.allclose(T.recolour(grey, colour), luma(T.recolour(grey.repeat(1, 3, 1, 1), colour)), atol=1e-6)


# --- image-space filtering, noise, cutout ----------------------------------------------------

def test_the_four_bands_partition_the_spectrum():
    bank = T.band_filters().double()
    impulse = torch.zeros(bank.shape[1], dtype=torch.float64)
    impulse[bank.shape[1] // 2] = 1
    assert torch.allclose(bank.sum(dim=0), impulse, atol=1e-7)  # the bands sum to the identity
    assert torch.allclose(bank, bank.flip(1))  # zero phase: nothing moves
    assert torch.allclose(bank.sum(dim=1), torch.tensor([1.0, 0, 0, 0], dtype=torch.float64), atol=1e-7)


def test_band_gains_scale_their_bands():
    x = noise_images(size=24)
    assert (T.filter_bands(x, torch.ones(N, 4), T.band_filters()) - x).abs().max() < 1e-6
    constant = torch.full((N, 3, 24, 24), 0.4, dtype=torch.float64)  # all low band
    gains = torch.tensor([[2.0, 3.0, 0.5, 5.0]] * N)
    # The band filters run along x and then y: a constant takes the low band's gain twice.
    assert torch.allclose(T.filter_bands(constant, gains, T.band_filters()), 2 * 2 * constant, atol=1e-6)


def test_cutout_blanks_a_square_of_half_the_size_to_mid_grey():
    x = noise_images(size=16)
    y = T.cut_out(x, per_image(0.5), torch.full((N, 2), 0.5))
    assert (y[..., 4:12, 4:12] == 0).all()
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[4:12, 4:12] = False
    assert torch.equal(y[..., outside], x[..., outside])


# --- drawing the parameters -------------------------------------------------------------------

def test_each_transform_is_applied_with_probability_p():
    torch.manual_seed(0)
    n, p = 20000, 0.4
    drawn = T.draw(T.GROUPS, torch.tensor(p), (n, 3, 2, 32))
    assert abs(drawn.flips.mean().item() - p / 2) < 0.015  # chosen, then a fair coin
    assert abs((drawn.quarter_turns != 0).float().mean().item() - p * 3 / 4) < 0.015
    assert drawn.shifts.abs().max(dim=0).values.tolist() == [4, 0]  # up to 1/8 of the size, in whole pixels
    rotated = drawn.geometry[:, 0, 1] != 0  # scalings alone keep the axes: only a rotation shears them
    assert abs(rotated.float().mean().item() - p) < 0.015  # either rotation: probability p
    assert abs((drawn.colour[:, :3, 3] != 0).any(dim=1).float().mean().item() - p) < 0.015  # brightness
    assert abs((drawn.band_gains != 1).any(dim=1).float().mean().item() - (1 - (1 - p) ** 4)) < 0.015
    sigma = drawn.noise.std(dim=(1, 2, 3))
    assert abs((sigma > 0).float().mean().item() - p) < 0.015
    assert abs(sigma[sigma > 0].mean().item() - 0.1 * math.sqrt(2 / math.pi)) < 0.005  # |N(0, 0.1)|
    assert abs((drawn.cutout_size > 0).float().mean().item() - p) < 0.015


def test_at_p_0_every_group_gives_back_the_images():
    x = noise_images(size=24).float()
    pipeline = ada.AdaptiveAugment(T.GROUPS, p=0.0)
    assert (pipeline((x + 1) / 2) - (x + 1) / 2).abs().max() < 1e-5  # float32 rounding


def test_at_p_1_the_pipeline_changes_every_image_and_keeps_the_shape():
    torch.manual_seed(0)
    x = (noise_images(size=24).float() + 1) / 2
    y = ada.AdaptiveAugment(T.GROUPS, p=1.0)(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert ((y - x).abs().flatten(1).max(dim=1).values > 0.1).all()


def test_bilinear_sampling_is_grid_samples_with_zeros_outside():
    torch.manual_seed(0)
    images = torch.randn(2, 3, 9, 7, dtype=torch.float64)
    x = torch.rand(2, 5, 6, dtype=torch.float64) * 11 - 2  # 2 pixels beyond each edge
    y = torch.rand(2, 5, 6, dtype=torch.float64) * 13 - 2
    grid = torch.stack([(2 * x + 1) / 7 - 1, (2 * y + 1) / 9 - 1], dim=-1)
    expected = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    torch.testing.assert_close(T.sample_bilinear(images, x, y), expected, rtol=0, atol=1e-12)


# --- derivatives -----------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [1, 3])
def test_the_images_gradients_and_their_gradients_flow_through_every_transform(channels):
    """R1 differentiates the discriminator's gradient with respect to the
    un-augmented images: the pipeline needs a second derivative, which
    grid_sample lacks on CUDA (the bilinear sampling is made of gathers)."""
    torch.manual_seed(0)
    x = noise_images(n=2, channels=channels, size=24).requires_grad_()
    transforms = T.draw(T.GROUPS, torch.tensor(1.0), tuple(x.shape))
    geometry_taps, band_taps = T.geometry_filter(), T.band_filters()

    def augmented(images):
        return T.augment(images, transforms, geometry_taps, band_taps)

    assert torch.autograd.gradcheck(augmented, (x,), fast_mode=True)
    assert torch.autograd.gradgradcheck(augmented, (x,), fast_mode=True)


# --- the controller ----------------------------------------------------------------------------------

def test_p_moves_every_fourth_batch_by_the_images_judged_and_never_below_0():
    pipeline = ada.AdaptiveAugment(("blit",), target=0.6, kimg=1.0)
    for batch in range(1, 9):
        pipeline.observe(torch.full((32, 1), 2.0), threshold=0.0)  # every real image called real: r_t = 1
        expected = 0.128 * (batch // 4)  # 4 x 32 images / 1,000 per adjustment
        assert math.isclose(pipeline.p.item(), expected, abs_tol=1e-6)
    assert pipeline.overfitting.item() == 1.0
    for _ in range(12):
        pipeline.observe(torch.full((32, 1), -2.0), threshold=0.0)
    assert pipeline.p.item() == 0.0 and pipeline.overfitting.item() == -1.0


def test_signs_are_taken_about_the_losss_decision_threshold_and_counted_per_image():
    pipeline = ada.AdaptiveAugment(("blit",), target=0.6, kimg=1.0)
    for _ in range(4):
        pipeline.observe(torch.tensor([[0.4, 0.6, 0.7, 0.9]] * 8), threshold=0.5)  # 8 images, 4 logits each
    assert math.isclose(pipeline.overfitting.item(), 0.5)
    assert pipeline.p.item() == 0.0  # r_t below the target
    for _ in range(4):
        pipeline.observe(torch.tensor([[0.6, 0.6, 0.7, 0.9]] * 8), threshold=0.5)
    assert math.isclose(pipeline.p.item(), 4 * 8 / 1000, abs_tol=1e-7)  # images, not logits


def test_a_fixed_p_stays_while_r_t_is_measured():
    pipeline = ada.AdaptiveAugment(("blit",), p=0.3)
    for _ in range(8):
        pipeline.observe(torch.full((16, 1), 1.0), threshold=0.0)
    assert math.isclose(pipeline.p.item(), 0.3, rel_tol=1e-6) and pipeline.overfitting.item() == 1.0


# --- training with it ----------------------------------------------------------------------------------

class MemoryTest(nn.Module):
    """A discriminator that can learn 100 images by heart."""

    def __init__(self, image_shape):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), 256), nn.LeakyReLU(0.2),
                                 nn.Linear(256, 1))

    def forward(self, images):
        return self.net(images)


class Unused(nn.Module):
    def __init__(self, image_shape):
        super().__init__()
        self.image_shape = tuple(image_shape)
        self.net = nn.Linear(4, math.prod(image_shape))

    def forward(self, z):
        return torch.sigmoid(self.net(z)).view(-1, *self.image_shape)


class Judge:
    """A discriminator-only recipe: the training images against others drawn
    from the same digits (``held_out``), so that the discriminator can only
    tell them apart by learning its training images by heart."""

    def __init__(self, held_out):
        self.held_out = held_out

    def step(self, step):
        n = step.batch_size
        with step.training("discriminator"):
            real = step.real().images
            others = self.held_out[torch.randint(len(self.held_out), (n,), generator=step.rng)]
            logits = step.discriminate(torch.cat([real, others])).source
            step.judged_real(logits[:n])
            loss = F.softplus(-logits[:n]).mean() + F.softplus(logits[n:]).mean()
            step.update(loss)
        return {"d_loss": loss}

    @pygan.hookimpl
    def register_architectures(self, register):
        register(pygan.Architecture("memory-test", Unused, MemoryTest, latent_size=4,
                                    defaults={"loss": "nonsaturating", "dataset": "npz", "recipe": "judge",
                                              "optimizer_d": "adam", "optimizer_g": "adam", "lr_d": 1e-3}))

    @pygan.hookimpl
    def register_recipes(self, register):
        register(pygan.Recipe("judge", self.step))


def mnist_digits(size: int) -> torch.Tensor:
    digits = torch.from_numpy(read_idx(require_mnist() / "t10k-images-idx3-ubyte.gz").copy()).float() / 255
    digits = F.interpolate(digits[:, None], size=size, mode="area")
    return digits[torch.randperm(len(digits), generator=torch.Generator().manual_seed(0))]


def test_p_rises_on_100_images_and_stays_near_0_on_5000(tmp_path):
    """The controller, with a pipeline (additive noise) that leaves the
    discriminator able to learn 100 images by heart: p must keep rising
    there, and not move on 5,000 images it cannot learn in as many steps."""
    digits = mnist_digits(16)
    final_p = {}
    for size in (100, 5000):
        plugins = load_plugins()
        plugins.add("judge", Judge(held_out=digits[5000:]))
        config = resolve_config(plugins, {"plugin": "memory-test", "batch_size": 32, "steps": 300,
                                          "augment": ["ada"], "ada_pipeline": "noise", "ada_kimg": 1.0,
                                          "sample_every": 0, "checkpoint_every": 0})
        out = tmp_path / str(size)
        prepare_out_dir(out, resuming=False)
        runner = create_runner(plugins, config, out, digits[:size])
        rows = [runner.step() for _ in range(300)]
        final_p[size] = rows[-1]["ada_p"]
        assert all(row["ada_p"] >= 0 for row in rows)
    assert final_p[100] > 1.0 and final_p[5000] < 0.15, final_p


def ada_runner(tmp_path, plugin="dcgan", data=None, **options):
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": plugin, "batch_size": 4, "steps": 4, "sample_every": 0,
                                      "checkpoint_every": 0, "augment": ["ada"], **options})
    prepare_out_dir(tmp_path, resuming=False)
    return create_runner(plugins, config, tmp_path, data if data is not None else torch.rand(16, 1, 28, 28))


# The 32x32 and 16x16 architectures in small sizes (StyleGAN2 tiny: 16 channels at most).
COLOUR_OPTIONS = {"dcgan64": {"resolution": 32},
                  "stylegan2": {"resolution": 16, "channel_base": 64, "channel_max": 16, "mapping_layers": 2}}


@pytest.mark.parametrize("plugin", ["dcgan", "cgan", "wgan", "lsgan", "acgan", "infogan", "dcgan64", "stylegan2"])
def test_every_builtin_architecture_trains_with_ada(tmp_path, plugin):
    options = COLOUR_OPTIONS.get(plugin, {})
    size = options.get("resolution")
    images = torch.rand(16, 3, size, size) if size else torch.rand(16, 1, 28, 28)
    data = InMemoryData(images, torch.arange(16) % 10)
    runner = ada_runner(tmp_path, plugin, data, **options)
    rows = [runner.step() for _ in range(2)]
    assert all(math.isfinite(value) for row in rows for value in row.values())
    # The recipe reported each discriminator batch of real images.
    assert ada.attached(runner.run.discriminator).batches.item() == 2 * runner.run.config["d_steps"]


def test_a_resumed_run_continues_p_and_everything_else_bit_for_bit(tmp_path):
    options = dict(plugin="dcgan", batch_size=4, sample_every=0, checkpoint_every=8, augment=["ada"],
                   ada_target=0.0, ada_kimg=0.05, dataset="npz", data_dir=str(tmp_path / "digits.npy"))
    np.save(tmp_path / "digits.npy", (mnist_digits(28)[:64, 0] * 255).round().byte().numpy())
    pygan.train(steps=12, out=tmp_path / "straight", **options)
    pygan.train(steps=8, out=tmp_path / "resumed", **options)
    pygan.train(resume=tmp_path / "resumed", steps=12)
    halfway = checkpoint.load(checkpoint.path_for(tmp_path / "straight", 8))
    assert halfway["networks"]["discriminator"]["adaptive_augment.p"].item() > 0  # the resume has a p to restore
    straight, resumed = checkpoint.load(tmp_path / "straight"), checkpoint.load(tmp_path / "resumed")
    for network in ("generator", "discriminator"):
        for name, tensor in straight["networks"][network].items():
            assert torch.equal(tensor, resumed["networks"][network][name]), name
    p = straight["networks"]["discriminator"]["adaptive_augment.p"]
    assert p.item() > 0
    rows = pygan.read_step_log(tmp_path / "resumed" / pygan.METRICS_FILE)
    assert [row["step"] for row in rows] == list(range(1, 13)) and rows[-1]["ada_p"] == p.item()
    assert rows == pygan.read_step_log(tmp_path / "straight" / pygan.METRICS_FILE)
    assert (tmp_path / "resumed" / "augment.png").stat().st_size > 0
    # Sampling rebuilds the discriminator with ADA's state but no augmentation.
    loaded = pygan.load(tmp_path / "resumed")
    assert torch.equal(ada.attached(loaded.discriminator).p, p)
    images = torch.rand(2, 1, 28, 28)
    assert torch.equal(loaded.discriminator(images), loaded.discriminator(images))


def test_ada_options_are_checked(tmp_path):
    plugins = load_plugins()
    for options, message in [({"augment": ["ada", "color"]}, "--augment must name augmentations"),
                             ({"augment": ["ada"], "ada_pipeline": "bgx"}, "--ada-pipeline must be one of"),
                             ({"augment": ["ada"], "ada_target": 1.0}, r"--ada-target must lie in \[0, 1\)"),
                             ({"augment": ["ada"], "ada_p": 1.5}, r"--ada-p must lie in \[0, 1\]"),
                             ({"augment": ["ada"], "ada_kimg": 0.0}, "--ada-kimg must be a finite number above 0")]:
        with pytest.raises(UsageError, match=message):
            resolve_config(plugins, {"plugin": "dcgan", **options})
    assert ada.pipeline_groups("bgc") == ("blit", "geom", "color")
    assert ada.pipeline_groups("cutout,blit") == ("blit", "cutout")  # the paper's order
    with pytest.raises(UsageError, match="--ada-target is an option of --augment ada"):
        ada_runner(tmp_path, augment=["translation"], ada_target=0.7)
    saved = resolve_config(plugins, {"plugin": "dcgan", "augment": ["ada"]})
    assert merge_resumed_config(plugins, saved, {"ada_target": 0.5, "ada_kimg": 100.0})["ada_target"] == 0.5
    with pytest.raises(UsageError, match="--ada-p 0.3 contradicts the resumed run's None"):
        merge_resumed_config(plugins, saved, {"ada_p": 0.3})


def test_a_recipe_that_reports_no_real_judgements_is_refused_unless_p_is_fixed(tmp_path):
    def silent(step):
        with step.training("discriminator"):
            loss = F.softplus(-step.discriminate(step.real().images).source).mean()
            step.update(loss)
        return {"d_loss": loss}

    class Silent:
        @pygan.hookimpl
        def register_recipes(self, register):
            register(pygan.Recipe("silent", silent))

    for options, refused in [({}, True), ({"ada_p": 0.2}, False)]:
        plugins = load_plugins()
        plugins.add("silent", Silent())
        config = resolve_config(plugins, {"plugin": "dcgan", "recipe": "silent", "batch_size": 4, "augment": ["ada"],
                                          **options})
        folder = tmp_path / str(refused)
        prepare_out_dir(folder, resuming=False)
        runner = create_runner(plugins, config, folder, torch.rand(8, 1, 28, 28))
        if refused:
            with pytest.raises(UsageError, match="recipe 'silent' does not report .*step.judged_real.*--ada-p"):
                runner.step()
        else:
            assert runner.step()["ada_p"] == pytest.approx(0.2)


def test_a_dry_run_with_ada_counts_the_same_parameters():
    plugins = load_plugins()
    plain = dry_run(plugins, {"plugin": "dcgan64", "resolution": 32}, None)
    augmented = dry_run(plugins, {"plugin": "dcgan64", "resolution": 32, "augment": ["ada"]}, None)
    assert plain.splitlines()[-2:] == augmented.splitlines()[-2:]
