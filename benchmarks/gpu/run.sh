#!/usr/bin/env bash
# The device check of the CUDA kernels and the GPU training step, for a
# machine with a GPU: build, the CUDA tests, the GPU benchmarks, then the
# seed recipe (40,000 steps) timed. Everything goes to $OUT (default
# ./gpu-out): build.log, info.txt, tests.log, bench.log, bench.json, and
# run40k.log with the run folder run40k/ (its samples/ and losses.png).
# Run from the repository root:  bash benchmarks/gpu/run.sh
#
# The 40,000-step run and one test use the MNIST test split pygan ships
# (plugins/pygan_plugins/mnist_test_split, which travels with the working
# tree); PYGAN_TEST_MNIST_DIR names another folder with the idx files.
# Python packages the machine lacks travel as wheels in .whl/ (carried, and
# excluded from git), e.g. for the tests' expecttest:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d .whl expecttest
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYGAN_REQUIRE_EXT=1
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
# -P: the source tree in the current folder (no compiled _C) must not shadow the installed pygan.
PYTHON="${PYTHON:-python3} -P"
MNIST=${PYGAN_TEST_MNIST_DIR:-$PWD/plugins/pygan_plugins/mnist_test_split}
if [ -d "$MNIST" ]; then export PYGAN_TEST_MNIST_DIR=$MNIST; else MNIST=; fi

if ls .whl/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
nvidia-smi > "$OUT/info.txt" 2>&1
# No index to fetch an isolated build's requirements from: the machine's own torch and build tools.
# PYGAN_CUDA=ON: no nvcc is an error, not a build without CUDA kernels. Only the GPU at hand (sm_90).
timeout 300 $PYTHON -m pip install --no-build-isolation --no-deps -v \
  -C cmake.define.PYGAN_CUDA=ON -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90 . > "$OUT/build.log" 2>&1 \
  || { echo "build failed: see $OUT/build.log"; tail -40 "$OUT/build.log"; exit 1; }
grep "pygan: torch " "$OUT/build.log"
# pygan requires torch>=2.13: the torch that is there must satisfy it (pip would otherwise fetch another).
$PYTHON -m pip check 2>&1 | grep -i pygan || echo "pip check: pygan's requirements are met"
$PYTHON -m pygan info >> "$OUT/info.txt" 2>&1
tail -20 "$OUT/info.txt"

timeout 200 $PYTHON -m pytest -q -p no:cacheprovider tests/test_cuda_ops.py tests/test_cuda_training.py \
  tests/test_optim.py tests/test_ops_equivalence.py tests/test_ops_autograd.py > "$OUT/tests.log" 2>&1
tests_rc=$?
tail -30 "$OUT/tests.log"

timeout 120 $PYTHON benchmarks/gpu/bench_gpu.py --out "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}

run_rc=0
if [ -n "$MNIST" ]; then
  start=$(date +%s.%N)
  timeout 150 $PYTHON -m pygan train --plugin dcgan --device cuda --steps 40000 --data-dir "$MNIST" \
    --out "$OUT/run40k" > "$OUT/run40k.log" 2>&1
  run_rc=$?
  echo "40,000 steps: $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s wall, exit $run_rc" \
    | tee -a "$OUT/run40k.log"
  tail -c 600 "$OUT/run40k.log"
else
  echo "no MNIST folder at ${PYGAN_TEST_MNIST_DIR:-}: the 40,000-step run is left out"
fi
echo "tests exit $tests_rc, benchmarks exit $bench_rc, 40,000-step run exit $run_rc"
exit $(( tests_rc || bench_rc || run_rc ))
