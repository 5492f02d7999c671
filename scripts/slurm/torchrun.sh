#!/bin/bash
# Shared body of sft.sbatch and grpo.sbatch (sourced, not run): STAGE (sft | grpo) and HELP_LINES are set by the
# caller. The first argument is a recipe name (configs/$STAGE/NAME.yaml) or a module (default $STAGE.train, which
# then needs --config); everything else goes to the module. One torchrun per node, one process per GPU, c10d
# rendezvous on the first node (SPEC 8). Environment: VENV (default .venv of the repository), MASTER_PORT (29400),
# DRY_RUN=1 (print the commands instead of running them), GPUS_PER_NODE (the GPU count, below), and for GRPO's vLLM
# server mode VLLM_GPUS (below).
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  sed -n "$HELP_LINES" "$SCRIPT" | sed 's/^# \{0,1\}//'
  exit 0
fi
if [[ $# -eq 0 ]]; then
  echo "usage: sbatch scripts/slurm/$STAGE.sbatch RECIPE|MODULE [--field value ...]   (--help for more)" >&2
  exit 2
fi

# A seed sweep (scripts/reproduce.py --seeds) submits job arrays whose task ids are the seeds: {seed} in the
# arguments becomes this task's.
if [[ -n "${SLURM_ARRAY_TASK_ID:-}" ]]; then
  set -- "${@//\{seed\}/$SLURM_ARRAY_TASK_ID}"
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
# GPUs per node: GPUS_PER_NODE (set it to see a dry run for another node), SLURM's count inside a job, the visible
# GPUs. A dry run on a machine without GPUs (a login node, a laptop) shows the launch the job would make: the
# script's own `#SBATCH --gpus-per-node` line (sbatch's --gpus-per-node overrides that line in a real job).
GPUS=${GPUS_PER_NODE:-${SLURM_GPUS_ON_NODE:-$({ nvidia-smi -L 2>/dev/null || true; } | wc -l)}}
if [[ "${GPUS:-0}" -lt 1 && -n "${DRY_RUN:-}" ]]; then
  GPUS=$(sed -n 's/^#SBATCH --gpus-per-node=\([0-9]*\).*/\1/p' "$SCRIPT" | head -n 1)
  echo "[dry run] no GPU here: ${GPUS:-1} GPU(s) per node from $SCRIPT's #SBATCH --gpus-per-node (GPUS_PER_NODE=N for another count)" >&2
fi
[[ "${GPUS:-0}" -ge 1 ]] || GPUS=1
MASTER_ADDR=$({ scontrol show hostnames "${SLURM_JOB_NODELIST:-}" 2>/dev/null || hostname; } | head -n 1)
MASTER_PORT=${MASTER_PORT:-29400}
export TOKENIZERS_PARALLELISM=false

# GRPO's vLLM server mode on one node: VLLM_GPUS=N serves generation from the node's last N GPUs (`trl vllm-serve`,
# tensor parallel N, from the same environment: the trainer imports vLLM too, to push its weights to the server over
# NCCL) and trains on the others with --use_vllm true --vllm_mode server. VLLM_PORT (8000) and VLLM_TIMEOUT (900 s,
# how long the trainer waits for the server to load) tune it.
SERVER=()
if [[ "${VLLM_GPUS:-0}" -gt 0 ]]; then
  fail() { echo "VLLM_GPUS=$VLLM_GPUS: $1" >&2; exit 2; }
  [[ "$STAGE" == grpo ]] || fail "vLLM server mode is for GRPO"
  [[ "$NNODES" -eq 1 ]] || fail "server mode runs on one node here (sbatch --nodes 1)"
  [[ "$GPUS" -gt "$VLLM_GPUS" ]] || fail "no GPU left to train on ($GPUS on this node)"
  MODEL=
  for ((i = 1; i <= $#; i++)); do
    [[ "${!i}" == --model_name_or_path ]] && { j=$((i + 1)); MODEL=${!j}; }
    [[ "${!i}" == --model_name_or_path=* ]] && MODEL=${!i#*=}
  done
  CONFIG=${RECIPE:-}
  for ((i = 1; i <= $#; i++)); do
    [[ "${!i}" == --config ]] && { j=$((i + 1)); CONFIG=${!j}; }
  done
  if [[ -z "$MODEL" && -f "$CONFIG" ]]; then
    MODEL=$(sed -n 's/^model_name_or_path: *//p' "$CONFIG")
  fi
  [[ -n "$MODEL" ]] || fail "no --model_name_or_path to serve"
  IFS=, read -r -a DEVICES <<<"${CUDA_VISIBLE_DEVICES:-$(seq -s, 0 $((GPUS - 1)))}"
  TRAIN_GPUS=$((GPUS - VLLM_GPUS))
  SERVE_ON=$(IFS=,; echo "${DEVICES[*]:$TRAIN_GPUS:$VLLM_GPUS}")
  VLLM_PORT=${VLLM_PORT:-8000}
  SERVER=(env CUDA_VISIBLE_DEVICES="$SERVE_ON" "$(dirname "$PY")/trl" vllm-serve --model "$MODEL" --host 127.0.0.1
    --port "$VLLM_PORT" --tensor_parallel_size "$VLLM_GPUS")
  export CUDA_VISIBLE_DEVICES=$(IFS=,; echo "${DEVICES[*]:0:$TRAIN_GPUS}")
  GPUS=$TRAIN_GPUS
  set -- "$@" --use_vllm true --vllm_mode server --vllm_server_host 127.0.0.1 --vllm_server_port "$VLLM_PORT" \
    --vllm_server_timeout "${VLLM_TIMEOUT:-900}"
fi

LAUNCH=("$PY" -m torch.distributed.run --nproc_per_node="$GPUS" --nnodes="$NNODES" --rdzv_backend=c10d
  --rdzv_endpoint="$MASTER_ADDR:$MASTER_PORT" --rdzv_id="${SLURM_JOB_ID:-local}" -m "$MODULE" "${ARGS[@]}" "$@")
if [[ ${#SERVER[@]} -gt 0 ]]; then
  echo "[$(date -u +%FT%TZ)] vLLM server on GPU(s) $SERVE_ON: ${SERVER[*]}"
fi
echo "[$(date -u +%FT%TZ)] ${SLURM_JOB_ID:+job $SLURM_JOB_ID: }$NNODES node(s) x $GPUS GPU(s)${CUDA_VISIBLE_DEVICES:+ ($CUDA_VISIBLE_DEVICES)}: ${LAUNCH[*]}"
[[ -z "${DRY_RUN:-}" ]] || exit 0
if [[ ${#SERVER[@]} -gt 0 ]]; then
  # One node, so torchrun runs here (an srun step would rebind the GPUs); the server stops with the training.
  "${SERVER[@]}" &
  SERVER_PID=$!
  trap 'kill "$SERVER_PID" 2>/dev/null || true' EXIT
  "${LAUNCH[@]}"
  exit
fi
if [[ -n "${SLURM_JOB_ID:-}" ]]; then
  # One task per node; torchrun starts the per-GPU processes and the c10d rendezvous assigns node ranks.
  exec srun --ntasks-per-node=1 --kill-on-bad-exit=1 "${LAUNCH[@]}"
fi
exec "${LAUNCH[@]}"
