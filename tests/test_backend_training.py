"""The seed recipe trains the same with the fused kernel and with the
pure-torch reference: step for step, for the first 20 steps."""

import json

import pytest

from conftest import pygan_command, require_mnist


def train_20_steps(out, backend):
    result = pygan_command("train", "--plugin", "dcgan", "--data-dir", require_mnist(), "--steps", "20",
                           "--sample-every", "0", "--out", out, env={"PYGAN_OPS": backend})
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_losses_match_the_reference_backend_step_for_step(tmp_path):
    fused, reference = train_20_steps(tmp_path / "fused", "fused"), train_20_steps(tmp_path / "reference", "reference")
    assert len(fused) == len(reference) == 20
    assert fused[0] == pytest.approx(reference[0], rel=1e-6)
    for step_fused, step_reference in zip(fused, reference):
        # float32 rounding differs between the kernels, and training amplifies it:
        # RMSprop scales each update by its gradient's own size, and the game
        # feeds each network's change to the other. Recorded (tests/golden):
        # <2e-4 relative for steps 1-4, then up to 3.3% (step 7).
        bound = 1e-3 if step_fused["step"] <= 4 else 5e-2
        assert step_fused == pytest.approx(step_reference, rel=bound, abs=1e-6), step_fused["step"]
