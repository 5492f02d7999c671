#!/usr/bin/env bash
# How far the demo's figures move (`make demo-spread`, README "Seeds and CPU types"): the default demo at seeds 0-4,
# then seed 0 again on other CPU code paths: the libraries' own kernel choice instead of the demo's AVX2 pins (what
# an AVX-512 / AMX machine would run unpinned; the same code as the pins on an AVX2 machine), the baseline x86-64
# kernels (SSE4: a CPU without AVX2), and two threads instead of one. Holding kernels down emulates a lesser CPU on a
# better one, never the reverse. Each demo runs one-thread processes (its second lane is idle most of the time), so
# SPREAD_JOBS of them (default: the core count) run side by side. Prints one row per run (paper protocol), then the
# seeds' aggregate. Each run resumes like `make demo`; `make clean` starts over.
#   SPREAD_OUT=outputs/spread  SPREAD_SEEDS="0 1 2 3 4"  SPREAD_JOBS=$(nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
OUT=${SPREAD_OUT:-outputs/spread}
JOBS=${SPREAD_JOBS:-$(nproc)}
mkdir -p "$OUT"
runs=()
# demo LABEL DIR SEED [VAR=VALUE ...]: one demo run in the background with extra environment, its log beside it.
demo() {
  local label=$1 dir=$OUT/$2 seed=$3
  shift 3
  while [ "$(jobs -pr | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
  echo "== $label -> $dir"
  env DEMO_OUT="$dir" DEMO_SEED="$seed" "$@" bash scripts/demo.sh > "$dir.log" 2>&1 &
  runs+=("$label=$dir")
}
for seed in ${SPREAD_SEEDS:-0 1 2 3 4}; do
  demo "seed $seed" "seed$seed" "$seed"
done
demo "seed 0, native kernels" seed0_native 0 DEMO_KERNELS=native
demo "seed 0, SSE4 kernels" seed0_sse4 0 ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_CBWR=SSE4_2
demo "seed 0, 2 threads" seed0_2threads 0 OMP_NUM_THREADS=2
wait
for run in "${runs[@]}"; do
  [ -f "${run#*=}/report.md" ] || { echo "${run%%=*} failed: see ${run#*=}.log" >&2; exit 1; }
done
$PY scripts/demo_report.py --spread "${runs[@]}"
