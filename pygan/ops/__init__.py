"""pygan's operators: a compiled kernel where one is built for the tensor's
device, the pure-torch reference (``pygan.ops.reference``) where not.

The choice is made once per device type, in ``_select``, and follows two
environment variables:

- ``PYGAN_OPS``: ``auto`` (the default), ``fused`` (the compiled kernels or an
  error) or ``reference`` (always the reference);
- ``PYGAN_REQUIRE_EXT=1``: a compiled extension that did not load is an error
  instead of a warning, so a broken build cannot pass CI.

Falling back to the reference is always announced, once per reason.
"""

from __future__ import annotations

import os

import torch

from pygan._contracts.messages import PyganError, UsageError, notice_once
from pygan.ops import _extension, reference

if _extension.module is not None:
    from pygan.ops import _leaky_relu_conv2d as _conv_registrations  # noqa: F401  (fake impls and autograd)
    from pygan.ops import _rmsprop as _rmsprop_registrations  # noqa: F401  (fake impl)

__all__ = ["LeakyReLUConv2d", "SameConvTranspose2d", "backend_info", "leaky_relu_conv2d", "rmsprop_step_", "same_padding"]
# The compiled ops: a device has the fused backend when it has kernels for all.
_OPS = ("pygan::leaky_relu_conv2d", "pygan::rmsprop_step_")

_CHOICES = ("auto", "fused", "reference")
# (backend, reason) per device type, decided by _select.
_selected: dict[str, tuple[str, str]] = {}


def _has_kernel(device_type: str, ops: tuple[str, ...] = _OPS) -> bool:
    key = {"meta": "Meta"}.get(device_type, device_type.upper())
    return all(torch._C._dispatch_has_kernel_for_dispatch_key(op, key) for op in ops)


def _decide(device_type: str) -> tuple[str, str]:
    requested = os.environ.get("PYGAN_OPS", "auto")
    if requested not in _CHOICES:
        raise UsageError(f"PYGAN_OPS must be one of {', '.join(_CHOICES)}, not {requested!r}")
    if requested == "reference":
        return "reference", "PYGAN_OPS=reference"
    if _extension.module is None:
        if requested == "fused" or os.environ.get("PYGAN_REQUIRE_EXT") == "1":
            raise PyganError(f"{_extension.error} (required by PYGAN_OPS=fused or PYGAN_REQUIRE_EXT=1)")
        notice_once(f"warning: {_extension.error}; using the slower pure-torch operators")
        return "reference", _extension.error
    if not _has_kernel(device_type):
        reason = f"pygan has no compiled kernel for {device_type} tensors"
        if requested == "fused":
            raise PyganError(f"{reason} (required by PYGAN_OPS=fused)")
        notice_once(f"warning: {reason}; using the slower pure-torch operators there")
        return "reference", reason
    return "fused", "compiled kernel"


# Under torch.compile the choice is made while tracing and baked into the graph.
@torch.compiler.assume_constant_result
def _select(device_type: str) -> str:
    """The backend for tensors of this device type: "fused" or "reference"."""
    if device_type not in _selected:
        _selected[device_type] = _decide(device_type)
    return _selected[device_type][0]


def backend_info() -> dict:
    """What ``pygan info`` reports: the extension, and the backend per device."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    backends = {}
    for device_type in devices:
        try:
            _select(device_type)
            backend, reason = _selected[device_type]
        except PyganError as error:
            backend, reason = "error", str(error)
        backends[device_type] = {"compiled_kernel": _extension.module is not None and _has_kernel(device_type),
                                 "selected": backend, "reason": reason}
    kernels = {op.split("::")[1]: [device for device in ("cpu", "cuda")
                                   if _extension.module is not None and _has_kernel(device, (op,))]
               for op in _OPS}
    build = _extension.build
    return {
        "extension_loaded": _extension.module is not None,
        "kernels": kernels,  # op -> the device types it has compiled kernels for
        "extension_error": _extension.error,
        "extension_with_cuda": bool(getattr(_extension.module, "with_cuda", False)),
        # What the kernels were built with, known even when they did not load.
        "built_against_torch": getattr(build, "torch_version", None),
        "min_torch": getattr(build, "min_torch_version", None),
        "cpu_features": list(getattr(build, "cpu_features", [])),
        "requested": os.environ.get("PYGAN_OPS", "auto"),
        "devices": backends,
    }


def leaky_relu_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding,
                      negative_slope: float) -> torch.Tensor:
    """``conv2d(leaky_relu(x, negative_slope), weight, bias, stride)`` with zero
    padding (top, bottom, left, right), dilation 1, groups 1. ``stride`` is an
    int or a pair, as for ``F.conv2d``."""
    if _select(x.device.type) == "fused":
        # The schema's int[2] takes a single int for both, as conv2d's does.
        return torch.ops.pygan.leaky_relu_conv2d(x, weight, bias, stride, [*padding], float(negative_slope))
    return reference.leaky_relu_conv2d(x, weight, bias, stride, padding, negative_slope)


def rmsprop_step_(params: list[torch.Tensor], grads: list[torch.Tensor], square_avgs: list[torch.Tensor],
                  updates: torch.Tensor, skip: torch.Tensor, lr: float, decay: float, alpha: float,
                  eps: float) -> None:
    """One RMSprop update with Keras' time decay, in place, unless the bool
    tensor ``skip`` is true; ``updates`` (int64) counts the updates made. See
    ``pygan.ops.reference.rmsprop_step_``."""
    if _select(updates.device.type) == "fused":
        torch.ops.pygan.rmsprop_step_(params, grads, square_avgs, updates, skip, lr, decay, alpha, eps)
    else:
        reference.rmsprop_step_(params, grads, square_avgs, updates, skip, lr, decay, alpha, eps)


# The layers built on the operators; imported last, as they call the functions above.
from pygan.ops._layers import LeakyReLUConv2d, SameConvTranspose2d, same_padding  # noqa: E402
