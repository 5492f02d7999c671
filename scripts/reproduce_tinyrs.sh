#!/usr/bin/env bash
# Reproduce the tinyrs pipeline (all stages, SLURM jobs chained with afterok; --local to run here; --dry-run to print).
#   bash scripts/reproduce_tinyrs.sh --data-root DATA --output-root runs/tinyrs [--dry-run] [--local] [--only STAGE,...]
# Stages and the data each needs: python scripts/reproduce.py --help and README "Reproducing the papers".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=python
[ -x .venv/bin/python ] && PY=.venv/bin/python
exec "$PY" scripts/reproduce.py tinyrs "$@"
