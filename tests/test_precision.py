"""--precision: mixed precision under autocast, with the fused operator."""

import pytest
import torch
from test_trainer import make_trainer

import pygan


def losses_of(tmp_path, precision, steps=3):
    trainer = make_trainer(tmp_path / precision, precision=precision)
    return [trainer.step() for _ in range(steps)]


def test_bf16_losses_stay_finite_and_close_to_float32(tmp_path):
    for full, mixed in zip(losses_of(tmp_path, "fp32"), losses_of(tmp_path, "bf16")):
        for key in ("d_loss", "g_loss"):
            assert torch.isfinite(torch.tensor(mixed[key]))
            assert mixed[key] == pytest.approx(full[key], rel=0.05, abs=0.02)


def test_the_fused_op_accepts_bfloat16_activations_under_autocast():
    x = torch.rand(2, 3, 8, 8, dtype=torch.bfloat16)
    weight, bias = torch.randn(4, 3, 3, 3), torch.randn(4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = pygan.ops.leaky_relu_conv2d(x, weight, bias, (1, 1), (1, 1, 1, 1), 0.2)
    expected = pygan.ops.reference.leaky_relu_conv2d(x.float(), weight, bias, (1, 1), (1, 1, 1, 1), 0.2)
    torch.testing.assert_close(out.float(), expected)


def test_fp16_is_refused_on_the_cpu(tmp_path):
    with pytest.raises(pygan.UsageError, match="--precision fp16 needs a CUDA device"):
        make_trainer(tmp_path, precision="fp16", device="cpu")
