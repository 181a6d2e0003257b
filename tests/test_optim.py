"""The device-side update: the fused RMSprop op against torch.optim.RMSprop,
its skip flag, the float16 loss scaler, and a training step that never
reads a value back to the host."""

from __future__ import annotations

import pytest
import torch
from conftest import DEVICES
from headed_plugin import headed_plugins
from pygan_plugins.optimizers import RMSprop

from pygan._config.registry import load_plugins
from pygan._config.resolve import resolve_config
from pygan._training import checkpoint
from pygan._training.data import load_data
from pygan._training.optim import LossScaler
from pygan._training.runner import create_runner, prepare_out_dir
from pygan.ops import reference

LR, DECAY, ALPHA, EPS = 1e-3, 0.5, 0.9, 1e-7


def fused(*args):
    torch.ops.pygan.rmsprop_step_(*args)


IMPLEMENTATIONS = {"fused": fused, "reference": reference.rmsprop_step_}


def parameters(device):
    """A channels-last conv weight (its gradient and average must follow its
    layout), a vector, a scalar, and a parameter of 70 tensors' worth of
    launches' size, so that the CUDA kernel's batches of tensors are crossed."""
    g = torch.Generator().manual_seed(0)
    shapes = [(64, 32, 5, 5), (7,), ()] + [(3, 5)] * 60
    tensors = [torch.randn(shape, generator=g) for shape in shapes]
    tensors[0] = tensors[0].contiguous(memory_format=torch.channels_last)
    return [t.to(device) for t in tensors]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_rmsprop_step_matches_torch_rmsprop_with_keras_time_decay(device, implementation):
    ours = parameters(device)
    theirs = [p.clone().requires_grad_() for p in ours]
    optimizer = torch.optim.RMSprop(theirs, lr=LR, alpha=ALPHA, eps=EPS)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda t: 1 / (1 + DECAY * t))
    square_avgs = [torch.zeros_like(p) for p in ours]
    updates = torch.zeros((), dtype=torch.int64, device=device)
    skip = torch.zeros((), dtype=torch.bool, device=device)
    g = torch.Generator().manual_seed(1)
    for _ in range(5):
        grads = [torch.randn(p.shape, generator=g).to(device).contiguous(memory_format=torch.preserve_format)
                 for p in ours]
        grads[0] = grads[0].contiguous(memory_format=torch.channels_last)
        for param, grad in zip(theirs, grads):
            param.grad = grad.clone()
        optimizer.step()
        schedule.step()
        IMPLEMENTATIONS[implementation](ours, grads, square_avgs, updates, skip, LR, DECAY, ALPHA, EPS)
    assert updates.item() == 5
    assert ours[0].is_contiguous(memory_format=torch.channels_last)
    for mine, expected in zip(ours, theirs):
        # float32 rounding only: a few ulps of the weights (about 1).
        torch.testing.assert_close(mine, expected.detach(), rtol=1e-6, atol=1e-6)
    for mine, param in zip(square_avgs, theirs):
        torch.testing.assert_close(mine, optimizer.state[param]["square_avg"], rtol=1e-6, atol=0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_a_skipped_step_changes_nothing_even_with_nonfinite_gradients(device, implementation):
    params = parameters(device)
    before = [p.clone() for p in params]
    square_avgs = [torch.full_like(p, 0.5) for p in params]
    updates = torch.tensor(3, device=device)
    grads = [torch.full_like(p, float("nan")) for p in params]
    IMPLEMENTATIONS[implementation](params, grads, square_avgs, updates, torch.tensor(True, device=device),
                                    LR, DECAY, ALPHA, EPS)
    assert all(map(torch.equal, params, before))
    assert all((v == 0.5).all() for v in square_avgs)
    assert updates.item() == 3


def test_the_op_passes_opcheck():
    params = [p.clone() for p in parameters("cpu")[:3]]
    args = (params, [torch.randn_like(p) for p in params], [torch.rand_like(p) for p in params],
            torch.tensor(2), torch.tensor(False), LR, DECAY, ALPHA, EPS)
    torch.library.opcheck(torch.ops.pygan.rmsprop_step_, args)


@pytest.mark.parametrize("problem, message", [
    (lambda p, g, v: (p, g[:1], v), "got 2 parameters, 1 gradients and 2 square averages"),
    (lambda p, g, v: ([p[0].double(), p[1]], g, v), "parameter 0 is Double on cpu; expected float32"),
    (lambda p, g, v: (p, [g[0].contiguous(memory_format=torch.channels_last), g[1]], v),
     "the gradient of parameter 0 .* does not match the parameter"),
    (lambda p, g, v: (p, g, [v[0], v[1][:2]]), "the square average of parameter 1 .* does not match"),
])
def test_bad_arguments_are_named(problem, message):
    params = [torch.randn(4, 3, 2, 2), torch.randn(3)]
    grads, square_avgs = [torch.randn_like(p) for p in params], [torch.zeros_like(p) for p in params]
    with pytest.raises(RuntimeError, match=message):
        fused(*problem(params, grads, square_avgs), torch.tensor(0), torch.tensor(False), LR, DECAY, ALPHA, EPS)


def test_the_update_count_and_skip_flag_must_be_one_element_tensors():
    params = [torch.randn(3)]
    with pytest.raises(RuntimeError, match="updates must be a one-element int64 tensor"):
        fused(params, [torch.randn(3)], [torch.zeros(3)], torch.tensor(0.0), torch.tensor(False), LR, DECAY,
              ALPHA, EPS)
    with pytest.raises(RuntimeError, match="skip must be a one-element bool tensor"):
        fused(params, [torch.randn(3)], [torch.zeros(3)], torch.tensor(0), torch.tensor(0), LR, DECAY, ALPHA, EPS)


def test_rmsprop_state_round_trips_into_the_same_tensors():
    param = torch.nn.Parameter(torch.randn(5))
    optimizer = RMSprop([param], lr=LR, decay=DECAY)
    param.grad = torch.randn(5)
    optimizer.step(torch.tensor(False))
    saved = optimizer.state_dict()
    other = RMSprop([torch.nn.Parameter(torch.randn(5))], lr=LR, decay=DECAY)
    square_avg = other.square_avgs[0]
    other.load_state_dict(saved)
    assert other.square_avgs[0] is square_avg and torch.equal(square_avg, optimizer.square_avgs[0])
    assert other.updates.item() == 1
    assert other.current_lr().item() == pytest.approx(LR / (1 + DECAY))


def test_the_loss_scaler_halves_its_scale_on_overflow_and_unscales_otherwise():
    scaler = LossScaler(torch.device("cpu"), enabled=True)
    scale = scaler.scale.item()
    grads = [torch.full((3,), scale * 0.25)]
    overflowed = scaler.unscale_(grads)
    assert not overflowed.item() and torch.equal(grads[0], torch.full((3,), 0.25))
    scaler.update(overflowed)
    assert scaler.scale.item() == scale
    overflowed = scaler.unscale_([torch.tensor([1.0, float("inf")])])
    assert overflowed.item()
    scaler.update(overflowed)
    assert scaler.scale.item() == scale / 2


def test_a_disabled_loss_scaler_leaves_losses_and_gradients_alone_but_still_checks_them():
    scaler = LossScaler(torch.device("cpu"), enabled=False)
    loss = torch.tensor(3.0)
    assert scaler.scaled(loss) is loss
    grads = [torch.tensor([0.1, 2.0])]
    assert not scaler.unscale_(grads).item() and torch.equal(grads[0], torch.tensor([0.1, 2.0]))
    assert scaler.unscale_([torch.tensor([float("nan")])]).item()


class HostReadError(AssertionError):
    pass


def refuse_host_reads(monkeypatch):
    """Make every way Python reads a tensor's value back an error: what would
    stall a GPU's queue, or break CUDA graph capture."""
    def refuse(name):
        def read(self, *args, **kwargs):
            raise HostReadError(f"Tensor.{name}() during a training step")
        return read
    for name in ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "numpy", "cpu"):
        monkeypatch.setattr(torch.Tensor, name, refuse(name))


# Every built-in recipe, with the options that change what a step does.
NO_SYNC_CASES = [
    {"recipe": "alternating"},
    {"recipe": "alternating", "loss": "wgan-gp", "d_steps": 2},
    {"recipe": "alternating", "loss": "nonsaturating", "penalty": "r1", "ema": 0.9},
    {"recipe": "alternating", "precision": "bf16", "skip_nonfinite": True},
    {"recipe": "alternating", "optimizer_d": "adam", "optimizer_g": "adam", "clip_weights": 0.01},
    {"recipe": "alternating", "plugin": "headed", "penalty": "gp"},  # labels, codes, auxiliary heads
    {"recipe": "wgan", "plugin": "wgan"},  # separate real and fake updates, clipping deferred to each pair
    # dcgan64's step, with every discriminator regulariser
    {"recipe": "separate", "plugin": "dcgan64", "resolution": 32, "penalty": "r1", "spectral_norm": True,
     "augment": ["translation", "cutout", "color"]},
    # StyleGAN2's main phases with style mixing and the ramped-up average (its regularisation phases:
    # tests/test_stylegan2_training.py)
    {"recipe": "stylegan2", "plugin": "stylegan2", "resolution": 8, "channel_base": 64, "channel_max": 16,
     "mapping_layers": 2, "mirror": True},
    # ADA with every transform, its controller fed by each recipe; R1 through its second derivative
    {"recipe": "separate", "plugin": "dcgan64", "resolution": 32, "penalty": "r1", "augment": ["ada"],
     "ada_pipeline": "bgcfnc"},
    {"recipe": "alternating", "loss": "nonsaturating", "penalty": "r1", "augment": ["ada"]},
    {"recipe": "wgan", "plugin": "wgan", "augment": ["ada"], "ada_kimg": 0.01},
]


def test_the_no_sync_cases_cover_every_builtin_recipe():
    plugins = load_plugins()
    builtin_plugins = {info.name for info in plugins.loaded if info.distribution == "pygan"}
    builtin = {name for name in plugins.registered["recipe"] if plugins.owner("recipe", name) in builtin_plugins}
    assert builtin <= {case["recipe"] for case in NO_SYNC_CASES}


@pytest.mark.parametrize("options", NO_SYNC_CASES)
def test_a_training_step_reads_nothing_back_to_the_host(tmp_path, options):
    plugins = headed_plugins()
    options = {"plugin": "dcgan", **options}
    config = resolve_config(plugins, {"batch_size": 4, "sync_every": 8, **options})
    prepare_out_dir(tmp_path, resuming=False)
    data = load_data(plugins.dataset(config["dataset"]), None, plugins.architecture(config["plugin"]),
                     torch.device("cpu")) if options["plugin"] == "headed" else torch.rand(
                         16, *{"dcgan64": (3, 32, 32), "stylegan2": (3, 8, 8)}.get(options["plugin"], (1, 28, 28)))
    trainer = create_runner(plugins, config, tmp_path, data)
    trainer.enqueue_step()  # the first step allocates lazily
    before = [p.detach().clone() for p in trainer.run.generator.parameters()]
    with pytest.MonkeyPatch.context() as patch:
        refuse_host_reads(patch)
        for _ in range(2):
            trainer.enqueue_step()
    reports = trainer.read_metrics()
    assert [step for step, _, _ in reports] == [1, 2, 3]
    assert all(problem is None for _, _, problem in reports)
    assert all(problem is None for _, _, problem in reports)
    assert not all(map(torch.equal, before, trainer.run.generator.parameters()))  # the patched steps trained


def test_the_checkpoint_format_holds_the_device_side_state(tmp_path):
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "batch_size": 4, "steps": 2, "sample_every": 0})
    prepare_out_dir(tmp_path, resuming=False)
    trainer = create_runner(plugins, config, tmp_path, torch.rand(16, 1, 28, 28))
    trainer.train()
    state = checkpoint.load(tmp_path)
    assert state["format_version"] == checkpoint.FORMAT_VERSION
    assert state["engine"]["optimizers"]["discriminator"]["updates"].item() == 2 and state["engine"]["skipped_updates"].item() == 0
    assert set(state["engine"]["scalers"]["generator"]) == {"scale", "growth_tracker"}


def test_running_more_steps_than_the_metrics_buffer_holds_is_refused(tmp_path):
    plugins = load_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "batch_size": 4, "sync_every": 2})
    prepare_out_dir(tmp_path, resuming=False)
    trainer = create_runner(plugins, config, tmp_path, torch.rand(16, 1, 28, 28))
    trainer.enqueue_step()
    trainer.enqueue_step()
    with pytest.raises(RuntimeError, match="are not read yet"):
        trainer.enqueue_step()
    assert [step for step, _, _ in trainer.read_metrics()] == [1, 2]
    trainer.enqueue_step()
    assert trainer.step_count == 3
