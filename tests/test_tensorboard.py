"""--tensorboard logs metrics and grids, or says how to get TensorBoard."""

import sys
import types

import pytest
import torch

from pygan._config.registry import get_plugins
from pygan._config.resolve import resolve_config
from pygan._contracts.messages import UsageError
from pygan._files.atomic import WriteError
from pygan._training.runner import create_runner, prepare_out_dir


class RecordingWriter:
    def __init__(self, log_dir):
        self.log_dir, self.scalars, self.images, self.closed = log_dir, [], [], False

    def add_scalar(self, key, value, step):
        self.scalars.append((key, step))

    def add_image(self, tag, image, step, dataformats):
        self.images.append((tag, image.shape, step, dataformats))

    def close(self):
        self.closed = True


def tensorboard_trainer(tmp_path):
    plugins = get_plugins()
    config = resolve_config(plugins, {"plugin": "dcgan", "batch_size": 4, "steps": 2, "sample_every": 2,
                                      "checkpoint_every": 0, "tensorboard": True})
    prepare_out_dir(tmp_path, resuming=False)
    return create_runner(plugins, config, tmp_path, torch.rand(8, 1, 28, 28))


def test_metrics_and_grids_go_to_tensorboard(tmp_path, monkeypatch):
    writers = []
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = lambda log_dir: writers.append(RecordingWriter(log_dir)) or writers[-1]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    tensorboard_trainer(tmp_path).train()
    (writer,) = writers
    assert writer.log_dir == str(tmp_path / "tensorboard")
    assert ("d_loss", 1) in writer.scalars and ("g_acc", 2) in writer.scalars
    assert writer.images == [("samples", (4 * 30 - 2, 4 * 30 - 2, 1), 2, "HWC")]
    assert writer.closed


def test_without_tensorboard_installed_the_message_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.raises(UsageError, match=r"pip install 'pygan\[tensorboard\]'"):
        tensorboard_trainer(tmp_path).train()
    assert not (tmp_path / "config.json").exists()  # the folder can be used again


def test_a_tensorboard_folder_that_cannot_be_written_is_named(tmp_path, monkeypatch):
    def refuse(log_dir):
        raise NotADirectoryError(20, "Not a directory", log_dir)
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = refuse
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    with pytest.raises(WriteError, match=r"tensorboard.*Not a directory"):
        tensorboard_trainer(tmp_path).train()
