#!/usr/bin/env bash
# ADA's measurement (issue 21): few pictures, no augmentation against
# DiffAugment against ADA. 1,000 MNIST digits as a folder of PNGs (made here
# from the test split pygan ships), dcgan64 at 32x32 (and a small StyleGAN2
# when that architecture is registered), STEPS (2,000) steps each; then
# `pygan eval --json` (MNIST classifier's FCD against the 10,000-image split).
#
# Writes $OUT/ada/ (OUT default ./gpu-out): pictures/ (the training folder),
# RUN/ (each run's folder without its checkpoints: config.json,
# metrics.jsonl, samples/, losses.png, and augment.png with p's curve for
# ADA), RUN.log, RUN.json (the evaluation) and table.txt (one line per run,
# printed too). Run from the repository root:
#   PYGAN_DEVICE=cuda bash benchmarks/gpu/measure_ada.sh
# A tiny CPU check:  PYGAN_DEVICE=cpu STEPS=4 CHECK_STEPS=2 EVAL_N=500 EVAL_TIMEOUT=900 bash benchmarks/gpu/measure_ada.sh
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}/ada
DEVICE=${PYGAN_DEVICE:-cuda}
STEPS=${STEPS:-2000}
CHECK_STEPS=${CHECK_STEPS:-20}  # the check of R1 through every transform
PICTURES=${PICTURES:-1000}
EVAL_N=${EVAL_N:-10000}
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-300}  # seconds, each training run
EVAL_TIMEOUT=${EVAL_TIMEOUT:-180}    # seconds, each evaluation (the first trains MNIST's classifier)
ONLY=${ONLY:-}  # a regular expression: only the runs whose names match (instances side by side, own OUT)
# -P: the source tree in the current folder (no compiled _C) must not shadow the installed pygan.
PYTHON="${PYTHON:-python3} -P"
export PYTHONUNBUFFERED=1
# The MNIST classifier and the decoded pictures are cached outside $OUT (not sent back).
PYGAN_DATA_DIR=$(mktemp -d)
export PYGAN_DATA_DIR
trap 'rm -rf "$PYGAN_DATA_DIR"' EXIT
mkdir -p "$OUT"

SPLIT=$($PYTHON -c "import pathlib, pygan_plugins; print(pathlib.Path(pygan_plugins.__file__).parent / 'mnist_test_split')") \
  || { echo "pygan_plugins cannot be imported: install pygan first"; exit 1; }
# The first PICTURES digits of the split as 28x28 grey PNGs, in a subfolder
# per class (StyleGAN2's discriminator takes labels; dcgan64 ignores them).
$PYTHON - "$SPLIT" "$OUT/pictures" "$PICTURES" <<'EOF' || exit 1
import gzip, pathlib, sys
import numpy as np
from PIL import Image
split, folder, count = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
raw = gzip.open(split / "t10k-images-idx3-ubyte.gz").read()
digits = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:count]
labels = np.frombuffer(gzip.open(split / "t10k-labels-idx1-ubyte.gz").read(), dtype=np.uint8, offset=8)
for index, (digit, label) in enumerate(zip(digits, labels)):
    (folder / str(label)).mkdir(parents=True, exist_ok=True)
    Image.fromarray(digit).save(folder / str(label) / f"{index:05d}.png")
print(f"{len(digits)} pictures in {folder}")
EOF

RUNS=(
  "dcgan64-none|--plugin dcgan64 --resolution 32"
  "dcgan64-diffaugment|--plugin dcgan64 --resolution 32 --augment translation,cutout,color"
  "dcgan64-ada|--plugin dcgan64 --resolution 32 --augment ada"
  "dcgan64-ada-kimg100|--plugin dcgan64 --resolution 32 --augment ada --ada-kimg 100"
)
# A small StyleGAN2 (conditional on the digits: it takes labels), where the architecture is
# registered (SG2_OPTIONS: its size).
SG2=${SG2_OPTIONS:---plugin stylegan2 --resolution 32 --channel-base 4096 --channel-max 128}
if $PYTHON -m pygan train $SG2 --data-dir "$OUT/pictures" --dry-run > /dev/null 2>&1; then
  RUNS+=("stylegan2-none|$SG2" "stylegan2-diffaugment|$SG2 --augment translation,cutout,color"
         "stylegan2-ada|$SG2 --augment ada" "stylegan2-ada-kimg100|$SG2 --augment ada --ada-kimg 100")
else
  echo "no stylegan2 architecture (or it refuses: $SG2): its runs are left out"
fi

# ADA on this device and torch: R1 differentiating twice through every
# transform (p 0.5), inside the captured step where the device has CUDA graphs.
check_rc=0
if [ "$CHECK_STEPS" -gt 0 ]; then  # CHECK_STEPS=0 leaves the check out
  timeout "$TRAIN_TIMEOUT" $PYTHON -m pygan train --plugin dcgan64 --resolution 32 --data-dir "$OUT/pictures" \
    --steps "$CHECK_STEPS" --device "$DEVICE" --penalty r1 --augment ada --ada-pipeline bgcfnc --ada-p 0.5 \
    --sample-every 0 --checkpoint-every 0 --out "$OUT/check" > "$OUT/check.log" 2>&1
  check_rc=$?
  rm -rf "$OUT/check"
  echo "check: $CHECK_STEPS steps of R1 through every ADA transform at p 0.5 (bgcfnc): exit $check_rc"
fi
[ $check_rc -eq 0 ] || { tail -5 "$OUT/check.log"; }

printf '%-24s %6s %8s %8s %8s %7s %7s\n' run steps train_s fcd score ada_p ada_rt | tee "$OUT/table.txt"
failed=0
for entry in "${RUNS[@]}"; do
  name=${entry%%|*}
  [[ -z "$ONLY" || "$name" =~ $ONLY ]] || continue
  read -r -a options <<< "${entry#*|}"
  run=$OUT/$name
  rm -rf "$run"
  start=$(date +%s.%N)
  timeout "$TRAIN_TIMEOUT" $PYTHON -m pygan train "${options[@]}" --data-dir "$OUT/pictures" --steps "$STEPS" \
    --device "$DEVICE" --seed 0 --sample-every $(( STEPS / 4 > 0 ? STEPS / 4 : 1 )) --checkpoint-every "$STEPS" \
    --keep-checkpoints 1 --out "$run" > "$OUT/$name.log" 2>&1
  train_rc=$?
  seconds=$($PYTHON -c "print(f'{$(date +%s.%N) - $start:.1f}')")
  eval_rc=1
  if [ $train_rc -eq 0 ]; then
    timeout "$EVAL_TIMEOUT" $PYTHON -m pygan eval --checkpoint "$run" --dataset mnist --data-dir "$SPLIT" \
      --n "$EVAL_N" --device "$DEVICE" --json > "$OUT/$name.json" 2>> "$OUT/$name.log"
    eval_rc=$?
  fi
  # Megabytes each, once the evaluation is done; a run cut short keeps them, to be resumed.
  [ $train_rc -eq 0 ] && [ $eval_rc -eq 0 ] && rm -rf "$run/checkpoints"
  [ $train_rc -eq 0 ] && [ $eval_rc -eq 0 ] || { failed=1; tail -5 "$OUT/$name.log"; }
  $PYTHON - "$name" "$run" "$OUT/$name.json" "$seconds" "$train_rc" "$eval_rc" <<'EOF' | tee -a "$OUT/table.txt"
import json, pathlib, sys
name, run, result, seconds, train_rc, eval_rc = sys.argv[1:]
rows = [json.loads(line) for line in (pathlib.Path(run) / "metrics.jsonl").read_text().splitlines()] \
    if (pathlib.Path(run) / "metrics.jsonl").exists() else []
last = rows[-1] if rows else {}
measured = json.loads(pathlib.Path(result).read_text()) if eval_rc == "0" else {}
def shown(value, form):
    return format("-", f">{form.split('.')[0]}") if value is None else format(value, form)
line = (f"{name:<24} {len(rows):>6} {float(seconds):>8.1f} {shown(measured.get('fcd'), '8.3f')} "
        f"{shown(measured.get('classifier_score'), '8.3f')} {shown(last.get('ada_p'), '7.3f')} "
        f"{shown(last.get('ada_rt'), '7.3f')}")
if train_rc != "0" or eval_rc != "0":
    line += f"  (train exit {train_rc}, eval exit {eval_rc})"
print(line)
EOF
done
exit $(( failed || check_rc ))
