"""Activation memory of the Qwen2-VL-2B twin per language-model token and per vision patch, with and without
activation checkpointing: the per-token figures `offline.plan` uses.

    flock /tmp/rs_r1_heavy.lock python benchmarks/twin_activations.py --twin DIR

Each measurement is a fresh process (peak RSS is per process): load the twin in bf16, freeze every weight, let the
inputs require grad (so backward keeps the activations a LoRA / full fine-tune keeps), run one forward + backward
at two sizes, and take the difference of the peaks over the difference of the sizes. Text: random ids, no image.
Vision: one square image (patches = (side / 14)^2) and a short text. bf16 compute, sdpa attention, 2 CPU threads.
Last line: `per_token_bytes off <n> on <n> per_patch_bytes off <n> on <n>`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

TEXT_SIZES = (128, 512)  # language-model tokens
IMAGE_SIDES = (224, 448)  # pixels: 256 and 1024 vision patches (64 and 256 merged tokens)


def measure(twin: str, kind: str, size: int, checkpointing: bool) -> int:
    """Runs in the child: returns the peak RSS in bytes after one forward + backward."""
    import torch
    from PIL import Image

    from common.modeling import load_model, load_processor

    torch.manual_seed(0)
    model = load_model(twin, dtype="bfloat16", attn_implementation="sdpa")
    model.requires_grad_(False)
    model.enable_input_require_grads()
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    if kind == "text":
        ids = torch.randint(0, 151000, (1, size))
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    else:
        processor = load_processor(twin)
        messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]}]
        text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = dict(
            processor(text=[text], images=[Image.new("RGB", (size, size), (90, 120, 60))], return_tensors="pt")
        )
    out = model(**inputs, labels=inputs["input_ids"])
    out.loss.backward()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(twin: str, kind: str, size: int, checkpointing: bool) -> int:
    code = (
        "import sys, json; from benchmarks.twin_activations import measure; "
        f"print(json.dumps(measure({twin!r}, {kind!r}, {size}, {checkpointing})))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--twin", required=True, type=Path, help="python -m offline.twin --out DIR")
    args = parser.parse_args()
    figures = {}
    for kind, sizes in (("text", TEXT_SIZES), ("vision", IMAGE_SIDES)):
        for checkpointing in (False, True):
            peaks = [child(str(args.twin), kind, size, checkpointing) for size in sizes]
            units = list(sizes) if kind == "text" else [(side // 14) ** 2 for side in sizes]
            per_unit = (peaks[1] - peaks[0]) / (units[1] - units[0])
            figures[(kind, checkpointing)] = per_unit
            print(
                f"{kind} checkpointing {checkpointing}: peaks {[round(p / 2**30, 2) for p in peaks]} GiB at "
                f"{units} {'tokens' if kind == 'text' else 'patches'} -> {per_unit / 2**10:.0f} KiB each"
            )
    print(
        f"per_token_bytes off {figures['text', False]:.0f} on {figures['text', True]:.0f} "
        f"per_patch_bytes off {figures['vision', False]:.0f} on {figures['vision', True]:.0f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
