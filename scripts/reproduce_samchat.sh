#!/usr/bin/env bash
# Reproduce the samchat pipeline (all stages, SLURM jobs chained with afterok; --local to run here; --dry-run to print).
#   bash scripts/reproduce_samchat.sh --data-root DATA --output-root runs/samchat [--dry-run] [--local] [--only STAGE,...]
# Stages and the data each needs: python scripts/reproduce.py --help and README "Reproducing the papers".
set -euo pipefail
# No cd: relative --data-root / --output-root are the caller's (reproduce.py resolves them).
repo=$(cd "$(dirname "$0")/.." && pwd)
PY=python
[ -x "$repo/.venv/bin/python" ] && PY=$repo/.venv/bin/python
exec "$PY" "$repo/scripts/reproduce.py" samchat "$@"
