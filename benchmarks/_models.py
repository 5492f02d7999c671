"""The model a benchmark runs on (`--model tiny|twin`), shared by the scripts in this folder.

- tiny: the offline 0.2M-parameter Qwen2-VL, built in the benchmark's temporary folder (fp32; its cost is call
  overhead, so its ratios say little about the real model).
- twin: the full-size Qwen2-VL-2B twin (offline/twin.py: real shapes, real tokenizer, random weights), from
  `--twin-dir` or built into the temporary folder (~1 min, ~6 GB RAM, 4.4 GB disk). bf16 where the CPU has bf16
  matrix instructions (amx_bf16 / avx512_bf16), else fp32. Run it under `flock /tmp/rs_r1_heavy.lock`: a twin
  process takes 6-18 GB of RAM.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=("tiny", "twin"), default="tiny", help="tiny model or the 2B twin")
    parser.add_argument("--twin-dir", type=Path, help="an existing twin (python -m offline.twin --out DIR)")


def model_dtype(kind: str) -> str:
    import torch

    from offline.twin import cpu_has_bf16

    if kind == "twin" and (torch.cuda.is_available() or cpu_has_bf16()):
        return "bfloat16"
    return "float32"


def prepare_model(args: argparse.Namespace, tmp: Path) -> Path:
    """The checkpoint folder of the chosen model."""
    if args.model == "tiny":
        from offline.tiny_model import build_tiny_model

        return build_tiny_model(tmp / "tiny", seed=0)
    if args.twin_dir is not None:
        return args.twin_dir
    from offline.twin import build_twin

    return build_twin(tmp / "twin", seed=0)
