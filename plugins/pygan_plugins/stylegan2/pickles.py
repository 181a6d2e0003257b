"""Reading NVlabs' network pickles (stylegan2-ada-pytorch's and stylegan3's
``network-snapshot-*.pkl``) without running anything in them.

NVlabs' training loop pickles a dict: ``G``, ``D``, ``G_ema``,
``augment_pipe`` and ``training_set_kwargs``. Their ``torch_utils.persistence``
pickles each network module as a call of
``torch_utils.persistence._reconstruct_persistent_obj(meta)``, where ``meta``
holds the source text of the module defining the class (``module_src``),
which ``pickle.load`` would execute, the ``class_name``, the format
``version`` (6) and the object's ``state``: its ``__dict__``, with the
parameters, buffers and child modules (persistent objects themselves) and
the constructor's ``_init_args`` and ``_init_kwargs``. Tensors are
``torch._utils._rebuild_tensor_v2`` calls on storages that
``torch.storage._load_from_bytes`` reads from a ``torch.save`` of each.

``read_snapshot`` unpickles with every global refused except the few this
layout needs, each replaced by a function of pygan's that builds inert data:
a persistent object becomes a ``Persisted`` record (its source kept as text,
never executed), a tensor's storage is read by ``torch.load(...,
weights_only=True)``, numpy's float scalars (NVlabs' layers keep their gains
as ``numpy.float64``) become Python numbers. Anything else (``os.system``, a
class of NVlabs' or anyone's, a persistent id) stops the reading at once
with ``PickleRefused``, naming it: nothing of it has run.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

import pygan

PERSISTENCE_VERSION = 6  # torch_utils.persistence's format, in both repositories
SNAPSHOT_NETWORKS = ("G", "D", "G_ema")
# What else NVlabs' snapshots hold: read as data, never imported.
SNAPSHOT_EXTRAS = ("augment_pipe", "training_set_kwargs")
# numpy dtypes of the scalars a module's attributes may hold: numbers only.
NUMPY_SCALAR_KINDS = "biuf"


class PickleRefused(pygan.UsageError):
    """A file that is not an NVlabs network pickle pygan reads: it names the
    file and what was refused."""


@dataclasses.dataclass
class Persisted:
    """One of NVlabs' persistent objects, as data: the class it names, the
    source text of its module (never executed) and its ``__dict__``."""
    class_name: str
    module_src: str
    state: dict


class _Refused(Exception):
    """What the snapshot was refused for; raised from inside the unpickler,
    it stops the reading at once."""


class _EasyDict(dict):
    """dnnlib's EasyDict (a dict whose keys read as attributes) read as a plain dict."""

    def __setstate__(self, state: Any) -> None:
        if state:
            raise _Refused("dnnlib.util.EasyDict with attributes of its own beside its items")


def _persistent_object(meta: Any) -> Persisted:
    if not isinstance(meta, dict) or set(meta) != {"type", "version", "module_src", "class_name", "state"}:
        raise _Refused("a persistent object whose description is not torch_utils.persistence's")
    if meta["type"] != "class" or meta["version"] != PERSISTENCE_VERSION:
        raise _Refused(f"a persistent object of type {meta['type']!r}, version {meta['version']!r} "
                                     f"(pygan reads type 'class', version {PERSISTENCE_VERSION})")
    if not (isinstance(meta["class_name"], str) and isinstance(meta["module_src"], str)
            and isinstance(meta["state"], dict)):
        raise _Refused("a persistent object whose class name, source or state is malformed")
    return Persisted(meta["class_name"], meta["module_src"], dict(meta["state"]))


def _load_storage(data: Any) -> Any:
    if not isinstance(data, bytes):
        raise _Refused("torch.storage._load_from_bytes of something other than bytes")
    try:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as error:
        raise _Refused(f"a tensor's storage that torch's weights-only reader refuses "
                                     f"({str(error).partition(chr(10))[0]})") from None
    if not isinstance(storage, torch.TypedStorage):
        raise _Refused(f"torch.storage._load_from_bytes giving a {type(storage).__name__}, "
                                     f"not a storage")
    return storage


def _no_hooks(hooks: Any) -> None:
    if hooks:  # a hook would be a callable, which no global here can make; refuse any all the same
        raise _Refused("a tensor with backward hooks")


def _rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                    backward_hooks: Any = None, metadata: Any = None) -> torch.Tensor:
    _no_hooks(backward_hooks)
    if metadata:
        raise _Refused("a tensor with metadata")
    if not (isinstance(storage, torch.TypedStorage) and type(offset) is int and isinstance(size, tuple)
            and isinstance(stride, tuple) and all(type(n) is int for n in (*size, *stride))):
        raise _Refused("torch._utils._rebuild_tensor_v2 with arguments that are not a tensor's")
    try:
        return torch.empty(0, dtype=storage.dtype).set_(storage._untyped_storage, offset, size, stride)
    except RuntimeError as error:  # a view beyond its storage, negative sizes
        raise _Refused(f"a tensor that does not fit its storage ({error})") from None


def _rebuild_parameter(data: Any, requires_grad: Any, backward_hooks: Any, state: Any = None) -> torch.Tensor:
    """A parameter's tensor: pygan's modules make their own parameters."""
    _no_hooks(backward_hooks)
    if state or not isinstance(data, torch.Tensor):
        raise _Refused("torch._utils._rebuild_parameter with arguments that are not a parameter's")
    return data


class _NumpyDtype:
    """numpy.dtype(name, align, copy), for numeric scalars only."""

    def __init__(self, name: Any, align: Any = False, copy: Any = True) -> None:
        try:
            self.dtype = np.dtype(name) if isinstance(name, str) else None
        except TypeError:
            self.dtype = None
        if self.dtype is None or self.dtype.kind not in NUMPY_SCALAR_KINDS:
            raise _Refused(f"numpy.dtype({name!r}), not a numeric scalar's")

    def __setstate__(self, state: Any) -> None:
        # numpy's dtype state: (version, byte order, ...); only the byte order matters to a number.
        if not (isinstance(state, tuple) and len(state) > 1 and state[1] in ("<", ">", "|", "=")):
            raise _Refused("a numpy dtype whose state is not numpy's")
        self.dtype = self.dtype.newbyteorder(state[1]) if state[1] in "<>" else self.dtype


def _numpy_scalar(dtype: Any, data: Any = None) -> float | int | bool:
    if not isinstance(dtype, _NumpyDtype) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
        raise _Refused("numpy.core.multiarray.scalar with arguments that are not a number's")
    return np.frombuffer(data, dtype=dtype.dtype)[0].item()


# The only globals an NVlabs snapshot may name, each mapped to a function of
# pygan's that makes data of its arguments.
ALLOWED_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_object,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,  # protocol 3 (Python 3.7's default) pickles a set as a call of set
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("numpy", "dtype"): _NumpyDtype,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,  # numpy 1
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,  # numpy 2
}


class _SnapshotUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[module, name]
        except KeyError:
            raise _Refused(f"it names {module}.{name}, which NVlabs' network pickles do not use") from None

    def persistent_load(self, pid: Any) -> Any:
        raise _Refused(f"it holds a persistent id ({str(pid)[:60]!r}), which NVlabs' network pickles do not use")


def read_snapshot(path: str | Path) -> dict[str, Persisted]:
    """The networks of the NVlabs snapshot at ``path``: ``G``, ``D`` and
    ``G_ema`` (those it has), as ``Persisted`` records. Its
    ``augment_pipe`` and ``training_set_kwargs`` are read as data and
    left out; anything else is refused."""
    try:
        stream = pygan.open_regular(path)
    except pygan.UnreadableFile as error:
        raise PickleRefused(f"{error}; give the path of an NVlabs network-snapshot-*.pkl file") from None
    with stream:
        try:
            snapshot = _SnapshotUnpickler(stream).load()
        except _Refused as error:
            raise PickleRefused(f"{path}: refused: {error}; nothing of it was run") from None
        except Exception as error:  # EOFError (cut short), ValueError, ... whatever a damaged file raises
            raise PickleRefused(f"{path}: not a complete pickle: it is truncated, damaged or not a pickle at all "
                                f"({type(error).__name__}: {str(error)[:80]}); use a whole "
                                f"network-snapshot-*.pkl file") from None
    if not isinstance(snapshot, dict) or not all(isinstance(key, str) for key in snapshot):
        raise PickleRefused(f"{path}: holds a {type(snapshot).__name__}, not NVlabs' snapshot (a dict of G, D, "
                            f"G_ema, ...)")
    extra = sorted(set(snapshot) - {*SNAPSHOT_NETWORKS, *SNAPSHOT_EXTRAS})
    if extra:
        raise PickleRefused(f"{path}: refused: it holds {', '.join(map(repr, extra))} beside NVlabs' snapshot "
                            f"entries ({', '.join(SNAPSHOT_NETWORKS + SNAPSHOT_EXTRAS)}); pygan imports nothing else")
    networks = {name: snapshot[name] for name in SNAPSHOT_NETWORKS if snapshot.get(name) is not None}
    for name, network in networks.items():
        if not isinstance(network, Persisted):
            raise PickleRefused(f"{path}: its {name} is a {type(network).__name__}, not a network NVlabs' "
                                f"persistence wrote")
    if not networks:
        raise PickleRefused(f"{path}: holds none of {', '.join(SNAPSHOT_NETWORKS)}: no network to import")
    return networks
