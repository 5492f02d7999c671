#!/usr/bin/env bash
# The end-to-end demo (README's first command, `make demo`): the whole SAMChat pipeline on a tiny offline Qwen2-VL
# and procedurally generated aerial scenes, on CPU, in minutes.
#
#   tiny model + synthetic data -> validate -> CoT SFT -> GRPO (format + keyword rewards)
#   -> SAMData evaluation of the base, SFT and GRPO checkpoints -> outputs/demo/report.md (+ PNG plots)
#
# Every step is skipped when its output is complete, so an interrupted demo resumes where it stopped
# (`make clean` starts over). Knobs, all optional (the CI test runs a reduced demo with them):
#   DEMO_OUT=outputs/demo  DEMO_SIZE=demo|small  DEMO_SEED=0 (one seed for the tiny model, the data and both trainers)
#   DEMO_KERNELS=avx2|native (below)
#   SFT_ARGS / GRPO_ARGS / EVAL_ARGS: extra arguments appended to each stage (e.g. SFT_ARGS="--max_steps 5")
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
OUT=${DEMO_OUT:-outputs/demo}
SIZE=${DEMO_SIZE:-demo}
SEED=${DEMO_SEED:-0}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export WANDB_MODE=${WANDB_MODE:-offline}
# The same numerics on any x86-64 machine (README, "Seeds and CPU types"):
# - One thread per process: how torch and MKL split a sum over threads changes its rounding, so a fixed count keeps
#   the figures independent of the core count. A second core is used by running stages side by side instead: two
#   lanes of one-thread processes, the same numbers on 1 or 64 cores.
# - AVX2 kernels (DEMO_KERNELS=avx2, the default): ATen, oneDNN and MKL pick AVX2, AVX-512 or AMX code at run time,
#   which round differently, and GRPO's sampling turns a last-bit difference into other completions. Every x86-64
#   CPU since 2013-2015 has AVX2, so the demo holds all three to it (an AVX2 machine runs exactly what it would run
#   anyway); MKL's conditional numerical reproducibility (MKL_CBWR) also makes its results the same on Intel and AMD.
#   DEMO_KERNELS=native leaves the choice to the libraries; a variable set by the caller wins over either.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-${OMP_NUM_THREADS:-1}}
case ${DEMO_KERNELS:-avx2} in
  avx2) export ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-avx2} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-AVX2} \
      MKL_CBWR=${MKL_CBWR:-AVX2} ;;
  native) ;;
  *) echo "demo: DEMO_KERNELS must be avx2 or native, not '$DEMO_KERNELS'" >&2; exit 2 ;;
esac

start=$(date +%s)
step() { printf '\n== [%4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }
# A training stage is complete once its final model is saved (checkpoints alone mean "interrupted": rerun resumes).
trained() { [ -f "$1/config.json" ] && ls "$1"/*.safetensors >/dev/null 2>&1; }
D="$OUT/data"
mkdir -p "$OUT/logs"
# logged NAME COMMAND...: run a stage with its output in $OUT/logs/NAME.log (the second lane runs these in the
# background); joined PID NAME...: wait for the lane, print the end of each stage's log, and stop the demo naming the
# log of the stage that failed.
# Each runs in a fresh `bash -e` (a function called inside `&&` or `||` would ignore errexit, and a failed
# validation would pass unseen).
logged() {
  local name=$1; shift
  if ! bash -euo pipefail -c '"$@"' logged "$@" > "$OUT/logs/$name.log" 2>&1; then
    echo "$name" > "$OUT/logs/failed"; return 1
  fi
}
joined() {
  local pid=$1 name; shift
  if wait "$pid"; then
    for name in "$@"; do { grep -v '%|' "$OUT/logs/$name.log" || true; } | tail -n 2 | sed 's/^/   | /'; done  # (bars: log)
  else
    name=$(cat "$OUT/logs/failed" 2>/dev/null || echo "$1")
    tail -n 30 "$OUT/logs/$name.log" >&2; echo "demo: $name failed; full log: $OUT/logs/$name.log" >&2; exit 1
  fi
}
evaluate() {  # NAME CHECKPOINT
  # SAMData allows 32768 new tokens (SPEC 6.1); the untrained tiny model may never stop, so the demo caps it.
  # shellcheck disable=SC2086  # the *_ARGS knobs are word lists on purpose
  $PY -m eval.run --model "$2" --tasks samdata --data-root "$D/samdata/test" \
    --output-dir "$OUT/eval/$1" --batch-size 16 --max-new-tokens 192 ${EVAL_ARGS:-}
}
validate_samdata() {
  $PY -m common.data validate --format llava "$D/samdata/train/sam_300_inst.json" --image-folder "$D/samdata/train"
  $PY -m common.data validate --format llava "$D/samdata/train/sam_300_reasoning_inst.json" --image-folder "$D/samdata/train"
  $PY -m common.data validate --format samdata_test "$D/samdata/test"
  $PY -m common.data validate --format imagefolder "$D/samdata/grpo"
}
tiny_model() { [ -f "$OUT/tiny/config.json" ] || $PY -m offline.tiny_model --out "$OUT/tiny" --seed "$SEED"; }
other_data() {  # every other synthetic dataset (the demo trains on SAMData only), then every dataset's validation
  [ -f "$D/.complete" ] || { $PY -m offline.synthetic --out "$D" --size "$SIZE" --seed "$SEED" \
    --sections vhm,vhm_grpo,scorers,geovlm,earthdial && touch "$D/.complete"; }
  validate_samdata
  for f in list_pretrain_corrected list_sft_oversampled list_sft_reasoning_oversampled; do
    $PY -m common.data validate --format llava "$D/vhm/$f.json" --image-folder "$D/vhm"
  done
  $PY -m common.data validate --format tinyrs_grpo "$D/vhm_grpo"
  for f in "$D"/scorers/*.json; do $PY -m common.data validate --format scorers "$f"; done
  for f in "$D"/geovlm/*.jsonl; do $PY -m common.data validate --format jsonl "$f" --image-folder "$D/geovlm/images"; done
}

export PY OUT SIZE SEED D EVAL_ARGS
export -f evaluate validate_samdata other_data tiny_model
step "tiny offline Qwen2-VL -> $OUT/tiny, beside synthetic SAMData ($SIZE) -> $D/samdata"
rm -f "$OUT/logs/failed"
logged tiny tiny_model &
tiny=$!
[ -f "$D/.samdata" ] || { $PY -m offline.synthetic --out "$D" --size "$SIZE" --seed "$SEED" --sections samdata && touch "$D/.samdata"; }
joined $tiny tiny

step "CoT SFT on synthetic SAMData (configs/sft/demo.yaml) -> $OUT/sft"
# (SFT checks its own records as it loads them: a bad one stops it at once, naming the file and record.)
echo "   beside it: the other synthetic datasets, every dataset's validation, the base model's evaluation ($OUT/logs)"
{ logged data other_data && logged eval_base evaluate base "$OUT/tiny"; } &
lane=$!
# shellcheck disable=SC2086
trained "$OUT/sft" || $PY -m sft.train --config configs/sft/demo.yaml \
  --model_name_or_path "$OUT/tiny" \
  --data_path "$D/samdata/train/sam_300_reasoning_inst.json" --image_folder "$D/samdata/train" \
  --output_dir "$OUT/sft" --seed "$SEED" ${SFT_ARGS:-}
joined $lane data eval_base

step "GRPO from the SFT checkpoint (configs/grpo/demo.yaml) -> $OUT/grpo"
echo "   beside it: the SFT model's evaluation ($OUT/logs/eval_sft.log)"
logged eval_sft evaluate sft "$OUT/sft" &
lane=$!
# shellcheck disable=SC2086
trained "$OUT/grpo" || $PY -m grpo.train --config configs/grpo/demo.yaml \
  --model_name_or_path "$OUT/sft" --dataset_name "$D/samdata/grpo" --output_dir "$OUT/grpo" --seed "$SEED" ${GRPO_ARGS:-}
joined $lane eval_sft

step "evaluate the grpo checkpoint on synthetic SAMData-Test -> $OUT/eval/grpo"
evaluate grpo "$OUT/grpo"

step "report -> $OUT/report.md"
# The README states the figures of the default demo (seed 0, full size, no extra arguments): say whether they hold.
if [ "$SIZE" = demo ] && [ "$SEED" = 0 ] && [ -z "${SFT_ARGS:-}${GRPO_ARGS:-}${EVAL_ARGS:-}" ]; then
  $PY scripts/demo_report.py --demo-dir "$OUT" --check-readme README.md || \
    echo "WARNING: a figure above is further from README.md's demo table than README says to expect" >&2
else
  $PY scripts/demo_report.py --demo-dir "$OUT"
fi

step "done"
cat <<EOF
Report: $OUT/report.md
Ask the trained checkpoints about an image in your browser (web demo on 127.0.0.1):
  $PY -m eval.serve --model $OUT/grpo
EOF
