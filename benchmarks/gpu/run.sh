#!/usr/bin/env bash
# The device check, in one call on a machine with a GPU (the H200 of issue
# 25): build pygan against the torch that is there, the CUDA tests, the GPU
# benchmarks, the seed recipe's 40,000 steps timed, then every measurement
# script benchmarks/gpu/measure_*.sh. Run from the repository root:
#   bash benchmarks/gpu/run.sh
# A tiny rehearsal on the CPU, with pygan's build tools in the venv:
#   PYGAN_DEVICE=cpu STEPS=20 RUN_STEPS=20 PYTHON=VENV/bin/python bash benchmarks/gpu/run.sh
#
# Stages, in order (STAGES picks some: "build tests bench run40k measure"):
#   build     pip install --no-build-isolation --no-deps: the machine's own
#             torch and build tools (it has no package index), CUDA kernels
#             for sm_90 only (CUDA_ARCH). A torch older than pygan supports
#             (the machine's 2.11) gets kernels built for its release
#             (CMakeLists.txt, PYGAN_TARGET_TORCH). PYGAN_REQUIRE_EXT=1 holds
#             for the later stages only once the kernels (CUDA ones too, on
#             CUDA) have loaded.
#   kernels   where they did not load (or when STAGES names it):
#             csrc/cuda/*.cu compiled by nvcc alone and checked on the GPU
#             against the float64 definitions, the largest errors printed
#             (tests/test_cuda_emulation.py with PYGAN_KERNELS_ON_GPU=1).
#   tests     the CUDA tests (every test whose name or parameters say cuda),
#             side by side with the measurements (at most SIDE_CAP, 300 s).
#   bench     benchmarks/gpu/bench_gpu.py (GPU only).
#   run40k    pygan train --plugin dcgan --steps RUN_STEPS (40,000), timed.
#   measure   benchmarks/gpu/measure_*.sh, split into instances run side by
#             side: batchnorm per BN_JOBS entry (PLUGIN or PLUGIN:MODE), ada
#             per ADA_JOBS entry (a regular expression of run names), and,
#             unless SG2_JOB=0, stylegan2 for 30% of SIDE_CAP then dcgan64
#             as long.
# Each stage is bounded by `timeout`: its own cap and what is left of
# BUDGET seconds (480) for the whole script; a stage with no time left is
# skipped, saying so.
#
# What comes back: the device returns at most 8 files from $OUT, so $OUT
# holds run.log (everything printed, as it goes), the log of the stage that
# is running (NAME.log, while it runs) and results.tar.gz, packed again after
# each stage from the stages' logs and results (checkpoints and measurement
# pictures left out): build.log, info.txt, tests.log, bench.log, bench.json,
# run40k.log and run40k/ (samples/, losses.png, metrics.jsonl), and each
# measurement's folder and log. MNIST's test split ships with pygan; nothing
# needs carrying.
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}
DEVICE=${PYGAN_DEVICE:-cuda}
BUDGET=${BUDGET:-480}
STAGES=${STAGES:-build tests bench run40k measure}
RUN_STEPS=${RUN_STEPS:-40000}
CUDA_ARCH=${CUDA_ARCH:-90}
PY=${PYTHON:-python3}
RESERVE=15  # seconds kept for the last packing
mkdir -p "$OUT" || exit 1
exec > >(tee -a "$OUT/run.log") 2>&1
export PYTHONUNBUFFERED=1
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}
WORK=$(mktemp -d)
# pygan's caches (MNIST's classifier) in the work folder: nothing outside it is touched.
export PYGAN_DATA_DIR=$WORK/cache
SPLIT=${PYGAN_TEST_MNIST_DIR:-$PWD/plugins/pygan_plugins/mnist_test_split}  # MNIST's test split, shipped
START=$SECONDS
results=()

pack() {
  tar -C "$WORK" --exclude=./cache --exclude='*.pt' --exclude=pictures -czf "$OUT/results.tmp" . \
    && mv "$OUT/results.tmp" "$OUT/results.tar.gz"
}

wanted() { [[ " $STAGES " == *" $1 "* ]]; }

# finished NAME RC LIMIT LOG BEGAN: says how a stage or side job that began at
# BEGAN (in $SECONDS) ended, shows its log's last lines and records it for the summary.
finished() {
  local name=$1 rc=$2 limit=$3 log=$4 began=$5
  local note="exit $rc"
  (( rc == 124 || rc == 137 )) && note="stopped at its ${limit}s limit"
  echo "-- $name: $note after $(( SECONDS - began ))s; its last lines:"
  tail -n "${TAIL_LINES:-25}" "$log"
  results+=("$name: $note, $(( SECONDS - began ))s")
}

# stage NAME CAP COMMAND...: COMMAND's output goes to $OUT/NAME.log while it
# runs (what comes back if the call is cut short), then into the results.
stage() {
  local name=$1 cap=$2
  shift 2
  local left=$(( BUDGET - (SECONDS - START) - RESERVE ))
  if (( left < 10 )); then
    echo "== $name: skipped, the ${BUDGET}s budget is spent"
    results+=("$name: skipped (budget)")
    return 1
  fi
  local limit=$(( cap < left ? cap : left )) began=$SECONDS
  echo "== $name (at most ${limit}s, $(( SECONDS - START ))s in)"
  timeout -k 10 "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  finished "$name" "$rc" "$limit" "$OUT/$name.log" "$began"
  mv "$OUT/$name.log" "$WORK/"
  pack
  return $rc
}

{
  date -u
  [ "$DEVICE" = cuda ] && nvidia-smi
  "$PY" -c "import sys, torch; print('python', sys.version.split()[0], sys.executable); print('torch', torch.__version__, 'CUDA', torch.version.cuda, 'GPU available', torch.cuda.is_available())"
  command -v nvcc > /dev/null && nvcc --version | tail -2
} > "$WORK/info.txt" 2>&1
cat "$WORK/info.txt"
if ls .whl/*.whl > /dev/null 2>&1; then  # wheels carried for packages the machine lacks
  "$PY" -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi

ext_loaded=0 installed=1
if wanted build; then
  # The torch there decides the kernels' target: pygan's own minimum, unless it is older.
  min_torch=$(sed -n 's/^set(PYGAN_MIN_TORCH \([0-9.]*\))$/\1/p' CMakeLists.txt)
  torch_release=$("$PY" -c "import torch; print('.'.join(torch.__version__.split('+')[0].split('.')[:2]))")
  build_options=(-C "cmake.define.PYGAN_CUDA=${PYGAN_CUDA:-$([ "$DEVICE" = cuda ] && echo ON || echo OFF)}"
                 -C "cmake.define.CMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH")
  if "$PY" -c "import sys; sys.exit(not tuple(map(int, '$torch_release'.split('.'))) < tuple(map(int, '$min_torch'.split('.'))))"; then
    echo "torch $torch_release is older than pygan's minimum $min_torch: kernels built for torch $torch_release (unsupported)"
    build_options+=(-C "cmake.define.PYGAN_TARGET_TORCH=$torch_release")
  fi
  stage build 300 "$PY" -m pip install --no-build-isolation --no-deps -v "${build_options[@]}" . || installed=0
fi
# -P (no current folder on sys.path): the checkout's pygan/, without the
# compiled files, must not shadow the installed one.
if timeout 60 "$PY" -P -c "
import sys, torch
from pygan.ops import _extension as e
cuda = sys.argv[1] == 'cuda'
print('pygan kernels:', e.error or 'loaded', '| CUDA kernels:', e.cuda_error or 'loaded')
sys.exit(e.error is not None or (cuda and e.cuda_error is not None))" "$DEVICE" >> "$WORK/info.txt" 2>&1; then
  ext_loaded=1
fi
timeout 60 "$PY" -P -m pygan info >> "$WORK/info.txt" 2>&1
tail -n 14 "$WORK/info.txt"
pack
[ $ext_loaded = 1 ] || echo "pygan's kernels are not loaded: PYGAN_REQUIRE_EXT stays unset"
if { [ $ext_loaded = 0 ] && wanted build; } || wanted kernels; then
  if [ "$DEVICE" = cuda ] && command -v nvcc > /dev/null; then
    # Without -P where pygan is not installed: the checkout's pure-Python pygan.
    isolated=(); [ $installed = 1 ] && isolated=(-P)
    stage kernels 200 env PYGAN_KERNELS_ON_GPU=1 "$PY" "${isolated[@]}" -m pytest -q -s -p no:cacheprovider \
      --durations=10 tests/test_cuda_emulation.py
  else
    echo "== kernels: needs a GPU and nvcc, skipped"
  fi
fi
if [ $ext_loaded = 1 ]; then
  export PYGAN_REQUIRE_EXT=1
elif wanted build; then
  if [ $installed = 0 ]; then
    echo "pygan is not installed: the stages after the build are left out"
    STAGES=
  fi
fi

# side NAME CAP COMMAND...: one job of the side-by-side stage, in the
# background, its output in $WORK/NAME.log, bounded by its own timeout.
side_names=() side_pids=()
side() {
  local name=$1 cap=$2
  shift 2
  timeout -k 10 "$cap" "$@" > "$WORK/$name.log" 2>&1 &
  side_names+=("$name") side_pids+=($!)
}

# The CUDA tests and the measurements, side by side: the measurements' runs
# are small networks whose steps are bound by kernel launches, so several
# processes share one GPU well, and none of them times the GPU (bench and
# run40k, which do, come after, alone). Each measurement is split into
# instances with their own OUT (the scripts' PLUGINS and ONLY).
left=$(( BUDGET - (SECONDS - START) - RESERVE ))
cap=$(( ${SIDE_CAP:-300} < left ? ${SIDE_CAP:-300} : left ))
if { wanted tests || wanted measure; } && (( cap < 10 )); then
  echo "== tests and measurements: skipped, the ${BUDGET}s budget is spent"
  results+=("tests and measurements: skipped (budget)")
elif wanted tests || wanted measure; then
  began=$SECONDS
  echo "== tests and measurements side by side (each at most ${cap}s, $(( SECONDS - START ))s in)"
  if wanted tests; then
    # Training's tests first, in a run of their own: a run cut at its time
    # limit prints none of its failures.
    # shellcheck disable=SC2016  # expanded by the inner bash
    side tests "$cap" bash -c '"$1" -P -m pytest -q -p no:cacheprovider -rs --durations=5 tests/test_cuda_training.py
      "$1" -P -m pytest -q -p no:cacheprovider -rs --durations=15 -k cuda \
        tests/test_cuda_ops.py tests/test_cuda_stylegan2_ops.py tests/test_optim.py tests/test_ops_autograd.py \
        tests/test_ops_equivalence.py tests/test_ops_bias_act.py tests/test_ops_upfirdn2d.py' tests "$PY"
  fi
  if wanted measure; then
    # BN_JOBS: PLUGIN or PLUGIN:MODE; ADA_JOBS: regular expressions of run names.
    for job in ${BN_JOBS:-dcgan wgan cgan}; do
      plugin=${job%%:*} modes=${job#*:}
      [ "$modes" = "$job" ] && modes="plain zero-debiased"
      side "measure-bn-${job//:/-}" "$cap" env OUT="$WORK/bn-${job//:/-}" PYGAN_DEVICE="$DEVICE" PYTHON="$PY" \
        PLUGINS="$plugin" MODES="$modes" bash benchmarks/gpu/measure_batchnorm.sh
    done
    for only in ${ADA_JOBS:-dcgan64 stylegan2-none stylegan2-diffaugment stylegan2-ada}; do
      name=${only//[^A-Za-z0-9-]/}
      side "measure-ada-$name" "$cap" env OUT="$WORK/ada-$name" PYGAN_DEVICE="$DEVICE" PYTHON="$PY" \
        ONLY="^$only" CHECK_STEPS="$([ "$name" = dcgan64 ] && echo 20 || echo 0)" \
        TRAIN_TIMEOUT=$(( cap * 2 / 3 )) bash benchmarks/gpu/measure_ada.sh
    done
    [ "${SG2_JOB:-1}" = 1 ] && \
    side measure-stylegan2 "$cap" env OUT="$WORK" PYGAN_DEVICE="$DEVICE" PYTHON="$PY" STEPS=1000000 \
      SG2_LIMIT=$(( cap * 3 / 10 )) bash benchmarks/gpu/measure_stylegan2.sh
  fi
  for i in "${!side_pids[@]}"; do
    wait "${side_pids[$i]}"
    finished "${side_names[$i]}" $? "$cap" "$WORK/${side_names[$i]}.log" "$began"
    pack
  done
fi

if wanted bench; then
  if [ "$DEVICE" = cuda ]; then
    stage bench 150 "$PY" -P benchmarks/gpu/bench_gpu.py --out "$WORK/bench.json"
  else
    echo "== bench: GPU only, skipped on $DEVICE"
  fi
fi

if wanted run40k; then
  # Timed as a user would run it, the process's start included.
  # shellcheck disable=SC2016  # expanded by the inner bash
  stage run40k 150 bash -c 'start=$(date +%s%N); "$@"; rc=$?
    echo "pygan train: $(( ($(date +%s%N) - start) / 1000000 )) ms wall, exit $rc"; exit $rc' run40k \
    "$PY" -P -m pygan train --plugin dcgan --device "$DEVICE" --steps "$RUN_STEPS" --data-dir "$SPLIT" \
    --out "$WORK/run40k"
fi

echo "== summary ($(( SECONDS - START ))s)"
printf '  %s\n' "${results[@]}"
pack
rm -rf "$WORK"
failed=0
[[ "${results[*]}" == *"exit "[1-9]* || "${results[*]}" == *stopped* ]] && failed=1
exec > /dev/null 2>&1
wait  # for tee, so that run.log is complete when the script returns
exit $failed
