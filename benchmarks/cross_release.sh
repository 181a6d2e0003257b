#!/usr/bin/env bash
# One build, a later torch: proof that pygan's stable-ABI kernels, built
# against the oldest torch they support, load into a later release and pass
# the op tests there. Too heavy for CI (a CUDA torch is gigabytes); one command:
#
#   benchmarks/cross_release.sh [VENV]
#
# VENV (default .venv-cross, created if missing) gets torch from the package
# index ($TORCH, default torch==2.14.1), then `pip install ".[test]"` with
# build isolation, exactly as a user runs it: pygan is built against the build
# requirement's torch (2.13.0) and must keep the venv's torch. Then, with
# PYGAN_REQUIRE_EXT=1: pygan info, the op tests, and 20 dcgan steps on the MNIST
# test split ($PYGAN_TEST_MNIST_DIR, default the copy pygan ships).
# Where nvcc is, the isolated build also makes the CUDA kernels
# (libpygan_ops_cuda.so); into a CUDA torch (x86_64's torch 2.14.1 is one)
# they load, GPU or not, and tests/test_packaging.py checks that they did.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$(realpath -m "${1:-$repo/.venv-cross}")
torch_spec=${TORCH:-torch==2.14.1}
export PYGAN_TEST_MNIST_DIR=${PYGAN_TEST_MNIST_DIR:-$repo/plugins/pygan_plugins/mnist_test_split}
work=$(mktemp -d)

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
python="$venv/bin/python"
"$python" -m pip install -q "$torch_spec"
torch_before=$("$python" -c "import torch; print(torch.__version__)")
echo "== $torch_spec: torch $torch_before in $venv"

echo "== pip install \".[test]\" (build isolation)"
# Its own build folder: the checkout's build/ may hold a build against another torch.
"$python" -m pip install -q -C build-dir="$work/build-isolated" "$repo[test]"
torch_after=$("$python" -c "import torch; print(torch.__version__)")
if [ "$torch_after" != "$torch_before" ]; then
  echo "FAIL: installing pygan replaced torch $torch_before with $torch_after"
  exit 1
fi
echo "torch kept: $torch_after"

export PYGAN_REQUIRE_EXT=1
(cd "$work" && "$venv/bin/pygan" info)

echo "== op tests"
(cd "$repo" && "$venv/bin/pytest" -q -p no:cacheprovider tests/test_ops_equivalence.py tests/test_ops_autograd.py \
  tests/test_ops_backend.py tests/test_optim.py tests/test_packaging.py)

echo "== 20 dcgan steps"
(cd "$work" && "$venv/bin/pygan" train --plugin dcgan --device cpu --steps 20 --sample-every 0 \
  --data-dir "$PYGAN_TEST_MNIST_DIR" --out run > train.log 2>&1) || { tail -20 "$work/train.log"; exit 1; }
tail -n 1 "$work/run/metrics.jsonl"
steps=$(wc -l < "$work/run/metrics.jsonl")
[ "$steps" -eq 20 ] || { echo "FAIL: $steps steps logged, expected 20"; exit 1; }

built=$(cd "$work" && "$python" -c "from pygan import _C; print(_C.torch_version)")
echo "PASS: built against torch $built, ran on torch $torch_after"
