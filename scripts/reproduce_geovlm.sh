#!/usr/bin/env bash
# Reproduce the geovlm pipeline (all stages, SLURM jobs chained with afterok; --local to run here; --dry-run to print).
#   bash scripts/reproduce_geovlm.sh --data-root DATA --output-root runs/geovlm [--dry-run] [--local] [--only STAGE,...]
# Stages and the data each needs: python scripts/reproduce.py --help and README "Reproducing the papers". Its GRPO
# stage runs the plan configs/grpo/geovlm_stages.yaml: every task's stage on the one recipe configs/grpo/geovlm_r1.yaml.
set -euo pipefail
# No cd: relative --data-root / --output-root are the caller's (reproduce.py resolves them).
repo=$(cd "$(dirname "$0")/.." && pwd)
PY=python
[ -x "$repo/.venv/bin/python" ] && PY=$repo/.venv/bin/python
exec "$PY" "$repo/scripts/reproduce.py" geovlm "$@"
