"""dcgan trains exactly as it did before the 0.2 core (engine, recipes,
options as plugins): 20 steps at seed 0 give, bit for bit, the metrics and
weights recorded on main before the refactoring (tests/golden/record.py).

Bit-exact results hold for one machine kind and torch release; the golden
file says which torch recorded it.
"""

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch

from conftest import require_mnist
from golden.record import BACKENDS, record_run, train_command

from pygan import checkpoint

GOLDEN = Path(__file__).parent / "golden" / "dcgan-seed0.json"


@pytest.mark.parametrize("backend", BACKENDS)
def test_dcgan_trains_bit_for_bit_as_before_the_refactoring(backend, tmp_path):
    golden = json.loads(GOLDEN.read_text())
    if golden["torch"] != torch.__version__:
        pytest.skip(f"the golden run was recorded with torch {golden['torch']}, not {torch.__version__}")
    out = tmp_path / "run"
    result = subprocess.run(train_command(require_mnist(), out), capture_output=True, text=True,
                            env={**os.environ, "PYGAN_OPS": backend})
    assert result.returncode == 0, result.stderr
    state = checkpoint.load(out)
    recorded = record_run(out, {name: state["networks"][name] for name in ("generator", "discriminator")})
    expected = golden["runs"][backend]
    assert recorded["metrics"] == expected["metrics"]
    for network, tensors in expected["networks"].items():
        for name, fingerprint in tensors.items():
            assert recorded["networks"][network][name] == fingerprint, f"{network}.{name} differs"
