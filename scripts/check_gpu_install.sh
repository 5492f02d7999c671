#!/usr/bin/env bash
# Does the README's GPU install resolve? Runs the README's own commands (the `.venv/bin/pip install` lines between
# the gpu-install markers of "Install on a GPU cluster") with `--dry-run` into a fresh venv: pip reads package
# metadata only, so no GPU is needed and no multi-GB CUDA wheel is downloaded. Resolution is against PyPI alone, as
# on a cluster: this machine's pip configuration (version caps, local wheel folders and indexes) is switched off for
# those commands. Fails when a command does not resolve, or resolves to anything constraints-gpu.txt does not pin.
#
#   bash scripts/check_gpu_install.sh          # 3-6 minutes; CI runs it (.ci/run)
#   bash scripts/check_gpu_install.sh --lock   # re-resolve without the lock and rewrite constraints-gpu.txt
#
# flash-attn's metadata step imports torch and, unless told to skip its CUDA build, needs nvcc; so before its
# `--no-build-isolation` line the venv gets the lock's torch for real (the CPU build where this machine has one,
# else PyPI's), and that line runs with FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE (flash-attn's own switch for building
# its metadata without CUDA). Environment: PYTHON (default python3; must be 3.11, the lock's Python).
set -euo pipefail
cd "$(dirname "$0")/.."
write_lock=0
case "${1:-}" in
    --lock) write_lock=1 ;;
    "") ;;
    *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    { echo "check_gpu_install: constraints-gpu.txt is for Python 3.11; set PYTHON" >&2; exit 2; }

mapfile -t commands < <(sed -n '/<!-- gpu-install:begin -->/,/<!-- gpu-install:end -->/p' README.md |
    grep '^\.venv/bin/pip install' | sed 's/ *#.*$//')
if (( ${#commands[@]} < 2 )); then
    echo "check_gpu_install: found ${#commands[@]} '.venv/bin/pip install' lines between the README's gpu-install markers" >&2
    exit 2
fi

pypi_only=(env PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS= PIP_EXTRA_INDEX_URL= PIP_CONSTRAINT= PIP_NO_INDEX=)
work=$(mktemp -d /tmp/rs-r1-gpu-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
: >"$work/lock.txt"
"$PYTHON" -m venv "$work/venv"
# A current pip reads wheel metadata without downloading the wheels (PEP 658) and resolves faster.
"${pypi_only[@]}" "$work/venv/bin/pip" install --quiet --upgrade pip

n=0
for command in "${commands[@]}"; do
    n=$((n + 1))
    args=${command#.venv/bin/pip install }
    # --lock: each command is constrained by what the commands before it resolved (the first by nothing).
    if (( write_lock )); then args=${args//-c constraints-gpu.txt /-c $work/lock.txt }; fi
    echo "[check-gpu] $n/${#commands[@]}: pip install $args"
    extra_env=()
    if [[ $args == *--no-build-isolation* ]]; then
        torch=torch==$("$PYTHON" -c 'import json, sys
print(next(i["metadata"]["version"] for i in json.load(open(sys.argv[1]))["install"] if i["metadata"]["name"] == "torch"))' \
            "$work/report-1.json")
        "$work/venv/bin/pip" install --quiet "$torch" setuptools wheel packaging ninja psutil >"$work/torch.txt" 2>&1 ||
            { cat "$work/torch.txt" >&2; exit 1; }
        extra_env=(FLASH_ATTENTION_SKIP_CUDA_BUILD=TRUE)
    fi
    eval "words=($args)"  # the README line split into words (quotes removed) as the user's shell does
    if ! "${pypi_only[@]}" "${extra_env[@]}" "$work/venv/bin/pip" install --dry-run --ignore-installed --quiet \
        --report "$work/report-$n.json" "${words[@]}" >"$work/log-$n.txt" 2>&1; then
        tail -40 "$work/log-$n.txt" >&2
        echo "[check-gpu] FAILED to resolve: .venv/bin/pip install $args" >&2
        exit 1
    fi
    "$PYTHON" -c 'import json, sys
pins = dict(line.strip().split("==") for line in open(sys.argv[1]) if line.strip())
for item in json.load(open(sys.argv[2]))["install"]:
    pins.setdefault(item["metadata"]["name"], item["metadata"]["version"])
pins.pop("rs-r1", None)
open(sys.argv[1], "w").writelines(f"{name}=={version}\n" for name, version in pins.items())' "$work/lock.txt" "$work/report-$n.json"
done

"$PYTHON" - "$work" "${#commands[@]}" "$write_lock" <<'EOF'
"""Compare every resolved package with the lock (or write the lock); print the versions that matter on a GPU node."""

import json
import re
import sys

work, count, write_lock = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"


def key(name):
    return re.sub(r"[-_.]+", "-", name).lower()


lock = {}
for line in open("constraints-gpu.txt"):
    if line.strip() and not line.startswith("#"):
        name, version = line.strip().split("==")
        lock[key(name)] = version
resolved = {}
for n in range(1, count + 1):
    for item in json.load(open(f"{work}/report-{n}.json"))["install"]:
        resolved[key(item["metadata"]["name"])] = item["metadata"]["version"]
resolved.pop("rs-r1", None)
if write_lock:
    header = [line for line in open("constraints-gpu.txt") if line.startswith("#")]
    with open("constraints-gpu.txt", "w") as out:
        out.writelines(header + [f"{name}=={resolved[name]}\n" for name in sorted(resolved)])
    print("[check-gpu] wrote constraints-gpu.txt:", len(resolved), "packages; review the diff, then run without --lock")
    sys.exit(0)
drift = {name: version for name, version in resolved.items() if lock.get(name) != version}
if drift:
    sys.exit(f"[check-gpu] resolved outside constraints-gpu.txt (regenerate with 'bash scripts/check_gpu_install.sh --lock'): {drift}")
shown = ("torch", "torchvision", "transformers", "trl", "peft", "accelerate", "deepspeed", "vllm", "flash-attn",
         "liger-kernel", "bitsandbytes", "nvidia-cuda-runtime")
print("[check-gpu] resolved", len(resolved), "packages, all as pinned in constraints-gpu.txt:")
print("  " + ", ".join(f"{name} {resolved[name]}" for name in shown if name in resolved))
EOF
