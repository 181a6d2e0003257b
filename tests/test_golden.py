"""dcgan trains exactly as recorded: 20 steps at seed 0 give, bit for bit,
the metrics and weights of tests/golden/dcgan-seed0.json, and with
--batchnorm-statistics zero-debiased those of
dcgan-seed0-zero-debiased.json (see tests/golden/record.py for their
history). The default stays within float32 rounding of what main trained
before the 0.2 core (dcgan-seed0-main-0.1.json), whose generator had
PyTorch's BatchNorm: the plain moving averages of TensorFlow 2's Keras, which
the seed's program runs.

Bit-exact results hold for one machine kind and torch release; the golden
file says which torch recorded it.
"""

import json
from pathlib import Path

import pytest
import torch
from conftest import require_mnist
from golden.record import BACKENDS, GOLDENS, train_and_record

GOLDEN = Path(__file__).parent / "golden"
DEFAULT, ZERO_DEBIASED = GOLDENS


@pytest.fixture(scope="module", params=[(name, backend) for name in GOLDENS for backend in BACKENDS],
                ids=lambda param: "-".join(param))
def recorded(request):
    name, backend = request.param
    return name, backend, train_and_record(require_mnist(), backend, GOLDENS[name])


def golden(name):
    record = json.loads((GOLDEN / name).read_text())
    if record["torch"] != torch.__version__:
        pytest.skip(f"{name} was recorded with torch {record['torch']}, not {torch.__version__}")
    return record


def test_dcgan_trains_bit_for_bit_as_recorded(recorded):
    name, backend, run = recorded
    expected = golden(name)["runs"][backend]
    assert run["metrics"] == expected["metrics"]
    for network, tensors in expected["networks"].items():
        for name, fingerprint in tensors.items():
            assert run["networks"][network][name] == fingerprint, f"{network}.{name} differs"


def test_dcgan_trains_as_main_did_before_the_0_2_core_up_to_float32_rounding(recorded):
    name, backend, run = recorded
    if name != DEFAULT:
        pytest.skip("main before the 0.2 core had the plain moving statistics only")
    before = golden("dcgan-seed0-main-0.1.json")["runs"][backend]["metrics"]
    assert len(run["metrics"]) == len(before) == 20
    # The exact-size transposed convolutions changed float32 rounding since;
    # RMSprop, which scales each update by its gradient's own size, amplifies
    # it (1.3e-3 relative at most when recorded).
    for step, expected in zip(run["metrics"], before):
        assert step == pytest.approx(expected, rel=5e-3, abs=1e-6)


def test_dcgan_stays_within_float32_rounding_of_the_previous_recording(recorded):
    # A change that only moves float32 rounding (record.py keeps the last
    # recording's metrics): the first step within 1e-5, the first four, which
    # RMSprop and the game amplify rounding through, within 1e-3.
    name, backend, run = recorded
    before = golden(name)["previous"]["runs"][backend]
    assert run["metrics"][0] == pytest.approx(before[0], rel=1e-5, abs=1e-7)
    for step, expected in zip(run["metrics"][:4], before[:4]):
        assert step == pytest.approx(expected, rel=1e-3, abs=1e-6), step["step"]


def test_the_default_golden_is_the_plain_mode_and_the_other_the_zero_debiased_one():
    # The zero-debiased generator alone keeps TensorFlow's shadow averages.
    for name, shadows in ((DEFAULT, False), (ZERO_DEBIASED, True)):
        for backend, run in json.loads((GOLDEN / name).read_text())["runs"].items():
            names = run["networks"]["generator"]
            assert any(key.endswith(("biased_mean", "biased_var")) for key in names) is shadows, (name, backend)
    # The two modes normalise the first step's fakes alike and part after it.
    default, debiased = (json.loads((GOLDEN / name).read_text())["runs"]["fused"]["metrics"] for name in GOLDENS)
    assert default[0] == debiased[0] and default[1]["d_loss"] != pytest.approx(debiased[1]["d_loss"], rel=1e-2)
