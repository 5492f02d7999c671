"""Cost curves: time and peak memory of one SFT step against tokens per sample (image pixels), and of one GRPO step
against G (completions per prompt), on the tiny model or the 2B twin.

    python benchmarks/cost_curves.py [--model tiny|twin] [--out benchmarks/results] [--image-tokens 64,256,400]
        [--generations 2,4,8] [--batch-size 2] [--max-new-tokens 16]
    flock /tmp/rs_r1_heavy.lock python benchmarks/cost_curves.py --model twin     # ~15 min on 2 cores

Every point runs in a fresh process, so its peak RSS (model load included) is its own. The step is what the
recipes do, without the trainer loop around it: LoRA (rank 8) on the language model, vision tower frozen, merger
trained, the model's dtype for the frozen weights, float32 trainable weights and autocast in bf16 runs (as
sft.train / grpo.train keep them), AdamW.
- SFT step: forward + backward + optimizer step on --batch-size synthetic VHM image records (padded batch, the
  default), each image resized to exactly N merged tokens (N*28*28 pixels).
- GRPO step: the work of a step of TRL 1.16's defaults (beta 0: no reference model; num_iterations 1: one policy
  forward / backward): G completions of --max-new-tokens tokens sampled in one batch for one SAMChat prompt (64
  image tokens), then forward + backward of the G sequences (completion log-likelihood) and the optimizer step.
Writes cost_curves_<model>.csv and .png under --out; the last line is `sft_s_per_step <first>..<last>,
grpo_s_per_step <first>..<last>`.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _models import add_model_arguments, model_dtype, prepare_model

PIXELS_PER_TOKEN = 28 * 28
GIB = 1024**3


def lora_model(model_dir: Path, dtype: str):
    import torch
    from peft import get_peft_model

    from common.modeling import load_model
    from sft.configs import SFTModelArguments
    from sft.modeling import lora_config

    model = load_model(model_dir, dtype=dtype, attn_implementation="sdpa")
    model.config.use_cache = False
    args = SFTModelArguments(use_peft=True, freeze_llm=True, freeze_vision_tower=True, lora_r=8, lora_alpha=16)
    model = get_peft_model(model, lora_config(model, args))
    trainable = [p for p in model.parameters() if p.requires_grad]
    for parameter in trainable:
        parameter.data = parameter.data.float()  # float32 master weights (common.training.keep_fp32_master_weights)
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    return model, optimizer


def autocast(dtype: str):
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bfloat16" else contextlib.nullcontext()


def measure_sft(model_dir: Path, data_dir: Path, image_tokens: int, batch_size: int, dtype: str) -> dict:
    import torch

    from common.data import read_llava
    from common.modeling import load_processor
    from sft.data import SFTCollator, encode

    pixels = image_tokens * PIXELS_PER_TOKEN
    processor = load_processor(model_dir, min_pixels=pixels, max_pixels=pixels, padding_side="right")
    folder = data_dir / "vhm"
    records = [r for r in read_llava(folder / "list_sft_oversampled.json", folder).records if r.images]
    batch = SFTCollator.from_processor(processor)([encode(r, processor, "paper") for r in records[:batch_size]])
    model, optimizer = lora_model(model_dir, dtype)
    model.train()
    start = time.perf_counter()
    with autocast(dtype):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - start
    torch.testing.assert_close(loss.isfinite(), torch.tensor(True))
    tokens = int(batch["attention_mask"].sum())
    return {"stage": "sft", "x": image_tokens, "tokens_per_sample": tokens / batch_size, "seconds": seconds}


def measure_grpo(model_dir: Path, generations: int, max_new_tokens: int, dtype: str) -> dict:
    import numpy as np
    import torch

    from common.modeling import load_processor
    from common.prompts import SAMCHAT_GRPO_SUFFIX, SAMCHAT_GRPO_SYSTEM
    from offline.synthetic import KINDS, render_scene

    pixels = 64 * PIXELS_PER_TOKEN
    processor = load_processor(model_dir, min_pixels=pixels, max_pixels=pixels, padding_side="left")
    image = render_scene(KINDS[0], np.random.default_rng(0), size=224)[0]
    messages = [
        {"role": "system", "content": [{"type": "text", "text": SAMCHAT_GRPO_SYSTEM}]},
        {
            "role": "user",
            "content": [{"type": "image"}, {"type": "text", "text": "Is there a ship?" + SAMCHAT_GRPO_SUFFIX}],
        },
    ]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text] * generations, images=[image] * generations, return_tensors="pt", padding=True)
    model, optimizer = lora_model(model_dir, dtype)
    torch.manual_seed(0)
    start = time.perf_counter()
    model.eval()
    with torch.inference_mode(), autocast(dtype):
        sequences = model.generate(
            **inputs,
            do_sample=True,
            temperature=1.0,
            top_k=0,
            max_new_tokens=max_new_tokens,
            min_new_tokens=max_new_tokens,
            use_cache=True,
        )
    rollout = time.perf_counter() - start
    model.train()
    prompt_length = inputs["input_ids"].shape[1]
    labels = sequences.clone()
    labels[:, :prompt_length] = -100
    batch = {**inputs, "input_ids": sequences, "labels": labels}
    batch["attention_mask"] = torch.cat(
        [inputs["attention_mask"], torch.ones(generations, max_new_tokens, dtype=torch.long)], dim=1
    )
    batch["mm_token_type_ids"] = torch.cat(
        [inputs["mm_token_type_ids"], torch.zeros(generations, max_new_tokens, dtype=torch.long)], dim=1
    )
    with autocast(dtype):
        loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - start
    return {
        "stage": "grpo",
        "x": generations,
        "tokens_per_sample": float(sequences.shape[1]),
        "seconds": seconds,
        "rollout_seconds": rollout,
    }


def run_point(args: argparse.Namespace, model_dir: Path, data_dir: Path, stage: str, x: int) -> dict:
    """One point in a fresh process: its peak RSS is that point's."""
    cmd = [sys.executable, __file__, "--measure", stage, "--point", str(x), "--model-dir", str(model_dir),
           "--data-dir", str(data_dir), "--dtype", model_dtype(args.model), "--batch-size", str(args.batch_size),
           "--max-new-tokens", str(args.max_new_tokens)]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{stage} point {x} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def plot(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for axis, stage, label in ((axes[0], "sft", "tokens per sample"), (axes[1], "grpo", "G (completions per prompt)")):
        points = [r for r in rows if r["stage"] == stage]
        xs = [r["tokens_per_sample"] if stage == "sft" else r["x"] for r in points]
        axis.plot(xs, [r["seconds"] for r in points], "o-", color="tab:blue")
        axis.set_xlabel(label)
        axis.set_ylabel("seconds per step", color="tab:blue")
        memory = axis.twinx()
        memory.plot(xs, [r["peak_rss_gib"] for r in points], "s--", color="tab:red")
        memory.set_ylabel("peak RSS (GiB)", color="tab:red")
        memory.set_ylim(bottom=0)
        axis.set_title(f"{stage.upper()} step")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_model_arguments(parser)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="folder for the CSV and PNG")
    parser.add_argument("--image-tokens", default="64,256,400", help="SFT points: merged tokens per image")
    parser.add_argument("--generations", default="2,4,8", help="GRPO points: G")
    parser.add_argument("--batch-size", type=int, default=2, help="SFT samples per step")
    parser.add_argument("--max-new-tokens", type=int, default=16, help="GRPO tokens per completion")
    parser.add_argument("--measure", choices=("sft", "grpo"), help=argparse.SUPPRESS)
    parser.add_argument("--point", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dtype", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        if args.measure == "sft":
            row = measure_sft(args.model_dir, args.data_dir, args.point, args.batch_size, args.dtype)
        else:
            row = measure_grpo(args.model_dir, args.point, args.max_new_tokens, args.dtype)
        row["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / GIB
        print(json.dumps(row))
        return 0

    from offline.synthetic import generate

    dtype = model_dtype(args.model)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = prepare_model(args, Path(tmp))
        data_dir = generate(Path(tmp) / "data", seed=0, size="small")
        print(
            f"model {args.model} ({dtype}), LoRA rank 8, SFT batch {args.batch_size}, GRPO {args.max_new_tokens} tokens"
        )
        print(f"{'stage':<6}{'x':>6}{'tokens/sample':>15}{'s/step':>10}{'peak GiB':>10}")
        points = [("sft", int(x)) for x in args.image_tokens.split(",")]
        points += [("grpo", int(x)) for x in args.generations.split(",")]
        for stage, x in points:
            row = run_point(args, model_dir, data_dir, stage, x)
            rows.append(row)
            print(
                f"{stage:<6}{x:>6}{row['tokens_per_sample']:>15.0f}{row['seconds']:>10.2f}{row['peak_rss_gib']:>10.2f}"
            )
    args.out.mkdir(parents=True, exist_ok=True)
    csv_path = args.out / f"cost_curves_{args.model}.csv"
    fields = ["stage", "x", "tokens_per_sample", "seconds", "rollout_seconds", "peak_rss_gib"]
    with csv_path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow({key: row.get(key, "") for key in fields})
    title = f"{args.model} ({dtype}), {time.strftime('%Y-%m-%d')}, LoRA rank 8"
    plot(rows, args.out / f"cost_curves_{args.model}.png", title)
    print(f"wrote {csv_path} and {csv_path.with_suffix('.png')}")
    sft = [r["seconds"] for r in rows if r["stage"] == "sft"]
    grpo = [r["seconds"] for r in rows if r["stage"] == "grpo"]
    print(f"sft_s_per_step {sft[0]:.2f}..{sft[-1]:.2f}, grpo_s_per_step {grpo[0]:.2f}..{grpo[-1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
