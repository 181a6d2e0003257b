"""Evaluation: the Fréchet distance, classifier score and class shares, the
cached feature classifier, and ``pygan eval``.

The MNIST classifier is trained once for the module, into a temporary
PYGAN_DATA_DIR that the command-line tests reuse, so the user's cache is
never touched.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import pygan_command, require_mnist
from pygan_plugins.mnist import SOURCES, load_split

from pygan._contracts.messages import PyganError
from pygan._evaluation import classifier as classifier_module
from pygan._evaluation import distances


def hadamard(size: int) -> np.ndarray:
    matrix = np.ones((1, 1))
    while len(matrix) < size:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix


def gaussian_sample(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Points whose sample mean is ``mean`` and sample covariance exactly
    diag(``std``^2): the +-1 columns of a Hadamard matrix but its first each
    sum to 0 and are pairwise orthogonal, so only their scale needs setting."""
    columns = hadamard(len(mean) + 1)[:, 1:]
    rows = len(columns)
    return mean + columns * np.sqrt((rows - 1) / rows) * std


def test_frechet_distance_of_a_set_with_itself_is_zero():
    features = np.random.default_rng(0).normal(size=(500, 16))
    assert distances.frechet_distance(features, features) == pytest.approx(0, abs=1e-8)


def test_frechet_distance_of_diagonal_gaussians_matches_the_closed_form():
    mean_a, std_a = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), np.array([1.0, 2.0, 0.5, 1.0, 3.0, 1.0, 2.0])
    mean_b, std_b = np.array([1.0, 1.0, 0.0, 3.0, 4.0, 2.0, 6.0]), np.array([2.0, 2.0, 1.5, 0.1, 3.0, 1.0, 4.0])
    a, b = gaussian_sample(mean_a, std_a), gaussian_sample(mean_b, std_b)
    assert np.allclose(np.cov(a, rowvar=False), np.diag(std_a ** 2))
    expected = ((mean_a - mean_b) ** 2).sum() + ((std_a - std_b) ** 2).sum()
    assert distances.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_handles_covariances_that_do_not_commute():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(400, 2)) @ np.array([[2.0, 0.0], [1.0, 0.5]])
    b = rng.normal(size=(400, 2)) @ np.array([[0.3, 1.0], [0.0, 1.5]]) + 1
    covariance_a, covariance_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    product = covariance_a @ covariance_b
    # For 2x2 matrices with positive eigenvalues, tr(sqrt(M)) = sqrt(tr M + 2 sqrt(det M)).
    trace_root = np.sqrt(np.trace(product) + 2 * np.sqrt(np.linalg.det(product)))
    expected = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(covariance_a) + np.trace(covariance_b)
                - 2 * trace_root)
    assert distances.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert distances.frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_classifier_score_ranges_from_one_to_the_number_of_classes():
    one_hot = torch.eye(10).repeat(3, 1)  # confident, evenly spread
    assert distances.classifier_score(one_hot) == pytest.approx(10)
    same = torch.tensor([[0.7, 0.2, 0.1]]).repeat(5, 1)  # every sample alike
    assert distances.classifier_score(same) == pytest.approx(1)
    assert distances.classifier_score(torch.full((4, 10), 0.1)) == pytest.approx(1)


def test_class_shares_count_each_sample_as_its_most_likely_class():
    probabilities = torch.tensor([[0.9, 0.1, 0.0], [0.6, 0.3, 0.1], [0.1, 0.2, 0.7], [0.8, 0.1, 0.1]])
    assert distances.class_shares(probabilities) == [0.75, 0.0, 0.25]


# One thread: on a busy machine two are no faster, and they starve whatever
# else runs there.
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A temporary PYGAN_DATA_DIR for this module's classifiers."""
    folder = tmp_path_factory.mktemp("pygan-cache")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYGAN_DATA_DIR", str(folder))
        yield folder
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def mnist(cache):
    """The real MNIST test split and the classifier trained on it."""
    images, labels = load_split(SOURCES["mnist"], require_mnist(), "test")
    return images, labels, classifier_module.load_classifier("mnist", images, labels)


def test_the_classifier_beats_97_percent_on_held_out_digits_and_is_cached(mnist, cache):
    images, labels, classifier = mnist
    assert classifier.trained and classifier.accuracy > 0.97
    assert classifier.path.parent == cache / "classifiers" and classifier.path.name.startswith("mnist-")
    written = classifier.path.stat().st_mtime_ns
    again = classifier_module.load_classifier("mnist", images, labels)
    assert not again.trained and again.accuracy == classifier.accuracy
    assert classifier.path.stat().st_mtime_ns == written
    for mine, theirs in zip(classifier.network.state_dict().values(), again.network.state_dict().values()):
        assert torch.equal(mine, theirs)


def drawing_from(pool: torch.Tensor):
    """A stand-in generator handing out successive images of ``pool``."""
    position = 0

    def draw(count: int, labels=None) -> torch.Tensor:
        nonlocal position
        position += count
        return pool[position - count:position]

    return draw


def test_the_metrics_order_real_degraded_and_noise_images(mnist):
    images, _, classifier = mnist
    n = 2000
    rng = torch.Generator().manual_seed(1)
    others = images[torch.randperm(len(images), generator=rng)[:n]]  # not the real subset evaluate draws
    results = {}
    for name, pool in [("real", others),
                       ("slightly noisy", (others + 0.1 * torch.randn(others.shape, generator=rng)).clamp(0, 1)),
                       ("very noisy", (others + 0.3 * torch.randn(others.shape, generator=rng)).clamp(0, 1)),
                       ("noise", torch.rand(others.shape, generator=rng))]:
        results[name] = classifier_module.evaluate(drawing_from(pool), images, classifier, n)
    fcd = [result["fcd"] for result in results.values()]
    assert fcd == sorted(fcd) and fcd[0] < 0.01 * fcd[-1]
    assert results["real"]["classifier_score"] > 9 > 2 > results["noise"]["classifier_score"]
    assert not results["real"]["mode_collapse"] and results["real"]["dominant_class_share"] < 0.15
    assert results["real"]["classifier_accuracy"] == classifier.accuracy


def test_real_data_against_itself_scores_zero(mnist):
    images, _, classifier = mnist
    real = images[:3000]
    result = classifier_module.evaluate(drawing_from(real), real, classifier, len(real))
    assert result["fcd"] == pytest.approx(0, abs=1e-6)
    assert result["classifier_score"] == pytest.approx(result["real_classifier_score"])


def test_a_generator_of_one_class_is_flagged_by_the_class_shares(mnist):
    images, labels, classifier = mnist
    ones = images[labels == 1]
    result = classifier_module.evaluate(drawing_from(ones), images, classifier, len(ones))
    assert result["mode_collapse"] and result["dominant_class"] == 1 and result["dominant_class_share"] > 0.95
    assert result["classifier_score"] < 1.5


def conditional_stand_in(images, labels, fixed_class=None):
    """A stand-in conditional generator: real images of the class asked
    for, or always of ``fixed_class``."""
    rng = torch.Generator().manual_seed(5)

    def draw(count, asked):
        chosen = asked if fixed_class is None else torch.full_like(asked, fixed_class)
        picks = [torch.nonzero(labels == label).flatten() for label in chosen.tolist()]
        return torch.stack([images[pool[torch.randint(len(pool), (), generator=rng)]] for pool in picks])

    return draw


def test_label_accuracy_measures_whether_the_generator_draws_the_class_asked_for(mnist):
    images, labels, classifier = mnist
    obedient = classifier_module.evaluate(conditional_stand_in(images, labels), images, classifier, 1000, classes=10)
    assert obedient["label_accuracy"] > 0.95
    stuck = classifier_module.evaluate(conditional_stand_in(images, labels, fixed_class=7), images, classifier, 1000,
                                classes=10)
    # Asked evenly for each class, a generator of 7s only is right one time in ten.
    assert stuck["label_accuracy"] == pytest.approx(0.1, abs=0.02) and stuck["dominant_class"] == 7
    assert "label_accuracy" not in classifier_module.evaluate(drawing_from(images), images, classifier, 1000)


@pytest.mark.parametrize("n", [1, 10_001])
def test_evaluate_refuses_more_samples_than_real_images_or_fewer_than_two(mnist, n):
    images, _, classifier = mnist
    with pytest.raises(PyganError, match=f"cannot compare {n:,} generated samples with as many real images: "
                                         f"the data set has 10,000; choose --n from 2 to 10,000"):
        classifier_module.evaluate(drawing_from(images), images, classifier, n)


@pytest.fixture
def quick_training(monkeypatch):
    """Train for a handful of steps: for tests of the cache, not of accuracy."""
    monkeypatch.setattr(classifier_module, "TRAIN_STEPS", 5)
    images = torch.rand(2000, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    return images, torch.arange(2000) % 3


def test_the_same_data_and_seed_give_the_same_classifier(quick_training, tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path / "first"))
    first = classifier_module.load_classifier("squares", *quick_training)
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path / "second"))
    second = classifier_module.load_classifier("squares", *quick_training)
    assert first.trained and second.trained and first.path != second.path
    for mine, theirs in zip(first.network.state_dict().values(), second.network.state_dict().values()):
        assert torch.equal(mine, theirs)


@pytest.mark.parametrize("content, said", [
    (b"not a checkpoint", "unreadable cached classifier (UnpicklingError); training it again"),
    ("older", None),
    ({"network": {"conv.weight": torch.zeros(2)}, "accuracy": 0.9}, "a cached classifier that does not fit"),
    ({"network": {}}, "a cached classifier that does not fit"),
    ({"network": "weights", "accuracy": 0.9}, "a cached classifier that does not fit"),
    ({"accuracy": "high"}, "a cached classifier that does not fit"),
], ids=["garbage", "older", "wrong-keys", "no-accuracy", "network-not-a-dict", "accuracy-text"])
def test_an_unreadable_outdated_or_altered_cached_classifier_is_trained_again(cache, quick_training, content, said,
                                                                             capsys):
    path = classifier_module.cache_path("squares", *quick_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    if content == "older":
        torch.save({"version": classifier_module.CLASSIFIER_VERSION - 1, "accuracy": 1.0, "network": {}}, path)
    elif isinstance(content, dict):
        if "network" not in content:  # the right weights, a wrong accuracy
            content["network"] = classifier_module.load_classifier("squares", *quick_training).network.state_dict()
        torch.save({"version": classifier_module.CLASSIFIER_VERSION, **content}, path)
        capsys.readouterr()
    else:
        path.write_bytes(content)
    classifier = classifier_module.load_classifier("squares", *quick_training)
    assert classifier.trained and classifier.path == path
    assert not classifier_module.load_classifier("squares", *quick_training).trained
    if said is not None:
        assert f"{path}: {said}" in capsys.readouterr().err


@pytest.mark.parametrize("images, labels, message", [
    (torch.rand(3000, 28, 28), torch.zeros(3000, dtype=torch.long), "Tensor (3000, 28, 28); expected a non-empty "
                                                                    "float tensor (N, C, H, W)"),
    (torch.rand(3000, 1, 4, 4), torch.zeros(2999, dtype=torch.long), "labels (2999,) for 3000 images"),
    (torch.rand(3000, 1, 4, 4), torch.zeros(3000), "labels (3000,) for 3000 images; expected integer labels"),
    (torch.rand(3000, 1, 4, 4), -torch.ones(3000, dtype=torch.long), "expected integer labels 0, 1, ..."),
    (torch.rand(3000, 1, 4, 4), None, "gave no labels"),
    (torch.rand(1999, 1, 4, 4), torch.zeros(1999, dtype=torch.long),
     "data set 'bad' has 1,999 labelled images; training its classifier needs at least 2,000 (1,000 of them held out)"),
])
def test_unusable_labelled_data_is_refused_naming_the_data_set(cache, images, labels, message):
    with pytest.raises(PyganError, match="data set 'bad' ") as error:
        classifier_module.load_classifier("bad", images, labels)
    assert message in str(error.value)


@pytest.fixture(scope="module")
def run(mnist, cache, tmp_path_factory):
    """A 2-step dcgan run on the MNIST test split, evaluated with the module's classifier."""
    out = tmp_path_factory.mktemp("runs") / "dcgan"
    result = pygan_command("train", "--plugin", "dcgan", "--data-dir", require_mnist(), "--steps", "2",
                           "--out", out, env={"PYGAN_DATA_DIR": str(cache), **ONE_THREAD})
    assert result.returncode == 0, result.stderr
    return out


def pygan_eval(run: Path, cache: Path, *args: str):
    return pygan_command("eval", "--checkpoint", run, "--n", "500", *args, env={"PYGAN_DATA_DIR": str(cache), **ONE_THREAD})


def test_eval_prints_the_metrics_using_the_cached_classifier(run, cache):
    result = pygan_eval(run, cache)
    assert result.returncode == 0, result.stderr
    assert "training the mnist classifier" not in result.stderr
    assert "dcgan at step 2" in result.stdout and "against mnist, 500 samples each" in result.stdout
    for label in ("Fréchet classifier distance", "classifier score", "classifier accuracy", "class shares  0: "):
        assert label in result.stdout


def test_eval_json_holds_every_number_and_is_reproducible(run, cache):
    first, second = pygan_eval(run, cache, "--json", "--seed", "5"), pygan_eval(run, cache, "--json", "--seed", "5")
    assert first.returncode == 0, first.stderr
    results = json.loads(first.stdout)
    assert results == json.loads(second.stdout)
    assert results["step"] == 2 and results["dataset"] == "mnist" and results["n"] == 500
    assert results["fcd"] > 0 and 1 <= results["classifier_score"] <= 10 and results["classifier_accuracy"] > 0.97
    assert len(results["class_shares"]) == 10 and sum(results["class_shares"]) == pytest.approx(1)
    assert results["mode_collapse"] == (results["dominant_class_share"] > 0.5)


def test_eval_of_a_conditional_generator_reports_its_label_accuracy(run, cache, tmp_path):
    out = tmp_path / "cgan"
    trained = pygan_command("train", "--plugin", "cgan", "--data-dir", require_mnist(), "--steps", "1",
                            "--batch-size", "4", "--sample-every", "0", "--out", out,
                            env={"PYGAN_DATA_DIR": str(cache), **ONE_THREAD})
    assert trained.returncode == 0, trained.stderr
    results = json.loads(pygan_eval(out, cache, "--json").stdout)
    assert 0 <= results["label_accuracy"] <= 1
    printed = pygan_eval(out, cache)
    assert printed.returncode == 0, printed.stderr
    assert "label accuracy" in printed.stdout and "(samples recognised as the class asked for; chance 10%)" in printed.stdout
    # An unconditional generator is asked for no class.
    assert "label_accuracy" not in json.loads(pygan_eval(run, cache, "--json").stdout)


@pytest.mark.parametrize("args, status, message", [
    # A data set without labels is measured by FID and KID (tests/test_images.py); npz needs its file.
    (["--dataset", "npz"], 2, "the npz data set needs --data-dir"),
    (["--dataset", "nope"], 2, "unknown dataset 'nope'"),
    (["--n", "20000"], 1, "cannot compare 20,000 generated samples with as many real images: the data set has 10,000"),
])
def test_eval_errors_exit_with_a_message(run, cache, args, status, message):
    result = pygan_eval(run, cache, *args)
    assert result.returncode == status and message in result.stderr


def test_eval_every_logs_the_metrics_during_training_without_changing_it(mnist, cache, tmp_path):
    common = ["train", "--plugin", "dcgan", "--data-dir", require_mnist(), "--steps", "4", "--batch-size", "8",
              "--sample-every", "0"]
    env = {"PYGAN_DATA_DIR": str(cache), **ONE_THREAD}
    evaluated = pygan_command(*common, "--eval-every", "2", "--eval-n", "200", "--out", tmp_path / "eval", env=env)
    assert evaluated.returncode == 0, evaluated.stderr
    plain = pygan_command(*common, "--out", tmp_path / "plain", env=env)
    assert plain.returncode == 0, plain.stderr
    rows = [json.loads(line) for line in (tmp_path / "eval" / "metrics.jsonl").read_text().splitlines()]
    assert [("fcd" in row, "classifier_score" in row) for row in rows] == [(False, False), (True, True)] * 2
    assert all(row["fcd"] > 0 and 1 <= row["classifier_score"] <= 10 for row in rows if "fcd" in row)
    plain_rows = [json.loads(line) for line in (tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()]
    assert [row["d_loss"] for row in rows] == [row["d_loss"] for row in plain_rows]


def test_eval_every_refuses_a_data_set_without_labels(tmp_path):
    data = tmp_path / "digits.npz"
    np.savez(data, images=np.zeros((8, 28, 28), dtype=np.uint8))
    result = pygan_command("train", "--plugin", "dcgan", "--dataset", "npz", "--data-dir", data, "--steps", "2",
                           "--batch-size", "4", "--eval-every", "1", "--out", tmp_path / "run")
    assert result.returncode == 2
    assert "--eval-every needs a labelled data set, and 'npz' has no labels" in result.stderr
