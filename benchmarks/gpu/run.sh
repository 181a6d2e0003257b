#!/usr/bin/env bash
# The device check of the CUDA kernels, for a machine with a GPU: build, then
# the CUDA tests, then the GPU benchmarks. Everything goes to $OUT (default
# ./gpu-out): build.log, info.txt, tests.log, bench.log, bench.json.
# Run from the repository root:  bash benchmarks/gpu/run.sh
# Takes about 5 minutes on an H100 (most of it the build).
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYGAN_REQUIRE_EXT=1
# Only the GPU at hand: a build for every architecture would take far longer.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
PYTHON=${PYTHON:-python3}

nvidia-smi > "$OUT/info.txt" 2>&1
timeout 300 $PYTHON -m pip install --no-build-isolation --no-deps -v \
  -C cmake.define.CMAKE_CUDA_ARCHITECTURES=90 . > "$OUT/build.log" 2>&1 \
  || { echo "build failed: see $OUT/build.log"; tail -40 "$OUT/build.log"; exit 1; }
grep "pygan: torch CUDA" "$OUT/build.log"
(cd /tmp && $PYTHON -m pygan info) >> "$OUT/info.txt" 2>&1
cat "$OUT/info.txt" | tail -20

timeout 240 $PYTHON -m pytest -q -p no:cacheprovider tests/test_cuda_ops.py \
  tests/test_ops_equivalence.py tests/test_ops_autograd.py > "$OUT/tests.log" 2>&1
tests_rc=$?
tail -30 "$OUT/tests.log"

timeout 150 $PYTHON benchmarks/gpu/bench_gpu.py --out "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
echo "tests exit $tests_rc, benchmarks exit $bench_rc"
exit $(( tests_rc || bench_rc ))
