#!/bin/bash
# Shared body of sft.sbatch and grpo.sbatch (sourced, not run): STAGE (sft | grpo) and HELP_LINES are set by the
# caller. The first argument is a recipe name (configs/$STAGE/NAME.yaml) or a module (default $STAGE.train, which
# then needs --config); everything else goes to the module. One torchrun per node, one process per GPU, c10d
# rendezvous on the first node (SPEC 8). Environment: VENV (default .venv of the repository), MASTER_PORT (29400).
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n "$HELP_LINES" "$SCRIPT" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [[ $# -eq 0 ]]; then
  echo "usage: sbatch scripts/slurm/$STAGE.sbatch RECIPE|MODULE [--field value ...]   (--help for more)" >&2
  exit 2
fi

MODULE=$STAGE.train
ARGS=()
if [[ "$1" == *.* ]]; then
  MODULE=$1
  shift
elif [[ "$1" != -* ]]; then
  RECIPE=configs/$STAGE/$1.yaml
  [[ -f "$RECIPE" ]] || { echo "no recipe $RECIPE (see configs/$STAGE/)" >&2; exit 2; }
  ARGS=(--config "$RECIPE")
  shift
fi

PY=${VENV:-$REPO/.venv}/bin/python
NNODES=${SLURM_NNODES:-1}
GPUS=${SLURM_GPUS_ON_NODE:-$({ nvidia-smi -L 2>/dev/null || true; } | wc -l)}
[[ "${GPUS:-0}" -ge 1 ]] || GPUS=1
MASTER_ADDR=$({ scontrol show hostnames "${SLURM_JOB_NODELIST:-}" 2>/dev/null || hostname; } | head -n 1)
MASTER_PORT=${MASTER_PORT:-29400}
export TOKENIZERS_PARALLELISM=false

LAUNCH=("$PY" -m torch.distributed.run --nproc_per_node="$GPUS" --nnodes="$NNODES" --rdzv_backend=c10d
  --rdzv_endpoint="$MASTER_ADDR:$MASTER_PORT" --rdzv_id="${SLURM_JOB_ID:-local}" -m "$MODULE" "${ARGS[@]}" "$@")
echo "[$(date -u +%FT%TZ)] ${SLURM_JOB_ID:+job $SLURM_JOB_ID: }$NNODES node(s) x $GPUS GPU(s): ${LAUNCH[*]}"
if [[ -n "${SLURM_JOB_ID:-}" ]]; then
  # One task per node; torchrun starts the per-GPU processes and the c10d rendezvous assigns node ranks.
  exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 "${LAUNCH[@]}"
fi
exec "${LAUNCH[@]}"
