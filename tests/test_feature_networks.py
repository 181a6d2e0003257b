"""FID and KID's feature networks as files from elsewhere: InceptionV3
weights are read as tensors only (a planted pickle runs nothing), and a
network that fails or returns nonsense is a message, not a traceback or a
number that means nothing. torch-fidelity is not installed here: a stand-in
made by the tests takes its place, loading what it is given as torch-fidelity
0.4 does, with torch.load(weights_only=False)."""

import os
import sys
import textwrap

import pytest
import torch

from pygan._contracts.messages import PyganError
from pygan._evaluation import features as evaluation

STAND_IN = '''
import torch
from torch import nn


class FeatureExtractorInceptionV3(nn.Module):
    received = []

    def __init__(self, name, features_list, feature_extractor_weights_path=None):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 2)
        state = torch.load(feature_extractor_weights_path, weights_only=False)  # as torch-fidelity does
        FeatureExtractorInceptionV3.received.append(state)
        self.load_state_dict(state)

    def forward(self, images):
        return (torch.relu(self.conv(images.float() / 255)).mean(dim=(2, 3)),)
'''


@pytest.fixture
def torch_fidelity(tmp_path, monkeypatch):
    """A stand-in torch_fidelity package on sys.path; its module, once imported."""
    package = tmp_path / "site" / "torch_fidelity"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "feature_extractor_inceptionv3.py").write_text(STAND_IN)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    for name in ("torch_fidelity", "torch_fidelity.feature_extractor_inceptionv3"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    return package


class Planted:
    """A pickle that runs a command when it is loaded."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PYGAN_DATA_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "inception").mkdir(parents=True)
    return tmp_path / "cache"


@pytest.mark.parametrize("given", [False, True], ids=["found-in-the-cache", "--inception-weights"])
def test_planted_inception_weights_run_nothing(torch_fidelity, cache, tmp_path, given):
    marker = tmp_path / "code-ran"
    weights = cache / "inception" / evaluation.INCEPTION_WEIGHTS
    torch.save({"conv.weight": Planted(marker)}, weights)
    with pytest.raises(PyganError, match="not InceptionV3 weights pygan can read safely, as tensors only"):
        evaluation.inception_network(weights if given else None, torch.device("cpu"))
    assert not marker.exists()


def test_inception_weights_are_given_to_the_network_as_their_tensors(torch_fidelity, cache):
    from torch import nn

    weights = cache / "inception" / evaluation.INCEPTION_WEIGHTS
    state = {f"conv.{key}": value for key, value in nn.Conv2d(3, 8, 3, 2).state_dict().items()}
    torch.save(state, weights)
    features = evaluation.inception_network(None, torch.device("cpu"))
    assert features(torch.zeros(5, 3, 16, 16, dtype=torch.uint8)).shape == (5, 8)
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
    (received,) = FeatureExtractorInceptionV3.received
    assert received.keys() == state.keys() and all(torch.equal(received[key], state[key]) for key in state)


@pytest.mark.parametrize("content, message", [
    (b"not a torch file", "not InceptionV3 weights pygan can read safely"),
    ("list", "holds list, not a state dict of tensors"),
    ("other-keys", "not torch-fidelity's InceptionV3 weights"),
], ids=["garbage", "a-list", "other-tensors"])
def test_weights_that_are_not_inceptions_are_named(torch_fidelity, cache, content, message):
    weights = cache / "inception" / evaluation.INCEPTION_WEIGHTS
    if content == "list":
        torch.save([torch.zeros(2)], weights)
    elif content == "other-keys":
        torch.save({"fc.weight": torch.zeros(2, 2)}, weights)
    else:
        weights.write_bytes(content)
    with pytest.raises(PyganError, match=message):
        evaluation.inception_network(weights, torch.device("cpu"))


def test_a_torch_fidelity_that_cannot_be_imported_is_named_with_the_fix(torch_fidelity, cache):
    torch.save({"conv.weight": torch.zeros(1)}, cache / "inception" / evaluation.INCEPTION_WEIGHTS)
    (torch_fidelity / "feature_extractor_inceptionv3.py").write_text(textwrap.dedent('''
        raise RuntimeError("operator torchvision::nms does not exist")
    '''))
    with pytest.raises(PyganError, match="need torch-fidelity, and it cannot be imported \\(RuntimeError: operator "
                                         "torchvision::nms does not exist\\); .*torchvision that matches"):
        evaluation.inception_network(None, torch.device("cpu"))


# --- what a feature network returns -----------------------------------------------------

def draw(count, labels):
    return torch.rand(count, 3, 8, 8, generator=torch.Generator().manual_seed(count))


REAL = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(0))


def raises(images):
    raise ValueError("shapes do not match")


@pytest.mark.parametrize("features, message", [
    (lambda images: images.float().mean(dim=(1, 2, 3)), r"returned \(8,\) for 8 images"),
    (lambda images: {"pool": images.float().mean(dim=(2, 3))}, "returned dict for 8 images"),
    (lambda images: images.float().mean(), r"returned \(\) for 8 images"),
    (lambda images: torch.full((len(images), 4), float("nan")), "returned NaN or infinite features"),
    (raises, r"the feature network failed on 8 images \(ValueError: shapes do not match\)"),
    (lambda images: torch.ones(len(images), 4), "gives every real image the same features"),
], ids=["1-d", "dict", "scalar", "nan", "raises", "constant"])
def test_a_feature_network_returning_nonsense_is_named(features, message):
    with pytest.raises(PyganError, match=message):
        evaluation.feature_distances(draw, REAL, features, 8)


def test_one_real_image_is_too_few_to_compare_with_and_says_so():
    with pytest.raises(PyganError, match="the data set has 1 real image\\(s\\), and a comparison .* needs at least 2"):
        evaluation.feature_distances(draw, REAL[:1], lambda images: images.float().mean(dim=(2, 3)), 1)
