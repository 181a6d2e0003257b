"""Importing NVlabs' network pickles (stylegan2-ada-pytorch's and stylegan3's
network-snapshot-*.pkl) without running anything in them.

The pickles are written here, in NVlabs' layout (a fact: each network a call
of torch_utils.persistence._reconstruct_persistent_obj with its module's
source text, class name, constructor arguments and state; tensors through
torch's own reduction), from pygan's networks with random weights under
NVlabs' state-dict keys; NVlabs' code itself is neither here nor run. The
module source written into them would create a marker folder if it ran.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

import pygan
from pygan._commands import cli
from pygan_plugins.stylegan2 import nvlabs, pickles, snapshot
from pygan_plugins.stylegan2.discriminator import Discriminator
from pygan_plugins.stylegan2.generator import Generator

Z_DIM, CLASSES, RESOLUTION = 8, 2, 8
SYNTHESIS = dict(channel_base=64, channel_max=16, num_fp16_res=2, conv_clamp=256)
G_KWARGS = dict(z_dim=Z_DIM, c_dim=CLASSES, w_dim=8, img_resolution=RESOLUTION, img_channels=3,
                mapping_kwargs=dict(num_layers=2), synthesis_kwargs=SYNTHESIS)
D_KWARGS = dict(c_dim=CLASSES, img_resolution=RESOLUTION, img_channels=3, architecture="resnet", channel_base=64,
                channel_max=16, num_fp16_res=2, conv_clamp=256, block_kwargs={}, mapping_kwargs={},
                epilogue_kwargs=dict(mbstd_group_size=2))
NVLABS_CLASS = {"FullyConnected": "FullyConnectedLayer"}  # pygan's other classes carry NVlabs' names
BUFFERS = {"w_avg", "noise_const", nvlabs.FILTER_BUFFER}


def nvlabs_source(marker, w_avg_beta=0.995, conv_clamp=None):
    """Module source text as NVlabs' pickles carry it: code that would make
    ``marker`` if it ran, and the defaults pygan reads from it."""
    return (f"import os\nos.makedirs({str(marker)!r})\n"
            f"class MappingNetwork:\n    def __init__(self, z_dim, w_avg_beta={w_avg_beta!r}): pass\n"
            f"class SynthesisBlock:\n    def __init__(self, in_channels, conv_clamp={conv_clamp!r}): pass\n"
            f"class Discriminator:\n    def __init__(self, c_dim, conv_clamp={conv_clamp!r}): pass\n")


@pytest.fixture
def nvlabs_names(monkeypatch):
    """The two modules NVlabs' pickles name, as stand-ins, so that pickle can
    write references to them; pygan's reader must never call them."""
    called = []
    persistence = types.ModuleType("torch_utils.persistence")
    util = types.ModuleType("dnnlib.util")

    def _reconstruct_persistent_obj(meta):
        called.append(meta)

    class EasyDict(dict):
        pass

    _reconstruct_persistent_obj.__module__ = persistence.__name__
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    EasyDict.__module__, EasyDict.__qualname__ = util.__name__, "EasyDict"
    persistence._reconstruct_persistent_obj, util.EasyDict = _reconstruct_persistent_obj, EasyDict
    for name, module in (("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                         ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)):
        monkeypatch.setitem(sys.modules, name, module)
    yield types.SimpleNamespace(persistence=persistence, EasyDict=EasyDict)
    assert not called


class Persistent:
    """Pickles as NVlabs' persistent objects do."""

    def __init__(self, reconstruct, meta):
        self.reconstruct, self.meta = reconstruct, meta

    def __reduce__(self):
        return self.reconstruct, (self.meta,)


def nvlabs_state(network):
    """``network``'s state dict under NVlabs' keys, with the filters NVlabs saves."""
    own = network.state_dict()
    return {**{theirs: own[ours] for ours, theirs in nvlabs.nvlabs_key_map(network).items()},
            **nvlabs.nvlabs_filters(network)}


def as_persistent(names, network, kwargs, source):
    """``network`` in NVlabs' pickled layout: one persistent object per module."""
    flat = nvlabs_state(network)
    modules = dict(nvlabs._walk(network))  # NVlabs' prefix -> pygan's module

    def direct(prefix, names_):
        return {name[len(prefix):]: name for name in names_
                if name.startswith(prefix) and name != prefix and "." not in name[len(prefix):].rstrip(".")}

    def build(prefix):
        module = modules[prefix]
        tensors = {name: flat[key] for name, key in direct(prefix, flat).items()}
        children = {name.rstrip("."): build(key) for name, key in direct(prefix, modules).items()}
        state = {
            "training": False,
            "_parameters": collections.OrderedDict(
                (name, torch.nn.Parameter(value.clone(), requires_grad=False))
                for name, value in tensors.items() if name not in BUFFERS),
            "_buffers": collections.OrderedDict((name, value.clone()) for name, value in tensors.items()
                                                if name in BUFFERS),
            "_non_persistent_buffers_set": set(),
            "_modules": collections.OrderedDict(children),
            "_forward_hooks": collections.OrderedDict(),
            "weight_gain": np.float64(0.125),  # NVlabs' layers keep their gains as numpy scalars
            "_init_args": (),
            "_init_kwargs": names.EasyDict({key: names.EasyDict(value) if isinstance(value, dict) else value
                                            for key, value in (kwargs if prefix == "" else {}).items()}),
        }
        meta = dict(type="class", version=6, module_src=source, state=state,
                    class_name=NVLABS_CLASS.get(type(module).__name__, type(module).__name__))
        return Persistent(names.persistence._reconstruct_persistent_obj, meta)

    return build("")


def random_networks(seed=0, g_kwargs=G_KWARGS, d_kwargs=D_KWARGS):
    """G, D and G_ema with every weight moved off its initial value."""
    torch.manual_seed(seed)
    networks = {"G": Generator(**copy.deepcopy(g_kwargs)), "D": Discriminator(**copy.deepcopy(d_kwargs))}
    networks["G_ema"] = copy.deepcopy(networks["G"])
    with torch.no_grad():
        for module in networks.values():
            for tensor in list(module.parameters()) + [b for n, b in module.named_buffers() if n.endswith("w_avg")]:
                tensor.add_(torch.randn_like(tensor) * 0.3)
    return networks


def write_snapshot(path, names, networks, source, g_kwargs=G_KWARGS, d_kwargs=D_KWARGS, protocol=4, **extra):
    snapshot_data = {"training_set_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "path": "x.zip",
                                             "use_labels": True, "resolution": RESOLUTION}}
    for name, network in networks.items():
        snapshot_data[name] = as_persistent(names, network, g_kwargs if name != "D" else d_kwargs, source)
    snapshot_data.update(extra)
    with open(path, "wb") as stream:
        pickle.dump(snapshot_data, stream, protocol=protocol)
    return path


def labels(n):
    return torch.nn.functional.one_hot(torch.arange(n) % CLASSES, CLASSES).float()


@pytest.mark.parametrize("protocol", [3, 4])  # 3: Python 3.7's default, which NVlabs' README asks for
def test_networks_import_with_their_weights_and_nothing_runs(tmp_path, nvlabs_names, protocol):
    marker = tmp_path / "source-ran"
    networks = random_networks()
    path = write_snapshot(tmp_path / "network-snapshot-000040.pkl", nvlabs_names, networks, nvlabs_source(marker),
                          protocol=protocol)
    records = pickles.read_snapshot(path)
    assert sorted(records) == ["D", "G", "G_ema"]
    imported = {name: snapshot.build_network(name, record, str(path)) for name, record in records.items()}
    assert not marker.exists()
    for name, module in imported.items():  # every tensor, by pygan's keys
        expected = networks[name].state_dict()
        assert module.state_dict().keys() == expected.keys()
        for key, value in module.state_dict().items():
            assert torch.equal(value, expected[key]), (name, key)
    z = torch.randn(4, Z_DIM, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        theirs = networks["G_ema"].eval()(z, labels(4), noise_mode="const")
        ours = imported["G_ema"](z, labels(4), noise_mode="const")
        assert not torch.allclose(ours, imported["G"](z, labels(4), noise_mode="const"))  # G_ema is not G
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)
        torch.testing.assert_close(imported["D"](ours, labels(4)), networks["D"].eval()(theirs, labels(4)),
                                   rtol=0, atol=1e-6)


def test_defaults_left_out_come_from_the_pickles_own_source(tmp_path, nvlabs_names):
    """stylegan3's copy of StyleGAN2 tracks w with beta 0.998 and clamps at
    256 by default, stylegan2-ada-pytorch's with 0.995 and no clamp: a
    snapshot that leaves them out gets its own source's."""
    g_kwargs = {k: v for k, v in G_KWARGS.items() if k != "synthesis_kwargs"}
    g_kwargs.update({k: v for k, v in SYNTHESIS.items() if k != "conv_clamp"})  # stylegan3 passes them flat
    d_kwargs = {k: v for k, v in D_KWARGS.items() if k != "conv_clamp"}
    for w_avg_beta, conv_clamp in ((0.998, 256), (0.995, None)):
        source = nvlabs_source(tmp_path / "ran", w_avg_beta, conv_clamp)
        networks = random_networks(g_kwargs={**g_kwargs, "mapping_kwargs": {"num_layers": 2, "w_avg_beta": w_avg_beta},
                                             "conv_clamp": conv_clamp},
                                   d_kwargs={**d_kwargs, "conv_clamp": conv_clamp})
        path = write_snapshot(tmp_path / f"{w_avg_beta}.pkl", nvlabs_names, networks, source, g_kwargs, d_kwargs)
        records = pickles.read_snapshot(path)
        generator = snapshot.build_network("G", records["G"], str(path))
        discriminator = snapshot.build_network("D", records["D"], str(path))
        assert generator.mapping.w_avg_beta == w_avg_beta
        assert generator.synthesis.blocks["8"].conv.conv_clamp == conv_clamp
        assert discriminator.epilogue.conv.conv_clamp == conv_clamp
    assert not (tmp_path / "ran").exists()


def refusal(path):
    with pytest.raises(pygan.UsageError) as caught:
        records = pickles.read_snapshot(path)
        for name, record in records.items():
            snapshot.build_network(name, record, str(path))
    return str(caught.value)


class Shell:
    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_code_in_a_pickle_is_refused_and_never_runs(tmp_path, nvlabs_names):
    marker = tmp_path / "system-ran"
    path = write_snapshot(tmp_path / "evil.pkl", nvlabs_names, random_networks(), nvlabs_source(tmp_path / "ran"),
                          training_set_kwargs=Shell(f"touch {marker}"))
    message = refusal(path)
    assert f"{os.system.__module__}.system" in message and "nothing of it was run" in message
    assert not marker.exists() and not (tmp_path / "ran").exists()


def test_other_globals_persistent_ids_and_extra_objects_are_refused(tmp_path, nvlabs_names):
    networks = random_networks()
    source = nvlabs_source(tmp_path / "ran")
    cases = {
        "collections.Counter": write_snapshot(tmp_path / "global.pkl", nvlabs_names, networks, source,
                                              augment_pipe=collections.Counter("ab")),
        "torch.nn.modules.linear.Linear": write_snapshot(tmp_path / "module.pkl", nvlabs_names, networks, source,
                                                         augment_pipe=torch.nn.Linear(1, 1)),
        "'payload'": write_snapshot(tmp_path / "extra.pkl", nvlabs_names, networks, source, payload=[1, 2]),
    }
    for culprit, path in cases.items():
        assert culprit in refusal(path), culprit

    class WithPersistentId(pickle.Pickler):
        def persistent_id(self, obj):
            return "storage-0" if isinstance(obj, list) else None

    path = tmp_path / "persistent-id.pkl"
    with open(path, "wb") as stream:
        WithPersistentId(stream).dump({"G": [1]})
    assert "persistent id" in refusal(path)


def test_damaged_files_and_other_networks_are_refused(tmp_path, nvlabs_names):
    source = nvlabs_source(tmp_path / "ran")
    whole = write_snapshot(tmp_path / "whole.pkl", nvlabs_names, random_networks(), source).read_bytes()
    (tmp_path / "cut.pkl").write_bytes(whole[:len(whole) // 2])
    assert "truncated" in refusal(tmp_path / "cut.pkl")
    (tmp_path / "text.pkl").write_text("not a pickle at all\n")
    assert "not a pickle" in refusal(tmp_path / "text.pkl")
    assert "does not exist" in refusal(tmp_path / "missing.pkl")

    # stylegan3's alias-free generator: a SynthesisInput among its modules
    networks = {"G": random_networks()["G"]}
    record = as_persistent(nvlabs_names, networks["G"], G_KWARGS, source)
    record.meta["state"]["_modules"]["synthesis"].meta["state"]["_modules"]["input"] = Persistent(
        nvlabs_names.persistence._reconstruct_persistent_obj,
        dict(type="class", version=6, module_src=source, class_name="SynthesisInput",
             state={"_parameters": {}, "_buffers": {}, "_modules": {}}))
    with open(tmp_path / "sg3.pkl", "wb") as stream:
        pickle.dump({"G": record}, stream)
    assert "StyleGAN3 generator" in refusal(tmp_path / "sg3.pkl")

    # modules nested deeper than any network (a hand-made pickle may nest them past any recursion limit)
    nested = current = as_persistent(nvlabs_names, networks["G"], G_KWARGS, source)
    for _ in range(100):
        child = Persistent(nvlabs_names.persistence._reconstruct_persistent_obj,
                           dict(type="class", version=6, module_src="", class_name="SynthesisLayer",
                                state={"_parameters": {}, "_buffers": {}, "_modules": {}}))
        current.meta["state"]["_modules"]["deeper"] = child
        current = child
    with open(tmp_path / "nested.pkl", "wb") as stream:
        pickle.dump({"G": nested}, stream)
    assert "nest deeper than StyleGAN2's" in refusal(tmp_path / "nested.pkl")

    # constructor arguments pygan's networks do not take
    unknown = {**G_KWARGS, "mapping_kwargs": {"num_layers": 2, "fancy": 1}}
    write_snapshot(tmp_path / "kwargs.pkl", nvlabs_names, {"G": networks["G"]}, source, g_kwargs=unknown)
    assert "fancy" in refusal(tmp_path / "kwargs.pkl")
    # numbers that would make building the network take all the time or memory there is
    deep = {**G_KWARGS, "mapping_kwargs": {"num_layers": 10 ** 9}}
    write_snapshot(tmp_path / "deep.pkl", nvlabs_names, {"G": networks["G"]}, source, g_kwargs=deep)
    assert "mapping_kwargs.num_layers is 1000000000" in refusal(tmp_path / "deep.pkl")
    negative = {**G_KWARGS, "synthesis_kwargs": {**SYNTHESIS, "channel_max": -4}}
    write_snapshot(tmp_path / "negative.pkl", nvlabs_names, {"G": networks["G"]}, source, g_kwargs=negative)
    assert "does not take its constructor arguments" in refusal(tmp_path / "negative.pkl")
    assert not (tmp_path / "ran").exists()


# A configuration stylegan2's options describe: --preset auto at 8x8 (two mapping layers, minibatch groups of 4)
# with --classes 2 --channel-base 64 --channel-max 16.
RUN_G_KWARGS = {**G_KWARGS, "z_dim": 512, "w_dim": 512}
RUN_D_KWARGS = {**D_KWARGS, "epilogue_kwargs": dict(mbstd_group_size=4)}


def import_nvlabs(path, out, capsys):
    status = cli.main(["import-nvlabs", str(path), "--out", str(out)])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return status, captured


def test_import_nvlabs_writes_a_stylegan2_run_that_samples_and_loads(tmp_path, nvlabs_names, capsys):
    networks = random_networks(g_kwargs=RUN_G_KWARGS, d_kwargs=RUN_D_KWARGS)
    path = write_snapshot(tmp_path / "network-snapshot-000040.pkl", nvlabs_names, networks,
                          nvlabs_source(tmp_path / "ran"), RUN_G_KWARGS, RUN_D_KWARGS)
    status, captured = import_nvlabs(path, tmp_path / "run", capsys)
    assert status == 0, captured.err
    assert "--preset auto --resolution 8 --channels 3 --classes 2 --channel-base 64 --channel-max 16" in captured.out
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["plugin"], config["classes"], config["channel_base"]) == ("stylegan2", 2, 64)
    run = pygan.load(tmp_path / "run")
    saved = torch.load(run.path, weights_only=True)["networks"]
    for name, network in (("G", "generator"), ("G_ema", "generator_ema"), ("D", "discriminator")):
        for key, value in networks[name].state_dict().items():
            assert torch.equal(saved[network][key], value), (name, key)
    z = torch.randn(4, 512, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # what pygan draws with: G_ema, constant noise in inference mode
        torch.testing.assert_close(run.generator(z, labels(4)),
                                   networks["G_ema"].eval()(z, labels(4), noise_mode="const"), rtol=0, atol=1e-6)
    assert run.sample(3, seed=0, classes=1).shape == (3, 3, 8, 8)
    # truncation pulls w towards its tracked average: at psi 0 every latent, of any class, is the average
    average = run.sample(4, seed=0, truncation=0)
    assert torch.allclose(average, average[:1].expand(4, -1, -1, -1), atol=1e-6)
    assert not torch.allclose(run.sample(4, seed=0, truncation=1), average, atol=1e-3)
    assert torch.equal(run.sample(4, seed=0, truncation=1), run.sample(4, seed=0))
    for options in ([], ["--truncation", "0.7"]):
        assert cli.main(["sample", "--checkpoint", str(tmp_path / "run"), "--n", "4", "--class", "1",
                         "--out", str(tmp_path / "grid.png"), *options]) == 0
    assert (tmp_path / "grid.png").exists() and not (tmp_path / "ran").exists()


def test_import_nvlabs_refuses_hostile_damaged_and_foreign_pickles(tmp_path, nvlabs_names, capsys):
    networks = random_networks(g_kwargs=RUN_G_KWARGS, d_kwargs=RUN_D_KWARGS)
    source = nvlabs_source(tmp_path / "ran")
    marker = tmp_path / "system-ran"

    def snapshot_file(name, g_kwargs=RUN_G_KWARGS, networks=networks, **extra):
        return write_snapshot(tmp_path / name, nvlabs_names, networks, source, g_kwargs, RUN_D_KWARGS, **extra)

    whole = snapshot_file("whole.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(whole[:len(whole) * 2 // 3])
    (tmp_path / "text.pkl").write_text("G = 'not a pickle'\n")
    tiny = random_networks()  # z and w of 8: no stylegan2 run of pygan has them
    cases = {
        snapshot_file("system.pkl", augment_pipe=Shell(f"touch {marker}")): f"{os.system.__module__}.system",
        snapshot_file("global.pkl", augment_pipe=collections.Counter("ab")): "collections.Counter",
        snapshot_file("extra.pkl", payload={"x": 1}): "'payload'",
        tmp_path / "cut.pkl": "truncated",
        tmp_path / "text.pkl": "not a pickle",
        snapshot_file("tiny.pkl", G_KWARGS, tiny): "generator z_dim: 8 in the snapshot, 512 in pygan's",
    }
    for number, (path, culprit) in enumerate(cases.items()):
        status, captured = import_nvlabs(path, tmp_path / f"run{number}", capsys)
        assert status == 2 and culprit in captured.err and str(path) in captured.err, (path, captured.err)
        assert not (tmp_path / f"run{number}" / "config.json").exists()
    assert not marker.exists() and not (tmp_path / "ran").exists()
