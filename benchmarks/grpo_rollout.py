"""GRPO rollout: G completions per prompt generated in one batch (as the stock TRL GRPOTrainer does) against one at
a time (as the released SAMChat / TinyRS trainers did: SPEC 7.7).

    python benchmarks/grpo_rollout.py [--model tiny|twin] [--prompts 8] [--generations 4] [--max-new-tokens 64]
    flock /tmp/rs_r1_heavy.lock python benchmarks/grpo_rollout.py --model twin --prompts 2 --generations 4 \
        --max-new-tokens 16     # the 2B twin (bf16 where the CPU has it): a few minutes on 2 cores

Self-contained: builds the model (benchmarks/_models.py) and synthetic SAMChat GRPO prompts (the SAMChat system text and
question suffix) in a temporary folder, then samples the same prompts both ways at temperature 1.0 with exactly
max-new-tokens tokens per completion (min_new_tokens = max_new_tokens, so both ways do the same work). The last line
is `speedup <ratio>` (one-at-a-time time / batched time).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _models import add_model_arguments, model_dtype, prepare_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--generations", type=int, default=4, help="G, completions per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    args = parser.parse_args()

    import torch

    from common.modeling import load_model, load_processor
    from common.prompts import SAMCHAT_GRPO_SUFFIX, SAMCHAT_GRPO_SYSTEM
    from offline.synthetic import KINDS, render_scene

    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))  # shared CI machines: keep the load modest
    rng = np.random.default_rng(0)
    images = [render_scene(KINDS[i % len(KINDS)], rng, size=112)[0] for i in range(args.prompts)]
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = prepare_model(args, Path(tmp))
        processor = load_processor(model_dir, padding_side="left")
        dtype = model_dtype(args.model)
        model = load_model(model_dir, dtype=dtype, attn_implementation="sdpa").eval()
    messages = [
        {"role": "system", "content": [{"type": "text", "text": SAMCHAT_GRPO_SYSTEM}]},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "Is there a missile site?" + SAMCHAT_GRPO_SUFFIX}],
        },
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    sampling = {
        "do_sample": True,
        "temperature": 1.0,
        "top_k": 0,
        "max_new_tokens": args.max_new_tokens,
        "min_new_tokens": args.max_new_tokens,
    }

    def generate(batch_images: list) -> int:
        inputs = processor(text=[text] * len(batch_images), images=batch_images, return_tensors="pt", padding=True)
        with torch.inference_mode():
            output = model.generate(**inputs, **sampling)
        return (output.shape[1] - inputs["input_ids"].shape[1]) * output.shape[0]

    generate(images[:2])  # warm-up (allocator, kernels)
    torch.manual_seed(0)
    start = time.perf_counter()
    one_tokens = sum(generate([image]) for image in images for _ in range(args.generations))
    one_s = time.perf_counter() - start

    torch.manual_seed(0)
    start = time.perf_counter()
    # The stock trainer's generation batch: every prompt repeated G times, all sampled together.
    batched_tokens = generate([image for image in images for _ in range(args.generations)])
    batched_s = time.perf_counter() - start

    print(
        f"model {args.model} ({dtype}), prompts {args.prompts}, G {args.generations}, "
        f"{args.max_new_tokens} new tokens per completion"
    )
    print(f"one at a time (released trainers): {one_s:.2f} s ({one_tokens / one_s:.0f} tokens/s)")
    print(f"batched (stock GRPOTrainer):       {batched_s:.2f} s ({batched_tokens / batched_s:.0f} tokens/s)")
    if one_tokens != batched_tokens:
        print(f"token counts differ: {one_tokens} vs {batched_tokens}", file=sys.stderr)
        return 1
    print(f"speedup {one_s / batched_s:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
