#!/usr/bin/env bash
# The BatchNorm statistics' measurement (issue 23): dcgan, wgan and cgan, each
# with --batchnorm-statistics plain (the default, TensorFlow 2's Keras) and
# zero-debiased (the first edition's standalone Keras), STEPS (2,000) steps
# at seed 0 on the MNIST test split pygan ships, a sample grid and a
# checkpoint every STEPS/4 (500) steps; then `pygan eval --json` (the MNIST
# classifier's FCD against the split, EVAL_N samples) of the checkpoint at
# STEPS/4 and of the last one.
#
# Writes $OUT/batchnorm/ (OUT default ./gpu-out): RUN/ (each run's folder
# without its checkpoints: config.json, metrics.jsonl, samples/ with the
# grids to look at, losses.png), RUN.log, RUN-QUARTER.json and RUN.json (the
# evaluations) and table.txt (one line per run, printed too). A grid's
# spread is the mean over pixels of the standard deviation across its 16
# images (0: every z draws the same picture); the line "real digits" gives
# it for 16 digits of the split. Run from the repository root:
#   PYGAN_DEVICE=cuda bash benchmarks/gpu/measure_batchnorm.sh
# A tiny CPU check:  PYGAN_DEVICE=cpu STEPS=20 EVAL_N=500 EVAL_TIMEOUT=900 bash benchmarks/gpu/measure_batchnorm.sh
set -uo pipefail
OUT=${OUT:-$PWD/gpu-out}/batchnorm
DEVICE=${PYGAN_DEVICE:-cuda}
STEPS=${STEPS:-2000}
QUARTER=$(( STEPS / 4 > 0 ? STEPS / 4 : 1 ))
EVAL_N=${EVAL_N:-5000}
TRAIN_TIMEOUT=${TRAIN_TIMEOUT:-300}  # seconds, each training run
EVAL_TIMEOUT=${EVAL_TIMEOUT:-180}    # seconds, each evaluation (the first trains MNIST's classifier)
PLUGINS=${PLUGINS:-dcgan wgan cgan}  # subsets, for instances run side by side with their own OUT
MODES=${MODES:-plain zero-debiased}
# -P: the source tree in the current folder (no compiled _C) must not shadow the installed pygan.
PYTHON="${PYTHON:-python3} -P"
export PYTHONUNBUFFERED=1
# The MNIST classifier is cached outside $OUT (not sent back): in
# PYGAN_DATA_DIR when it is set, else in a folder removed at the end.
if [ -z "${PYGAN_DATA_DIR:-}" ]; then
  PYGAN_DATA_DIR=$(mktemp -d)
  trap 'rm -rf "$PYGAN_DATA_DIR"' EXIT
fi
export PYGAN_DATA_DIR
mkdir -p "$OUT"

SPLIT=$($PYTHON -c "import pathlib, pygan_plugins; print(pathlib.Path(pygan_plugins.__file__).parent / 'mnist_test_split')") \
  || { echo "pygan_plugins cannot be imported: install pygan first"; exit 1; }
$PYTHON -m pygan train --plugin dcgan --batchnorm-statistics zero-debiased --data-dir "$SPLIT" --dry-run > /dev/null \
  || { echo "this pygan has no --batchnorm-statistics (issue 23): install the branch that has it"; exit 1; }

# The spread of a sample grid (pygan's 4x4 grids of 28x28 digits, 2-pixel
# gaps, drawn at twice the size), or of the split's first 16 digits.
spread() {
  $PYTHON - "$@" <<'EOF'
import gzip, pathlib, sys
import numpy as np
from PIL import Image
source = pathlib.Path(sys.argv[1])
if source.is_dir():
    raw = gzip.open(source / "t10k-images-idx3-ubyte.gz").read()
    tiles = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)[:16] / 255
else:
    grid = np.asarray(Image.open(source).convert("L"), dtype=np.float64)[::2, ::2] / 255
    if grid.shape != (4 * 30 - 2, 4 * 30 - 2):
        sys.exit(f"{source}: not a 4x4 grid of 28x28 images")
    tiles = np.stack([grid[r * 30:r * 30 + 28, c * 30:c * 30 + 28] for r in range(4) for c in range(4)])
print(f"{tiles.std(axis=0).mean():.3f}")
EOF
}
$PYTHON -c "import torch; print('torch', torch.__version__, 'on', torch.cuda.get_device_name() if '$DEVICE' == 'cuda'
           else 'the CPU, load ' + ' '.join(open('/proc/loadavg').read().split()[:3]))" | tee "$OUT/table.txt"
echo "real digits: spread $(spread "$SPLIT")" | tee -a "$OUT/table.txt"

# Prints one evaluation's field (or -).
field() {
  $PYTHON -c "import json, sys; v = json.load(open(sys.argv[1])).get(sys.argv[2]); print('-' if v is None else
              f'{v:.3f}' if isinstance(v, float) else v)" "$1" "$2" 2> /dev/null || echo -
}

printf '%-22s %6s %8s %9s %9s %8s %9s %9s %9s %8s %8s\n' run steps train_s "fcd@$QUARTER" "fcd@$STEPS" score \
  label_acc "spr@$QUARTER" "spr@$STEPS" d_loss g_loss | tee -a "$OUT/table.txt"
failed=0
for plugin in $PLUGINS; do
  for mode in $MODES; do
    name=$plugin-$mode
    run=$OUT/$name
    rm -rf "$run"
    start=$(date +%s.%N)
    timeout "$TRAIN_TIMEOUT" $PYTHON -m pygan train --plugin "$plugin" --batchnorm-statistics "$mode" \
      --data-dir "$SPLIT" --steps "$STEPS" --device "$DEVICE" --seed 0 --sample-every "$QUARTER" \
      --checkpoint-every "$QUARTER" --keep-checkpoints 0 --out "$run" > "$OUT/$name.log" 2>&1
    train_rc=$?
    seconds=$($PYTHON -c "print(f'{$(date +%s.%N) - $start:.1f}')")
    eval_rc=1
    if [ $train_rc -eq 0 ]; then
      for checkpoint in "$(printf '%s/checkpoints/%08d.pt' "$run" "$QUARTER")" "$run"; do
        result=$OUT/$name.json
        [ "$checkpoint" = "$run" ] || result=$OUT/$name-$QUARTER.json
        timeout "$EVAL_TIMEOUT" $PYTHON -m pygan eval --checkpoint "$checkpoint" --n "$EVAL_N" --device "$DEVICE" \
          --json > "$result" 2>> "$OUT/$name.log"
        eval_rc=$?
        [ $eval_rc -eq 0 ] || break
      done
    fi
    # Megabytes each, once the evaluations are done; a run cut short keeps them, to be resumed.
    [ $train_rc -eq 0 ] && [ $eval_rc -eq 0 ] && rm -rf "$run/checkpoints"
    [ $train_rc -eq 0 ] && [ $eval_rc -eq 0 ] || { failed=1; tail -5 "$OUT/$name.log"; }
    last=$($PYTHON -c "import json, sys; rows = open(sys.argv[1]).read().splitlines(); r = json.loads(rows[-1])
print(len(rows), format(r['d_loss'], '.4f'), format(r['g_loss'], '.4f'))" "$run/metrics.jsonl" 2> /dev/null \
      || echo "0 - -")
    read -r steps d_loss g_loss <<< "$last"
    printf '%-22s %6s %8s %9s %9s %8s %9s %9s %9s %8s %8s%s\n' "$name" "$steps" "$seconds" \
      "$(field "$OUT/$name-$QUARTER.json" fcd)" "$(field "$OUT/$name.json" fcd)" \
      "$(field "$OUT/$name.json" classifier_score)" "$(field "$OUT/$name.json" label_accuracy)" \
      "$(spread "$(printf '%s/samples/%05d.png' "$run" "$QUARTER")" 2> /dev/null || echo -)" \
      "$(spread "$(printf '%s/samples/%05d.png' "$run" "$STEPS")" 2> /dev/null || echo -)" "$d_loss" "$g_loss" \
      "$([ $train_rc -eq 0 ] && [ $eval_rc -eq 0 ] || echo "  (train exit $train_rc, eval exit $eval_rc)")" \
      | tee -a "$OUT/table.txt"
  done
done
echo "real digits: classifier score $(field "$OUT/${PLUGINS%% *}-${MODES%% *}.json" real_classifier_score)" | tee -a "$OUT/table.txt"
exit $failed
