"""pygan's operators: a compiled kernel where one is built for the op and
the tensor's device, the pure-torch reference (``pygan.ops.reference``)
where not; and the layers and StyleGAN2's resampling helpers built on them.

The choice is made once per device type and op, in ``_select``, and follows
two environment variables:

- ``PYGAN_OPS``: ``auto`` (the default: the compiled kernel, unless it was
  measured slower than the reference, ``_AUTO_TAKES_REFERENCE``), ``fused``
  (the compiled kernels or an error) or ``reference`` (always the reference);
- ``PYGAN_REQUIRE_EXT=1``: a compiled extension that did not load is an error
  instead of a warning, so a broken build cannot pass CI.

Falling back to the reference is always announced, once per reason.
"""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F

from pygan._contracts.messages import PyganError, UsageError, notice_once
from pygan.ops import _conv_transpose, _extension, _parameters, reference

if _extension.module is not None:
    from pygan.ops import _bias_act, _upfirdn2d  # noqa: F401  (fake impls and autograd)
    from pygan.ops import _leaky_relu_conv2d as _conv_registrations  # noqa: F401  (fake impls and autograd)
    from pygan.ops import _rmsprop as _rmsprop_registrations  # noqa: F401  (fake impl)

__all__ = ["ConvTranspose2d", "LeakyReLUConv2d", "SameConvTranspose2d", "backend_info", "bias_act", "conv_transpose2d",
           "downsample2d", "filter2d", "leaky_relu_conv2d", "rmsprop_step_", "same_padding", "setup_filter", "upfirdn2d",
           "upsample2d"]
# The compiled ops (torch.ops.pygan.*). Each op has the fused backend on a
# device where the extension has its kernel there: a device may have kernels
# for some ops only.
_OPS = ("leaky_relu_conv2d", "rmsprop_step_", "bias_act", "upfirdn2d")
# Ops whose fused backend is a faster arrangement of torch's own operators,
# needing no compiled kernel: it is taken unless PYGAN_OPS=reference.
_ARRANGED = {"conv_transpose2d": "torch's own operators as tap planes, for at most 3 output channels, channels-last"}

_CHOICES = ("auto", "fused", "reference")
# Where a compiled kernel was measured slower than the reference, ``auto``
# takes the reference (``fused`` still takes the kernel). The CUDA
# LeakyReLU+conv against cuDNN on an H200 (benchmarks/gpu/bench_gpu.py, the
# seed discriminator's forward and backward): 0.52x at batch 64, 0.14x at 4096.
_AUTO_TAKES_REFERENCE = {
    ("cuda", "leaky_relu_conv2d"): "the CUDA kernel measured slower than cuDNN (0.52x on an H200)",
}
# (backend, reason) per (device type, op), decided by _select.
_selected: dict[tuple[str, str], tuple[str, str]] = {}


def _has_kernel(device_type: str, op: str) -> bool:
    key = {"meta": "Meta"}.get(device_type, device_type.upper())
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key(f"pygan::{op}", key)
    except RuntimeError:  # an extension built before the op existed does not define it
        return False


def _decide(device_type: str, op: str) -> tuple[str, str]:
    requested = os.environ.get("PYGAN_OPS", "auto")
    if requested not in _CHOICES:
        raise UsageError(f"PYGAN_OPS must be one of {', '.join(_CHOICES)}, not {requested!r}")
    if requested == "reference":
        return "reference", "PYGAN_OPS=reference"
    if op in _ARRANGED:
        return "fused", _ARRANGED[op]
    if _extension.module is None:
        if requested == "fused" or os.environ.get("PYGAN_REQUIRE_EXT") == "1":
            raise PyganError(f"{_extension.error} (required by PYGAN_OPS=fused or PYGAN_REQUIRE_EXT=1)")
        notice_once(f"warning: {_extension.error}; using the slower pure-torch operators")
        return "reference", _extension.error
    if requested == "auto" and (device_type, op) in _AUTO_TAKES_REFERENCE:
        return "reference", _AUTO_TAKES_REFERENCE[device_type, op]
    if not _has_kernel(device_type, op):
        reason = f"pygan has no compiled {op} kernel for {device_type} tensors"
        if device_type == "cuda" and _extension.cuda_error is not None:
            reason += f": its CUDA kernels are {_extension.cuda_error}"
            # Built, and the torch has CUDA, but they did not load: a broken install.
            if (_extension.build.with_cuda and torch.version.cuda is not None
                    and os.environ.get("PYGAN_REQUIRE_EXT") == "1"):
                raise PyganError(f"{reason} (required by PYGAN_REQUIRE_EXT=1)")
        if requested == "fused":
            raise PyganError(f"{reason} (required by PYGAN_OPS=fused)")
        notice_once(f"warning: {reason}; using the slower pure-torch operator there")
        return "reference", reason
    return "fused", "compiled kernel"


# Under torch.compile the choice is made while tracing and baked into the graph.
@torch.compiler.assume_constant_result
def _select(device_type: str, op: str) -> str:
    """The backend of op for tensors of this device type: "fused" or "reference"."""
    if (device_type, op) not in _selected:
        _selected[device_type, op] = _decide(device_type, op)
    return _selected[device_type, op][0]


def backend_info() -> dict:
    """What ``pygan info`` reports: the extension, and the backend per device and op."""
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    backends = {}
    for device_type in devices:
        backends[device_type] = {}
        for op in _OPS + tuple(_ARRANGED):
            try:
                _select(device_type, op)
                backend, reason = _selected[device_type, op]
            except PyganError as error:
                backend, reason = "error", str(error)
            backends[device_type][op] = {"selected": backend, "reason": reason}
    kernels = {op: [device for device in ("cpu", "cuda") if _extension.module is not None and _has_kernel(device, op)]
               for op in _OPS}
    build = _extension.build
    return {
        "extension_loaded": _extension.module is not None,
        "kernels": kernels,  # op -> the device types it has compiled kernels for
        "extension_error": _extension.error,
        # The CUDA kernels' library: whether it was built, for what, and whether it loaded (why not).
        "cuda_kernels": {"built": bool(getattr(build, "with_cuda", False)), "loaded": _extension.cuda_error is None,
                         "why_not": _extension.cuda_error, "cuda_version": getattr(build, "cuda_version", None),
                         "architectures": list(getattr(build, "cuda_architectures", []))},
        # What the kernels were built with, known even when they did not load.
        "built_against_torch": getattr(build, "torch_version", None),
        "min_torch": getattr(build, "min_torch_version", None),
        "cpu_features": list(getattr(build, "cpu_features", [])),
        "requested": os.environ.get("PYGAN_OPS", "auto"),
        "devices": backends,  # device type -> op -> {"selected": fused, reference or error, "reason"}
    }


def leaky_relu_conv2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, stride, padding,
                      negative_slope: float) -> torch.Tensor:
    """``conv2d(leaky_relu(x, negative_slope), weight, bias, stride)`` with zero
    padding (top, bottom, left, right), dilation 1, groups 1. ``stride`` is an
    int or a pair, as for ``F.conv2d``."""
    if _select(x.device.type, "leaky_relu_conv2d") == "fused":
        # The schema's int[2] takes a single int for both, as conv2d's does.
        return torch.ops.pygan.leaky_relu_conv2d(x, weight, bias, stride, [*padding], float(negative_slope))
    return reference.leaky_relu_conv2d(x, weight, bias, stride, padding, negative_slope)


def conv_transpose2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride=1, padding=0,
                     output_padding=0) -> torch.Tensor:
    """``F.conv_transpose2d`` (groups 1, dilation 1); ``stride``, ``padding``
    and ``output_padding`` are ints or pairs. On the CPU, a layer with at most
    three output channels (a generator's image layer) and a channels-last
    input runs as tap planes, several times faster than oneDNN's forward
    (``pygan.ops._conv_transpose``)."""
    pairs = [tuple(value) if isinstance(value, (tuple, list)) else (value, value)
             for value in (stride, padding, output_padding)]
    if _select(x.device.type, "conv_transpose2d") == "fused" and _conv_transpose.applies(x, weight, bias, *pairs):
        return _conv_transpose.by_tap_planes(x, weight, bias, *pairs)
    return F.conv_transpose2d(x, weight, bias, stride, padding, output_padding)


def rmsprop_step_(params: list[torch.Tensor], grads: list[torch.Tensor], square_avgs: list[torch.Tensor],
                  updates: torch.Tensor, skip: torch.Tensor, lr: float, decay: float, alpha: float,
                  eps: float) -> None:
    """One RMSprop update with Keras' time decay, in place, unless the bool
    tensor ``skip`` is true; ``updates`` (int64) counts the updates made. See
    ``pygan.ops.reference.rmsprop_step_``."""
    if _select(updates.device.type, "rmsprop_step_") == "fused":
        torch.ops.pygan.rmsprop_step_(params, grads, square_avgs, updates, skip, lr, decay, alpha, eps)
    else:
        reference.rmsprop_step_(params, grads, square_avgs, updates, skip, lr, decay, alpha, eps)


def bias_act(x: torch.Tensor, b: torch.Tensor | None = None, dim: int = 1, act: str = "linear",
             alpha: float | None = None, gain: float | None = None, clamp: float | None = None) -> torch.Tensor:
    """Bias, activation, gain and clamp in one pass, as NVlabs' StyleGAN2
    uses them: ``clamp(gain * act(x + b), -clamp, clamp)``.

    b (1-d, or None) is added along dimension ``dim`` of x. ``act`` is one of
    linear, relu, lrelu, tanh, sigmoid, elu, selu, softplus or swish
    (x * sigmoid(x)); ``alpha`` is lrelu's negative slope (default 0.2).
    ``gain`` defaults to sqrt(2) for relu, lrelu and swish, 1 for the others;
    ``clamp`` None clamps nothing. Differentiable twice (R1 penalties)."""
    if _select(x.device.type, "bias_act") != "fused":
        return reference.bias_act(x, b, dim, act, alpha, gain, clamp)
    resolved_alpha, resolved_gain = _parameters.activation(act, alpha, gain, clamp)
    dim = _parameters.bias_dim(x, b, dim)
    return torch.ops.pygan.bias_act(x, b, dim, act, resolved_alpha, resolved_gain, clamp)


def upfirdn2d(x: torch.Tensor, f: torch.Tensor | None, up=1, down=1, padding=0, flip_filter: bool = False,
              gain: float = 1) -> torch.Tensor:
    """Upsample, pad, FIR-filter and downsample each channel of x (N, C, H, W),
    as NVlabs' StyleGAN2 does (and scipy.signal.upfirdn, in 2-d):

    1. insert ``up - 1`` zeros after each pixel;
    2. pad with zeros, ``padding`` = int, (x, y) or (x0, x1, y0, y1) pixels of
       the upsampled image; negative values crop;
    3. convolve with f: 2-d [height, width], or 1-d taps applied along both
       axes (separable); None is the identity. ``flip_filter`` correlates
       instead (the same for symmetric filters). f is used in x's dtype;
    4. keep every ``down``-th pixel;

    and multiply by ``gain``. ``up`` and ``down`` are ints or (x, y) pairs.
    The output is ``(H * up_y + y0 + y1 - f_height) // down_y + 1`` high, and
    as wide. The gradient (of any order) is again an upfirdn2d; the filter
    takes none."""
    if _select(x.device.type, "upfirdn2d") != "fused":
        return reference.upfirdn2d(x, f, up, down, padding, flip_filter, gain)
    f, up, down, padding = _parameters.resampling(x, f, up, down, padding)
    if f.dim() == 2:
        return torch.ops.pygan.upfirdn2d(x, f, up, down, padding, flip_filter, float(gain))
    # The op takes 2-d filters: a separable one is a row, then a column.
    x = torch.ops.pygan.upfirdn2d(x, f[None, :], (up[0], 1), (down[0], 1), (*padding[:2], 0, 0), flip_filter,
                                  float(gain))
    return torch.ops.pygan.upfirdn2d(x, f[:, None], (1, up[1]), (1, down[1]), (0, 0, *padding[2:]), flip_filter, 1.0)


# The layers and StyleGAN2's resampling helpers, built on the operators above;
# imported last, as they call them.
from pygan.ops._modules import ConvTranspose2d, LeakyReLUConv2d, SameConvTranspose2d, same_padding  # noqa: E402
from pygan.ops._resample import downsample2d, filter2d, setup_filter, upsample2d  # noqa: E402
