#!/usr/bin/env bash
# The fast suite against the GPU lock's versions, on CPU: a second venv (outputs/venv-gpu-lock) installed from
# constraints-gpu.txt with every stage's extras but not `gpu` (vLLM, Liger, bitsandbytes and flash-attn are CUDA-only),
# so the code is tested on torch 2.13.0 / torchvision 0.28.0 / transformers 5.17.0 as well as on constraints.txt.
#
#   bash scripts/test_gpu_lock_on_cpu.sh [PYTEST ARGS]     # install ~3-4 min once, then the fast suite; CI runs it
#
# torch is whatever `torch==<lock>` resolves to here: the CPU build where pip can see one (this project's machines
# hold torch 2.13.0+cpu locally), else PyPI's CUDA build, which runs on the CPU too (a multi-GB download).
# PyPI's torchvision 0.28.0 is built against the CUDA torch; beside the CPU build its C++ ops do not load, and only
# its `_meta_registrations` module (fake-tensor kernels for those ops, used by torch.compile) then fails at import.
# (pytorch/pytorch#122494). The venv skips that one module through a .pth file; nothing in rs-r1 uses torchvision's C++ ops (nms, roi_align).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
venv=outputs/venv-gpu-lock
if [[ ! -f $venv/.installed || constraints-gpu.txt -nt $venv/.installed || pyproject.toml -nt $venv/.installed ]]; then
    rm -rf "$venv"
    "$PYTHON" -m venv "$venv"
    "$venv/bin/pip" install --quiet --constraint constraints-gpu.txt -e ".[sft,grpo,eval,judge,dev]"
    if "$venv/bin/python" -c 'import sys, torch; sys.exit(torch.version.cuda is not None)'; then
        site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
        echo 'import sys, types; sys.modules.setdefault("torchvision._meta_registrations", types.ModuleType("torchvision._meta_registrations"))' \
            >"$site/rs_r1_cpu_torchvision.pth"
    fi
    touch "$venv/.installed"
fi
"$venv/bin/python" -c 'import torch, torchvision, transformers, trl
print(f"[gpu-lock on cpu] torch {torch.__version__}, torchvision {torchvision.__version__}, "
      f"transformers {transformers.__version__}, trl {trl.__version__}")'

export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export WANDB_MODE=${WANDB_MODE:-offline} PYTHONPATH=$PWD
# A per-test limit (pytest-timeout), so a hung test fails with its traceback instead of holding CI.
exec "$venv/bin/pytest" -q -m "not slow and not browser" --timeout 600 "$@"
