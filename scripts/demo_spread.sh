#!/usr/bin/env bash
# How far the demo's figures move (`make demo-spread`, README "What `make demo` shows"): the default demo at seeds
# 0, 1 and 2, then seed 0 again with ATen, oneDNN and MKL held to their AVX2 kernels, the code a CPU without AVX-512 /
# AMX runs. Prints one row per run (paper protocol). Each run resumes like `make demo`; `make clean` starts over.
#   SPREAD_OUT=outputs/spread  SPREAD_SEEDS="0 1 2"
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
OUT=${SPREAD_OUT:-outputs/spread}
mkdir -p "$OUT"
runs=()
for seed in ${SPREAD_SEEDS:-0 1 2}; do
  echo "== seed $seed -> $OUT/seed$seed"
  DEMO_OUT="$OUT/seed$seed" DEMO_SEED=$seed bash scripts/demo.sh > "$OUT/seed$seed.log" 2>&1 || {
    echo "seed $seed failed: see $OUT/seed$seed.log" >&2; exit 1; }
  runs+=("seed $seed=$OUT/seed$seed")
done
echo "== seed 0, AVX2 kernels -> $OUT/seed0_avx2"
DEMO_OUT="$OUT/seed0_avx2" DEMO_SEED=0 ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \
  bash scripts/demo.sh > "$OUT/seed0_avx2.log" 2>&1 || { echo "AVX2 run failed: see $OUT/seed0_avx2.log" >&2; exit 1; }
runs+=("seed 0, AVX2 kernels=$OUT/seed0_avx2")
$PY scripts/demo_report.py --spread "${runs[@]}"
