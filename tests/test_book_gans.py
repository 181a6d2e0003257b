"""The seed's family (docs/book-gans.md): cgan, wgan, lsgan, acgan and
infogan, each a plugin built from the shared networks of pygan_plugins.book,
with the book's parameter counts, losses and training steps; trained,
sampled and evaluated from the command line. The parameter counts and the
defaults are read from docs/book-gans.md's tables, so the page cannot drift
from what the plugins build."""

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT, pygan_command, require_mnist
from PIL import Image
from pygan_plugins import infogan, wgan
from pygan_plugins.alternating import discriminator_update, generator_update
from pygan_plugins.book import keras_parameter_count

from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._contracts.records import Judgement, Latent
from pygan._training.data import InMemoryData
from pygan._training.runner import create_runner, prepare_out_dir
from pygan.ops import LeakyReLUConv2d

SHAPE = (1, 28, 28)
FAMILY = ["dcgan", "cgan", "wgan", "lsgan", "acgan", "infogan"]
BOOK = FAMILY[1:]
CONDITIONAL = ["cgan", "acgan", "infogan"]
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
BOOK_PAGE = REPO_ROOT / "docs" / "book-gans.md"
ABSENT = "\u2014"  # a dash: the network has no such layer


def page_table(marker: str) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the table docs/book-gans.md marks with
    ``<!-- table: MARKER``, as cells without their backticks."""
    lines = BOOK_PAGE.read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(f"<!-- table: {marker}"))
    table = []
    for line in lines[start + 1:]:
        if not line.startswith("|"):
            break
        table.append([cell.strip().strip("`") for cell in line.strip().strip("|").split("|")])
    header, separator, *rows = table
    assert set("".join(separator)) <= {"-", " "}, f"{marker}: not a table"
    return header, rows


def value(cell: str):
    """A table cell as a number where it is one ("40,000", "2e-4")."""
    for kind in (int, float):
        try:
            return kind(cell.replace(",", ""))
        except ValueError:
            pass
    return cell


def layer_counts(network: str) -> dict[str, tuple[list[int], int]]:
    """From the page's table of a network's layers: for each plugin, the
    parameter counts of its layers and their stated total."""
    header, rows = page_table(f"{network} layers")
    *layers, total = rows
    assert total[0] == "total"
    counts = {}
    for column, names in enumerate(header[2:], start=2):
        for name in names.split(", "):
            counts[name] = ([value(row[column]) for row in layers if row[column] != ABSENT], value(total[column]))
    return counts


@pytest.fixture(scope="module")
def plugins():
    return load_plugins()


def networks(plugins, name):
    architecture, config = plugins.architecture(name), resolve_config(plugins, {"plugin": name})
    torch.manual_seed(0)
    return architecture, architecture.build("generator", SHAPE, config), architecture.build("discriminator", SHAPE,
                                                                                             config)


@pytest.mark.parametrize("network", ["generator", "discriminator"])
@pytest.mark.parametrize("name", FAMILY)
def test_each_network_has_the_layers_and_parameter_counts_the_page_states(plugins, name, network):
    layers, total = layer_counts(network)[name]
    built = networks(plugins, name)[1 if network == "generator" else 2]
    # Keras' counting: parameters and BatchNorm moving statistics.
    assert keras_parameter_count(built) == total == sum(layers)
    # Every layer with parameters is one module of pygan's, with as many.
    own = [keras_parameter_count(module) for module in built.modules() if not list(module.children())]
    assert sorted(count for count in own if count) == sorted(count for count in layers if count)


def test_the_page_tabulates_the_whole_family():
    for network in ("generator", "discriminator"):
        assert sorted(layer_counts(network)) == sorted(FAMILY)


def test_the_readmes_parameter_counts_are_the_pages():
    readme = (REPO_ROOT / "README.md").read_text()
    book_section = readme[readme.index("## The book's GANs"):]
    stated = {}
    for line in book_section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] in FAMILY and " / " in cells[-1]:
            stated[cells[0]] = tuple(value(count) for count in cells[-1].split(" / "))
    generators, discriminators = layer_counts("generator"), layer_counts("discriminator")
    assert stated == {name: (generators[name][1], discriminators[name][1]) for name in FAMILY}


@pytest.mark.parametrize("name, heads", [
    ("cgan", None), ("wgan", None), ("lsgan", None),
    ("acgan", {"source": (5, 1), "classes": (5, 10)}),
    ("infogan", {"source": (5, 1), "classes": (5, 10), "codes": (5, 2)}),
])
def test_shapes_and_the_fused_trunk(plugins, name, heads):
    architecture, generator, discriminator = networks(plugins, name)
    latent = architecture.draw_latent(5, torch.Generator().manual_seed(0), torch.device("cpu"))
    images = generator(*architecture.generator_inputs(latent))
    assert images.shape == (5, *SHAPE) and 0 <= images.min() and images.max() <= 1
    output = discriminator(*architecture.discriminator_inputs(images, latent.labels))
    if heads is None:
        assert output.shape == (5, 1)
    else:
        assert {head: tuple(value.shape) for head, value in output.items()} == heads
    # The hot path: every trunk block is pygan's fused LeakyReLU+conv operator.
    blocks = [module for module in discriminator.modules() if isinstance(module, LeakyReLUConv2d)]
    assert [tuple(block.weight.shape[:2]) for block in blocks] == [
        (32, 2 if name == "cgan" else 1), (64, 32), (128, 64), (256, 128)]


def test_infogans_codes_and_noise_are_the_books(plugins):
    architecture = plugins.architecture("infogan")
    latent = architecture.draw_latent(20_000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert latent.codes.shape == (20_000, 2) and latent.codes.std().item() == pytest.approx(0.5, rel=0.02)
    assert latent.z.min() >= -1 and latent.z.max() <= 1


def test_cgans_label_is_a_dense_made_second_channel_after_the_image(plugins):
    _, _, discriminator = networks(plugins, "cgan")
    seen = []
    discriminator.blocks[0].register_forward_hook(lambda module, args, output: seen.append(args[0]))
    images, one_hot = torch.rand(3, *SHAPE), F.one_hot(torch.tensor([0, 4, 9]), 10).float()
    discriminator(images, one_hot)
    assert torch.equal(seen[0][:, :1], images)
    expected = (one_hot @ discriminator.embed_label.weight.T + discriminator.embed_label.bias).view(3, 1, 28, 28)
    torch.testing.assert_close(seen[0][:, 1:], expected)


def test_the_books_defaults_are_the_pages(plugins):
    header, rows = page_table("defaults")
    assert sorted(row[0] for row in rows) == sorted(FAMILY)
    for row in rows:
        name, *values = row
        config = resolve_config(plugins, {"plugin": name})
        stated = dict(zip(header[1:], map(value, values)))
        assert stated.pop("latent") == plugins.architecture(name).latent_size, name
        assert {key: config[key] for key in stated} == stated, name
        assert (config["optimizer_d"], config["optimizer_g"], config["dataset"], config["penalty"]) == (
            "rmsprop", "rmsprop", "mnist", None), name


# --- losses -------------------------------------------------------------------


def test_lsgans_loss_is_kerass_mean_squared_error_with_no_half_on_the_generator(plugins):
    loss = plugins.loss("mse")
    real, fake = torch.tensor([[0.5], [2.0]]), torch.tensor([[0.25], [-1.0]])
    # D: one mean over the four outputs against 1, 1, 0, 0.
    assert loss.discriminator_loss(real, fake).item() == pytest.approx((0.25 + 1 + 0.0625 + 1) / 4)
    assert loss.generator_loss(fake).item() == pytest.approx((0.5625 + 4) / 2)
    assert plugins.loss("lsgan").generator_loss(fake).item() == pytest.approx((0.5625 + 4) / 4)


def test_wgans_loss_is_minus_the_mean_of_y_times_the_critic(plugins):
    loss = plugins.loss("wasserstein")
    real, fake = torch.tensor([[0.5], [2.0]]), torch.tensor([[0.25], [-1.0]])
    assert wgan.critic_loss(real, 1.0).item() == pytest.approx(-1.25)
    assert wgan.critic_loss(fake, -1.0).item() == pytest.approx(-0.375)
    assert loss.discriminator_loss(real, fake).item() == pytest.approx(-1.25 - 0.375)
    assert loss.generator_loss(fake).item() == pytest.approx(0.375)


def test_infogans_heads_are_scored_with_the_books_losses_and_weights(plugins):
    architecture = plugins.architecture("infogan")
    torch.manual_seed(0)
    heads = {"classes": torch.randn(6, 10), "codes": torch.randn(6, 2)}
    targets = Latent(None, torch.tensor([0, 1, 2, 3, 4, 5]), 0.5 * torch.randn(6, 2))
    terms = architecture.auxiliary_loss(Judgement(torch.zeros(6, 1), heads), targets)
    # Categorical cross-entropy of the softmax, weight 1.
    softmax = heads["classes"].softmax(dim=1)
    expected_class = -softmax[torch.arange(6), targets.labels].log().mean()
    torch.testing.assert_close(terms["class_loss"], expected_class)
    # mi(c, q) = -mean(sum(c * log(q + 1e-7))) on the sigmoid outputs, weight 0.5 each.
    q = torch.sigmoid(heads["codes"])
    for index in range(2):
        c = targets.codes[:, index]
        torch.testing.assert_close(terms[f"code{index + 1}_loss"], 0.5 * -(c * torch.log(q[:, index] + 1e-7)).mean())
    assert set(terms) == {"class_loss", "code1_loss", "code2_loss"}
    assert infogan.CODE_WEIGHT == 0.5 and infogan.EPSILON == 1e-7


# --- training steps -------------------------------------------------------------


def runner_for(tmp_path, name, **options):
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": name, "batch_size": 4, "sync_every": 8, **options})
    prepare_out_dir(tmp_path, resuming=False)
    rng = torch.Generator().manual_seed(0)
    data = InMemoryData(torch.rand(32, *SHAPE, generator=rng), torch.arange(32) % 10)
    return create_runner(plugins, config, tmp_path, data)


def test_acgan_and_infogan_train_both_networks_on_their_heads(tmp_path):
    runner = runner_for(tmp_path / "acgan", "acgan")
    d_metrics, g_metrics = discriminator_update(runner.context), generator_update(runner.context)
    assert "d_class_loss" in d_metrics and "g_class_loss" in g_metrics
    runner = runner_for(tmp_path / "infogan", "infogan")
    seen = []
    runner.run.discriminator.register_forward_hook(lambda module, args, output: seen.append(output))
    d_metrics = discriminator_update(runner.context)
    assert {"d_class_loss", "d_code1_loss", "d_code2_loss"} <= set(d_metrics)
    # The discriminator's loss is BCE on the source plus the weighted heads' terms.
    source = F.binary_cross_entropy_with_logits(seen[-1]["source"].flatten(), torch.tensor([1.0] * 4 + [0.0] * 4))
    torch.testing.assert_close(d_metrics["d_loss"], source + d_metrics["d_class_loss"] + d_metrics["d_code1_loss"]
                               + d_metrics["d_code2_loss"])


def test_a_wgan_step_makes_ten_critic_updates_clipped_after_each_pair_and_one_generator_update(tmp_path):
    # A large learning rate pushes weights past the clip at once: between the
    # real and the fake update of a pair, they must not be clipped yet.
    runner = runner_for(tmp_path, "wgan", lr_d=0.5)
    discriminator = runner.run.discriminator
    largest = []
    discriminator.register_forward_pre_hook(
        lambda module, args: largest.append(max(p.abs().max().item() for p in module.parameters())))
    metrics = runner.step()
    # Per critic iteration: the real pass, then the fake pass; then the generator's pass.
    assert len(largest) == 2 * 5 + 1
    assert all(value > 0.01 for value in largest[1:10:2])  # fake passes see the real update unclipped
    assert all(value <= 0.01 for value in largest[2:11:2])  # each pair ends clipped
    assert all(p.abs().max() <= 0.01 for p in discriminator.parameters())
    updates = {name: optimizer.state_dict()["updates"].item() for name, optimizer in runner.engine.optimizers.items()}
    assert updates == {"discriminator": 10, "generator": 1}
    assert {"d_loss", "d_acc", "g_loss", "g_acc", "lr_d", "lr_g"} <= set(metrics)


def test_the_wgan_recipe_refuses_what_it_cannot_honour(tmp_path):
    runner = runner_for(tmp_path, "wgan", loss="hinge")
    with pytest.raises(Exception, match="recipe 'wgan' updates the critic on real and fake images separately"):
        runner.step()


# --- the command line -----------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Each of the five trained for 2 steps from the command line, on the
    MNIST test split, with a sample grid at step 2."""
    mnist = require_mnist()
    runs = tmp_path_factory.mktemp("book-runs")

    def train(name):
        out = runs / name
        if not out.exists():
            result = pygan_command("train", "--plugin", name, "--data-dir", mnist, "--steps", "2", "--batch-size",
                                   "4", "--sample-every", "2", "--out", out, env=ONE_THREAD)
            assert result.returncode == 0, result.stderr
        return out

    return train


@pytest.mark.parametrize("name", BOOK)
def test_each_trains_from_the_command_line(trained, name):
    out = trained(name)
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == [1, 2]
    assert all(torch.isfinite(torch.tensor([row["d_loss"], row["g_loss"]])).all() for row in rows)
    assert (out / "samples" / "00002.png").is_file() and (out / "checkpoints" / "00000002.pt").is_file()
    assert json.loads((out / "config.json").read_text())["plugin"] == name


def grid_size(path):
    with Image.open(path) as picture:
        return picture.size


@pytest.mark.parametrize("name", CONDITIONAL)
def test_conditional_ones_sample_a_chosen_digit_and_a_class_grid(trained, name, tmp_path):
    run = trained(name)
    one = pygan_command("sample", "--checkpoint", run, "--class", "3", "--n", "4", "--out", tmp_path / "3.png",
                        env=ONE_THREAD)
    assert one.returncode == 0, one.stderr
    grid = pygan_command("sample", "--checkpoint", run, "--class-grid", "--out", tmp_path / "grid.png",
                         env=ONE_THREAD)
    assert grid.returncode == 0, grid.stderr
    assert grid_size(tmp_path / "grid.png") == ((10 * 28 + 9 * 2) * 2, (10 * 28 + 9 * 2) * 2)  # 10 rows of 10


def test_infogan_sweeps_each_code_along_the_rows(trained, tmp_path):
    run = trained("infogan")
    for code in ("code1", "code2"):
        result = pygan_command("sample", "--checkpoint", run, "--sweep", code, "--out", tmp_path / f"{code}.png",
                               env=ONE_THREAD)
        assert result.returncode == 0, result.stderr
        assert grid_size(tmp_path / f"{code}.png") == ((10 * 28 + 9 * 2) * 2, (10 * 28 + 9 * 2) * 2)
    beyond = pygan_command("sample", "--checkpoint", run, "--sweep", "code3", "--out", tmp_path / "3.png")
    assert beyond.returncode == 2 and "has codes code1 to code2" in beyond.stderr


def test_unconditional_ones_refuse_a_class(trained, tmp_path):
    result = pygan_command("sample", "--checkpoint", trained("wgan"), "--class", "3", "--out", tmp_path / "x.png")
    assert result.returncode == 2 and "needs a conditional architecture" in result.stderr
