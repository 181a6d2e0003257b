#!/usr/bin/env bash
# Issue 20's note: a small StyleGAN2 (preset auto at 32x32, unconditional)
# trained on a folder of 10,000 32x32 pictures for STEPS steps (at most
# SG2_LIMIT seconds), then dcgan64 at 32x32 on the same pictures for the same
# wall-clock time, and `pygan eval --json` of both (the Frechet classifier
# distance in a classifier of the folder's ten classes, EVAL_N samples).
# The pictures are MNIST's test split, which ships with pygan, written as
# 10,000 PNGs in class subfolders (grayscale 28x28; the images data set
# resizes them to 32x32, one channel).
#
#   OUT=DIR [PYGAN_DEVICE=cuda] [PYTHON=python3] [STEPS=2000] [SG2_LIMIT=80] [EVAL_N=2000] [SAMPLE_EVERY=500] \
#     bash benchmarks/gpu/measure_stylegan2.sh
# A tiny rehearsal on the CPU (SG2_OPTIONS: options added to stylegan2's
# command; on two shared cores one step of the full 32x32 network takes
# minutes):
#   OUT=/tmp/m PYGAN_DEVICE=cpu STEPS=20 SG2_LIMIT=120 EVAL_N=200 PYTHON=VENV/bin/python \
#     SG2_OPTIONS="--channel-base 512 --channel-max 16 --batch-size 8" bash benchmarks/gpu/measure_stylegan2.sh
#
# Writes under $OUT/stylegan2/: pictures/ (the PNGs), the run folders
# stylegan2/ and dcgan64/ (samples, metrics.jsonl, checkpoints), their
# training logs, eval-stylegan2.json and eval-dcgan64.json; prints one table
# line per run. Each command is bounded by `timeout`; a training cut short by
# its time stops with a checkpoint (SIGINT, exit 130), which is evaluated.
set -uo pipefail
OUT=${OUT:?set OUT to the folder for the results}
DEVICE=${PYGAN_DEVICE:-cuda}
PY=${PYTHON:-python3}
# -P: the source tree in the current folder (no compiled kernels) must not shadow the installed pygan.
PY="$PY -P"
STEPS=${STEPS:-2000}
SG2_LIMIT=${SG2_LIMIT:-80}
EVAL_N=${EVAL_N:-2000}
SAMPLE_EVERY=${SAMPLE_EVERY:-500}  # a run cut by its time limit ends on its last grid
read -r -a SG2_EXTRA <<< "${SG2_OPTIONS:-}"
HERE=$OUT/stylegan2
SPLIT=${PYGAN_TEST_MNIST_DIR:-$PWD/plugins/pygan_plugins/mnist_test_split}
mkdir -p "$HERE" || exit 1
export PYGAN_DATA_DIR=${PYGAN_DATA_DIR:-$HERE/cache}
export PYTHONUNBUFFERED=1

timeout 120 $PY - "$SPLIT" "$HERE/pictures" <<'EOF' || { echo "measure_stylegan2: could not write the pictures"; exit 1; }
import sys
from pathlib import Path

from PIL import Image

from pygan_plugins.mnist import read_idx

split, pictures = Path(sys.argv[1]), Path(sys.argv[2])
images = read_idx(split / "t10k-images-idx3-ubyte.gz")
labels = read_idx(split / "t10k-labels-idx1-ubyte.gz")
for digit in range(10):
    (pictures / str(digit)).mkdir(parents=True, exist_ok=True)
for i, (image, label) in enumerate(zip(images, labels)):
    Image.fromarray(image).save(pictures / str(label) / f"{i:05d}.png")
print(f"measure_stylegan2: {len(images)} pictures in {pictures}")
EOF

now_ms() { date +%s%3N; }

# train NAME LIMIT ARGS...: a training of at most LIMIT seconds; sets WALL_MS and TRAIN_RC.
train() {
  local name=$1 limit=$2
  shift 2
  local start
  start=$(now_ms)
  timeout -s INT -k 60 "$limit" $PY -m pygan train --device "$DEVICE" --data-dir "$HERE/pictures" \
    --channels 1 --resolution 32 --out "$HERE/$name" "$@" > "$HERE/train-$name.log" 2>&1
  TRAIN_RC=$?
  WALL_MS=$(( $(now_ms) - start ))
}

# report NAME: evaluate the run's newest checkpoint and print its table line.
report() {
  local name=$1 steps
  timeout 300 $PY -m pygan eval --checkpoint "$HERE/$name" --n "$EVAL_N" --device "$DEVICE" --json \
    > "$HERE/eval-$name.json" 2> "$HERE/eval-$name.log"
  local eval_rc=$?
  steps=$(tail -n 1 "$HERE/$name/metrics.jsonl" 2>/dev/null | $PY -c 'import json,sys; print(json.load(sys.stdin)["step"])' 2>/dev/null)
  $PY - "$name" "${steps:-0}" "$WALL_MS" "$TRAIN_RC" "$eval_rc" "$HERE/eval-$name.json" <<'EOF'
import json
import sys

name, steps, wall_ms, train_rc, eval_rc, path = sys.argv[1:]
try:
    result = json.load(open(path))
    numbers = f"fcd {result['fcd']:.3f}  classifier score {result['classifier_score']:.3f}"
except (OSError, ValueError, KeyError) as error:
    numbers = f"no evaluation (exit {eval_rc}: {type(error).__name__})"
print(f"| {name:9} | {steps:>6} steps | {int(wall_ms) / 1000:7.1f} s wall (train exit {train_rc}) | {numbers} |")
EOF
}

echo "measure_stylegan2: device $DEVICE, stylegan2 for $STEPS steps (at most ${SG2_LIMIT}s) ${SG2_OPTIONS:-}," \
  "dcgan64 as long"
train stylegan2 "$SG2_LIMIT" --plugin stylegan2 --preset auto --classes 0 --steps "$STEPS" \
  --sample-every "$SAMPLE_EVERY" --checkpoint-every 500 "${SG2_EXTRA[@]}"
SG2_WALL_S=$(( (WALL_MS + 999) / 1000 ))
report stylegan2
train dcgan64 "$SG2_WALL_S" --plugin dcgan64 --steps 10000000 --sample-every "$SAMPLE_EVERY" --checkpoint-every 500
report dcgan64
