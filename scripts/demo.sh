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
#   SFT_ARGS / GRPO_ARGS / EVAL_ARGS: extra arguments appended to each stage (e.g. SFT_ARGS="--max_steps 5")
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
OUT=${DEMO_OUT:-outputs/demo}
SIZE=${DEMO_SIZE:-demo}
SEED=${DEMO_SEED:-0}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export WANDB_MODE=${WANDB_MODE:-offline}
# One thread on any machine: how torch and MKL split a sum over threads changes its rounding, so a fixed count keeps
# the figures independent of the core count (README, "Seeds and CPU types"); `make demo-spread` runs its demos side
# by side instead. (Not yet timed against two threads on an idle machine.)
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} MKL_NUM_THREADS=${MKL_NUM_THREADS:-${OMP_NUM_THREADS:-1}}

start=$(date +%s)
step() { printf '\n== [%4ds] %s\n' "$(( $(date +%s) - start ))" "$*"; }
# A training stage is complete once its final model is saved (checkpoints alone mean "interrupted": rerun resumes).
trained() { [ -f "$1/config.json" ] && ls "$1"/*.safetensors >/dev/null 2>&1; }

step "tiny offline Qwen2-VL -> $OUT/tiny"
[ -f "$OUT/tiny/config.json" ] || $PY -m offline.tiny_model --out "$OUT/tiny" --seed "$SEED"

step "synthetic remote-sensing data ($SIZE) -> $OUT/data"
[ -f "$OUT/data/.complete" ] || { $PY -m offline.synthetic --out "$OUT/data" --size "$SIZE" --seed "$SEED" && touch "$OUT/data/.complete"; }

step "validate every synthetic dataset"
D="$OUT/data"
$PY -m common.data validate --format llava "$D/samdata/train/sam_300_inst.json" --image-folder "$D/samdata/train"
$PY -m common.data validate --format llava "$D/samdata/train/sam_300_reasoning_inst.json" --image-folder "$D/samdata/train"
$PY -m common.data validate --format samdata_test "$D/samdata/test"
$PY -m common.data validate --format imagefolder "$D/samdata/grpo"
for f in list_pretrain_corrected list_sft_oversampled list_sft_reasoning_oversampled; do
  $PY -m common.data validate --format llava "$D/vhm/$f.json" --image-folder "$D/vhm"
done
$PY -m common.data validate --format tinyrs_grpo "$D/vhm_grpo"
for f in "$D"/scorers/*.json; do $PY -m common.data validate --format scorers "$f"; done
for f in "$D"/geovlm/*.jsonl; do $PY -m common.data validate --format jsonl "$f" --image-folder "$D/geovlm/images"; done

step "CoT SFT on synthetic SAMData (configs/sft/demo.yaml) -> $OUT/sft"
# shellcheck disable=SC2086  # the *_ARGS knobs are word lists on purpose
trained "$OUT/sft" || $PY -m sft.train --config configs/sft/demo.yaml \
  --model_name_or_path "$OUT/tiny" \
  --data_path "$D/samdata/train/sam_300_reasoning_inst.json" --image_folder "$D/samdata/train" \
  --output_dir "$OUT/sft" --seed "$SEED" ${SFT_ARGS:-}

step "GRPO from the SFT checkpoint (configs/grpo/demo.yaml) -> $OUT/grpo"
# shellcheck disable=SC2086
trained "$OUT/grpo" || $PY -m grpo.train --config configs/grpo/demo.yaml \
  --model_name_or_path "$OUT/sft" --dataset_name "$D/samdata/grpo" --output_dir "$OUT/grpo" --seed "$SEED" ${GRPO_ARGS:-}

for pair in base:"$OUT/tiny" sft:"$OUT/sft" grpo:"$OUT/grpo"; do
  name=${pair%%:*}
  # SAMData allows 32768 new tokens (SPEC 6.1); the untrained tiny model may never stop, so the demo caps it.
  step "evaluate the $name checkpoint on synthetic SAMData-Test -> $OUT/eval/$name"
  # shellcheck disable=SC2086
  $PY -m eval.run --model "${pair#*:}" --tasks samdata --data-root "$D/samdata/test" \
    --output-dir "$OUT/eval/$name" --batch-size 16 --max-new-tokens 192 ${EVAL_ARGS:-}
done

step "report -> $OUT/report.md"
$PY scripts/demo_report.py --demo-dir "$OUT"
# The README states the figures of the default demo (seed 0, full size, no extra arguments): say whether they hold.
if [ "$SIZE" = demo ] && [ "$SEED" = 0 ] && [ -z "${SFT_ARGS:-}${GRPO_ARGS:-}${EVAL_ARGS:-}" ]; then
  $PY scripts/demo_report.py --demo-dir "$OUT" --check-readme README.md || \
    echo "WARNING: a figure above is further from README.md's demo table than README says to expect" >&2
fi

step "done"
cat <<EOF
Report: $OUT/report.md
Ask the trained checkpoints about an image in your browser (web demo on 127.0.0.1):
  $PY -m eval.serve --model $OUT/grpo
EOF
